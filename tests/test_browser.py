"""A person's path through the Airflow UI, in Debian's chromium: log in, fill the folder DAG's
trigger form, trigger, see the run succeed, then open the operations page (screenshots in
test-artifacts/)."""

from __future__ import annotations

import shutil

import pytest
from airflow_browser import airflow_browser, screenshot, see_run_state, trigger_from_form

from pipelines.config import PROJECT_ROOT
from pipelines.raw_store import raw_index

pytestmark = pytest.mark.airflow


def test_folder_dag_triggered_from_the_ui_form_succeeds(airflow_services, es_client, tmp_path):
    folder = tmp_path / "ui-articles"
    shutil.copytree(PROJECT_ROOT / "samples" / "articles" / "tech", folder)
    airflow_services.wait_for_dag("newsflow_folder")
    airflow_services.unpause("newsflow_folder")

    with airflow_browser(airflow_services) as page:
        run_id = trigger_from_form(page, airflow_services, "newsflow_folder", {"folder": str(folder)})
        run = airflow_services.wait_for_run("newsflow_folder", run_id, timeout_s=120)
        see_run_state(page, airflow_services, "newsflow_folder", run_id, "success")
        screenshot(page, "newsflow_folder-run-success")
        page.goto(f"{airflow_services.base_url}/newsflow/")  # the plugin's page, with the UI's session
        page.get_by_role("heading", name="Documents per run").wait_for()
        assert run_id in page.content()
        screenshot(page, "newsflow-operations")

    assert run["conf"]["folder"] == str(folder)  # what was typed into the form
    es_client.indices.refresh(index=raw_index(airflow_services.names))
    stored = es_client.count(index=raw_index(airflow_services.names), query={"term": {"ingest_run_id": run_id}})
    assert stored["count"] == 1
