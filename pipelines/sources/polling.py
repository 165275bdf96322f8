"""Polling a URL politely, shared by feeds and sitemaps: when it is due, and what to remember.

A polled unit (one feed, one sitemap) keeps a ``PollState`` in the state store: validators
(ETag, Last-Modified), health (last outcome, error, consecutive failures) and the next allowed
poll. A feed's ``ttl`` / ``sy:updatePeriod`` or a minimum interval spaces successful polls;
failures back off (5 minutes doubling, at most 6 hours); 429/503 wait for the server's
Retry-After (15 minutes when it does not say), which even ``force`` never overrides.

Validators are saved only once the unit's articles are in the raw store: saving them earlier
would turn the next poll into a 304 and lose articles whose storing failed.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pipelines.errors import FetchError, FetchRefused, RateLimited, SourceError, Stage
from pipelines.models import Failure
from pipelines.sources.base import Acquisition, Item, Source, SourceContext, StateUpdate
from pipelines.sources.listing import planned_entries

if TYPE_CHECKING:
    from pipelines.sources.http import FetchResult
    from pipelines.store import StoreResult

DUE_SLACK = timedelta(minutes=1)  # a run a few seconds early still polls a unit due "now"
DEFAULT_RETRY_AFTER = timedelta(minutes=15)  # 429/503 without a Retry-After header
BACKOFF_BASE = timedelta(minutes=5)  # after n failures in a row: base × 2^(n-1), capped
BACKOFF_CAP = timedelta(hours=6)
OUTCOMES = ("fetched", "not_modified", "not_due", "rate_limited", "refused", "failed")
_DATES = ("last_attempt", "last_success", "next_poll", "updated_at")


@dataclass
class PollState:
    """What the pipeline remembers about one polled unit between polls."""

    name: str
    url: str | None = None
    final_url: str | None = None  # after redirects, last time
    etag: str | None = None
    last_modified: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_outcome: str | None = None  # one of OUTCOMES except not_due
    last_status: int | None = None  # HTTP status, when there was a response
    last_error: str | None = None
    consecutive_failures: int = 0
    entries_seen: int = 0  # entries (or sitemap URLs) parsed over the unit's life
    last_entries: int = 0
    next_poll: datetime | None = None  # no request before this time
    next_poll_reason: str | None = None  # ttl | retry-after | backoff | min-interval
    requested_interval_s: float | None = None  # what a feed's ttl / sy:updatePeriod asked for
    bozo: bool = False
    bozo_reason: str | None = None
    updated_at: datetime | None = None
    validators: dict[str, dict[str, str | None]] = field(default_factory=dict)  # per child URL (sitemaps)

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        for key in _DATES:
            if document[key] is not None:
                document[key] = document[key].isoformat()
        return document

    @classmethod
    def from_dict(cls, name: str, document: dict[str, Any] | None) -> PollState:
        if not document:
            return cls(name=name)
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in document.items() if key in known}
        for key in _DATES:
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**{**values, "name": name})


def is_due(state: PollState, now: datetime, *, force: bool = False) -> bool:
    """Whether the unit may be polled now. ``force`` overrides ttl, minimum interval and failure
    backoff, never a server's Retry-After."""
    if state.next_poll is None or state.next_poll <= now + DUE_SLACK:
        return True
    return force and state.next_poll_reason != "retry-after"


def schedule_after_success(state: PollState, now: datetime, *, min_interval_minutes: int) -> None:
    state.consecutive_failures = 0
    state.last_error = None
    state.last_success = now
    wanted = {"ttl": state.requested_interval_s or 0.0, "min-interval": min_interval_minutes * 60.0}
    reason, seconds = max(wanted.items(), key=lambda item: item[1])
    state.next_poll = now + timedelta(seconds=seconds) if seconds > 0 else None
    state.next_poll_reason = reason if seconds > 0 else None


