"""Near-duplicates against the real Elasticsearch: flagged with duplicate_of and counted, never dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.models import RunInfo
from pipelines.pipeline import Pipeline
from pipelines.store.schema import iter_documents

pytestmark = pytest.mark.elasticsearch

BODY = (
    "The city council of Valencia approved a plan on Tuesday to turn six kilometres of the old riverbed into a "
    "continuous cycling and walking corridor linking the port with the western suburbs.\n\n"
    "The project will cost 38 million euros and is due to be finished in 2027, deputy mayor Lucia Ferrer said, "
    "adding that the European Investment Bank would lend half of the money.\n\n"
    "Cycling groups welcomed the decision but said the council still had to fix dangerous junctions near the "
    "central market, where two riders were injured last year.\n\n"
    "Shop owners along the route worried that the works would keep customers away for months. The council said "
    "construction would be split into four phases so that no street was closed for more than ten weeks."
)
EXTRA_SENTENCE = " Officials expect around 40,000 trips a day once the corridor is open."


def _ingest(folder: Path, settings, run_id: str):
    summary, _ = Pipeline(settings).run("folder", RunInfo(run_id), folder=str(folder))
    return summary


def _documents(es_client, names) -> dict[str, dict]:
    return {doc["source_ref"]: doc for doc in iter_documents(es_client, names.articles)}


def test_reheadlined_copy_with_an_extra_sentence_is_flagged_against_the_index(tmp_path, es_client, names, isolated_settings):
    folder = tmp_path / "wire"
    folder.mkdir()
    (folder / "a-original.txt").write_text("Valencia approves riverbed cycling corridor\n\n" + BODY)
    first = _ingest(folder, isolated_settings, "run-1")
    assert (first.indexed, first.duplicate) == (1, 0)

    (folder / "b-copy.txt").write_text("New bike lanes planned along Valencia's old riverbed\n\n" + BODY + EXTRA_SENTENCE)
    second = _ingest(folder, isolated_settings, "run-2")
    assert second.counts() == {"seen": 2, "indexed": 0, "unchanged": 1, "duplicate": 1, "failed": 0}

    docs = _documents(es_client, names)
    original, copy = docs["a-original.txt"], docs["b-copy.txt"]
    assert copy["duplicate_of"] == original["doc_id"]  # indexed and searchable, but marked
    assert 0.8 <= copy["duplicate_similarity"] < 1.0
    assert original["duplicate_of"] is None
    assert len(original["minhash"]) == 128 and len(original["minhash_bands"]) == 32


def test_near_duplicate_earlier_in_the_same_run_is_flagged(tmp_path, es_client, names, isolated_settings):
    folder = tmp_path / "wire"
    folder.mkdir()
    (folder / "a-original.txt").write_text("Valencia approves riverbed cycling corridor\n\n" + BODY)
    (folder / "b-copy.txt").write_text("Valencia to build river corridor\n\n" + BODY + EXTRA_SENTENCE)
    (folder / "c-other.txt").write_text(
        "Heatwave closes schools in Seville\n\n"
        "Schools across Seville closed early on Wednesday as temperatures passed 44C for the third day, and the "
        "regional government told older people to stay indoors during the afternoon. Hospitals reported more "
        "cases of heatstroke, and farmers said the olive harvest would suffer if the drought continued."
    )
    summary = _ingest(folder, isolated_settings, "run-1")
    assert summary.counts() == {"seen": 3, "indexed": 2, "unchanged": 0, "duplicate": 1, "failed": 0}
    docs = _documents(es_client, names)
    assert docs["b-copy.txt"]["duplicate_of"] == docs["a-original.txt"]["doc_id"]
    assert docs["c-other.txt"]["duplicate_of"] is None


def test_enrichment_fields_are_indexed_and_searchable(tmp_path, es_client, names, isolated_settings):
    folder = tmp_path / "wire"
    folder.mkdir()
    (folder / "a.txt").write_text("Valencia approves riverbed cycling corridor\n\n" + BODY)
    (folder / "b.txt").write_text(
        "Berlin plant Radwege\n\nDer Berliner Senat hat am Dienstag beschlossen, entlang der Spree neue Radwege zu "
        "bauen. Die Arbeiten sollen im Frühjahr beginnen und zwei Jahre dauern, sagte die Verkehrssenatorin."
    )
    _ingest(folder, isolated_settings, "run-1")
    docs = _documents(es_client, names)
    english, german = docs["a.txt"], docs["b.txt"]
    assert english["language"] == "en" and "Lucia Ferrer" in english["persons"]
    assert english["keywords"] and english["reading_time_minutes"] == 1
    assert english["summary"].startswith("The city council of Valencia approved") and len(english["summary"]) <= 300
    assert "2027" in english["dates_mentioned"]
    assert english["pipeline_version"] and english["model"] == Pipeline(isolated_settings).model_version
    assert german["language"] == "de" and german["persons"] == [] and german["locations"] == []
    hits = es_client.search(index=names.articles, query={"range": {"dates_mentioned": {"gte": "2027-01-01"}}})
    assert [hit["_source"]["source_ref"] for hit in hits["hits"]["hits"]] == ["a.txt"]


def test_batch_lookup_and_per_document_fallback_find_the_same_originals(es_client, names):
    """The sink looks up a batch's near originals in one search; when the batch's bands match more
    held originals than it would rank per document, it falls back to one search per document."""
    from pipelines.deduplication import band_keys, signature
    from pipelines.sinks.elasticsearch import ElasticsearchSink

    sink = ElasticsearchSink(es_client, names)
    sink.prepare({})
    variants = {f"held-{n}": BODY + " The mayor spoke." * n for n in range(4)}  # nearly the same text, four times
    variants["held-other"] = "Heatwave closes schools in Seville as temperatures pass 44C for a third day running."
    for doc_id, text in variants.items():
        sig = signature(text)
        es_client.index(index=names.articles_write, id=doc_id,
                        document={"doc_id": doc_id, "minhash": list(sig), "minhash_bands": band_keys(sig)})
    es_client.indices.refresh(index=names.articles)
    wanted = {"new-copy": signature(BODY + EXTRA_SENTENCE), "new-unrelated": signature(
        "Farmers in Andalusia said the olive harvest would suffer if the drought continued into the autumn months.")}

    searches = []
    original_msearch = es_client.msearch
    es_client.msearch = lambda **kwargs: searches.append(kwargs) or original_msearch(**kwargs)
    try:
        batched = sink.near_originals(wanted)  # 4 originals share bands: under 10 per document
        assert searches == []
        ranked = sink.near_originals(wanted, candidates=1)  # 4 > 1 per document: one search each
        assert len(searches) == 1 and len(searches[0]["searches"]) == 2 * len(wanted)
    finally:
        es_client.msearch = original_msearch

    assert set(batched) == {"new-copy"}
    assert batched["new-copy"][0] == "held-0"  # the closest of the four
    assert ranked["new-copy"][0] == "held-0"
