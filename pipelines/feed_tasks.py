"""Polling feeds: one feed from saved state to indexed documents, and the summary of a run.

``poll_feed`` is the unit of work of one mapped Airflow task (and of the CLI's loop): it reads
the feed's state, decides whether the feed is due, fetches it conditionally, parses it, runs
its entries through clean → extract → index (``runner.ingest``, in batches) and saves the new
state. Problems of the feed itself (refused, unreachable, slow, too large, rate limited, not a
feed) end in an outcome, never an exception, so one broken feed never stops the others and
Airflow does not retry into a server that asked us to wait. Infrastructure errors
(Elasticsearch unreachable) do raise: the task is retried, and the feed's validators are
not saved, so the next poll fetches the same entries again.

Only feed settings and counts travel through XCom; entries never leave the task that fetched them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.errors import FeedParseError, FetchError, FetchRefused, RateLimited
from pipelines.feed_state import FeedState, ensure_state_index, load_state, save_state
from pipelines.fetching import PAGE_ACCEPT, Fetcher, FetchPolicy
from pipelines.indexing import IndexNames, RunInfo, fetch_fingerprints
from pipelines.raw_store import store_raw
from pipelines.models import CleanArticle, EnrichedArticle, Failure, RawArticle
from pipelines.runner import ingest
from pipelines.sources.feeds import FeedConfig, feeds_from_data, load_feed_config, parse_feed, read_entries, select_feeds

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)

FEEDS_SUMMARY_MARKER = "NEWSFLOW_FEEDS_SUMMARY"
DEFAULT_FEEDS_CONFIG = PROJECT_ROOT / "feeds.yaml"
DUE_SLACK = timedelta(minutes=1)  # a run a few seconds early still polls a feed due "now"
DEFAULT_RETRY_AFTER = timedelta(minutes=15)  # 429/503 without a Retry-After header
BACKOFF_BASE = timedelta(minutes=5)  # after n failures in a row: base × 2^(n-1), capped
BACKOFF_CAP = timedelta(hours=6)
OUTCOMES = ("fetched", "not_modified", "not_due", "rate_limited", "refused", "failed")


def feeds_config_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("NEWSFLOW_FEEDS_CONFIG") or DEFAULT_FEEDS_CONFIG)


class CountingExtractor:
    """Wraps an extractor and counts the articles it enriches: the proof that unchanged entries
    never reach spaCy."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.extracted = 0

    @property
    def model_version(self) -> str:
        return self.inner.model_version

    def pipe(self, articles: Iterable[CleanArticle]) -> Iterator[EnrichedArticle]:
        for enriched in self.inner.pipe(articles):
            self.extracted += 1
            yield enriched

    def __call__(self, article: CleanArticle) -> EnrichedArticle:
        enriched = self.inner(article)
        self.extracted += 1
        return enriched


@dataclass(frozen=True)
class PollResult:
    """One feed's outcome in a run: small and JSON-safe (XCom)."""

    feed: str
    url: str
    outcome: str  # one of OUTCOMES
    new: int = 0  # indexed: new or changed entries
    unchanged: int = 0  # already indexed with the same content: not extracted again
    duplicate: int = 0  # same or nearly the same content as another document
    failed: int = 0  # entries that could not be read, cleaned, extracted or indexed (dead-lettered)
    entries: int = 0  # entries in the fetched document
    extracted: int = 0  # entries that went through spaCy in this poll
    status: int | None = None
    error: str | None = None
    bozo_reason: str | None = None
    next_poll: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def is_due(state: FeedState, now: datetime, *, force: bool = False) -> bool:
    """Whether the feed may be polled now. ``force`` overrides ttl, minimum interval and failure
    backoff, never a server's Retry-After."""
    if state.next_poll is None or state.next_poll <= now + DUE_SLACK:
        return True
    return force and state.next_poll_reason != "retry-after"


def _schedule_after_success(state: FeedState, feed: FeedConfig, now: datetime) -> None:
    state.consecutive_failures = 0
    state.last_error = None
    state.last_success = now
    wanted = {"ttl": state.requested_interval_s or 0.0, "min-interval": feed.min_interval_minutes * 60.0}
    reason, seconds = max(wanted.items(), key=lambda item: item[1])
    state.next_poll = now + timedelta(seconds=seconds) if seconds > 0 else None
    state.next_poll_reason = reason if seconds > 0 else None


