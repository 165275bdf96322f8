"""Sinks: where enriched articles go — Elasticsearch (``elasticsearch``) or JSON Lines files (``jsonl:PATH``).

A new sink implements ``Sink`` and registers a factory in ``SINKS``; see ``pipelines.sinks.base``.
"""

from pipelines.sinks.base import SINKS, Sink, article_document, build_sink

# Importing the modules registers the sinks they define.
from pipelines.sinks import elasticsearch, jsonl  # noqa: E402,F401  isort: skip

__all__ = ["SINKS", "Sink", "article_document", "build_sink"]
