"""Ingestion against the real Elasticsearch: idempotency, accounting, dead letters, search."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.models import RawArticle, RunInfo
from pipelines.pipeline import Pipeline
from pipelines.search import search
from pipelines.store import RawSelection
from pipelines.store.schema import ensure_indices, iter_documents

pytestmark = pytest.mark.elasticsearch

SEED_STYLE = (
    '[caption id="" align="aligncenter" width="555"]<img src="x.jpg" /> Minister Anna Berg visits the port '
    "of Gdansk. (AFP)[/caption]\n"
    "Swedish Trade Minister Anna Berg met Polish President Andrzej Duda in Warsaw on Monday.\n"
    "Berg said the talks covered the Baltic Pipe and a new ferry line to Gdansk [sic].\n"
)
TITLE_FIRST = (
    "Kenya opens solar plant near Lake Turkana\n\n"
    "President William Ruto opened a solar plant near Lake Turkana on Friday.\n\n"
    "The plant was built by Kenya Power with help from the World Bank.\n"
)


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "wire"
    (root / "europe").mkdir(parents=True)
    (root / "europe" / "baltic.txt").write_text(SEED_STYLE)
    (root / "kenya.txt").write_text(TITLE_FIRST)
    return root


def run_folder(folder: Path, settings, run_id: str, batch_size: int = 64):
    """The CLI's path: acquire into the raw store, then enrich, in one process."""
    summary, _ = Pipeline(settings.with_changes(batch_size=batch_size)).run("folder", RunInfo(run_id), folder=str(folder))
    return summary


def documents(client, names) -> dict[str, dict]:
    return {doc["source_ref"]: doc for doc in iter_documents(client, names.articles)}


def test_ensure_indices_creates_template_alias_and_deadletters_once(es_client, names):
    ensure_indices(es_client, names)
    ensure_indices(es_client, names)  # a second call (every task does one) changes nothing

    aliases = es_client.indices.get_alias(index=names.first_articles_index).body
    assert aliases == {
        names.first_articles_index: {"aliases": {names.articles: {}, names.articles_write: {"is_write_index": True}}}
    }
    template = es_client.indices.get_index_template(name=names.articles_template)["index_templates"][0]
    assert template["index_template"]["index_patterns"] == [f"{names.articles}-*"]
    mapping = es_client.indices.get_mapping(index=names.first_articles_index)[names.first_articles_index]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["persons"]["type"] == "keyword"
    assert mapping["properties"]["body"]["type"] == "text"
    assert mapping["properties"]["published_at"]["type"] == "date"
    assert es_client.indices.exists(index=names.deadletters)


def test_folder_is_indexed_with_clean_body_captions_and_facets(es_client, names, isolated_settings, folder):
    summary = run_folder(folder, isolated_settings, "run-1")

    assert summary.counts() == {"seen": 2, "indexed": 2, "unchanged": 0, "duplicate": 0, "failed": 0}
    docs = documents(es_client, names)
    baltic = docs["europe/baltic.txt"]
    assert "[caption" not in baltic["body"] and "[/caption]" not in baltic["body"]
    assert "[sic]" in baltic["body"]
    assert baltic["captions"] == ["Minister Anna Berg visits the port of Gdansk. (AFP)"]
    assert "Anna Berg" in baltic["persons"]
    assert "Warsaw" in baltic["locations"]
    assert baltic["title"].startswith("Swedish Trade Minister Anna Berg met")
    assert baltic["removed_shortcodes"] == ["caption"]
    kenya = docs["kenya.txt"]
    assert kenya["title"] == "Kenya opens solar plant near Lake Turkana"
    assert "William Ruto" in kenya["persons"]
    assert kenya["language"] == "en" and kenya["word_count"] > 20
    assert {doc["run_id"] for doc in docs.values()} == {"run-1"}


def test_rerun_indexes_nothing_new_and_changed_files_are_updated_in_place(es_client, names, isolated_settings, folder):
    run_folder(folder, isolated_settings, "run-1")
    ids_before = {doc["doc_id"] for doc in documents(es_client, names).values()}

    again = run_folder(folder, isolated_settings, "run-2")
    assert again.counts() == {"seen": 2, "indexed": 0, "unchanged": 2, "duplicate": 0, "failed": 0}

    (folder / "kenya.txt").write_text(TITLE_FIRST + "\nOfficials said a second plant would follow in 2027.\n")
    edited = run_folder(folder, isolated_settings, "run-3")
    assert edited.counts() == {"seen": 2, "indexed": 1, "unchanged": 1, "duplicate": 0, "failed": 0}

    docs = documents(es_client, names)
    assert {doc["doc_id"] for doc in docs.values()} == ids_before  # updated, not added
    assert "second plant" in docs["kenya.txt"]["body"]
    assert docs["kenya.txt"]["run_id"] == "run-3"
    assert docs["europe/baltic.txt"]["run_id"] == "run-1"


