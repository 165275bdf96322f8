"""The source interface: a source acquires (reads, fetches, parses) and yields raw articles or failures.

A source splits its work into JSON-safe **units** (a batch of files, one feed, one sitemap), so
Airflow can map over them and a retry repeats exactly one unit. ``acquire(unit, context)`` returns
an ``Acquisition``: the unit's items, and ``finish(result)``, called once the raw store holds them,
which saves the source's state (validators are saved only after their entries are stored, so a
later 304 never loses entries) and returns the unit's report row.

Sources do no cleaning and no NLP: what they yield is what the raw store keeps, markup included.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pipelines.models import Failure, RawArticle, RunInfo
from pipelines.registry import Registry

if TYPE_CHECKING:
    from pipelines.settings import Settings
    from pipelines.sources.http import Fetcher
    from pipelines.sources.ledger import HostCounts
    from pipelines.store import Store, StoreResult

Item = RawArticle | Failure


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SourceContext:
    """What a source may use while acquiring: settings, the store (state, what is already stored),
    one polite HTTP fetcher per run (with its politeness ledger), the clock."""

    settings: Settings
    store: Store
    run: RunInfo
    force: bool = False  # poll even when not due (never against a server's Retry-After)
    clock: Callable[[], datetime] = utc_now
    fetcher_factory: Callable[[], Fetcher] | None = None
    _fetcher: Fetcher | None = field(default=None, init=False, repr=False)

    @property
    def fetcher(self) -> Fetcher:
        """Built on first use and shared by every unit of the run (per-host politeness is per fetcher)."""
        if self._fetcher is None:
            from pipelines.sources.http import Fetcher

            if self.fetcher_factory:
                self._fetcher = self.fetcher_factory()
            else:
                from pipelines.sources.robots import RobotsCache

                # robots.txt cached in the state store: every task of the run, and later runs, share it until it expires
                robots = RobotsCache(self.store.state, clock=self.clock) if self.settings.fetch.obey_robots else None
                self._fetcher = Fetcher(self.settings.fetch, robots=robots)
        return self._fetcher

    def politeness(self) -> list[HostCounts]:
        """The ledger's counts per host since the last call (nothing when no request was made)."""
        return self._fetcher.ledger.drain() if self._fetcher is not None else []

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None


@dataclass(frozen=True)
class StateUpdate:
    """A unit's state to save in the state store, once its articles are stored."""

    kind: str
    name: str
    state: dict[str, Any]


class Acquisition:
    """One unit's items, and what to do once the raw store has them."""

    def __init__(self, items: Iterable[Item], label: str = "") -> None:
        self._items = items
        self.label = label
        self.state_update: StateUpdate | None = None  # set by ``finish``; saved by the caller
        self.resolved: list[tuple[str, str]] = []  # (source, reference) of dead letters ``finish`` found over

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def finish(self, result: StoreResult) -> dict[str, Any]:
        """Conclude the unit now that ``result`` is stored: return its report row (JSON-safe) and
        leave the state to save in ``state_update`` and the dead letters to resolve in
        ``resolved``; the pipeline does both for a batch of units in one write each."""
        return {"unit": self.label, **result.counts()}


class Source(ABC):
    """A kind of source, configured by plain options (JSON-safe, so Airflow can carry them)."""

    kind: ClassVar[str]

    def prefetch(self, units: Sequence[dict[str, Any]], context: SourceContext) -> None:
        """Read ahead, in bulk, what acquiring these units will need (called before a batch's
        ``acquire`` calls); nothing by default."""

    def concurrency(self) -> int:
        """How many of its units may be acquired at once in one process: 1 unless acquiring is
        mostly waiting on the network (then the fetcher's per-host limits keep it polite)."""
        return 1

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.settings = settings
        self.options = options

    @abstractmethod
    def units(self) -> list[dict[str, Any]]:
        """The work of one run, as JSON-safe units, each with a ``label`` for logs and the Airflow UI."""

    @abstractmethod
    def acquire(self, unit: dict[str, Any], context: SourceContext) -> Acquisition:
        """Acquire one unit."""


SOURCES: Registry[type[Source]] = Registry("source")


def build_source(kind: str, settings: Settings, **options: Any) -> Source:
    return SOURCES.get(kind)(settings, **options)
