"""The JSON Lines sink: upserts by id, survives reopening, answers duplicate questions, never half-writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import __version__
from pipelines.deduplication import THRESHOLD, signature
from pipelines.errors import ConfigError, IndexingError, Stage
from pipelines.models import CleanArticle, EnrichedArticle, RawArticle, RunInfo
from pipelines.settings import Settings
from pipelines.sinks.base import article_document, build_sink
from pipelines.sinks.jsonl import JsonlSink, export_articles

RUN = RunInfo("run-1", "news_folder")
MODEL = "en_core_web_sm-3.8.0"

HARBOUR = [
    "The city council voted late on Tuesday to rebuild the old harbour wall before winter.",
    "Engineers had warned for years that the stones were shifting with every spring tide.",
    "The mayor said the repair would cost less than the damage of a single bad storm.",
    "Fishermen who moor their boats inside the wall welcomed the decision with some relief.",
    "Work is expected to begin in September and to last about eleven weeks in total.",
    "A temporary pontoon will be anchored near the lifeboat station during the works.",
    "Opposition members asked why the contract had not been put out to a wider tender.",
    "The council replied that only two firms in the region had the right floating cranes.",
    "Residents of the seafront terraces will be offered parking permits further inland.",
    "The harbour master expects the usual summer regatta to go ahead as planned in August.",
    "Money for the project comes partly from a national coastal resilience fund.",
    "The rest will be borrowed over thirty years at a fixed rate agreed last month.",
]
ORCHARD = (
    "Apple growers in the valley report their earliest blossom in four decades this spring. "
    "Bees arrived late because of a cold March, and many orchards hired hives from the south. "
    "Cider makers worry that a single night of frost could still ruin most of the harvest. "
    "Some farms have installed wind machines that stir warmer air down onto the young fruit. "
    "The regional growers association will publish its first yield estimate in early July."
)


def story(sentences: list[str]) -> str:
    return " ".join(sentences)


def enriched(doc_id: str, body: str, *, duplicate_of: str | None = None, enrichments: dict | None = None) -> EnrichedArticle:
    raw = RawArticle(doc_id=doc_id, source="folder:test", source_ref=f"{doc_id}.txt", body=body, title=f"Title {doc_id}")
    clean = CleanArticle(raw=raw, title=raw.title, body=body)
    return EnrichedArticle(
        clean=clean,
        title=raw.title or "",
        language="en",
        word_count=len(body.split()),
        entities=(),
        facets={},
        model=MODEL,
        minhash=signature(body),
        duplicate_of=duplicate_of,
        duplicate_similarity=1.0 if duplicate_of else None,
        enrichments=enrichments or {},
    )


def written(path: Path, *articles: EnrichedArticle) -> JsonlSink:
    """A sink on ``path`` that has written and flushed ``articles``."""
    sink = JsonlSink(path)
    sink.prepare({})
    assert sink.write(list(articles), RUN) == []
    sink.close()
    return sink


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "out" / "articles.jsonl"  # "out" does not exist yet: prepare creates it


def test_each_line_is_the_article_document(path: Path) -> None:
    article = enriched("a", story(HARBOUR) + " Café naïve — ünïcode.")
    written(path, article)

    [line] = lines(path)
    expected = article_document(article, RUN)
    assert {k: v for k, v in line.items() if k != "indexed_at"} == {k: v for k, v in expected.items() if k != "indexed_at"}
    assert "Café naïve" in path.read_text(encoding="utf-8")  # ensure_ascii=False: text stays readable


def test_written_articles_are_fingerprinted_after_reopening(path: Path) -> None:
    article = enriched("a", story(HARBOUR))
    written(path, article)

    reopened = JsonlSink(path)
    reopened.prepare({})
    assert reopened.fingerprints(["a", "missing"]) == {
        "a": {"content_hash": article.raw.content_hash, "pipeline_version": __version__, "model": MODEL},
    }


def test_rewriting_an_id_replaces_its_line_and_keeps_the_others(path: Path) -> None:
    written(path, enriched("a", story(HARBOUR)), enriched("b", ORCHARD), enriched("c", story(HARBOUR[:6])))
    changed = enriched("a", story(HARBOUR[::-1]))

    written(path, changed)

    documents = lines(path)
    assert [doc["doc_id"] for doc in documents] == ["b", "c", "a"]  # kept in order, the new version appended
    assert documents[2]["content_hash"] == changed.raw.content_hash
    assert sorted(p.name for p in path.parent.iterdir()) == ["articles.jsonl"]  # no temporary file left behind


def test_an_id_written_twice_before_flush_is_one_line(path: Path) -> None:
    sink = JsonlSink(path)
    sink.prepare({})
    sink.write([enriched("a", ORCHARD), enriched("b", ORCHARD + " More.")], RUN)
    sink.write([enriched("a", story(HARBOUR))], RUN)
    sink.flush()

    documents = lines(path)
    assert [doc["doc_id"] for doc in documents] == ["b", "a"]
    assert documents[1]["body"] == story(HARBOUR)


def test_without_flush_the_file_is_unchanged(path: Path) -> None:
    written(path, enriched("a", ORCHARD))
    before = path.read_bytes()

    sink = JsonlSink(path)
    sink.prepare({})
    sink.write([enriched("a", story(HARBOUR)), enriched("b", story(HARBOUR[:8]))], RUN)  # then a crash: no flush

    assert path.read_bytes() == before
    assert sink.fingerprints(["b"])["b"]["content_hash"] == enriched("b", story(HARBOUR[:8])).raw.content_hash


def test_flushing_twice_or_with_nothing_written_changes_nothing(path: Path) -> None:
    sink = written(path, enriched("a", ORCHARD))
    before = path.read_bytes()

    sink.flush()
    sink.close()
    untouched = JsonlSink(path)
    untouched.prepare({})
    untouched.flush()

    assert path.read_bytes() == before


def test_originals_by_hash_ignores_documents_that_are_duplicates(path: Path) -> None:
    original, copy = enriched("a", ORCHARD), enriched("z", story(HARBOUR), duplicate_of="y")
    written(path, original, copy)

    reopened = JsonlSink(path)
    reopened.prepare({})
    hashes = [original.raw.content_hash, copy.raw.content_hash]
    assert reopened.originals_by_hash(hashes) == {original.raw.content_hash: "a"}

    reopened.write([enriched("a", ORCHARD, duplicate_of="y")], RUN)  # the original is now itself a duplicate
    assert reopened.originals_by_hash(hashes) == {}


def test_near_originals_finds_a_near_copy_and_not_unrelated_text(path: Path) -> None:
    near_copy = story([*HARBOUR[:5], "Work should start in the autumn and take roughly three months.", *HARBOUR[6:]])
    written(path, enriched("a", story(HARBOUR)), enriched("d", near_copy, duplicate_of="a"))

    reopened = JsonlSink(path)
    reopened.prepare({})
    found = reopened.near_originals(
        {"n": signature(near_copy), "u": signature(ORCHARD), "a": signature(story(HARBOUR))}
    )

    assert set(found) == {"n"}  # not the unrelated text, not an article matching its own held version
    original, similarity = found["n"]
    assert original == "a" and THRESHOLD <= similarity < 1.0  # not "d", the same text: a duplicate is no original


def test_near_originals_forgets_an_original_rewritten_with_other_text(path: Path) -> None:
    sink = written(path, enriched("a", story(HARBOUR)))
    assert sink.near_originals({"n": signature(story(HARBOUR))}) == {"n": ("a", 1.0)}

    sink.write([enriched("a", ORCHARD)], RUN)
    assert sink.near_originals({"n": signature(story(HARBOUR))}) == {}


def test_a_corrupt_line_is_an_error_naming_the_file_and_line(path: Path) -> None:
    written(path, enriched("a", ORCHARD))
    with path.open("a", encoding="utf-8") as file:
        file.write('{"doc_id": "b", "body": "cut off\n')

    sink = JsonlSink(path)
    with pytest.raises(IndexingError, match=r"articles\.jsonl, line 2: not valid JSON"):
        sink.prepare({})


def test_an_unserialisable_document_is_an_index_failure_and_the_others_are_written(path: Path) -> None:
    sink = JsonlSink(path)
    sink.prepare({})
    failures = sink.write([enriched("bad", ORCHARD, enrichments={"sentiment": object()}), enriched("good", ORCHARD)], RUN)
    sink.close()

    assert [(failure.stage, failure.doc_id) for failure in failures] == [(Stage.INDEX, "bad")]
    assert [doc["doc_id"] for doc in lines(path)] == ["good"]


def test_export_articles_round_trips(path: Path) -> None:
    documents = [article_document(enriched(doc_id, ORCHARD), RUN) for doc_id in ("a", "b", "c")]

    assert export_articles(iter(documents), path) == 3
    assert lines(path) == documents
    reopened = JsonlSink(path)
    assert set(reopened.fingerprints(["a", "b", "c"])) == {"a", "b", "c"}


def test_a_failed_export_leaves_the_old_file(path: Path) -> None:
    export_articles([{"doc_id": "a"}], path)
    before = path.read_bytes()

    with pytest.raises(IndexingError, match="'b'"):
        export_articles([{"doc_id": "a"}, {"doc_id": "b", "score": float("nan")}], path)

    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["articles.jsonl"]


def test_the_factory_refuses_jsonl_without_a_path(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, cache_dir=tmp_path)

    with pytest.raises(ConfigError, match="jsonl:PATH"):
        build_sink("jsonl:", settings)
    sink = build_sink(f"jsonl:{tmp_path / 'x.jsonl'}", settings)
    assert isinstance(sink, JsonlSink) and sink.path == tmp_path / "x.jsonl"
