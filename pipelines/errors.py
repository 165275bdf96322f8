"""Exceptions raised by newsflow.

Every error names what failed and on which article, feed or node, so a dead-letter
reason is specific without parsing strings::

    NewsflowError
    ├── ConfigError                 bad or missing settings
    ├── SourceError                 an input could not be read
    │   └── ArticleReadError        one article file: undecodable, empty, malformed
    ├── CleaningError               the cleaner failed on one article
    ├── ExtractionError             spaCy failed, or the model is missing
    │   └── ModelNotFoundError      no installed spaCy model under any accepted name
    ├── IndexingError               Elasticsearch refused a write
    │   └── BulkItemError           one document rejected inside a bulk request
    └── LocalElasticsearchError     the embedded node could not be fetched, started or stopped
"""

from __future__ import annotations


class NewsflowError(Exception):
    """Base class: catch this to handle any newsflow failure."""


class ConfigError(NewsflowError):
    """Settings are missing, contradictory or malformed."""


class SourceError(NewsflowError):
    """An input could not be read."""

    def __init__(self, message: str, *, source_ref: str) -> None:
        super().__init__(f"{source_ref}: {message}")
        self.source_ref = source_ref
        self.reason = message


class ArticleReadError(SourceError):
    """One article file could not be turned into a raw article."""


class CleaningError(NewsflowError):
    """The cleaner failed on one article."""

    def __init__(self, message: str, *, doc_id: str, source_ref: str) -> None:
        super().__init__(f"{source_ref}: {message}")
        self.doc_id = doc_id
        self.source_ref = source_ref


class ExtractionError(NewsflowError):
    """Entity or metadata extraction failed."""


class ModelNotFoundError(ExtractionError):
    """None of the accepted spaCy model names is installed."""


class IndexingError(NewsflowError):
    """Elasticsearch refused a write or a setup request."""


class BulkItemError(IndexingError):
    """One document was rejected inside a bulk request."""

    def __init__(self, message: str, *, doc_id: str, error_type: str) -> None:
        super().__init__(f"document {doc_id}: {error_type}: {message}")
        self.doc_id = doc_id
        self.error_type = error_type


class LocalElasticsearchError(NewsflowError):
    """The embedded Elasticsearch node could not be fetched, configured, started or stopped."""