def _schedule_after_failure(state: FeedState, now: datetime, error: FetchError | FeedParseError) -> None:
    state.consecutive_failures += 1
    state.last_error = str(error)
    if isinstance(error, RateLimited):
        wait = timedelta(seconds=error.retry_after_s) if error.retry_after_s is not None else DEFAULT_RETRY_AFTER
        state.next_poll, state.next_poll_reason = now + wait, "retry-after"
        return
    backoff = min(BACKOFF_BASE * 2 ** (state.consecutive_failures - 1), BACKOFF_CAP)
    state.next_poll, state.next_poll_reason = now + backoff, "backoff"


def _with_full_text(
    items: Iterable[RawArticle | Failure],
    *,
    fetcher: Fetcher,
    client: Elasticsearch,
    names: IndexNames,
    known: list[int],
) -> Iterator[RawArticle | Failure]:
    """Replace each new entry's summary with its page's main text (trafilatura); entries already
    indexed are not fetched again (counted in ``known``). A page that cannot be fetched or has no
    main text leaves the feed's summary in place, noted in ``metadata['full_text']``."""
    import dataclasses

    import trafilatura

    items = list(items)
    raws = [item for item in items if isinstance(item, RawArticle)]
    indexed = fetch_fingerprints(client, names, [raw.doc_id for raw in raws])
    for item in items:
        if isinstance(item, Failure):
            yield item
            continue
        if item.doc_id in indexed:
            known[0] += 1
            continue
        if not item.url:
            yield dataclasses.replace(item, metadata={**item.metadata, "full_text": "no link"})
            continue
        host = urlsplit(item.url).hostname or ""
        assert fetcher.limiter is not None
        if fetcher.limiter.blocked_for(host) > 0:
            note = "skipped: the host asked us to wait"
        else:
            try:
                page = fetcher.get(item.url, accept=PAGE_ACCEPT)
                html = page.content.decode("utf-8", errors="replace")
                text = trafilatura.extract(html, url=page.final_url, include_comments=False, include_tables=False)
            except RateLimited as error:
                fetcher.limiter.defer(host, error.retry_after_s or DEFAULT_RETRY_AFTER.total_seconds())
                note = f"failed: {error.reason}"
            except FetchError as error:
                note = f"failed: {error.reason}"
            else:
                if text and len(text) > len(item.body):
                    yield dataclasses.replace(
                        item, body=text,
                        metadata={**item.metadata, "full_text": "fetched", "body_source": "page", "summary": item.body[:2000]},
                    )
                    continue
                note = "no main text longer than the summary"
        yield dataclasses.replace(item, metadata={**item.metadata, "full_text": note})


