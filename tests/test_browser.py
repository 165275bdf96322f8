"""A person's path through the Airflow UI, in Debian's chromium: log in, fill the folder DAG's
trigger form, trigger, see the run succeed, then open the operations page (screenshots in
test-artifacts/)."""

from __future__ import annotations

import shutil

import pytest
from airflow_browser import airflow_browser, screenshot, see_run_state, trigger_from_form

from pipelines.settings import SAMPLE_ARTICLES

pytestmark = pytest.mark.airflow


def test_folder_dag_triggered_from_the_ui_form_succeeds(airflow_services, es_client, tmp_path):
    folder = tmp_path / "ui-articles"
    shutil.copytree(SAMPLE_ARTICLES / "tech", folder)
    airflow_services.wait_for_dag("newsflow_folder")
    airflow_services.unpause("newsflow_folder")

    with airflow_browser(airflow_services) as page:
        run_id = trigger_from_form(page, airflow_services, "newsflow_folder", {"folder": str(folder)})
        run = airflow_services.wait_for_run("newsflow_folder", run_id, timeout_s=120)
        see_run_state(page, airflow_services, "newsflow_folder", run_id, "success")
        screenshot(page, "newsflow_folder-run-success")
        page.goto(f"{airflow_services.base_url}/newsflow/")  # the plugin's page, with the UI's session
        page.get_by_role("heading", name="Documents per run").wait_for()
        for section in ("Extraction health per source", "Latest revised articles"):
            page.get_by_role("heading", name=section).wait_for()
        assert run_id in page.content()
        screenshot(page, "newsflow-operations")

    assert run["conf"]["folder"] == str(folder)  # what was typed into the form
    es_client.indices.refresh(index=airflow_services.names.raw_articles)
    stored = es_client.count(index=airflow_services.names.raw_articles, query={"term": {"ingest_run_id": run_id}})
    assert stored["count"] == 1


def test_reprocess_form_with_date_range_runs_a_dry_run(airflow_services, es_client):
    """The reprocess DAG's trigger form: date pickers, the default dry run, and its report."""
    from datetime import UTC, datetime

    from pipelines.models import RawArticle, RunInfo
    from pipelines.pipeline import Pipeline

    # One indexed article fetched in the range, so the dry run has something to count.
    names = airflow_services.names
    pipeline = Pipeline(airflow_services.settings, client=es_client).prepare()
    article = RawArticle(doc_id="reprocess-ui", source="folder:ui", source_ref="ui.txt", title="Tram line opens",
                         body="A new tram line opened in Porto on Monday.", fetched_at=datetime(2026, 11, 3, 9, tzinfo=UTC))
    stored = pipeline.store.raw.put([article], RunInfo("seeded-by-test"))
    pipeline.enrich_ids(stored.doc_ids, RunInfo("seeded-by-test"))
    # As if an older pipeline had produced it: the form's default selection is "only stale".
    es_client.update(index=names.articles, id="reprocess-ui", doc={"pipeline_version": "0.0.9"}, refresh=True)

    airflow_services.wait_for_dag("newsflow_reprocess")
    airflow_services.unpause("newsflow_reprocess")
    with airflow_browser(airflow_services) as page:
        run_id = trigger_from_form(
            page, airflow_services, "newsflow_reprocess", {"date_from": "2026-11-01", "date_to": "2026-11-05"}
        )
        run = airflow_services.wait_for_run("newsflow_reprocess", run_id, timeout_s=120)
        see_run_state(page, airflow_services, "newsflow_reprocess", run_id, "success")
        screenshot(page, "newsflow_reprocess-dry-run-success")

    assert (run["conf"]["date_from"], run["conf"]["date_to"], run["conf"]["dry_run"]) == ("2026-11-01", "2026-11-05", True)
    log = airflow_services.task_log_tail("newsflow_reprocess", run_id, "plan", lines=200)
    assert "NEWSFLOW_REPROCESS would re-enrich 1 documents (dry run: nothing changed)" in log
    es_client.indices.refresh(index=names.articles)
    assert es_client.get(index=names.articles, id="reprocess-ui")["_source"]["run_id"] == "seeded-by-test"
