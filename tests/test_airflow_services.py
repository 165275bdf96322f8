"""End to end through real Airflow services: the public REST API triggers the folder DAG, the
raw-articles Asset starts enrichment, and Elasticsearch holds exactly the sample articles once."""

from __future__ import annotations

import shutil
import time

import pytest

from pipelines.settings import SAMPLE_ARTICLES
from pipelines.store.schema import iter_documents

pytestmark = pytest.mark.airflow

ARTICLES_IN_SAMPLES = 12  # 11 files, the .jsonl holds two articles


def _documents(es_client, index: str, **term) -> list[dict]:
    es_client.indices.refresh(index=index)
    return list(iter_documents(es_client, index, {"term": term}))


def _started_by(airflow_services, enrich_run: dict, ingest_run_id: str) -> bool:
    events = airflow_services.api(
        "GET", f"/dags/newsflow_enrich/dagRuns/{enrich_run['dag_run_id']}/upstreamAssetEvents"
    )["asset_events"]
    return any((event.get("extra") or {}).get("run_id") == ingest_run_id for event in events)


def test_folder_dag_triggered_over_rest_is_stored_then_enriched_by_the_asset(airflow_services, es_client, tmp_path):
    folder = tmp_path / "rest-articles"
    shutil.copytree(SAMPLE_ARTICLES, folder)
    airflow_services.wait_for_dag("newsflow_folder")
    airflow_services.wait_for_dag("newsflow_enrich")
    airflow_services.unpause("newsflow_folder")
    airflow_services.unpause("newsflow_enrich")

    run_id = airflow_services.trigger("newsflow_folder", {"folder": str(folder), "files_per_batch": 4})
    run = airflow_services.wait_for_run("newsflow_folder", run_id, timeout_s=120)
    assert run["conf"]["folder"] == str(folder)
    stores = [ti for ti in airflow_services.task_instances("newsflow_folder", run_id) if ti["task_id"] == "acquire"]
    assert sorted(ti["rendered_map_index"] for ti in stores) == ["files 1-4 of 11", "files 5-8 of 11", "files 9-11 of 11"]

    names = airflow_services.names
    raw = _documents(es_client, names.raw_articles, ingest_run_id=run_id)
    assert len(raw) == ARTICLES_IN_SAMPLES
    assert {doc["ingest_dag_id"] for doc in raw} == {"newsflow_folder"}
    assert {doc["source"] for doc in raw} == {"folder:rest-articles"}

    # The summary task updated the raw-articles Asset once: one enrichment run starts on its own.
    enrich_runs = airflow_services.wait_for_started_runs(
        "newsflow_enrich",
        lambda candidate: candidate["run_type"] == "asset_triggered" and _started_by(airflow_services, candidate, run_id),
        timeout_s=180,
    )
    articles = [doc for doc in _documents(es_client, names.articles, dag_id="newsflow_enrich")
                if doc["source"] == "folder:rest-articles"]
    assert sorted(doc["doc_id"] for doc in articles) == sorted(doc["doc_id"] for doc in raw)
    assert len(enrich_runs) == 1
    assert {doc["run_id"] for doc in articles} == {enrich_runs[0]["dag_run_id"]}
    nordvik = next(doc for doc in articles if doc["source_ref"] == "nordvik-floating-wind.txt")
    assert "Maria Lindqvist" in nordvik["persons"]


