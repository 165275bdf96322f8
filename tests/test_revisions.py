"""Article revisions against the real local node: every distinct version kept (title + cleaned
body), dated by when it was fetched; re-served entries, reverts and re-runs are no revisions; the
history indexed on the article; ``newsflow revisions ID`` prints a readable word-level diff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from plugin_page import render_operations_page
from pipelines.cli import main
from pipelines.models import RawArticle, RunInfo, stable_id
from pipelines.pipeline import Pipeline
from pipelines.revisions import word_diff

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DOC_ID = stable_id("feed:wire", "https://news.example/quake")
FIRST = ("Quake shakes Lisbon", "<p>A strong earthquake shook Lisbon on Monday morning.</p>"
         "<p>Officials in Portugal said there were no reports of damage.</p>")
HEADLINE = ("Quake shakes Lisbon and Porto", FIRST[1])
CORRECTED = ("Quake shakes Lisbon and Porto", "<p>A strong earthquake shook Lisbon on Monday morning.</p>"
             "<p>Officials in Portugal said two buildings were damaged in Porto.</p>"
             "<p>Correction: an earlier version misstated the time of the quake.</p>")


def _raw(title: str, body: str, fetched_at: datetime, *, published_at: datetime | None = None) -> RawArticle:
    return RawArticle(doc_id=DOC_ID, source="feed:wire", source_ref="https://news.example/quake", title=title,
                      body=body, content_type="text/html", fetched_at=fetched_at, published_at=published_at,
                      url="https://news.example/quake")


@pytest.fixture
def pipeline(isolated_settings, es_client):
    pipeline = Pipeline(isolated_settings, client=es_client)
    yield pipeline
    pipeline.close()


def _deliver(pipeline: Pipeline, raw: RawArticle, run: str) -> None:
    """As acquisition and enrichment do: into the raw store, then the pending article through the pipeline."""
    pipeline.prepare()
    pipeline.store.raw.put([raw], RunInfo(run))
    summary = pipeline.enrich_ids([raw.doc_id], RunInfo(run))
    assert summary.failed == 0, summary.failures


def _article(pipeline: Pipeline, es_client) -> dict:
    return es_client.get(index=pipeline.store.names.articles, id=DOC_ID)["_source"]


def test_each_new_version_is_kept_dated_and_described_on_the_article(pipeline, es_client):
    _deliver(pipeline, _raw(*FIRST, DAY), "r1")
    first = _article(pipeline, es_client)
    assert first["revision_count"] == 0 and first["last_changed_at"] is None and first["headline_changed"] is False

    _deliver(pipeline, _raw(*HEADLINE, DAY + timedelta(hours=3)), "r2")
    _deliver(pipeline, _raw(*CORRECTED, DAY + timedelta(days=1)), "r3")

    versions = pipeline.store.versions.of([DOC_ID])[DOC_ID]
    assert [v["title"] for v in versions] == [FIRST[0], HEADLINE[0], CORRECTED[0]]
    assert [v["first_seen_at"] for v in versions] == [
        DAY.isoformat(), (DAY + timedelta(hours=3)).isoformat(), (DAY + timedelta(days=1)).isoformat()]
    article = _article(pipeline, es_client)
    assert article["revision_count"] == 2
    assert article["first_seen_at"] == DAY.isoformat()
    assert article["last_changed_at"] == (DAY + timedelta(days=1)).isoformat()
    assert article["headline_changed"] is True
    assert article["changes"]["title"] is False and article["changes"]["body"] is True  # newest vs the one before
    assert "Porto" in article["changes"]["entities_added"]
    status, page = render_operations_page(es_client, pipeline.settings)
    (revised,) = status["revisions"]
    assert revised["doc_id"] == DOC_ID and revised["revision_count"] == 2
    assert "Latest revised articles" in page and CORRECTED[0] in page and "+Porto" in page


def test_a_new_date_a_markup_change_a_revert_or_a_rerun_is_no_revision(pipeline, es_client):
    _deliver(pipeline, _raw(*FIRST, DAY), "r1")
    # The feed re-serves the entry with a new date, and the page's markup changed around the same text.
    reserved = _raw(FIRST[0], FIRST[1].replace("<p>", '<p class="lead">'), DAY + timedelta(hours=1),
                    published_at=DAY + timedelta(hours=1))
    _deliver(pipeline, reserved, "r2")
    assert len(pipeline.store.versions.of([DOC_ID])[DOC_ID]) == 1
    assert _article(pipeline, es_client)["revision_count"] == 0

    _deliver(pipeline, _raw(*HEADLINE, DAY + timedelta(hours=2)), "r3")
    _deliver(pipeline, _raw(*FIRST, DAY + timedelta(hours=4)), "r4")  # back to the first version
    pipeline.enrich_ids([DOC_ID], RunInfo("r5"), force=True)  # and a forced re-run

    versions = pipeline.store.versions.of([DOC_ID])[DOC_ID]
    assert len(versions) == 2
    assert versions[0]["last_seen_at"] == (DAY + timedelta(hours=4)).isoformat()  # the first, seen again
    assert _article(pipeline, es_client)["revision_count"] == 1


def test_word_diff_marks_only_what_changed_with_a_little_context():
    before = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    after = before.replace("eight", "EIGHT") + " sixteen"
    assert word_diff(before, after, context=2) == "… six seven [-eight-] {+EIGHT+} nine ten … fourteen fifteen {+sixteen+}"
    assert word_diff("same words", "same  words") == "(unchanged)"


def test_cli_prints_versions_and_word_diffs(pipeline, es_client, isolated_settings, capsys, monkeypatch):
    _deliver(pipeline, _raw(*FIRST, DAY), "r1")
    _deliver(pipeline, _raw(*CORRECTED, DAY + timedelta(days=1)), "r2")
    monkeypatch.setenv("NEWSFLOW_INDEX_PREFIX", isolated_settings.index_prefix)

    assert main(["revisions", DOC_ID]) == 0
    out = capsys.readouterr().out
    assert "2 versions" in out and DAY.isoformat() in out
    assert "title: Quake shakes Lisbon {+and Porto+}" in out
    assert "said [-there-] {+two buildings+} were [-no reports-] {+damaged in Porto. Correction:" in out
    assert "entities: +Porto" in out

    assert main(["revisions", "no-such-id"]) == 1
    assert "no versions" in capsys.readouterr().err


def test_versions_without_a_cluster_live_in_the_sqlite_store(tmp_path):
    from pipelines.settings import Settings

    output = tmp_path / "articles.jsonl"
    settings = Settings.from_env().with_changes(state_dir=tmp_path / "state", sink=f"jsonl:{output}")
    pipeline = Pipeline(settings)
    try:
        for number, (version, seen) in enumerate(((FIRST, DAY), (CORRECTED, DAY + timedelta(days=1)), (FIRST, DAY + timedelta(days=2)))):
            _deliver(pipeline, _raw(*version, seen), f"r{number}")
        versions = pipeline.store.versions.of([DOC_ID])[DOC_ID]
    finally:
        pipeline.close()
    assert [v["title"] for v in versions] == [FIRST[0], CORRECTED[0]]  # the revert made no third version
    (line,) = [json.loads(text) for text in output.read_text().splitlines()]
    assert line["revision_count"] == 1 and line["changes"]["entities_added"] == ["Porto"]
