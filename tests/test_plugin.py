"""The Airflow plugin: the Kibana extra link (URL building as a unit, then through the real
api-server) and the operations endpoint, which only authenticated Airflow users can read."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import pytest

from pipelines.settings import SAMPLE_ARTICLES
from pipelines.models import RunInfo
from pipelines.store import IndexNames
from pipelines.kibana import run_documents_data_view_id, saved_objects
from pipelines.orchestration.kibana_links import kibana_discover_url, rison, run_documents_link

LINK_NAME = "Kibana: this run's documents"
RUN_ID = "manual__2026-11-25T10:00:00.123456+00:00"


def _app_state(url: str) -> str:
    fragment = urlsplit(url).fragment
    return unquote(re.search(r"_a=([^&]*)", fragment).group(1))


def test_discover_url_filters_on_the_run_in_the_documents_by_run_data_view():
    names = IndexNames("news-")
    url = kibana_discover_url("https://kibana.example.org/base/", names=names, dag_id="newsflow_folder", run_id=RUN_ID)
    assert url.startswith("https://kibana.example.org/base/app/discover#/?_g=")
    assert "+" not in url and " " not in url and '"' not in url  # a run id's "+" must not become a space
    state = _app_state(url)
    assert f"dataViewId:'{run_documents_data_view_id(names)}'" in state
    assert f'(dag_id:"newsflow_folder" and run_id:"{RUN_ID}")' in state
    assert f'(ingest_dag_id:"newsflow_folder" and ingest_run_id:"{RUN_ID}")' in state
    view = next(obj for obj in saved_objects(names) if obj["id"] == run_documents_data_view_id(names))
    assert view["attributes"]["title"] == "news-articles,news-raw-articles"
    assert view["attributes"]["timeFieldName"] == "fetched_at"


def test_link_follows_the_index_prefix_and_is_hidden_without_kibana_url():
    env = {"KIBANA_URL": "http://kibana:5601", "NEWSFLOW_INDEX_PREFIX": "ops-"}
    assert run_documents_data_view_id(IndexNames("ops-")) in run_documents_link("d", "r", env)
    assert run_documents_link("d", "r", {"NEWSFLOW_INDEX_PREFIX": "ops-"}) == ""
    assert run_documents_link("d", "r", {"KIBANA_URL": "  "}) == ""


def test_rison_quotes_and_escapes_what_kibana_expects():
    assert rison({"a": [1, True, None], "b c": "it's!"}) == "(a:!(1,!t,!n),'b c':'it!'s!!')"
    assert rison({"query": 'run_id:"x"'}) == "(query:'run_id:\"x\"')"


@pytest.mark.airflow
def test_ingestion_task_links_to_its_runs_documents_through_the_api_server(airflow_services, tmp_path):
    folder = tmp_path / "link-articles"
    shutil.copytree(SAMPLE_ARTICLES / "tech", folder)
    airflow_services.wait_for_dag("newsflow_folder")
    airflow_services.unpause("newsflow_folder")
    run_id = airflow_services.trigger("newsflow_folder", {"folder": str(folder)})
    airflow_services.wait_for_run("newsflow_folder", run_id, timeout_s=120)

    base = f"/dags/newsflow_folder/dagRuns/{run_id}/taskInstances"
    links = airflow_services.api("GET", f"{base}/acquire/links", params={"map_index": 0})["extra_links"]
    url = links[LINK_NAME]
    assert url.startswith(airflow_services.env["KIBANA_URL"] + "/app/discover#/")
    assert f'ingest_run_id:"{run_id}"' in _app_state(url)
    assert run_documents_data_view_id(airflow_services.names) in url
    # Tasks that write no documents carry no such link.
    assert LINK_NAME not in airflow_services.api("GET", f"{base}/plan/links")["extra_links"]


@pytest.mark.airflow
def test_operations_status_is_served_only_to_authenticated_airflow_users(airflow_services, es_client):
    from pipelines.models import RawArticle
    from pipelines.sources.polling import PollState
    from pipelines.store.elastic import ElasticsearchStore

    store = ElasticsearchStore(es_client, airflow_services.names)
    store.prepare()
    now = datetime.now(UTC)
    broken = PollState(name="ops-broken-feed", url="https://example.org/rss", last_attempt=now, last_outcome="failed",
                       last_error="HTTP 500", consecutive_failures=3)
    store.state.save("feed", broken.name, broken.to_dict())
    store.state.save("feed", "ops-good-feed", PollState(name="ops-good-feed", last_success=now, last_outcome="fetched").to_dict())
    run = RunInfo(run_id="manual__ops-endpoint", dag_id="newsflow_folder")
    articles = [RawArticle(doc_id=f"ops-{n}", source="folder:ops", source_ref=f"{n}.txt", body=f"Body {n}.")
                for n in range(3)]
    store.raw.put(articles, run)

    for path in ("/newsflow/api/status", "/newsflow/"):
        anonymous = airflow_services.request("GET", path, authenticated=False)
        assert anonymous.status_code == 401, (path, anonymous.text[:200])
        forged = airflow_services.request("GET", path, authenticated=False, headers={"Authorization": "Bearer forged"})
        assert forged.status_code in (401, 403), (path, forged.status_code)
    for path in ("/newsflow/openapi.json", "/newsflow/docs"):  # would bypass the dependency: not served
        assert airflow_services.request("GET", path, authenticated=False).status_code in (401, 404)

    status = airflow_services.request("GET", "/newsflow/api/status")
    assert status.status_code == 200, status.text[:300]
    body = status.json()
    feeds = {feed["name"]: feed for feed in body["feeds"]}
    assert feeds["ops-broken-feed"]["healthy"] is False and feeds["ops-broken-feed"]["consecutive_failures"] == 3
    assert feeds["ops-broken-feed"]["last_error"] == "HTTP 500"
    assert feeds["ops-good-feed"]["healthy"] is True
    runs = {(row["stage"], row["dag_id"], row["run_id"]): row["documents"] for row in body["runs"]}
    assert runs[("raw", "newsflow_folder", "manual__ops-endpoint")] == 3

    # The UI's session cookie is accepted as well: the HTML page an operator opens from the nav.
    page = airflow_services.request("GET", "/newsflow/", authenticated=False,
                                    cookies={"_token": airflow_services.token()})
    assert page.status_code == 200 and "ops-broken-feed" in page.text and "FAILING" in page.text
    assert "manual__ops-endpoint" in page.text
