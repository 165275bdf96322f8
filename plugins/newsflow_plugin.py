"""newsflow's Airflow plugin: the Kibana extra link and the operations page.

- ``Kibana: this run's documents`` on tasks declared with ``@task_with_kibana_link`` (see
  ``pipelines/orchestration/links.py``), built by the api-server from ``KIBANA_URL``.
- ``/newsflow/`` and ``/newsflow/api/status`` (JSON): the operations page
  (``pipelines/operations_page.py``), embedded in Airflow's UI under *Browse → newsflow
  operations* (``/plugin/newsflow-operations``) by the external view below.

Airflow does not authenticate plugin apps, so this one does it itself: every route depends on
the caller's Airflow token (``Authorization: Bearer …`` or the UI's session cookie) and on
permission to read DAG runs; the generated docs and OpenAPI routes, which such dependencies
would not cover, are switched off.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from pipelines.orchestration.links import KibanaRunDocumentsLink

URL_PREFIX = "/newsflow"


def _status() -> dict[str, Any]:
    from pipelines.operations import operations_status
    from pipelines.settings import Settings
    from pipelines.store import IndexNames
    from pipelines.store.client import connect

    settings = Settings.from_env()
    client = connect(settings)
    try:
        return operations_status(client, IndexNames(settings.index_prefix), settings.health)
    finally:
        client.close()


def create_app() -> FastAPI:
    app = FastAPI(
        title="newsflow operations",
        docs_url=None, redoc_url=None, openapi_url=None,  # would be served without the dependency below
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))],
    )

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        """Feed health and per-run document counts."""
        return _status()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        from pipelines.operations_page import operations_page

        return operations_page(_status())

    return app


class NewsflowPlugin(AirflowPlugin):
    name = "newsflow"
    operator_extra_links = [KibanaRunDocumentsLink()]
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "newsflow operations"}]
    external_views = [
        {"name": "newsflow operations", "href": f"{URL_PREFIX.lstrip('/')}/", "destination": "nav",
         "category": "browse", "url_route": "newsflow-operations"},
    ]
