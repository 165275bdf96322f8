"""The one pipeline: source → raw store → clean → extract → (enrich…) → deduplicate → sink.

``Pipeline.from_settings(settings)`` is built once and used by the CLI, every DAG task, the
tests, eval/ and bench/ alike. It has two halves, and every source goes through both:

* **acquire** (``plan`` + ``acquire``) — a source reads or fetches one unit of work and the raw
  store keeps what it delivered; no cleaning, no NLP. Airflow maps over units; the CLI loops.
* **enrich** (``enrich``, ``enrich_ids``) — raw articles, in batches, through the components
  (spaCy style: each has one job, ``pipe()`` over a batch and ``__call__`` for one), then the
  sink. The model loads once per pipeline, and ``shared(settings)`` keeps one pipeline per
  worker process.

Components come from the ``COMPONENTS`` registry by name (``Settings.components``). A new
enrichment step is one class with ``name``, ``stage``, ``pipe`` and ``__call__`` (and an
optional ``mapping`` of its output for the index), registered under its name.

Every input ends in exactly one bucket of ``IngestSummary``: indexed (new or changed),
unchanged (same content, same pipeline and model versions: skipped before any component),
duplicate (same or nearly the same content as another document: written with
``duplicate_of``), or failed (dead-lettered with its stage and reason).

Every stage of every run (acquire per unit, enrich per batch) is reconciled per source: a
``RunReport`` (seen = indexed + unchanged + duplicate + dead-lettered) is stored in the runs
index, and a report that does not add up fails the run with ``ReconciliationError``. A cluster
that goes away mid-run is waited for (``Settings.elasticsearch.outage_wait_s``) and the cut-off
unit or batch is done again: stable ids make that an upsert.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cache, partial
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, Protocol

from pipelines import __version__
from pipelines.budget import time_budget
from pipelines.errors import IndexingError, ModelNotFoundError, OverTimeBudget, ReconciliationError, Stage
from pipelines.models import CleanArticle, EnrichedArticle, Failure, RawArticle, RunInfo
from pipelines.registry import Registry
from pipelines.revisions import Revisions
from pipelines.store import IndexNames, RawSelection, StoreResult, open_store

if TYPE_CHECKING:
    from pipelines.health import HealthAlert
    from pipelines.settings import Settings
    from pipelines.sinks import Sink
    from pipelines.sources import Acquisition, SourceContext
    from pipelines.store import Store
    from pipelines.workers import BatchRunner

log = logging.getLogger(__name__)

Progress = Callable[[int], None]  # called with how many more inputs are done
Item = RawArticle | Failure


class Component(Protocol):
    name: str
    stage: Stage  # where its failures are dead-lettered

    def pipe(self, items: Sequence[Any]) -> Iterable[Any]:
        """Process a batch; yields one output (or a ``Failure``) per input, in order."""

    def __call__(self, item: Any) -> Any:
        """Process one; raises for this input only."""


ComponentFactory = Callable[["Pipeline"], Component]
COMPONENTS: Registry[ComponentFactory] = Registry("component")


def _cleaner(pipeline: Pipeline) -> Component:
    from pipelines.cleaning import Cleaner

    return Cleaner.from_settings(pipeline.settings)


def _extractor(pipeline: Pipeline) -> Component:
    from pipelines.extraction import Extractor

    return Extractor.from_settings(pipeline.settings)


def _signer(pipeline: Pipeline) -> Component:
    from pipelines.deduplication import Signer

    return Signer()


def _deduplicator(pipeline: Pipeline) -> Component:
    from pipelines.deduplication import Deduplicator

    return Deduplicator(lambda: pipeline.sink)


COMPONENTS.register("clean", _cleaner)
COMPONENTS.register("extract", _extractor)
COMPONENTS.register("sign", _signer)
COMPONENTS.register("deduplicate", _deduplicator)

BUCKETS = ("seen", "indexed", "unchanged", "duplicate", "failed")
LOOKUP_ARTICLES = 200  # articles whose fingerprints are read in one request: about one acquired unit's worth


@dataclass
class IngestSummary:
    seen: int = 0
    indexed: int = 0
    unchanged: int = 0
    duplicate: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    reports: list[RunReport] = field(default_factory=list)  # per stage, unit and source

    def add(self, other: IngestSummary) -> IngestSummary:
        return IngestSummary(
            *(getattr(self, key) + getattr(other, key) for key in BUCKETS), failures=[*self.failures, *other.failures],
            reports=[*self.reports, *other.reports],
        )

    @classmethod
    def of_failures(cls, failures: Sequence[Failure]) -> IngestSummary:
        return cls(seen=len(failures), failed=len(failures), failures=list(failures))

    @property
    def accounted(self) -> bool:
        return self.seen == self.indexed + self.unchanged + self.duplicate + self.failed

    def counts(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in BUCKETS}

    def to_dict(self) -> dict[str, Any]:
        """Small and JSON-safe: fit for XCom (failure details are capped, the dead-letter store has them all)."""
        return {**self.counts(), "failures": [f.to_dict(message_chars=300) for f in self.failures[:50]],
                "reports": [report.row() for report in self.reports]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestSummary:
        failures = [Failure.from_dict(failure) for failure in data.get("failures", [])]
        return cls(**{key: data[key] for key in BUCKETS}, failures=failures)


@dataclass(frozen=True)
class RunReport:
    """One stage (``acquire``, ``enrich``) of one run, for one unit and source: where every input
    it saw went. ``status`` is ``failed`` when the stage stopped (cluster down after waiting,
    write block): the counts are then what it did before, and nothing else is claimed."""

    run: RunInfo
    stage: str
    unit: str
    source: str
    counts: IngestSummary
    status: str = "complete"
    error: str | None = None

    @property
    def reconciled(self) -> bool:
        return self.counts.accounted

    def row(self) -> dict[str, Any]:
        """Small and JSON-safe, without failure references (XCom, ``--json``)."""
        return {"run_id": self.run.run_id, "dag_id": self.run.dag_id, "stage": self.stage, "unit": self.unit,
                "source": self.source, "status": self.status, "reconciled": self.reconciled, "error": self.error,
                **self.counts.counts()}

    def to_document(self) -> dict[str, Any]:
        """What the runs index keeps: the row, each dead letter's reference, and when."""
        return {**self.row(), "failure_refs": [f.source_ref for f in self.counts.failures[:1000]],
                "recorded_at": datetime.now(UTC).isoformat()}

    def describe(self) -> str:
        c = self.counts
        verdict = "reconciled" if self.reconciled else ("INCOMPLETE" if self.status == "failed" else "MISMATCH")
        return (f"{self.stage:<7} {self.source} [{self.unit}]: seen {c.seen} = indexed {c.indexed} + unchanged "
                f"{c.unchanged} + duplicate {c.duplicate} + dead-lettered {c.failed}  {verdict}"
                + (f" ({self.status}: {self.error})" if self.error else ""))


