"""newsflow's Airflow plugin: the Kibana extra link and the operations page.

- ``Kibana: this run's documents`` on tasks declared with ``@task_with_kibana_link`` (see
  ``pipelines/orchestration/links.py``), built by the api-server from ``KIBANA_URL``.
- ``/newsflow/`` (an HTML page, also in the UI's navigation) and ``/newsflow/api/status``
  (JSON): per-source health (feeds, sitemaps) from the source-state index, the politeness ledger
  per host (requests, bytes, 304s, Retry-After waits, robots.txt decisions, errors; a bar chart and
  a table) and per-run document counts.

Airflow does not authenticate plugin apps, so this one does it itself: every route depends on
the caller's Airflow token (``Authorization: Bearer …`` or the UI's session cookie) and on
permission to read DAG runs; the generated docs and OpenAPI routes, which such dependencies
would not cover, are switched off.
"""

from __future__ import annotations

from html import escape
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
        return operations_status(client, IndexNames(settings.index_prefix))
    finally:
        client.close()


def _table(rows: list[dict[str, Any]], columns: list[str], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if row.get(c) is None else str(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _politeness_chart(hosts: list[dict[str, Any]]) -> str:
    """Requests (blue) and pages robots.txt blocked (orange) per host, as horizontal bars to one scale."""
    if not hosts:
        return ""
    scale = max(max(h["requests"], h["robots_blocked"]) for h in hosts) or 1
    row_h, label_w, bar_w = 22, 220, 420
    bars = []
    for number, host in enumerate(hosts):
        y = number * row_h
        requests_w = bar_w * host["requests"] / scale
        blocked_w = bar_w * host["robots_blocked"] / scale
        bars.append(
            f'<text x="0" y="{y + 15}">{escape(host["host"])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{requests_w:.1f}" height="8" fill="#017cee"><title>'
            f'{host["requests"]} requests</title></rect>'
            f'<rect x="{label_w}" y="{y + 12}" width="{blocked_w:.1f}" height="8" fill="#f0883e"><title>'
            f'{host["robots_blocked"]} blocked by robots.txt</title></rect>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{host["requests"]} req · {host["robots_blocked"]} blocked</text>'
        )
    height = row_h * len(hosts)
    return (f'<svg class="chart" role="img" aria-label="requests and robots.txt blocks per host" '
            f'width="{label_w + bar_w + 180}" height="{height}" font-size="12">{"".join(bars)}</svg>')


def _page(status: dict[str, Any]) -> str:
    feeds = [{**feed, "health": "ok" if feed["healthy"] else "FAILING"} for feed in status["feeds"]]
    hosts = [{**host, "304 share": f"{host['not_modified_share']:.0%}", "blocked URLs": ", ".join(host["blocked_urls"][:3])}
             for host in status["politeness"]]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>newsflow operations</title>
<style>body{{font-family:sans-serif;margin:1.5rem}}table{{border-collapse:collapse;margin-bottom:2rem}}
td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}}</style></head>
<body><h1>newsflow operations</h1>
<p>Index prefix <code>{escape(status["index_prefix"])}</code>, as of {escape(status["generated_at"])}.
JSON: <a href="api/status">api/status</a>.</p>
<h2>Source health (feeds, sitemaps)</h2>
{_table(feeds, ["kind", "name", "health", "last_outcome", "last_success", "consecutive_failures", "next_poll",
                "next_poll_reason", "last_error"], "No feed or sitemap has been polled yet.")}
<h2>Politeness per host (last {status["politeness_days"]} days)</h2>
{_politeness_chart(hosts)}
{_table(hosts, ["host", "requests", "bytes", "304 share", "retry_after_responses", "retry_after_s", "waited_s",
                "robots_allowed", "robots_blocked", "errors", "crawl_delay_s", "blocked URLs", "last_seen"],
        "No page, feed or sitemap has been fetched yet.")}
<h2>Documents per run</h2>
{_table(status["runs"], ["stage", "dag_id", "run_id", "documents", "last"], "No documents yet.")}
</body></html>"""


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
        return _page(_status())

    return app


class NewsflowPlugin(AirflowPlugin):
    name = "newsflow"
    operator_extra_links = [KibanaRunDocumentsLink()]
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "newsflow operations"}]
    external_views = [
        {"name": "newsflow operations", "href": f"{URL_PREFIX.lstrip('/')}/", "destination": "nav",
         "category": "browse", "url_route": "newsflow-operations"},
    ]