def schedule_after_failure(state: PollState, now: datetime, error: Exception) -> None:
    state.consecutive_failures += 1
    state.last_error = str(error)
    if isinstance(error, RateLimited):
        wait = timedelta(seconds=error.retry_after_s) if error.retry_after_s is not None else DEFAULT_RETRY_AFTER
        state.next_poll, state.next_poll_reason = now + wait, "retry-after"
        return
    backoff = min(BACKOFF_BASE * 2 ** (state.consecutive_failures - 1), BACKOFF_CAP)
    state.next_poll, state.next_poll_reason = now + backoff, "backoff"


def failure_outcome(error: Exception) -> str:
    return "rate_limited" if isinstance(error, RateLimited) else "refused" if isinstance(error, FetchRefused) else "failed"


class PolledAcquisition(Acquisition):
    """A polled unit's items; ``finish`` records the poll's outcome and schedule in the unit's
    state (``state_update``, which the pipeline saves with its batch's), and names the unit's
    earlier dead letter as resolved once it is read again (``resolved``).

    ``commit`` applies what a successful poll learned (validators, interval) to the state; it runs
    only when every article reached the raw store.
    """

    def __init__(
        self,
        *,
        kind: str,
        state: PollState,
        context: SourceContext,
        min_interval_minutes: int = 0,
        outcome: str,
        items: Iterable[Item] = (),
        error: SourceError | None = None,
        commit: Callable[[PollState], None] | None = None,
        report: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(items, label=state.name)
        self.kind, self.state, self.context = kind, state, context
        self.min_interval_minutes = min_interval_minutes
        self.outcome, self.error, self.commit = outcome, error, commit
        self.report = report or {}

    def finish(self, result: StoreResult) -> dict[str, Any]:
        state = self.state
        now = state.last_attempt or self.context.clock()  # the schedule counts from the request
        row = {"unit": state.name, "url": state.url, "outcome": self.outcome, **result.counts(), **self.report}
        if self.outcome == "not_due":
            return row | {"next_poll": state.next_poll.isoformat() if state.next_poll else None}
        if self.error is not None:
            state.last_status = getattr(self.error, "status", None)
            schedule_after_failure(state, now, self.error)
        elif any(failure.stage is Stage.STORE for failure in result.failures):
            # Not every article was kept: keep the old validators so the next poll fetches them again.
            schedule_after_failure(state, now, FetchError("the raw store refused some articles", source_ref=state.url or ""))
        else:
            if self.commit:
                self.commit(state)
            if self.outcome == "fetched" and state.url:  # read again: an earlier failure of the unit is over
                self.resolved = [(f"{self.kind}:{state.name}", state.url)]
            schedule_after_success(state, now, min_interval_minutes=self.min_interval_minutes)
        state.last_outcome, state.updated_at = self.outcome, self.context.clock()
        self.state_update = StateUpdate(self.kind, state.name, state.to_dict())
        return row | {
            "status": state.last_status,
            "error": state.last_error if self.outcome in ("rate_limited", "refused", "failed") else None,
            "bozo_reason": state.bozo_reason if self.outcome == "fetched" else None,
            "next_poll": state.next_poll.isoformat() if state.next_poll else None,
        }


@dataclass(frozen=True)
class PolledConfig:
    """One entry of a polled source's list (a feed, a sitemap); subclasses add their own keys."""

    source_kind: ClassVar[str]  # "feed": documents' source is ``feed:<name>``

    name: str  # unique, lowercase: part of the source name and the state id
    url: str
    tags: tuple[str, ...] = ()
    language: str | None = None  # hint recorded with each article; extraction still detects
    full_text: bool = False  # fetch each new article's page and store it (cleaning keeps its main text)
    min_interval_minutes: int = 0  # poll no more often than this (0: every scheduled run)
    enabled: bool = True

    @property
    def source(self) -> str:
        return f"{self.source_kind}:{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, fit for XCom and for reading back as a list entry."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


@dataclass
class Poll:
    """What reading one fetched document gave: items, what to remember once they are stored, a report."""

    items: list[Item]
    commit: Callable[[PollState], None]
    report: dict[str, Any] = field(default_factory=dict)


class PolledSource(Source):
    """A list of URLs polled politely (feeds, sitemaps): one unit per entry; a unit loads its state,
    skips what is not due, fetches conditionally, and hands a fetched document to ``read``.

    Options: ``<list_key>`` (a list replacing the file for this run), ``only`` (entry names).
    """

    list_key: ClassVar[str]  # "feeds": the list file's key, the run conf's option, ``Settings.<key>_config``
    state_kind: ClassVar[str]  # "feed": the state store's kind, the unit's key
    entry: ClassVar[Callable[[object, str], PolledConfig]]  # one validated list entry (data, where)
    obeys_robots: ClassVar[bool] = False  # sitemaps do; feeds are read as a feed reader reads them

    def __init__(self, settings: Any, **options: Any) -> None:
        super().__init__(settings, **options)
        self._prefetched: dict[str, dict[str, Any] | None] = {}  # a batch's states, by unit name

    def list_path(self) -> Path:
        return getattr(self.settings, f"{self.list_key}_config")

    @abstractmethod
    def read(self, config: Any, fetched: FetchResult, state: PollState, context: SourceContext) -> Poll:
        """The items of a fetched document; raises ``SourceError`` when it is not what the source reads."""

    def configs(self) -> list[Any]:
        return planned_entries(self.list_path(), key=self.list_key, make=self.entry,
                               override=self.options.get(self.list_key), only=self.options.get("only"))

    def units(self) -> list[dict[str, Any]]:
        """One unit per entry; ``host`` lets the pipeline spread a batch's requests over hosts."""
        return [{"label": config.name, "host": urlsplit(config.url).hostname or "", self.state_kind: config.to_dict()}
                for config in self.configs()]

    def concurrency(self) -> int:
        return self.settings.fetch.max_connections

    def prefetch(self, units: Sequence[dict[str, Any]], context: SourceContext) -> None:
        """The batch's states in one request, rather than one per unit."""
        names = [unit[self.state_kind]["name"] for unit in units]
        found = context.store.state.load_many(self.state_kind, names)
        self._prefetched.update((name, found.get(name)) for name in names)

    def acquire(self, unit: dict[str, Any], context: SourceContext) -> Acquisition:
        config = self.entry(unit[self.state_kind], f"planned {self.state_kind}")
        now = context.clock()
        known = (self._prefetched.pop(config.name) if config.name in self._prefetched
                 else context.store.state.load(self.state_kind, config.name))
        state = PollState.from_dict(config.name, known)
        common = {"kind": self.state_kind, "state": state, "context": context,
                  "min_interval_minutes": config.min_interval_minutes}
        if not is_due(state, now, force=context.force):
            return PolledAcquisition(outcome="not_due", **common)
        if state.url not in (None, config.url):  # validators belong to the old URL
            state.etag = state.last_modified = None
            state.validators = {}
        state.url, state.last_attempt = config.url, now
        try:
            fetched = context.fetcher.get(config.url, etag=state.etag, last_modified=state.last_modified,
                                          obey_robots=self.obeys_robots)
            state.last_status, state.final_url = fetched.status, fetched.final_url
            if fetched.not_modified:
                return PolledAcquisition(outcome="not_modified", **common)
            poll = self.read(config, fetched, state, context)
        except SourceError as error:
            outcome = failure_outcome(error)
            # A feed or sitemap that cannot be read is an input that failed: dead-lettered under its URL
            # (requeue polls it again). Rate limiting is the server's schedule, not a failure.
            unit_failure = [] if outcome == "rate_limited" else [
                Failure.from_error(error, source=config.source, source_ref=config.url)  # the feed's URL, not a redirect's
            ]
            return PolledAcquisition(outcome=outcome, error=error, items=unit_failure, **common)
        return PolledAcquisition(outcome="fetched", items=poll.items, commit=poll.commit, report=poll.report, **common)