def check_reconciled(reports: Sequence[RunReport]) -> None:
    """Raise ``ReconciliationError`` naming every completed report that does not add up."""
    mismatched = [report for report in reports if report.status == "complete" and not report.reconciled]
    if mismatched:
        raise ReconciliationError(
            f"{len(mismatched)} run report(s) do not add up, inputs went missing without a dead letter: "
            + "; ".join(report.describe() for report in mismatched[:5])
        )


@dataclass
class AcquireResult:
    """One unit's acquisition: the source's report row, what the raw store now holds, and its run report."""

    report: dict[str, Any]
    stored: StoreResult
    run_report: RunReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, without article bodies (XCom)."""
        return {**self.report, **self.stored.counts(),
                "failures": [f.to_dict(message_chars=300) for f in self.stored.failures[:50]],
                "reports": [self.run_report.row()] if self.run_report else []}


def acquisition_counts(stored: StoreResult) -> IngestSummary:
    """A unit's acquisition in the buckets of every stage: stored is indexed (into the raw store)."""
    return IngestSummary(seen=stored.seen, indexed=stored.stored, unchanged=stored.unchanged,
                         duplicate=stored.duplicate, failed=len(stored.failures), failures=list(stored.failures))


def _source_of(item: Any) -> str:
    if isinstance(item, Failure):
        return item.source or "unknown"
    return _raw_of(item).source


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _raw_of(item: RawArticle | CleanArticle | EnrichedArticle) -> RawArticle:
    return item if isinstance(item, RawArticle) else item.raw


