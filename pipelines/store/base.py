"""What the pipeline asks of a store: the raw store and article versions, per-source state, dead letters,
run reports and the politeness ledger.

Two backends implement it: Elasticsearch (``pipelines.store.elastic``, the default, shared by
every Airflow worker) and SQLite (``pipelines.store.sqlite``, one file, for ingestion without a
cluster, e.g. with the JSON Lines sink). The pipeline and the sources only see these protocols.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pipelines.errors import Stage
from pipelines.models import Failure, RawArticle, RunInfo


@dataclass
class StoreResult:
    """What storing a stream did: every article now in the store, and what failed."""

    articles: list[RawArticle] = field(default_factory=list)  # stored or already there, in input order
    seen: int = 0  # every item the source delivered: articles and failures
    stored: int = 0  # new or changed (or stored by this same run in an attempt that was cut off)
    stored_ids: set[str] = field(default_factory=set, repr=False)  # the ids counted in ``stored``
    unchanged: int = 0
    duplicate: int = 0  # an id the source delivered again within the unit: the first is kept
    failures: list[Failure] = field(default_factory=list)  # the source's own, and the store's rejections

    @property
    def doc_ids(self) -> list[str]:
        return [article.doc_id for article in self.articles]

    def counts(self) -> dict[str, int]:
        return {"articles": len(self.articles), "seen": self.seen, "stored": self.stored, "unchanged": self.unchanged,
                "duplicate": self.duplicate, "failed": len(self.failures)}

    def add_chunk(self, batch: Sequence[RawArticle | Failure], raws: dict[str, RawArticle], stored_ids: set[str],
                  failures: Sequence[Failure], rejected: set[str] = frozenset()) -> None:
        """Count one chunk of ``put``: ``raws`` its articles by id (the first of a repeated id),
        ``stored_ids`` those written (or found written by this same run), ``failures`` the
        source's and the store's, ``rejected`` the ids the store refused."""
        self.articles += [raw for doc_id, raw in raws.items() if doc_id not in rejected]
        self.seen += len(batch)
        self.stored += len(stored_ids)
        self.stored_ids |= stored_ids
        self.unchanged += len(raws) - len(stored_ids) - len(rejected)
        self.duplicate += len(batch) - len(raws) - (len(failures) - len(rejected))
        self.failures += failures

    def per_unit(self, units: Sequence[Sequence[RawArticle | Failure]]) -> list[StoreResult]:
        """This result (of storing the units' items in one write) told per unit, as if each had
        been stored on its own, in order, with every count: an id repeated within a unit is its
        duplicate; an article two units carry counts as stored for the first and unchanged for
        the next; a store rejection is a failure of every unit carrying it."""
        rejected = {f.doc_id: f for f in self.failures if f.stage is Stage.STORE and f.doc_id}
        claimed: set[str] = set()
        parts = []
        for items in units:
            part, carried = StoreResult(seen=len(items)), set()
            for item in items:
                if isinstance(item, Failure):
                    part.failures.append(item)
                elif item.doc_id in carried:
                    part.duplicate += 1
                elif item.doc_id in rejected:
                    carried.add(item.doc_id)
                    part.failures.append(rejected[item.doc_id])
                else:
                    carried.add(item.doc_id)
                    part.articles.append(item)
                    if item.doc_id in self.stored_ids and item.doc_id not in claimed:
                        part.stored += 1
                        part.stored_ids.add(item.doc_id)
                        claimed.add(item.doc_id)
                    else:
                        part.unchanged += 1
            parts.append(part)
        return parts


@dataclass(frozen=True)
class RawSelection:
    """Which raw articles an enrichment run takes; criteria combine (AND), none means every article."""

    pending: bool = False  # stored since their last enrichment
    fetched_from: datetime | None = None  # fetched in [fetched_from, fetched_to)
    fetched_to: datetime | None = None
    sources: Sequence[str] = ()
    ingest_run_ids: Sequence[str] | None = None
    doc_ids: Sequence[str] | None = None


@dataclass(frozen=True)
class DeadLetterPage:
    total: int
    by_stage: dict[str, int]
    rows: list[dict[str, Any]]  # newest first


class RawStore(Protocol):
    def put(self, items: Iterable[RawArticle | Failure], run: RunInfo) -> StoreResult:
        """Store new and changed articles (unchanged ones keep their version and ``fetched_at``); pass
        failures through. New and changed articles become pending for enrichment."""

    def get(self, doc_ids: Sequence[str]) -> Iterator[RawArticle | Failure]:
        """The stored articles; an id not in the store comes back as a ``Stage.LOAD`` failure."""

    def select(self, selection: RawSelection) -> list[str]:
        """Ids of the stored articles matching ``selection``, sorted."""

    def content_hashes(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """id → content hash of the stored version, for the ids in the store."""

    def metadata(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """id → stored metadata, for the ids in the store (sources use it to skip re-fetching)."""

    def pending(self, doc_ids: Sequence[str]) -> set[str]:
        """Those of ``doc_ids`` that are due for enrichment (stored since they were last enriched)."""

    def mark_enriched(self, doc_ids: Sequence[str]) -> None:
        """These articles went through enrichment (indexed, unchanged, duplicate or dead-lettered)."""

    def mark_pending(self, doc_ids: Sequence[str]) -> int:
        """Make these articles due again (requeue); returns how many exist."""


class StateStore(Protocol):
    """Per-source state (validators, schedules, progress), one mapping per (kind, name)."""

    def load(self, kind: str, name: str) -> dict[str, Any] | None: ...

    def load_many(self, kind: str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """name → state, for the names that have one (one request for a batch of feeds)."""

    def save(self, kind: str, name: str, state: dict[str, Any]) -> None: ...

    def save_many(self, kind: str, states: dict[str, dict[str, Any]]) -> None:
        """Several units' states (name → state) in one write, e.g. a batch of feeds."""

    def load_all(self, kind: str) -> list[dict[str, Any]]: ...


class DeadLetters(Protocol):
    def record(self, failures: Sequence[Failure], run: RunInfo) -> None:
        """Dead-letter failures; one input keeps one entry per stage however often it fails."""

    def resolve(self, inputs: Sequence[tuple[str, str]]) -> int:
        """Remove the dead letters of inputs ((source, source_ref) pairs) that have now gone through."""

    def list(self, *, stage: Stage | None = None, source: str | None = None, size: int = 20) -> DeadLetterPage: ...

    def refs(self, source: str) -> list[dict[str, Any]]:
        """Every dead letter of a source (``source_ref``, ``doc_id``, ``stage``): what requeue works from."""


class Versions(Protocol):
    """Every distinct version of an article, one record per (article id, content hash)."""

    def of(self, doc_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """id → its versions, oldest first; ids without versions are left out."""

    def save(self, versions: Sequence[dict[str, Any]]) -> None:
        """Upsert versions by (article id, content hash)."""


class RunReports(Protocol):
    def record(self, reports: Sequence[dict[str, Any]]) -> None:
        """Keep run reports (``RunReport.to_document()``); a report of the same run, stage, unit and source is replaced."""

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        """Every report of one run, oldest first."""


class PolitenessLedgerStore(Protocol):
    def record(self, hosts: Sequence[dict[str, Any]], run: RunInfo, *, unit: str) -> None:
        """Store a unit's politeness counts per host; the same run and unit again replaces them (no double count)."""


class Store(Protocol):
    raw: RawStore
    versions: Versions
    state: StateStore
    deadletters: DeadLetters
    runs: RunReports
    politeness: PolitenessLedgerStore

    def prepare(self) -> None:
        """Create what the store needs (indices, tables), idempotently."""

    def close(self) -> None: ...
