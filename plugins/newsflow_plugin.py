"""newsflow's Airflow plugin: the Kibana extra link and the operations page.

- ``Kibana: this run's documents`` on tasks declared with ``@task_with_kibana_link`` (see
  ``pipelines/orchestration/links.py``), built by the api-server from ``KIBANA_URL``.
- ``/newsflow/`` (an HTML page, also in the UI's navigation) and ``/newsflow/api/status``
  (JSON): per-source polling health (feeds, sitemaps), per-source extraction health by day with a
  chart of median body length against its alert threshold, the latest revised articles, the
  politeness ledger per host (requests, bytes, 304s, Retry-After waits, robots.txt decisions,
  errors; a bar chart and a table) and per-run document counts.

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
        return operations_status(client, IndexNames(settings.index_prefix), settings.health)
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


CHART_WIDTH, CHART_HEIGHT = 360, 90


def _chart(days: list[dict[str, Any]], threshold: float) -> str:
    """Median body words per day (line) and the alert threshold below the baseline (dashed): an inline SVG."""
    values = [day["median_body_words"] for day in days]
    floors = [day["baseline"].get("median_body_words", 0) * (1 - threshold) if day["baseline"] else None for day in days]
    top = max([*values, *(f for f in floors if f is not None), 1.0]) * 1.1
    step = CHART_WIDTH / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return round(CHART_HEIGHT - value / top * CHART_HEIGHT, 1)

    line = " ".join(f"{round(i * step, 1)},{y(v)}" for i, v in enumerate(values))
    floor = " ".join(f"{round(i * step, 1)},{y(f)}" for i, f in enumerate(floors) if f is not None)
    dots = "".join(
        f'<circle cx="{round(i * step, 1)}" cy="{y(day["median_body_words"])}" r="3" class="{"alert" if day["alerts"] else "ok"}">'
        f'<title>{escape(day["day"])}: {day["median_body_words"]:.0f} words</title></circle>'
        for i, day in enumerate(days)
    )
    return (f'<svg class="chart" viewBox="-4 -4 {CHART_WIDTH + 8} {CHART_HEIGHT + 8}" width="{CHART_WIDTH + 8}" '
            f'height="{CHART_HEIGHT + 8}" role="img" aria-label="median body words per day">'
            f'<polyline class="threshold" points="{floor}"/><polyline class="value" points="{line}"/>{dots}</svg>')


def _health_section(status: dict[str, Any]) -> str:
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in status["health"]:
        by_source.setdefault(row["source"], []).append(row)
    if not by_source:
        return "<p>No extraction health yet: it is computed after each enrichment run.</p>"
    threshold = status["health_thresholds"].get("median_body_words", 0.5)
    cards = []
    for source, days in sorted(by_source.items()):
        latest = days[-1]
        alerts = "".join(f'<li class="alert">{escape(alert["message"])}</li>' for alert in latest["alerts"])
        state = "ALERT" if latest["alerts"] else "ok"
        cards.append(
            f'<section class="card"><h3>{escape(source)} <span class="badge {state.lower()}">{state}</span></h3>'
            f"{_chart(days, threshold)}"
            f'<p class="legend">median body words per day; dashed: {threshold:.0%} below the baseline (alert threshold)</p>'
            f'<p>{escape(latest["day"])}: {latest["articles"]} articles · {latest["median_body_words"]:.0f} words median · '
            f'{latest["undated_share"]:.0%} undated · {latest["boilerplate_share"]:.0%} boilerplate · '
            f'{latest["entities_per_1000_words"]:.1f} entities/1k words · {latest["other_language_share"]:.0%} other '
            f'language · {latest["deadletter_rate"]:.0%} dead letters</p>'
            f'{"<ul>" + alerts + "</ul>" if alerts else ""}</section>'
        )
    return '<div class="cards">' + "".join(cards) + "</div>"


def _revisions(status: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for article in status["revisions"]:
        changes = article.get("changes") or {}
        changed = [part for part in ("title", "body") if changes.get(part)]
        entities = [*(f"+{e}" for e in changes.get("entities_added", [])), *(f"-{e}" for e in changes.get("entities_removed", []))]
        rows.append({**article, "changed": ", ".join(changed), "entities": ", ".join(entities),
                     "headline": "yes" if article.get("headline_changed") else ""})
    return rows


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
<style>body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem;color:#1a202c}}
h1{{font-size:1.5rem}}h2{{font-size:1.2rem;margin-top:2rem}}h3{{font-size:1rem;margin:.2rem 0}}
table{{border-collapse:collapse;margin-bottom:1rem}}
td,th{{border-bottom:1px solid #e2e8f0;padding:.3rem .6rem;text-align:left;font-size:.875rem}}th{{background:#f7fafc}}
.cards{{display:flex;flex-wrap:wrap;gap:1rem}}.card{{border:1px solid #e2e8f0;border-radius:.5rem;padding:.75rem;max-width:400px}}
.card p{{font-size:.8rem;margin:.3rem 0}}.legend{{color:#718096}}li.alert{{color:#c53030;font-size:.8rem}}
.badge{{font-size:.7rem;padding:.1rem .4rem;border-radius:.6rem;background:#c6f6d5}}.badge.alert{{background:#fed7d7}}
svg.chart polyline{{fill:none}}.value{{stroke:#3182ce;stroke-width:2}}.threshold{{stroke:#e53e3e;stroke-dasharray:4 3}}
circle.ok{{fill:#3182ce}}circle.alert{{fill:#e53e3e}}</style></head>
<body><h1>newsflow operations</h1>
<p>Index prefix <code>{escape(status["index_prefix"])}</code>, as of {escape(status["generated_at"])}.
JSON: <a href="api/status">api/status</a>.</p>
<h2>Source health (feeds, sitemaps)</h2>
{_table(feeds, ["kind", "name", "health", "last_outcome", "last_success", "consecutive_failures", "next_poll",
                "next_poll_reason", "last_error"], "No feed or sitemap has been polled yet.")}
<h2>Extraction health per source</h2>
{_health_section(status)}
<h2>Latest revised articles</h2>
<p>Diffs: <code>newsflow revisions DOC_ID</code>.</p>
{_table(_revisions(status), ["last_changed_at", "source", "title", "revision_count", "headline", "changed", "entities",
                             "doc_id"], "No article has changed since it was first seen.")}
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