def _index_operations(client, names) -> dict[str, int]:
    """Documents indexed (created, replaced or updated) so far into each of the run's indices."""
    indices = {"raw": names.raw_articles, "versions": names.raw_versions, "articles": names.articles,
               "deadletters": names.deadletters, "runs": names.runs}
    stats = client.indices.stats(index=list(indices.values()), metric="indexing")["indices"]
    return {key: sum(stats[name]["primaries"]["indexing"]["index_total"] for name in stats
                     if name == index or name.startswith(f"{index}-")) for key, index in indices.items()}


def test_an_unchanged_rerun_loads_no_model_and_writes_only_its_run_reports(es_client, names, isolated_settings, folder):
    settings = isolated_settings.with_changes(workers=2)
    run_folder(folder, settings, "run-1")
    before = _index_operations(es_client, names)

    pipeline = Pipeline(settings)
    try:
        again, _ = pipeline.run("folder", RunInfo("run-2"), folder=str(folder))
        assert pipeline._runner is None  # no worker process was started
        assert pipeline.component("extract")._nlp is None  # and the model was not loaded
    finally:
        pipeline.close()
    assert again.counts() == {"seen": 2, "indexed": 0, "unchanged": 2, "duplicate": 0, "failed": 0}
    assert [(report.stage, report.reconciled) for report in again.reports] == [("acquire", True), ("enrich", True)]
    after = _index_operations(es_client, names)
    assert {key: after[key] - before[key] for key in after} == {
        "raw": 0, "versions": 0, "articles": 0, "deadletters": 0, "runs": 2}


def test_an_unchanged_article_still_pending_is_marked_enriched_without_extracting_it(es_client, names, isolated_settings, folder):
    run_folder(folder, isolated_settings, "run-1")
    pipeline = Pipeline(isolated_settings)
    kenya = [doc["doc_id"] for doc in documents(es_client, names).values() if doc["source_ref"] == "kenya.txt"]
    assert pipeline.store.raw.mark_pending(kenya) == 1  # e.g. a run cut off after writing it, before marking it
    before = _index_operations(es_client, names)

    try:
        again = pipeline.enrich_ids(kenya, RunInfo("run-2"))
        assert pipeline.select(RawSelection(pending=True)) == []
    finally:
        pipeline.close()
    assert again.counts() == {"seen": 1, "indexed": 0, "unchanged": 1, "duplicate": 0, "failed": 0}
    after = _index_operations(es_client, names)
    assert {key: after[key] - before[key] for key in after} == {
        "raw": 1, "versions": 0, "articles": 0, "deadletters": 0, "runs": 1}


def test_exact_copies_are_indexed_as_duplicates_of_the_first(es_client, names, isolated_settings, folder):
    (folder / "copy-of-kenya.txt").write_text(TITLE_FIRST)
    summary = run_folder(folder, isolated_settings, "run-1", batch_size=1)

    assert summary.counts() == {"seen": 3, "indexed": 2, "unchanged": 0, "duplicate": 1, "failed": 0}
    docs = documents(es_client, names)
    originals = [doc for doc in docs.values() if doc["title"].startswith("Kenya") and not doc["duplicate_of"]]
    copies = [doc for doc in docs.values() if doc["duplicate_of"]]
    assert len(originals) == 1 and len(copies) == 1
    assert copies[0]["duplicate_of"] == originals[0]["doc_id"]


def test_bad_inputs_are_dead_lettered_and_the_rest_still_indexed(es_client, names, isolated_settings, folder):
    (folder / "empty.txt").write_text("   \n")
    (folder / "feed.jsonl").write_text('{"title": "Good one", "body": "Ferries resume in Oslo."}\n{not json\n')
    summary = run_folder(folder, isolated_settings, "run-1")

    assert summary.seen == 5 and summary.accounted
    assert summary.indexed == 3 and summary.failed == 2
    dead = {doc["source_ref"]: doc for doc in iter_documents(es_client, names.deadletters)}
    assert set(dead) == {"empty.txt", "feed.jsonl#L2"}
    assert all(doc["stage"] == "read" and doc["message"] for doc in dead.values())

    assert {doc["source"] for doc in dead.values()} == {"folder:wire"}

    # Failing again on the same input keeps one dead letter per input, not one per run.
    run_folder(folder, isolated_settings, "run-2")
    es_client.indices.refresh(index=names.deadletters)
    assert es_client.count(index=names.deadletters)["count"] == 2

    # Once an input goes through, its dead letter is resolved.
    (folder / "empty.txt").write_text("Ferry services resume\n\nFerries to Bergen sailed again on Sunday.\n")
    fixed = run_folder(folder, isolated_settings, "run-3")
    assert fixed.indexed == 1 and fixed.failed == 1
    es_client.indices.refresh(index=names.deadletters)
    remaining = [doc["source_ref"] for doc in iter_documents(es_client, names.deadletters)]
    assert remaining == ["feed.jsonl#L2"]


