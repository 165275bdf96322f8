"""Sources: each acquires (reads, fetches, parses) and yields raw articles, or a failure for what it could not.

Three kinds ship, registered by name in ``SOURCES``: ``folder`` (files), ``feeds`` (RSS/Atom) and
``sitemaps`` (news sitemaps). A new kind subclasses ``Source`` and registers itself; see
``pipelines.sources.base``.
"""

from pipelines.sources.base import SOURCES, Acquisition, Source, SourceContext, build_source

# Importing the modules registers the kinds they define.
from pipelines.sources import feeds, folder, sitemaps  # noqa: E402,F401  isort: skip

__all__ = ["SOURCES", "Acquisition", "Source", "SourceContext", "build_source"]
