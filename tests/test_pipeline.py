"""The one pipeline and its seams, for real: a source and a component added from outside the
package, a parser fix replayed from the raw store, the JSON Lines sink with and without a cluster."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from feed_server import serve_feeds
from pipelines.errors import EnrichmentError, Stage
from pipelines.models import EnrichedArticle, Failure, RawArticle, RunInfo, stable_id
from pipelines.pipeline import COMPONENTS, Pipeline
from pipelines.settings import DEFAULT_COMPONENTS, SAMPLE_ARTICLES, Settings
from pipelines.sources import SOURCES, Acquisition, Source, SourceContext
from pipelines.store import RawSelection
from pipelines.store.schema import iter_documents

ARTICLES_IN_SAMPLES = 12  # 11 files, the .jsonl holds two articles

# ---------------------------------------------------------------------------- a toy source and component,
# registered here, in a test module: nothing in pipelines/ knows them.

TOY_STORIES = {
    "lighthouse": "Keepers relit the old lighthouse at Hook Head in County Wexford on Saturday after a restoration.",
    "ferry": "A new electric ferry crossed the fjord from Bergen to Askøy in twelve minutes on its first trip.",
    "broken": "",  # the toy wire sometimes sends empty stories: a failure of its own, with its own reference
}


@SOURCES.register("toy-wire")
class ToyWire(Source):
    """A pretend news wire: one unit per desk, each story a raw article."""

    kind = "toy-wire"

    def units(self) -> list[dict[str, Any]]:
        return [{"label": "desk-1", "stories": sorted(TOY_STORIES)}]

    def acquire(self, unit: dict[str, Any], context: SourceContext) -> Acquisition:
        def items():
            for slug in unit["stories"]:
                ref = f"toy://{unit['label']}/{slug}"
                if not TOY_STORIES[slug]:
                    yield Failure(Stage.READ, ref, "EmptyStory", "the wire sent an empty story", source="toy:wire")
                    continue
                yield RawArticle(doc_id=stable_id("toy", slug), source="toy:wire", source_ref=ref,
                                 title=slug.title(), body=TOY_STORIES[slug], fetched_at=context.clock())

        return Acquisition(items(), label=unit["label"])


class VowelCounter:
    """A toy enrichment step: counts vowels in the body; refuses articles about ferries."""

    name = "vowels"
    stage = Stage.ENRICH
    mapping = {"properties": {"count": {"type": "integer"}}}

    def __call__(self, article: EnrichedArticle) -> EnrichedArticle:
        if "ferry" in article.clean.body:
            raise EnrichmentError("no ferries, please", source_ref=article.raw.source_ref, doc_id=article.raw.doc_id)
        count = sum(article.clean.body.lower().count(vowel) for vowel in "aeiou")
        return EnrichedArticle(**{**vars(article), "enrichments": {**article.enrichments, self.name: {"count": count}}})

    def pipe(self, articles):
        for article in articles:
            try:
                yield self(article)
            except EnrichmentError as error:
                yield Failure.from_error(error, source=article.raw.source)


COMPONENTS.register("vowels", lambda pipeline: VowelCounter())


class Dawdler:
    """A toy step that never finishes on articles about ferries (think: a pathological regex)."""

    name = "dawdle"
    stage = Stage.ENRICH

    def __call__(self, article: EnrichedArticle) -> EnrichedArticle:
        while "ferry" in article.clean.body:
            time.sleep(0.05)
        return article

    def pipe(self, articles):
        return [self(article) for article in articles]


COMPONENTS.register("dawdle", lambda pipeline: Dawdler())


def test_an_article_over_its_time_budget_is_dead_lettered_and_the_batch_goes_on(tmp_path):
    settings = Settings.from_env().with_changes(
        state_dir=tmp_path / "state", sink=f"jsonl:{tmp_path / 'out.jsonl'}", article_time_budget_s=8.0,
        components=(*DEFAULT_COMPONENTS[:2], "dawdle"),
    )
    started = time.monotonic()
    summary, _ = Pipeline(settings).run("toy-wire", RunInfo("budget"))

    assert time.monotonic() - started < 60
    assert (summary.indexed, summary.failed) == (1, 2), [(f.stage, f.source_ref, f.message[:300]) for f in summary.failures]
    (stalled,) = [f for f in summary.failures if f.stage is Stage.ENRICH]
    assert stalled.source_ref == "toy://desk-1/ferry" and stalled.error_type == "OverTimeBudget"
    # (8 s: a fresh worker process's first spaCy batch must fit comfortably on a busy machine)
    assert stalled.message == "dawdle took longer than the time budget of 8s per article (NEWSFLOW_ARTICLE_TIME_BUDGET_S)"
    assert all(report.reconciled for report in summary.reports)


@pytest.mark.elasticsearch
def test_a_source_and_a_component_registered_outside_the_package_flow_to_elasticsearch(isolated_settings, es_client, names):
    components = (*DEFAULT_COMPONENTS[:2], "vowels", *DEFAULT_COMPONENTS[2:])  # clean, extract, vowels, sign, deduplicate
    pipeline = Pipeline(isolated_settings.with_changes(components=components), client=es_client)

    summary, reports = pipeline.run("toy-wire", RunInfo("toy-run"))

    assert summary.counts() == {"seen": 3, "indexed": 1, "unchanged": 0, "duplicate": 0, "failed": 2}
    assert reports == [{"unit": "desk-1", "articles": 2, "seen": 3, "stored": 2, "unchanged": 0, "duplicate": 0, "failed": 1}]
    # Each stage reconciled and kept in the runs index: acquisition 3 = 2 stored + 1 dead-lettered,
    # enrichment 2 = 1 indexed + 1 dead-lettered.
    stored = {(row["stage"], row["seen"], row["indexed"], row["failed"], row["reconciled"])
              for row in pipeline.store.runs.of_run("toy-run")}
    assert stored == {("acquire", 3, 2, 1, True), ("enrich", 2, 1, 1, True)}
    assert [report.stage for report in summary.reports] == ["acquire", "enrich"]
    assert {(f.stage, f.source_ref) for f in summary.failures} == {
        (Stage.READ, "toy://desk-1/broken"), (Stage.ENRICH, "toy://desk-1/ferry")}
    es_client.indices.refresh(index=names.articles)
    (lighthouse,) = iter_documents(es_client, names.articles)
    expected = sum(TOY_STORIES["lighthouse"].lower().count(vowel) for vowel in "aeiou")
    assert lighthouse["enrichments"] == {"vowels": {"count": expected}}
    assert "Hook Head" in lighthouse["locations"] or "County Wexford" in lighthouse["locations"]
    # The component's mapping reached the index: its field is typed and searchable.
    hits = es_client.search(index=names.articles, query={"range": {"enrichments.vowels.count": {"gte": expected}}})
    assert hits["hits"]["total"]["value"] == 1
    dead = {doc["source_ref"]: doc["stage"] for doc in iter_documents(es_client, names.deadletters)}
    assert dead == {"toy://desk-1/broken": "read", "toy://desk-1/ferry": "enrich"}


def test_a_runs_documents_are_searchable_when_it_returns_though_the_index_refreshes_every_30_s(isolated_settings, es_client, names):
    from pipelines.store.names import BULK_REFRESH_INTERVAL

    summary, _ = Pipeline(isolated_settings, client=es_client).run("folder", RunInfo("searchable-run"), folder=str(SAMPLE_ARTICLES))

    setting = es_client.indices.get_settings(index=names.articles, name="index.refresh_interval", flat_settings=True)
    assert {index: value["settings"] for index, value in setting.items()} == {
        names.first_articles_index: {"index.refresh_interval": BULK_REFRESH_INTERVAL}}
    # No refresh here: the run's own at its end is what makes them searchable, not the interval.
    assert summary.indexed + summary.duplicate == summary.seen >= 10
    assert es_client.count(index=names.articles)["count"] == summary.indexed + summary.duplicate


# ---------------------------------------------------------------------------- replaying a parser fix


@pytest.fixture(scope="module")
def server():
    yield from serve_feeds(slow_seconds=2.0)


@pytest.mark.elasticsearch
def test_a_parser_fix_is_replayed_from_the_raw_store_without_fetching(server, isolated_settings, es_client, names, monkeypatch):
    import ipaddress

    from pipelines import cleaning
    from pipelines.cli import main

    fetch = isolated_settings.fetch.__class__(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), min_host_interval_s=0)
    settings = isolated_settings.with_changes(fetch=fetch)
    feed = {"name": "gazette", "url": server.url("/rss2.xml")}
    Pipeline(settings, client=es_client).run("feeds", RunInfo("fetch-once"), feeds=[feed])
    ferry_id = stable_id("url", server.url("/news/ferry-terminal?id=7"))
    before = es_client.get(index=names.articles, id=ferry_id)["_source"]
    assert "<p>" not in before["body"]
    requests_after_fetch = len(server.requests)

    # A "parser fix": the HTML step now marks where each paragraph began.
    original = cleaning.html_to_text
    monkeypatch.setattr(cleaning, "html_to_text", lambda html: original(html.replace("<p>", "<p>¶ ")))
    assert main(["enrich", "--source", "feed:gazette", "--force"]) == 0

    after = es_client.get(index=names.articles, id=ferry_id)["_source"]
    assert after["body"].startswith("¶ ") and after["body"].replace("¶ ", "") == before["body"]
    assert after["run_id"].startswith("enrich__")
    assert len(server.requests) == requests_after_fetch  # nothing was fetched again


# ---------------------------------------------------------------------------- the JSON Lines sink


def test_ingestion_without_a_cluster_writes_json_lines_idempotently(tmp_path, monkeypatch):
    """``--sink jsonl:PATH``: raw store, state and dead letters in one SQLite file, articles in the
    JSON Lines file; no Elasticsearch anywhere (its URL points at a closed port)."""
    from pipelines.cli import main

    monkeypatch.setenv("NEWSFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NEWSFLOW_ES_URL", "http://127.0.0.1:9")  # nothing listens: any use would fail
    folder = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES, folder)
    (folder / "broken.json").write_text("{not json")
    output = tmp_path / "out" / "articles.jsonl"

    assert main(["ingest", "folder", str(folder), "--sink", f"jsonl:{output}", "--json"]) == 1  # broken.json failed
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == ARTICLES_IN_SAMPLES == len({line["doc_id"] for line in lines})
    nordvik = next(line for line in lines if line["source_ref"] == "nordvik-floating-wind.txt")
    assert "Maria Lindqvist" in nordvik["persons"] and "[caption" not in nordvik["body"]

    settings = Settings.from_env().with_changes(sink=f"jsonl:{output}")
    again, _ = Pipeline(settings).run("folder", RunInfo("second"), folder=str(folder))
    assert again.counts() == {"seen": 13, "indexed": 0, "unchanged": 12, "duplicate": 0, "failed": 1}
    assert output.read_text().count("\n") == ARTICLES_IN_SAMPLES
    page = Pipeline(settings).store.deadletters.list()
    assert [(row["stage"], row["source_ref"]) for row in page.rows] == [("read", "broken.json")]


def _documents(path) -> dict[str, dict[str, Any]]:
    volatile = {"indexed_at", "fetched_at", "date", "first_seen_at", "last_changed_at", "run_id", "dag_id"}  # when, not what
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {line["doc_id"]: {k: v for k, v in line.items() if k not in volatile} for line in lines}


def test_worker_processes_enrich_exactly_as_one_process_and_live_for_the_pipeline(tmp_path, monkeypatch):
    """One or two forked workers give the same documents as cleaning and extracting in-process
    (``workers=0``), and are started once per pipeline: a second enrichment reuses them (the model
    loads once per process)."""
    monkeypatch.setenv("NEWSFLOW_ES_URL", "http://127.0.0.1:9")  # nothing listens: no cluster is used
    results = {}
    for workers in (0, 1, 2):
        output = tmp_path / f"workers-{workers}.jsonl"
        settings = Settings.from_env({"NEWSFLOW_STATE_DIR": str(tmp_path / f"state-{workers}")}).with_changes(
            sink=f"jsonl:{output}", workers=workers, batch_size=3
        )
        pipeline = Pipeline(settings)
        try:
            summary, _ = pipeline.run("folder", RunInfo("first"), folder=str(SAMPLE_ARTICLES))
            assert summary.counts() == {"seen": 12, "indexed": 12, "unchanged": 0, "duplicate": 0, "failed": 0}
            runner = pipeline._batch_runner()
            assert runner.workers == max(1, workers)
            pids = _worker_pids(runner)
            assert len(pids - {0}) == workers and os.getpid() not in pids
            forced, _ = pipeline.run("folder", RunInfo("again"), folder=str(SAMPLE_ARTICLES), force=True)
            assert forced.indexed == 12
            assert _worker_pids(runner) == pids  # the same processes did the second run
        finally:
            pipeline.close()
        results[workers] = _documents(output)
    assert len(results[0]) == 12
    assert results[1] == results[0] and results[2] == results[0]


def _worker_pids(runner) -> set[int]:
    pool = runner._pool
    return set(pool._processes) if pool is not None else {0}


@pytest.mark.elasticsearch
def test_export_writes_the_indexed_articles_as_json_lines(isolated_settings, es_client, names, tmp_path, capsys):
    from pipelines.cli import main

    summary, _ = Pipeline(isolated_settings, client=es_client).run("folder", RunInfo("export"), folder=str(SAMPLE_ARTICLES / "tech"))
    assert summary.indexed == 1
    output = tmp_path / "export.jsonl"
    assert main(["export", "--output", str(output)]) == 0
    (line,) = [json.loads(line) for line in output.read_text().splitlines()]
    assert line["source_ref"] == "helsinki-chip-startup.txt" and line["persons"]
    assert "exported 1 article(s)" in capsys.readouterr().out


# ---------------------------------------------------------------------------- stages and selection


@pytest.mark.elasticsearch
def test_dead_letters_can_be_listed_by_every_stage(isolated_settings, es_client, capsys):
    from pipelines.cli import main

    pipeline = Pipeline(isolated_settings, client=es_client).prepare()
    failures = [Failure(stage, f"input-{stage.value}", "Boom", f"failed in {stage.value}", source="toy:wire") for stage in Stage]
    pipeline.store.deadletters.record(failures, RunInfo("stages"))
    for stage in Stage:
        assert main(["deadletters", "list", "--stage", stage.value, "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [(row["stage"], row["source_ref"]) for row in rows] == [(stage.value, f"input-{stage.value}")]


@pytest.mark.elasticsearch
def test_enrichment_takes_what_is_due_from_any_source_and_nothing_twice(isolated_settings, es_client):
    pipeline = Pipeline(isolated_settings, client=es_client).prepare()
    when = datetime(2026, 11, 2, tzinfo=UTC)
    articles = [RawArticle(doc_id=f"due-{n}", source=source, source_ref=f"{n}", body=f"Trams ran late in Porto on day {n}.",
                           fetched_at=when) for n, source in enumerate(["folder:a", "feed:b", "sitemap:c"])]
    pipeline.store.raw.put(articles, RunInfo("stored"))
    due = pipeline.select(RawSelection(pending=True))
    assert due == sorted(article.doc_id for article in articles)
    assert pipeline.enrich_ids(due, RunInfo("enriched")).indexed == 3
    assert pipeline.select(RawSelection(pending=True)) == []
    # A changed article is due again; an unchanged one re-stored is not.
    pipeline.store.raw.put([articles[0], RawArticle(**{**vars(articles[1]), "body": "Trams ran on time."})], RunInfo("again"))
    assert pipeline.select(RawSelection(pending=True)) == ["due-1"]