def test_native_backfill_of_enrich_enriches_exactly_each_days_raw_articles(airflow_services, es_client):
    """Airflow's own backfill (POST /api/v2/backfills, what Trigger → Backfill does in the UI) over
    three days: each daily run enriches exactly the raw articles fetched that day; a second,
    identical backfill changes nothing and duplicates nothing."""
    from datetime import UTC, datetime

    from pipelines.models import RawArticle, RunInfo
    from pipelines.store.elastic import ElasticsearchStore

    def fetched(day: int, hour: int, name: str) -> RawArticle:
        return RawArticle(
            doc_id=f"backfill-{name}", source="folder:backfill", source_ref=f"{name}.txt",
            title=f"Harbour report {name}",
            body=f"Harbour officials in Gdansk reported record cargo on day {day} ({name}).",
            fetched_at=datetime(2026, 11, day, hour, 30, tzinfo=UTC),
        )

    names = airflow_services.names
    by_day = {day: [fetched(day, 1, f"{day}-early"), fetched(day, 22, f"{day}-late")] for day in (17, 18, 19)}
    outside = [fetched(16, 23, "16-late"), fetched(20, 0, "20-early")]
    store = ElasticsearchStore(es_client, names)
    store.prepare()
    seeded = store.raw.put([*(a for day in by_day.values() for a in day), *outside], RunInfo("seeded-by-test"))
    # As if enriched long ago, so only the backfill's windows select them: an asset-triggered run
    # still going from an earlier test would otherwise rightly take them as due.
    store.raw.mark_enriched(seeded.doc_ids)

    airflow_services.wait_for_dag("newsflow_enrich")
    airflow_services.unpause("newsflow_enrich")

    def backfill(finished_after: dict[str, str]) -> list[dict]:
        """Create the backfill; wait until its three runs have (re)run to success."""
        body = {
            "dag_id": "newsflow_enrich", "from_date": "2026-11-17T00:00:00Z", "to_date": "2026-11-19T00:00:00Z",
            "reprocess_behavior": "completed", "max_active_runs": 3, "dag_run_conf": {},
        }
        # SQLite refuses backfill creation (503) while the scheduler writes, and a backfill that has
        # just completed can still count as running for a moment (409): both pass, so try again.
        for _ in range(15):
            response = airflow_services.request("POST", "/api/v2/backfills", json=body)
            if response.status_code not in (503, 409):
                break
            time.sleep(2)
        assert response.status_code == 200, response.text
        created = response.json()
        deadline = time.monotonic() + 300
        while True:
            runs = [run for run in airflow_services.dag_runs("newsflow_enrich") if run["run_type"] == "backfill"]
            for run in runs:
                if run["state"] == "failed":
                    raise AssertionError(airflow_services.describe_run("newsflow_enrich", run["dag_run_id"]))
            if len(runs) == 3 and all(
                run["state"] == "success" and (run["end_date"] or "") > finished_after.get(run["dag_run_id"], "")
                for run in runs
            ) and airflow_services.api("GET", f"/backfills/{created['id']}").get("completed_at"):
                return runs
            assert time.monotonic() < deadline, [(run["dag_run_id"], run["state"]) for run in runs]
            airflow_services.check_alive()  # a 503 above can kill the scheduler: KNOWN_AIRFLOW_CRASHES
            time.sleep(1)

    runs = backfill({})
    windows = {run["dag_run_id"]: (run["data_interval_start"][:10], run["data_interval_end"][:10]) for run in runs}
    assert sorted(windows.values()) == [("2026-11-17", "2026-11-18"), ("2026-11-18", "2026-11-19"),
                                        ("2026-11-19", "2026-11-20")]
    indexed = {doc["doc_id"]: doc for doc in _documents(es_client, names.articles, source="folder:backfill")}
    assert set(indexed) == {article.doc_id for day in by_day.values() for article in day}  # 16th and 20th: other windows
    for day, articles in by_day.items():
        (run_id,) = [run_id for run_id, (start, _) in windows.items() if start == f"2026-11-{day}"]
        assert {indexed[article.doc_id]["run_id"] for article in articles} == {run_id}

    # The same backfill again: every run re-runs, finds its articles unchanged, and writes nothing.
    rerun = backfill({run["dag_run_id"]: run["end_date"] for run in runs})
    assert sorted(run["dag_run_id"] for run in rerun) == sorted(windows)
    again = {doc["doc_id"]: doc for doc in _documents(es_client, names.articles, source="folder:backfill")}
    assert {doc_id: doc["run_id"] for doc_id, doc in again.items()} == {
        doc_id: doc["run_id"] for doc_id, doc in indexed.items()
    }
    es_client.indices.refresh(index=names.articles)
    assert es_client.count(index=names.articles, query={"term": {"source": "folder:backfill"}})["count"] == 6


def test_a_file_dropped_into_the_inbox_is_searchable_after_one_inbox_task(airflow_services, es_client):
    """The watcher in the triggerer fires, one ``newsflow_inbox`` run's one task stores and indexes
    the file (in a task process forked from the preloaded worker), and no enrich run is needed."""
    import os

    from pipelines.store.state import FileStateStore

    settings = airflow_services.settings
    inbox = settings.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    airflow_services.wait_for_dag("newsflow_inbox")
    airflow_services.unpause("newsflow_inbox")
    watcher_state = FileStateStore(settings.watch_state_dir)
    deadline = time.monotonic() + 120
    while watcher_state.load("inbox", os.path.realpath(inbox)) is None:  # the baseline is taken
        assert time.monotonic() < deadline, "the inbox watcher never started"
        time.sleep(0.5)

    (inbox / "ferry-count.txt").write_text(
        "Ferry count\n\nHarbour officials in Bergen counted 1,204 ferry passengers on Tuesday, "
        "the port authority said.\n"
    )
    (run,) = airflow_services.wait_for_started_runs(
        "newsflow_inbox", lambda candidate: candidate["run_type"] == "asset_triggered", timeout_s=180
    )
    tis = airflow_services.task_instances("newsflow_inbox", run["dag_run_id"])
    assert [(ti["task_id"], ti["state"]) for ti in tis] == [("ingest", "success")]
    names = airflow_services.names
    (article,) = _documents(es_client, names.articles, source="folder:inbox")
    assert (article["source_ref"], article["dag_id"], article["run_id"]) == (
        "ferry-count.txt", "newsflow_inbox", run["dag_run_id"])
    assert airflow_services.api("GET", "/assets/events", params={"source_dag_id": "newsflow_inbox"})["total_entries"] == 0