def poll_feed(
    feed: FeedConfig,
    *,
    client: Elasticsearch,
    names: IndexNames,
    fetcher: Fetcher,
    extractor: Any,
    run: RunInfo,
    force: bool = False,
    batch_size: int = 64,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PollResult:
    """Poll one feed (see the module docstring); returns its outcome and counts."""
    now = clock()
    state = load_state(client, names, feed.name)
    if not is_due(state, now, force=force):
        log.info("feed %s not due until %s (%s)", feed.name, state.next_poll, state.next_poll_reason)
        return PollResult(feed.name, feed.url, "not_due", next_poll=state.next_poll.isoformat() if state.next_poll else None)
    if state.url not in (None, feed.url):
        state.etag = state.last_modified = None  # validators belong to the old URL
    state.url, state.last_attempt = feed.url, now
    counts: dict[str, Any] = {}
    try:
        fetched = fetcher.get(feed.url, etag=state.etag, last_modified=state.last_modified)
        state.last_status, state.final_url = fetched.status, fetched.final_url
        if fetched.not_modified:
            outcome = "not_modified"
        else:
            parsed = parse_feed(fetched.content, url=fetched.final_url, content_type=fetched.content_type)
            items: Iterable[RawArticle | Failure] = read_entries(parsed, feed, fetched_at=now, feed_url=fetched.final_url)
            known = [0]
            if feed.full_text:
                items = _with_full_text(items, fetcher=fetcher, client=client, names=names, known=known)
            items = list(items)  # one feed's entries: small
            # Kept in the raw store too, so enrich backfills and reprocess runs can replay feeds
            # (failures are dead-lettered once, by ingest below).
            store_raw(client, names, [item for item in items if isinstance(item, RawArticle)], run)
            counting = CountingExtractor(extractor)
            summary = ingest(items, client=client, names=names, extractor=counting, run=run, batch_size=batch_size)
            outcome = "fetched"
            counts = {
                "new": summary.indexed, "unchanged": summary.unchanged + known[0], "duplicate": summary.duplicate,
                "failed": summary.failed, "entries": len(parsed.entries), "extracted": counting.extracted,
            }
            # Only now, with the entries indexed, may the validators make the next poll a 304.
            state.etag, state.last_modified = fetched.etag, fetched.last_modified
            state.bozo, state.bozo_reason = parsed.bozo_reason is not None, parsed.bozo_reason
            state.requested_interval_s = parsed.requested_interval_s
            state.entries_seen += len(parsed.entries)
            state.last_entries = len(parsed.entries)
        _schedule_after_success(state, feed, now)
    except (FetchError, FeedParseError) as error:
        outcome = "rate_limited" if isinstance(error, RateLimited) else "refused" if isinstance(error, FetchRefused) else "failed"
        state.last_status = getattr(error, "status", None)
        _schedule_after_failure(state, now, error)
        log.warning("feed %s %s: %s", feed.name, outcome, error)
    state.last_outcome, state.updated_at = outcome, clock()
    save_state(client, names, state)
    return PollResult(
        feed.name, feed.url, outcome, **counts, status=state.last_status,
        error=state.last_error if outcome in ("rate_limited", "refused", "failed") else None,
        bozo_reason=state.bozo_reason if outcome == "fetched" else None,
        next_poll=state.next_poll.isoformat() if state.next_poll else None,
    )


# ---------------------------------------------------------------------------- units for the DAG and CLI


def prepare_feed_indices(settings: Settings) -> str:
    """Article, dead-letter and feed-state indices; returns the state index name."""
    from pipelines.elastic import connect
    from pipelines.indexing import ensure_indices

    client = connect(settings)
    names = IndexNames(settings.index_prefix)
    ensure_indices(client, names)
    return ensure_state_index(client, names)


def plan_feeds(
    *, config_path: Path | None = None, override: list[dict[str, Any]] | None = None, only: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The feeds of a run as plain dicts (one mapped task each): the run's override list, else the file."""
    if override:
        feeds = feeds_from_data(list(override), origin="run conf 'feeds'")
    else:
        feeds = load_feed_config(config_path or feeds_config_path())
    return [feed.to_dict() for feed in select_feeds(feeds, list(only or []))]


def poll_feeds(
    feeds: Sequence[dict[str, Any] | FeedConfig],
    *,
    settings: Settings,
    run_id: str,
    dag_id: str | None = None,
    force: bool = False,
    policy: FetchPolicy | None = None,
) -> list[PollResult]:
    """Poll feeds one after another with one fetcher (shared per-host rate limit) and one spaCy model."""
    from pipelines.elastic import connect
    from pipelines.extraction import Extractor

    configs = [f if isinstance(f, FeedConfig) else feeds_from_data([f], origin="planned feed")[0] for f in feeds]
    client = connect(settings)
    names = IndexNames(settings.index_prefix)
    extractor = Extractor(model_name=settings.spacy_model, batch_size=settings.batch_size)
    run = RunInfo(run_id=run_id, dag_id=dag_id)
    with Fetcher(policy or FetchPolicy.from_env()) as fetcher:
        return [
            poll_feed(feed, client=client, names=names, fetcher=fetcher, extractor=extractor, run=run, force=force,
                      batch_size=settings.batch_size)
            for feed in configs
        ]


def summarize_feeds(results: Sequence[dict[str, Any] | None], planned: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per feed: outcome, new, unchanged, failed; a planned feed without a result is reported as
    ``task_failed`` (its mapped task failed after its retries). Logs one machine-readable line."""
    by_name = {result["feed"]: result for result in results if result}
    rows = []
    for feed in planned:
        row = by_name.get(feed["name"]) or {
            "feed": feed["name"], "url": feed["url"], "outcome": "task_failed",
            "error": "the feed's task failed after its retries; see its log",
        }
        rows.append({key: row.get(key, 0) for key in ("feed", "outcome", "new", "unchanged", "duplicate", "failed", "entries", "extracted")}
                    | {"error": row.get("error"), "bozo_reason": row.get("bozo_reason"), "next_poll": row.get("next_poll")})
    totals = {key: sum(row[key] for row in rows) for key in ("new", "unchanged", "duplicate", "failed", "entries", "extracted")}
    outcomes = {outcome: sum(1 for row in rows if row["outcome"] == outcome) for outcome in {row["outcome"] for row in rows}}
    summary = {"feeds": rows, "totals": totals, "outcomes": outcomes}
    log.info("%s %s", FEEDS_SUMMARY_MARKER, json.dumps(summary, default=str))
    for row in rows:
        log.info(
            "feed %-24s %-12s new %d  unchanged %d  failed %d%s", row["feed"], row["outcome"], row["new"],
            row["unchanged"], row["failed"], f"  ({row['error']})" if row["error"] else "",
        )
    return summary
