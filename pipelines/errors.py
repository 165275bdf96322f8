"""Exceptions raised by newsflow.

Every error names what failed and on which article, feed or node, so a dead-letter
reason is specific without parsing strings::

    NewsflowError
    ├── ConfigError                 bad or missing settings
    ├── SourceError                 an input could not be read
    │   ├── ArticleReadError        one article file: undecodable, empty, malformed
    │   ├── FeedConfigError         feeds.yaml (or a run's feed list) is malformed
    │   ├── FeedParseError          fetched bytes are not a feed feedparser can read
    │   └── FetchError              a feed or article URL could not be fetched
    │       ├── FetchRefused        refused before connecting: scheme, or an address the SSRF guard blocks
    │       ├── FetchTimeout        connect, read or total time limit reached
    │       ├── ResponseTooLarge    the body went over the size cap
    │       ├── TooManyRedirects    more redirects than allowed
    │       ├── RateLimited         429/503: come back after ``retry_after_s``
    │       └── HTTPStatusError     any other non-success status
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


class FeedConfigError(SourceError, ConfigError):
    """The feed list is malformed; ``source_ref`` names the file (or "run conf") and the entry."""


class FeedParseError(SourceError):
    """The fetched bytes are not a feed: no version recognised and no entries recovered."""


class FetchError(SourceError):
    """A feed or article URL could not be fetched; ``source_ref`` is the URL."""


class FetchRefused(FetchError):
    """Refused before any connection attempt: a non-HTTP(S) scheme or a blocked address."""


class FetchTimeout(FetchError):
    """The connect, read or total time limit was reached."""


class ResponseTooLarge(FetchError):
    """The response body went over the size cap (checked while streaming)."""


class TooManyRedirects(FetchError):
    """More redirects than the policy allows."""


class HTTPStatusError(FetchError):
    """A non-success status other than 304, 429 and 503."""

    def __init__(self, message: str, *, source_ref: str, status: int) -> None:
        super().__init__(message, source_ref=source_ref)
        self.status = status


class RateLimited(FetchError):
    """429 or 503: the server asked us to wait ``retry_after_s`` seconds (None: it did not say)."""

    def __init__(self, message: str, *, source_ref: str, status: int, retry_after_s: float | None) -> None:
        super().__init__(message, source_ref=source_ref)
        self.status = status
        self.retry_after_s = retry_after_s


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