def _is_infrastructure(error: BaseException) -> bool:
    """Errors that are no input's fault: the run must stop (and be retried), not dead-letter everyone."""
    module = type(error).__module__
    return isinstance(error, (ModelNotFoundError, IndexingError, ConnectionError, MemoryError)) or module.startswith(
        ("elasticsearch", "elastic_transport")
    )


class Pipeline:
    """Built once from ``Settings``; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        sink: Sink | None = None,
        components: Sequence[Component] | None = None,
        client: Any = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self._store = store
        self._sink = sink
        self._components = list(components) if components is not None else None
        self._prepared = False
        self._runner: BatchRunner | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        return cls(settings)

    @staticmethod
    @cache
    def shared(settings: Settings) -> Pipeline:
        """One pipeline per worker process and settings: the model is loaded once, however many tasks run."""
        return Pipeline(settings)

    # ------------------------------------------------------------------------------ parts

    @property
    def client(self) -> Any:
        """The Elasticsearch client, when the settings use a cluster."""
        if self._client is None and self.settings.uses_elasticsearch:
            from pipelines.store.client import connect

            self._client = connect(self.settings)
        return self._client

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings, self.client)
        return self._store

    @property
    def sink(self) -> Sink:
        if self._sink is None:
            from pipelines.sinks import build_sink

            self._sink = build_sink(self.settings.sink, self.settings, self.client)
        return self._sink

    @property
    def components(self) -> list[Component]:
        if self._components is None:
            self._components = [COMPONENTS.get(name)(self) for name in self.settings.components]
        return self._components

    @property
    def model_version(self) -> str | None:
        """The version stamp of the extraction model, part of what makes an article unchanged."""
        for component in self.components:
            if hasattr(component, "model_version"):
                return component.model_version
        return None

    def prepare(self) -> Pipeline:
        """Create the store's and the sink's indices or files (idempotent; once per pipeline)."""
        if not self._prepared:
            self.store.prepare()
            mappings = {c.name: c.mapping for c in self.components if getattr(c, "mapping", None)}
            self.sink.prepare(mappings)
            self._prepared = True
        return self

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        if self._sink is not None:
            self._sink.close()
        if self._store is not None:
            self._store.close()

    # ------------------------------------------------------------------------------ acquire

    def plan(self, kind: str, **options: Any) -> list[dict[str, Any]]:
        """The run's work units for a source kind, JSON-safe (one Airflow task each)."""
        from pipelines.sources import build_source

        source = build_source(kind, self.settings, **options)
        return [{"kind": kind, "options": options, "label": unit["label"], "unit": unit} for unit in source.units()]

    def context(self, run: RunInfo, *, force: bool = False) -> SourceContext:
        from pipelines.sources import SourceContext

        return SourceContext(settings=self.settings, store=self.store, run=run, force=force)

    def acquire(self, work: dict[str, Any], run: RunInfo, *, context: SourceContext | None = None,
                force: bool = False) -> AcquireResult:
        """One unit from ``plan`` into the raw store; the source's failures are dead-lettered here."""
        return self.acquire_units([work], run, context=context, force=force)[0]

    def acquire_units(self, works: Sequence[dict[str, Any]], run: RunInfo, *, context: SourceContext | None = None,
                      force: bool = False) -> list[AcquireResult]:
        """Units from ``plan`` into the raw store, as one batch: read at once by up to the source's
        ``concurrency`` threads (fetching is waiting; the shared fetcher keeps per-host limits), their
        items stored in one bulk write, failures dead-lettered in one, the units' states saved in one.
        Still accounted per unit: each gets its own ``RunReport`` (``StoreResult.per_unit``). The
        batch's politeness ledger is stored under the batch's name; a cluster outage re-reads the batch."""
        from pipelines.sources import build_source

        if not works:
            return []
        self.prepare()
        own_context = context is None
        context = context or self.context(run, force=force)
        batch = unit_batch_name(works)

        def attempt() -> tuple[StoreResult, list[StoreResult], list[dict[str, Any]]]:
            by_options: dict[str, Any] = {}  # one source per kind and options: the batch's share one
            # A plan's works share one options object (holding the whole feed list): serialized once,
            # not once per work, which was quadratic (6.8 s of a 2,000-feed poll).
            keys: dict[tuple[str, int], str] = {}
            sources = []
            for work in works:
                identity = (work["kind"], id(work["options"]))
                if (key := keys.get(identity)) is None:
                    key = keys[identity] = json.dumps([work["kind"], work["options"]], sort_keys=True, default=str)
                if key not in by_options:
                    by_options[key] = build_source(work["kind"], self.settings, **work["options"])
                sources.append(by_options[key])
            for source in by_options.values():
                source.prefetch([work["unit"] for work, owner in zip(works, sources) if owner is source], context)

            def read(index: int) -> tuple[Acquisition, list[Item]]:
                acquisition = sources[index].acquire(works[index]["unit"], context)
                return acquisition, list(acquisition)

            workers = min(len(works), max((source.concurrency() for source in by_options.values()), default=1))
            order = spread_over_hosts(range(len(works)), lambda index: works[index]["unit"].get("host"))
            if workers > 1:
                context.fetcher  # noqa: B018 — built once, before the threads share it
                with ThreadPoolExecutor(workers, thread_name_prefix="acquire") as pool:
                    read_by_index = dict(zip(order, pool.map(read, order)))
            else:
                read_by_index = {index: read(index) for index in order}
            acquired = [read_by_index[index] for index in range(len(works))]
            stored = self.store.raw.put(chain.from_iterable(items for _, items in acquired), run)
            self.store.deadletters.record(stored.failures, run)
            parts = stored.per_unit([items for _, items in acquired])
            rows = [acquisition.finish(part) for (acquisition, _), part in zip(acquired, parts)]
            states: dict[str, dict[str, dict[str, Any]]] = {}
            for acquisition, _ in acquired:
                if update := acquisition.state_update:
                    states.setdefault(update.kind, {})[update.name] = update.state
            for kind, by_name in states.items():
                self.store.state.save_many(kind, by_name)
            self.store.deadletters.resolve([ref for acquisition, _ in acquired for ref in acquisition.resolved])
            self.store.politeness.record([counts.to_dict() for counts in context.politeness()], run, unit=batch)
            return stored, parts, rows

        try:
            stored, parts, rows = self._through_outages(attempt, f"acquiring {batch}")
        except BaseException as error:
            self._record_reports([RunReport(run, "acquire", work["label"], work["kind"], IngestSummary(), "failed",
                                            _first_line(error)) for work in works], best_effort=True)
            raise
        finally:
            if own_context:
                context.close()
        log.info("acquired %s: %s", batch, stored.counts())
        run_reports = []
        for work, part in zip(works, parts):
            names = {_source_of(item) for item in [*part.articles, *part.failures]}
            run_reports.append(RunReport(run, "acquire", work["label"], ",".join(sorted(names)) or work["kind"],
                                         acquisition_counts(part)))
        self._record_reports(run_reports)
        check_reconciled(run_reports)
        return [AcquireResult(row, part, report) for row, part, report in zip(rows, parts, run_reports)]

    # ------------------------------------------------------------------------------ enrich

    def select(self, selection: RawSelection) -> list[str]:
        self.prepare()
        return self.store.raw.select(selection)

    def enrich_ids(self, doc_ids: Sequence[str], run: RunInfo, *, force: bool = False,
                   progress: Progress | None = None, unit: str | None = None) -> IngestSummary:
        """Enrich stored raw articles by id (an id missing from the store is a ``Stage.LOAD`` failure)."""
        ids = list(doc_ids)
        unit = unit or (f"{len(ids)} article(s) from {ids[0]}" if ids else "no articles")
        loaded = (item for chunk in batches(ids, self.settings.batch_size)
                  for item in self._through_outages(lambda: list(self.store.raw.get(chunk)), f"loading {unit}"))
        return self.enrich(loaded, run, force=force, progress=progress, unit=unit)

    def enrich(self, items: Iterable[Item], run: RunInfo, *, force: bool = False,
               progress: Progress | None = None, unit: str = "articles") -> IngestSummary:
        """Raw articles through the components and into the sink, in batches; then make them
        searchable. Reconciled per source (``RunReport``s in the runs index and the summary).

        The parallel components (clean, extract, sign) of the next batches run — on
        ``settings.workers`` processes — while this thread runs the ordered ones (deduplicate) on
        the oldest and a writer thread writes the one before (``pipelines.workers``). What the sink
        holds is looked up for a few batches at once; workers and writer start only once some
        article has changed, so an unchanged re-run loads no model and writes only its run report.
        """
        from pipelines.workers import OrderedWriter

        self.prepare()
        for component in self.components:
            if hasattr(component, "begin_run"):
                component.begin_run()

        def write(job: tuple) -> dict[str, IngestSummary]:
            return self._through_outages(lambda: self._write_batch(*job, run), f"writing {unit}")

        def report_progress(tally: dict[str, IngestSummary]) -> None:
            if progress:
                progress(sum(counts.seen for counts in tally.values()))

        # The workers (and so the model) and the writer thread start with the first batch that has
        # something to extract: an unchanged re-run loads no model and forks nothing. Batches before
        # it are written here, in this thread, so no thread of ours is alive when the workers fork.
        runner = self._runner
        writer = OrderedWriter(write, depth=2, on_done=report_progress) if runner is not None else None
        written_here: list[dict[str, IngestSummary]] = []

        def finish(job: tuple) -> None:
            if writer is not None:
                writer.put(job)
                return
            tally = write(job)
            written_here.append(tally)
            report_progress(tally)

        in_flight: deque[tuple] = deque()  # batches being cleaned and extracted, oldest first

        def by_source() -> dict[str, IngestSummary]:
            """What the written batches counted, per source."""
            counted: dict[str, IngestSummary] = {}
            for tally in [*written_here, *(writer.results if writer is not None else [])]:
                for source, counts in tally.items():
                    counted[source] = counted.get(source, IngestSummary()).add(counts)
            return counted

        try:
            try:
                size = self.settings.batch_size
                for group in batches(items, size * max(1, LOOKUP_ARTICLES // size)):
                    fingerprints, settled = self._look_up(group, run, force=force, unit=unit)
                    for batch in batches(group, size):
                        decided = self._decide_batch(batch, run, fingerprints, settled, force=force)
                        changed = decided[3]
                        if changed and runner is None:
                            while in_flight:
                                finish(self._order_batch(*in_flight.popleft(), unit=unit))
                            runner = self._batch_runner()  # loads the model here, outside any article's time budget
                            writer = OrderedWriter(write, depth=2, on_done=report_progress)
                        in_flight.append((*decided, runner.submit(changed) if changed else _nothing_to_extract()))
                        if len(in_flight) > (runner.workers if runner is not None else 0):  # every worker busy
                            finish(self._order_batch(*in_flight.popleft(), unit=unit))
                while in_flight:
                    finish(self._order_batch(*in_flight.popleft(), unit=unit))
            except BaseException:
                if writer is not None:
                    with contextlib.suppress(BaseException):  # the first error is the one to report
                        writer.close()
                raise
            if writer is not None:
                writer.close()
            self._through_outages(self.sink.flush, f"refreshing after {unit}")
        except BaseException as error:
            failed = [RunReport(run, "enrich", unit, source, counts, "failed", _first_line(error))
                      for source, counts in sorted(by_source().items())]
            self._record_reports(failed or [RunReport(run, "enrich", unit, "unknown", IngestSummary(), "failed",
                                                      _first_line(error))], best_effort=True)
            raise
        counted = by_source()
        reports = [RunReport(run, "enrich", unit, source, counts) for source, counts in sorted(counted.items())]
        self._record_reports(reports)
        check_reconciled(reports)
        summary = IngestSummary(reports=reports)
        for counts in counted.values():
            summary = summary.add(counts)
        return summary

    def _batch_runner(self) -> BatchRunner:
        """The worker processes for the parallel components, started once per pipeline (after the model loaded)."""
        if self._runner is None:
            from pipelines.workers import BatchRunner

            started = time.perf_counter()
            self.load()
            # Near zero when the process inherited the model (a preloaded Airflow worker, see worker_preload).
            log.info("components ready in %.2f s", time.perf_counter() - started)
            parallel, _ = self._split_components()
            self._runner = BatchRunner(partial(self._run_all, parallel), self.settings.workers)
        return self._runner

    def load(self) -> None:
        """Load what the parallel components need (the model, MinHash's permutations) now: before
        worker processes fork, so they share it, and outside any timing or article budget."""
        parallel, _ = self._split_components()
        for component in parallel:
            if hasattr(component, "load"):
                component.load()

    def _split_components(self) -> tuple[list[Component], list[Component]]:
        """The leading components that are pure functions of their input, and the rest (run in order)."""
        count = 0
        while count < len(self.components) and getattr(self.components[count], "parallel", False):
            count += 1
        return self.components[:count], self.components[count:]

    def _run_all(self, components: Sequence[Component], items: list[Any]) -> tuple[list[Any], list[Failure]]:
        failures: list[Failure] = []
        for component in components:
            items = self._run(component, items, failures)
        return items, failures

    def _through_outages(self, attempt: Callable[[], Any], what: str) -> Any:
        if not self.settings.uses_elasticsearch or not self.settings.elasticsearch.outage_wait_s:
            return attempt()
        from pipelines.store.client import through_outages

        return through_outages(self.client, attempt, wait_s=self.settings.elasticsearch.outage_wait_s, what=what)

    def _record_reports(self, reports: Sequence[RunReport], *, best_effort: bool = False) -> None:
        """Store run reports; for a stage that already failed, a report that cannot be stored must
        not hide why it failed."""
        for report in reports:
            (log.info if report.reconciled else log.warning)("run report: %s", report.describe())
        try:
            self._through_outages(lambda: self.store.runs.record([r.to_document() for r in reports]), "storing run reports")
        except Exception:
            if not best_effort:
                raise
            log.exception("could not store the run report of a failed stage")

    def _look_up(self, group: list[Item], run: RunInfo, *, force: bool,
                  unit: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """For a group of batches, in one request each: the sink's fingerprints by id, and the
        unchanged articles the raw store no longer has pending (nothing to write for them). Per
        batch, these round trips would cost more than an unchanged article's whole handling."""
        ids = [item.doc_id for item in group if isinstance(item, RawArticle)]
        fingerprints = self._through_outages(lambda: self.sink.fingerprints(ids), f"reading {unit}")
        unchanged = [] if force else [item.doc_id for item in group if isinstance(item, RawArticle)
                                      and fingerprints.get(item.doc_id, {}).get("run_id") != run.run_id
                                      and self._unchanged(item, fingerprints.get(item.doc_id))]
        still_pending = self._through_outages(lambda: self.store.raw.pending(unchanged), f"reading {unit}") if unchanged else set()
        return fingerprints, {doc_id for doc_id in unchanged if doc_id not in still_pending}

    def _decide_batch(self, batch: list[Item], run: RunInfo, fingerprints: dict[str, dict[str, Any]],
                      settled: set[str], *, force: bool) -> tuple:
        """What in a batch needs work: its articles, those not done by this run, and of those the changed."""
        failures = [item for item in batch if isinstance(item, Failure)]
        raws = [item for item in batch if isinstance(item, RawArticle)]
        # Written by this very run in an attempt that was cut off (an outage): done, not unchanged.
        earlier = {raw.doc_id: fingerprints[raw.doc_id] for raw in raws
                   if fingerprints.get(raw.doc_id, {}).get("run_id") == run.run_id}
        pending = [raw for raw in raws if raw.doc_id not in earlier]
        changed = pending if force else [raw for raw in pending if not self._unchanged(raw, fingerprints.get(raw.doc_id))]
        return batch, raws, pending, changed, earlier, failures, settled

    def _order_batch(self, batch: list[Item], raws: list[RawArticle], pending: list[RawArticle],
                     changed: list[RawArticle], earlier: dict[str, dict[str, Any]], failures: list[Failure],
                     settled: set[str], extracted: Future[tuple[list[Any], list[Failure]]], *, unit: str) -> tuple:
        """The ordered components (deduplicate) over one extracted batch, in this thread: they keep the
        run's memory, and an article's time budget (a signal) only works in the main thread."""
        items, parallel_failures = extracted.result()
        failures = failures + parallel_failures
        _, ordered = self._split_components()

        def run_ordered() -> list[Any]:
            done = items
            for component in ordered:
                done = self._run(component, done, failures)
            return done

        items = self._through_outages(run_ordered, f"deduplicating {unit}")
        return batch, raws, pending, changed, earlier, failures, settled, items

    def _write_batch(self, batch: list[Item], raws: list[RawArticle], pending: list[RawArticle],
                     changed: list[RawArticle], earlier: dict[str, dict[str, Any]], failures: list[Failure],
                     settled: set[str], items: list[Any], run: RunInfo) -> dict[str, IngestSummary]:
        """One batch's writes (in the writer thread); its counts per source."""
        failures = list(failures)
        items = Revisions(self.store.versions).annotate(items, run)

        rejected = self.sink.write(items, run)
        failures += rejected
        rejected_ids = {failure.doc_id for failure in rejected}
        written = [article for article in items if article.raw.doc_id not in rejected_ids]
        self.store.deadletters.record(failures, run)
        # An input that failed before and went through now is no longer a dead letter.
        self.store.deadletters.resolve([(a.raw.source, a.raw.source_ref) for a in written])
        self.store.raw.mark_enriched([raw.doc_id for raw in raws if raw.doc_id not in settled])

        tally: dict[str, IngestSummary] = defaultdict(IngestSummary)
        for item in batch:
            tally[_source_of(item)].seen += 1
        changed_ids = {raw.doc_id for raw in changed}
        for raw in pending:
            if raw.doc_id not in changed_ids:
                tally[raw.source].unchanged += 1
        for raw in raws:
            if raw.doc_id in earlier:
                if earlier[raw.doc_id].get("duplicate_of"):
                    tally[raw.source].duplicate += 1
                else:
                    tally[raw.source].indexed += 1
        for article in written:
            if article.duplicate_of:
                tally[article.raw.source].duplicate += 1
            else:
                tally[article.raw.source].indexed += 1
        for failure in failures:
            tally[failure.source or "unknown"].failed += 1
            tally[failure.source or "unknown"].failures.append(failure)
        return dict(tally)

    def apply(self, raws: Iterable[RawArticle], *, until: str | None = None) -> tuple[list[Any], list[Failure]]:
        """The components (up to and including ``until``) over raw articles, with nothing read from
        or written to the store or sink: what eval/ and bench/ measure, exactly as production cleans
        and extracts."""
        outputs: list[Any] = []
        failures: list[Failure] = []
        for batch in batches(raws, self.settings.batch_size):
            items: list[Any] = batch
            for component in self.components:
                items = self._run(component, items, failures)
                if component.name == until:
                    break
            outputs += items
        return outputs, failures

    def check_health(self, run: RunInfo) -> list[HealthAlert]:
        """Recompute the extraction health of every source and day this run enriched; returns the
        alerts that are new (each fires once, on the day a metric leaves its baseline)."""
        from pipelines.health import SourceHealth

        if self.client is None:  # the JSON Lines sink: no index to compute health from
            return []
        return SourceHealth(self.client, IndexNames(self.settings.index_prefix), self.settings.health).check_run(run.run_id)

    def component(self, name: str) -> Component:
        """The pipeline's component registered under ``name`` (e.g. ``extract`` for its model)."""
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(f"this pipeline has no {name!r} component; it has {[c.name for c in self.components]}")

    def _unchanged(self, raw: RawArticle, fingerprint: dict[str, Any] | None) -> bool:
        return (
            fingerprint is not None
            and fingerprint.get("content_hash") == raw.content_hash
            and fingerprint.get("pipeline_version") == __version__
            and fingerprint.get("model") == self.model_version
        )

    def _run(self, component: Component, items: list[Any], failures: list[Failure]) -> list[Any]:
        """A component over a batch; if the batch fails, one at a time, so only the culprit is dead-lettered.

        Each article has ``Settings.article_time_budget_s`` per component: a batch gets its
        articles' budgets together, and an article alone over its budget is dead-lettered."""
        if not items:
            return []
        budget = self.settings.article_time_budget_s
        try:
            with time_budget(budget * len(items)):
                outputs = list(component.pipe(items))
        except Exception as error:
            if _is_infrastructure(error):
                raise
            outputs = []
            for item in items:
                try:
                    with time_budget(budget):
                        outputs.append(component(item))
                except Exception as item_error:
                    if _is_infrastructure(item_error):
                        raise
                    if isinstance(item_error, OverTimeBudget):
                        item_error = OverTimeBudget(f"{component.name} took longer than the time budget of {budget:g}s "
                                                    "per article (NEWSFLOW_ARTICLE_TIME_BUDGET_S)")
                    outputs.append(Failure.of(_raw_of(item), component.stage, item_error))
        kept = []
        for output in outputs:
            if isinstance(output, Failure):
                failures.append(output)
            else:
                kept.append(output)
        return kept

    # ------------------------------------------------------------------------------ both

    def run(self, kind: str, run: RunInfo, *, force: bool = False, progress: Progress | None = None,
            on_total: Callable[[int], None] | None = None, enrich: bool = True,
            **options: Any) -> tuple[IngestSummary, list[dict[str, Any]]]:
        """Every unit of a source acquired, a batch of units at a time (``poll_units_per_task``;
        one unit for a folder's batches of files), their articles streaming into one enrichment
        (the CLI's path: one process, nothing handed through XCom; batch *n + 1* is acquired while
        batch *n* is extracted). ``enrich=False`` only acquires. Returns the summary and the units'
        report rows, in planned order."""
        from pipelines.sources import build_source

        works = self.plan(kind, **options)
        if on_total:
            on_total(sum(len(work["unit"].get("files", ())) for work in works) or len(works))
        concurrent = build_source(kind, self.settings, **options).concurrency() > 1
        per_batch = self.settings.poll_units_per_task if concurrent else 1
        # Hosts spread over the whole run: each batch asks many hosts once rather than one host often.
        ordered = spread_over_hosts(works, lambda work: work["unit"].get("host"))
        by_label: dict[str, dict[str, Any]] = {}
        acquired_summary = IngestSummary()
        context = self.context(run, force=force)

        def acquired_articles() -> Iterator[RawArticle]:
            nonlocal acquired_summary
            yielded: set[str] = set()  # an article two units carry is enriched once
            for chunk in batches(ordered, per_batch):
                for work, acquired in zip(chunk, self.acquire_units(chunk, run, context=context)):
                    by_label[work["label"]] = acquired.report
                    acquired_summary = acquired_summary.add(IngestSummary.of_failures(acquired.stored.failures))
                    acquired_summary.reports.append(acquired.run_report)
                    if progress and acquired.stored.failures:
                        progress(len(acquired.stored.failures))
                    for article in acquired.stored.articles:
                        if article.doc_id not in yielded:
                            yielded.add(article.doc_id)
                            yield article

        try:
            if enrich:
                enriched = self.enrich(acquired_articles(), run, force=force, progress=progress,
                                       unit=f"{kind} ({len(works)} unit{'s' if len(works) != 1 else ''})")
            else:
                enriched = IngestSummary()
                for _ in acquired_articles():
                    pass
        finally:
            context.close()
        return acquired_summary.add(enriched), [by_label[work["label"]] for work in works]


def unit_batch_name(works: Sequence[dict[str, Any]]) -> str:
    """A batch of units, named the same on every attempt (the politeness ledger's entry is per run and name)."""
    first, last = works[0], works[-1]
    name = f"{first['kind']}:{first['label']}"
    return name if len(works) == 1 else f"{name}…{last['label']} ({len(works)} units)"


def spread_over_hosts(items: Iterable[Any], host_of: Callable[[Any], str | None]) -> list[Any]:
    """``items`` taking turns by host (the first of each host, then the second of each, …), each
    host's in their order: concurrent workers then wait on many hosts' intervals, not one's."""
    by_host: dict[str | None, list[Any]] = {}
    for item in items:
        by_host.setdefault(host_of(item), []).append(item)
    turns = [[queue[turn] for queue in by_host.values() if turn < len(queue)]
             for turn in range(max(map(len, by_host.values()), default=0))]
    return [item for turn in turns for item in turn]


def _nothing_to_extract() -> Future[tuple[list[Any], list[Failure]]]:
    done: Future[tuple[list[Any], list[Failure]]] = Future()
    done.set_result(([], []))
    return done


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:500] if lines else ''}"


def describe_failure(failure: Failure) -> str:
    return f"failed [{failure.stage}] {failure.source_ref}: {failure.error_type}: {failure.message}"