def test_documents_the_cluster_rejects_are_reported_not_lost(es_client, names, isolated_settings):
    ensure_indices(es_client, names)
    good = RawArticle(doc_id="good", source="test", source_ref="good.txt", body="Floods hit Valencia on Tuesday.")
    # Lucene refuses keyword terms over 32 KB: a real bulk-item rejection, not a simulated one.
    huge_url = "https://example.org/" + "a" * 40_000
    rejected = RawArticle(doc_id="bad", source="test", source_ref="bad.txt", body="Storms hit Porto.", url=huge_url)

    summary = Pipeline(isolated_settings).enrich([good, rejected], RunInfo("run-1"))

    assert summary.counts() == {"seen": 2, "indexed": 1, "unchanged": 0, "duplicate": 0, "failed": 1}
    (failure,) = summary.failures
    assert (failure.stage, failure.doc_id, failure.source_ref) == ("index", "bad", "bad.txt")
    assert "failed to parse field [url]" in failure.message and "immense term" in failure.message
    assert es_client.exists(index=names.articles, id="good")
    assert not es_client.exists(index=names.articles, id="bad")
    assert es_client.count(index=names.deadletters, query={"term": {"stage": "index"}})["count"] == 1


def test_search_highlights_and_counts_facets(es_client, names, isolated_settings, folder):
    run_folder(folder, isolated_settings, "run-1")

    result = search(es_client, names, "solar")
    assert result.total == 1
    (hit,) = result.hits
    assert hit.source_ref == "kenya.txt"
    assert any("«solar»" in fragment for fragment in hit.highlights)
    assert ("William Ruto", 1) in result.facets["persons"]

    everything = search(es_client, names, "")
    assert everything.total == 2
    assert dict(everything.facets["source"]) == {"folder:wire": 2}

    filtered = search(es_client, names, "", filters={"persons": ["Anna Berg"]})
    assert [hit.source_ref for hit in filtered.hits] == ["europe/baltic.txt"]

    captions_only = search(es_client, names, "Gdansk AFP")
    assert [hit.source_ref for hit in captions_only.hits] == ["europe/baltic.txt"]


def test_search_says_what_a_set_of_articles_is_about(es_client, names, isolated_settings, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    clinics = [
        "Engineers installed solar panels on the roof of the clinic in Nakuru on Monday.",
        "The clinic in Kisumu now runs its fridges on solar panels and a battery bank.",
        "Nurses in Eldoret said the clinic kept vaccines cold after panels were fitted.",
        "A clinic near Nyeri replaced its diesel generator with rooftop panels last month.",
        "Doctors at a clinic in Garissa welcomed panels donated by a charity from Nairobi.",
    ]
    ferries = [
        "The ferry from Mombasa to Likoni ran late on Tuesday after an engine fault.",
        "Passengers queued for hours as the ferry terminal in Lamu closed for repairs.",
        "A new ferry will link Kisumu and Homa Bay across the lake from next year.",
        "The ferry operator raised fares for cars while foot passengers still travel free.",
        "Engineers inspected the ferry ramps at Likoni ahead of the holiday season.",
    ]
    for number, (clinic, ferry) in enumerate(zip(clinics, ferries, strict=True)):
        (folder / f"clinic-{number}.txt").write_text(f"Clinic story {number}\n\n{clinic}\n")
        (folder / f"ferry-{number}.txt").write_text(f"Ferry story {number}\n\n{ferry}\n")
    run_folder(folder, isolated_settings, "run-1")

    result = search(es_client, names, "clinic", about=True)
    assert result.total == 5
    assert "panels" in result.about and "ferry" not in result.about


def test_two_folders_with_the_same_name_keep_their_own_documents_and_requeue_finds_each(
    es_client, names, isolated_settings, tmp_path, capsys
):
    from pipelines.cli import main
    from pipelines.models import stable_id

    first, second = tmp_path / "desk-a" / "wire", tmp_path / "desk-b" / "wire"
    for folder, text in ((first, SEED_STYLE), (second, TITLE_FIRST)):
        folder.mkdir(parents=True)
        (folder / "story.txt").write_text(text)
    (second / "broken.json").write_text("{")

    assert run_folder(first, isolated_settings, "first").indexed == 1
    assert run_folder(second, isolated_settings, "second").indexed == 1
    assert run_folder(first, isolated_settings, "first-again").unchanged == 1  # it keeps its name and ids

    second_name = f"wire-{stable_id('folder', str(second.resolve()))[:8]}"
    sources = sorted(doc["source"] for doc in iter_documents(es_client, names.articles))
    assert sources == ["folder:wire", f"folder:{second_name}"]  # nothing overwritten
    # Requeue names the second folder exactly as ingest did: its dead-lettered file is found again.
    main(["deadletters", "requeue", str(second)])
    assert f"1 file(s) dead-lettered for folder:{second_name}; 1 still present" in capsys.readouterr().out
