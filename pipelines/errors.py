"""Exceptions raised by newsflow, and the stages an input can fail in.

Every error names what failed and on which article, feed or node, so a dead-letter
reason is specific without parsing strings. Errors about one input carry its
``source_ref`` (and ``doc_id`` when known) and the ``Stage`` it failed in::

    NewsflowError
    ├── ConfigError                 bad or missing settings
    ├── ReconciliationError         a run's report does not add up: an input went missing untraced
    ├── OverTimeBudget              a component ran past the time budget of its articles
    ├── SourceError                 an input could not be acquired              (Stage.READ)
    │   ├── ArticleReadError        one article file: undecodable, empty, malformed
    │   ├── FeedConfigError         feeds.yaml / sitemaps.yaml (or a run's list) is malformed
    │   ├── FeedParseError          fetched bytes are not a feed feedparser can read
    │   ├── SitemapParseError       fetched bytes are not a sitemap or sitemap index
    │   └── FetchError              a feed, sitemap or article URL could not be fetched
    │       ├── FetchRefused        refused before connecting: scheme, or an address the SSRF guard blocks
    │       │   └── RobotsDisallowed  the site's robots.txt disallows the page (or could not be read)
    │       ├── FetchTimeout        connect, read or total time limit reached
    │       ├── ResponseTooLarge    the body went over the size cap
    │       ├── TooManyRedirects    more redirects than allowed
    │       ├── RateLimited         429/503: come back after ``retry_after_s``
    │       └── HTTPStatusError     any other non-success status
    ├── StoreError                  the raw store refused or lost a record       (Stage.STORE, Stage.LOAD)
    ├── CleaningError               the cleaner failed on one article            (Stage.CLEAN)
    ├── ExtractionError             spaCy failed on one article                  (Stage.EXTRACT)
    │   └── ModelNotFoundError      no installed spaCy model under any accepted name
    ├── EnrichmentError             a further enrichment component failed        (Stage.ENRICH)
    ├── IndexingError               the sink refused a write or a setup request  (Stage.INDEX)
    │   ├── BulkItemError           one document rejected inside a bulk request
    │   └── ClusterRefusedWrites    the cluster, not the document, refused: overloaded (429) or a
    │                               write block; retryable, never a dead letter
    └── LocalElasticsearchError     the embedded node could not be fetched, started or stopped
"""

from __future__ import annotations

from enum import Enum


class Stage(str, Enum):
    """Where in the pipeline an input failed: recorded on every dead letter, filterable in the CLI."""

    READ = "read"  # the source could not acquire or parse it
    STORE = "store"  # the raw store rejected it
    LOAD = "load"  # it was due for enrichment but missing from the raw store
    CLEAN = "clean"
    EXTRACT = "extract"
    ENRICH = "enrich"  # a registered enrichment component after extraction
    DEDUPLICATE = "deduplicate"
    INDEX = "index"  # the sink rejected it

    def __str__(self) -> str:
        return self.value


class NewsflowError(Exception):
    """Base class: catch this to handle any newsflow failure."""


class ConfigError(NewsflowError):
    """Settings are missing, contradictory or malformed."""


class ReconciliationError(NewsflowError):
    """A stage of a run saw more (or fewer) inputs than it indexed, found unchanged, flagged as
    duplicates and dead-lettered together: something was lost without a trace, so the run fails
    instead of reporting success. The stored run report keeps the numbers."""


class OverTimeBudget(NewsflowError):
    """Work ran past its time budget (``pipelines.budget``): the article it was on is dead-lettered,
    the rest of the batch goes on."""


class InputError(NewsflowError):
    """A failure of one input (article, entry, record): what the dead-letter index records."""

    stage: Stage = Stage.READ

    def __init__(self, message: str, *, source_ref: str, doc_id: str | None = None) -> None:
        super().__init__(f"{source_ref}: {message}")
        self.source_ref = source_ref
        self.doc_id = doc_id
        self.reason = message


class SourceError(InputError):
    """An input could not be acquired."""


class ArticleReadError(SourceError):
    """One article file could not be turned into a raw article."""


class FeedConfigError(SourceError, ConfigError):
    """A source list is malformed; ``source_ref`` names the file (or "run conf") and the entry."""


class FeedParseError(SourceError):
    """The fetched bytes are not a feed: no version recognised and no entries recovered."""


class SitemapParseError(SourceError):
    """The fetched bytes are not a ``<urlset>`` or ``<sitemapindex>``."""


class FetchError(SourceError):
    """A URL could not be fetched; ``source_ref`` is the URL."""


class FetchRefused(FetchError):
    """Refused before any connection attempt: a non-HTTP(S) scheme or a blocked address."""


class RobotsDisallowed(FetchRefused):
    """The host's robots.txt disallows the URL for our user agent, or it could not be read (then
    every URL on the host is off limits for a while, as Google does on 5xx)."""


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


class StoreError(InputError):
    """The raw store rejected a record, or a record due for enrichment is not in it."""

    stage = Stage.STORE


class MissingRawRecord(StoreError):
    stage = Stage.LOAD


class CleaningError(InputError):
    """The cleaner failed on one article."""

    stage = Stage.CLEAN


class ExtractionError(InputError):
    """Entity or metadata extraction failed on one article."""

    stage = Stage.EXTRACT


class ModelNotFoundError(NewsflowError):
    """None of the accepted spaCy model names is installed."""


class EnrichmentError(InputError):
    """A registered enrichment component failed on one article."""

    stage = Stage.ENRICH


class IndexingError(NewsflowError):
    """The sink refused a write or a setup request."""


class BulkItemError(IndexingError, InputError):
    """One document was rejected inside a bulk request."""

    stage = Stage.INDEX

    def __init__(self, message: str, *, source_ref: str, doc_id: str, error_type: str) -> None:
        InputError.__init__(self, message, source_ref=source_ref, doc_id=doc_id)
        self.error_type = error_type


class ClusterRefusedWrites(IndexingError):
    """Writes were refused for the cluster's reasons, not the documents': still overloaded (429)
    after every retry, or an index write block. Nothing is dead-lettered; the articles stay
    pending in the raw store, so a later run writes them."""


class LocalElasticsearchError(NewsflowError):
    """The embedded Elasticsearch node could not be fetched, configured, started or stopped."""
