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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from pipelines import __version__
from pipelines.errors import IndexingError, ModelNotFoundError, Stage
from pipelines.models import CleanArticle, EnrichedArticle, Failure, RawArticle, RunInfo
from pipelines.registry import Registry
from pipelines.store import RawSelection, StoreResult, open_store

if TYPE_CHECKING:
    from pipelines.settings import Settings
    from pipelines.sinks import Sink
    from pipelines.sources import SourceContext
    from pipelines.store import Store

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


def _deduplicator(pipeline: Pipeline) -> Component:
    from pipelines.deduplication import Deduplicator

    return Deduplicator(lambda: pipeline.sink)


COMPONENTS.register("clean", _cleaner)
COMPONENTS.register("extract", _extractor)
COMPONENTS.register("deduplicate", _deduplicator)

BUCKETS = ("seen", "indexed", "unchanged", "duplicate", "failed")


@dataclass
class IngestSummary:
    seen: int = 0
    indexed: int = 0
    unchanged: int = 0
    duplicate: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)

    def add(self, other: IngestSummary) -> IngestSummary:
        return IngestSummary(
            *(getattr(self, key) + getattr(other, key) for key in BUCKETS), failures=[*self.failures, *other.failures]
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
        return {**self.counts(), "failures": [f.to_dict(message_chars=300) for f in self.failures[:50]]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestSummary:
        failures = [Failure.from_dict(failure) for failure in data.get("failures", [])]
        return cls(**{key: data[key] for key in BUCKETS}, failures=failures)


@dataclass
class AcquireResult:
    """One unit's acquisition: the source's report row and what the raw store now holds."""

    report: dict[str, Any]
    stored: StoreResult

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, without article bodies (XCom)."""
        return {**self.report, **self.stored.counts(),
                "failures": [f.to_dict(message_chars=300) for f in self.stored.failures[:50]]}


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
        from pipelines.sources import build_source

        self.prepare()
        own_context = context is None
        context = context or self.context(run, force=force)
        try:
            acquisition = build_source(work["kind"], self.settings, **work["options"]).acquire(work["unit"], context)
            stored = self.store.raw.put(acquisition, run)
            self.store.deadletters.record(stored.failures, run)
            report = acquisition.finish(stored)
            self.store.politeness.record([counts.to_dict() for counts in context.politeness()], run,
                                         unit=f"{work['kind']}:{work['label']}")
        finally:
            if own_context:
                context.close()
        log.info("acquired %s: %s", work["label"], stored.counts())
        return AcquireResult(report, stored)

    # ------------------------------------------------------------------------------ enrich

    def select(self, selection: RawSelection) -> list[str]:
        self.prepare()
        return self.store.raw.select(selection)

    def enrich_ids(self, doc_ids: Sequence[str], run: RunInfo, *, force: bool = False,
                   progress: Progress | None = None) -> IngestSummary:
        """Enrich stored raw articles by id (an id missing from the store is a ``Stage.LOAD`` failure)."""
        return self.enrich(self.store.raw.get(list(doc_ids)), run, force=force, progress=progress)

    def enrich(self, items: Iterable[Item], run: RunInfo, *, force: bool = False,
               progress: Progress | None = None) -> IngestSummary:
        """Raw articles through the components and into the sink, in batches; then make them searchable."""
        self.prepare()
        for component in self.components:
            if hasattr(component, "begin_run"):
                component.begin_run()
        summary = IngestSummary()
        for batch in batches(items, self.settings.batch_size):
            summary = summary.add(self._enrich_batch(batch, run, force=force))
            if progress:
                progress(len(batch))
        self.sink.flush()
        return summary

    def _enrich_batch(self, batch: list[Item], run: RunInfo, *, force: bool) -> IngestSummary:
        failures = [item for item in batch if isinstance(item, Failure)]
        raws = [item for item in batch if isinstance(item, RawArticle)]
        fingerprints = self.sink.fingerprints([raw.doc_id for raw in raws])
        changed = raws if force else [raw for raw in raws if not self._unchanged(raw, fingerprints.get(raw.doc_id))]

        items: list[Any] = changed
        for component in self.components:
            items = self._run(component, items, failures)

        rejected = self.sink.write(items, run)
        failures += rejected
        rejected_ids = {failure.doc_id for failure in rejected}
        written = [article for article in items if article.raw.doc_id not in rejected_ids]
        duplicates = sum(1 for article in written if article.duplicate_of)
        self.store.deadletters.record(failures, run)
        # An input that failed before and went through now is no longer a dead letter.
        self.store.deadletters.resolve([(a.raw.source, a.raw.source_ref) for a in written])
        self.store.raw.mark_enriched([raw.doc_id for raw in raws])
        return IngestSummary(
            seen=len(batch), indexed=len(written) - duplicates, unchanged=len(raws) - len(changed),
            duplicate=duplicates, failed=len(failures), failures=failures,
        )

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

    @staticmethod
    def _run(component: Component, items: list[Any], failures: list[Failure]) -> list[Any]:
        """A component over a batch; if the batch fails, one at a time, so only the culprit is dead-lettered."""
        if not items:
            return []
        try:
            outputs = list(component.pipe(items))
        except Exception as error:
            if _is_infrastructure(error):
                raise
            outputs = []
            for item in items:
                try:
                    outputs.append(component(item))
                except Exception as item_error:
                    if _is_infrastructure(item_error):
                        raise
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
            on_total: Callable[[int], None] | None = None, **options: Any) -> tuple[IngestSummary, list[dict[str, Any]]]:
        """Every unit of a source acquired, each followed at once by the enrichment of its articles
        (the CLI's path: one process, nothing handed through XCom). Returns the summary and the
        units' report rows."""
        works = self.plan(kind, **options)
        if on_total:
            on_total(sum(len(work["unit"].get("files", ())) for work in works) or len(works))
        summary, reports = IngestSummary(), []
        context = self.context(run, force=force)
        try:
            for work in works:
                acquired = self.acquire(work, run, context=context)
                reports.append(acquired.report)
                summary = summary.add(IngestSummary.of_failures(acquired.stored.failures))
                if progress and acquired.stored.failures:
                    progress(len(acquired.stored.failures))
                summary = summary.add(self.enrich(acquired.stored.articles, run, force=force, progress=progress))
        finally:
            context.close()
        return summary, reports


def describe_failure(failure: Failure) -> str:
    return f"failed [{failure.stage}] {failure.source_ref}: {failure.error_type}: {failure.message}"


