"""What every DAG file shares: default args with retries and the failure callback, the
Elasticsearch pool, the raw-articles Asset, and how a task reads its context.

Imported only by DAG files and the plugin (it needs Airflow); everything else in ``pipelines``
runs without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, get_current_context, task

log = logging.getLogger("newsflow.airflow")

# Updated by every ingestion task that stores raw articles; the enrich DAG is scheduled on it.
# Each event's extra names the run that stored them: {"dag_id", "run_id", "stored", "unchanged"}.
RAW_ARTICLES = Asset(name="newsflow_raw_articles", uri="newsflow://raw-articles")

# Bounds concurrent writers against Elasticsearch across all DAGs (created by `newsflow demo`
# and the test harness; see pipelines/orchestration/environment.py).
ES_POOL = "newsflow_elasticsearch"
ES_POOL_SLOTS = 4


def notify(kind: str, message: str, *args: Any) -> None:
    """The one notification path operators watch (failures and health alerts): an ERROR line starting
    with ``kind``. A deployment that wants mail or chat hooks its notifier in here."""
    log.error(f"{kind} {message}", *args)


def report_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: one line that says which DAG, task, batch/feed and stage failed, and why."""
    ti = context.get("ti") or context.get("task_instance")
    label = getattr(ti, "rendered_map_index", None) or getattr(ti, "map_index", None)
    error = context.get("exception")
    notify(
        "NEWSFLOW_FAILURE", "dag=%s run=%s task=%s item=%s try=%s error=%s: %s",
        getattr(ti, "dag_id", "?"), context.get("run_id"), getattr(ti, "task_id", "?"), label,
        getattr(ti, "try_number", "?"), type(error).__name__ if error else "?", error,
    )


def report_health_alerts(alerts: list[dict[str, Any]], context: dict[str, Any]) -> None:
    """New extraction-health alerts of an enrich run, through the failure notification path."""
    for alert in alerts:
        notify("NEWSFLOW_HEALTH_ALERT", "dag=%s run=%s source=%s metric=%s examples=%s: %s",
               context["dag"].dag_id, context.get("run_id"), alert["source"], alert["metric"],
               ",".join(alert["examples"]), alert["message"])


DEFAULT_ARGS: dict[str, Any] = {
    "pool": ES_POOL,
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=5),
    # No task may run unbounded (a hung fetch or parse would hold a pool slot forever); tasks
    # that do more set their own, e.g. acquisition units and enrichment batches.
    "execution_timeout": timedelta(minutes=30),
    "on_failure_callback": report_failure,
}

# One mapped enrichment batch (at most a few thousand articles at ~10 articles/s).
ENRICH_BATCH_TIMEOUT = timedelta(hours=1)


def settings():  # noqa: ANN201 — Settings, imported late: DAG files are parsed every few seconds
    """The task's settings, from its environment; inside a running task, the cluster comes from the
    Airflow Connection ``NEWSFLOW_ES_CONN_ID`` names, when it names one (never while parsing)."""
    from pipelines.settings import Settings

    current = Settings.from_env()
    conn_id = current.elasticsearch.conn_id
    if conn_id is None or not _in_running_task():
        return current
    from airflow.sdk import Connection

    return current.with_changes(elasticsearch=elasticsearch_from_connection(Connection.get(conn_id), current.elasticsearch))


def _in_running_task() -> bool:
    try:
        get_current_context()
    except Exception:  # noqa: BLE001 — outside a task the SDK raises; which error varies by version
        return False
    return True


def elasticsearch_from_connection(connection: Any, base: Any) -> Any:
    """ElasticsearchSettings from an Airflow Connection, with the Elasticsearch provider's conventions:
    ``host``, ``port`` (9200), ``schema`` (http or https), ``login``/``password``, and extras
    ``api_key``, ``verify_certs``, ``ca_certs``. ``host`` may carry a scheme, or list several
    ``host:port`` nodes separated by commas."""
    from dataclasses import replace
    from pathlib import Path

    extra = connection.extra_dejson or {}
    scheme = connection.schema or "http"
    nodes = [node.strip() for node in (connection.host or "").split(",") if node.strip()]
    if not nodes:
        from pipelines.errors import ConfigError

        raise ConfigError(f"Airflow connection {connection.conn_id!r} has no host")
    urls = []
    for node in nodes:
        url = node if "://" in node else f"{scheme}://{node}"
        if url.count(":") < 2:  # no port in it
            url = f"{url}:{connection.port or 9200}"
        urls.append(url)
    return replace(
        base,
        url=",".join(urls),
        username=connection.login or None,
        password=connection.password or None,
        api_key=extra.get("api_key") or None,
        verify_certs=str(extra.get("verify_certs", True)).lower() not in ("false", "0", "no"),
        ca_certs=Path(extra["ca_certs"]) if extra.get("ca_certs") else None,
    )


def run_info(context: dict[str, Any]) -> dict[str, Any]:
    """``run_id`` and ``dag_id`` of the running task: what every stored document records."""
    return {"run_id": context["run_id"], "dag_id": context["dag"].dag_id}


def triggering_events(context: dict[str, Any]) -> list[Any]:
    """The Asset events that started this run, flattened over assets (empty when none did)."""
    return [event for events in (context.get("triggering_asset_events") or {}).values() for event in events]


def data_interval(context: dict[str, Any]) -> tuple[Any, Any]:
    return context.get("data_interval_start"), context.get("data_interval_end")


def enrichment_selection(context: dict[str, Any], params: dict[str, Any]):  # noqa: ANN201
    """Which raw articles this enrich run takes (see ``tasks.enrichment_selection``)."""
    from pipelines.orchestration.tasks import enrichment_selection as select

    return select(
        sources=params.get("sources") or (), ingest_run_ids=params.get("ingest_run_ids") or (),
        triggered_by_assets=bool(triggering_events(context)), interval=data_interval(context),
    )


def acquisition_dag(
    *,
    dag_id: str,
    description: str,
    plan: Callable[[dict[str, Any], dict[str, Any]], list[dict[str, Any]]],
    params: dict[str, Any],
    schedule: Any = None,
    tags: tuple[str, ...] = (),
    max_active_runs: int = 1,
    max_active_units: int = 4,
    unit_timeout: timedelta = timedelta(minutes=30),
    kibana_link: bool = False,
):  # noqa: ANN201 — a DAG
    """The one acquisition shape every source's DAG has:
    ``plan`` (indices in place, the run's units) → ``acquire`` (one mapped task per unit, into the
    raw store) → ``summarize`` (every unit's outcome, and one ``newsflow_raw_articles`` Asset event,
    so exactly one ``newsflow_enrich`` run follows). Only units, ids and counts travel through XCom.
    Each task start costs seconds, so there is no task that only prepares.

    ``plan(context, params)`` returns the units (``tasks.plan`` or ``tasks.inbox_work``); a
    ``force`` Param, when the DAG has one, is handed to the source.
    """
    from pipelines.orchestration.links import task_with_kibana_link

    acquire_decorator = task_with_kibana_link if kibana_link else task

    @dag(dag_id=dag_id, description=description, schedule=schedule, start_date=datetime(2026, 1, 1), catchup=False,
         max_active_runs=max_active_runs, tags=["newsflow", "ingestion", *tags], default_args=DEFAULT_ARGS,
         params=params)
    def acquisition():
        @task(task_id="plan")
        def plan_units(params: dict | None = None) -> list[dict]:
            from pipelines.orchestration.tasks import prepare

            prepare(settings())  # before any mapped task writes
            return plan(get_current_context(), params or {})

        @acquire_decorator(map_index_template="{{ unit_label }}", max_active_tis_per_dagrun=max_active_units,
                           execution_timeout=unit_timeout)
        def acquire(work: dict, params: dict | None = None) -> dict:
            from pipelines.orchestration.tasks import acquire

            context = get_current_context()
            context["unit_label"] = work["label"]  # names the mapped task instance in the UI
            return acquire(settings(), work, **run_info(context), force=bool((params or {}).get("force")),
                           run_lists=params)

        # all_done: every unit is reported, including one whose task failed after its retries.
        @task(outlets=[RAW_ARTICLES], trigger_rule="all_done", retries=0)
        def summarize(results: list[dict], planned: list[dict]) -> dict:
            from pipelines.orchestration.tasks import asset_event_extra, summarize_acquisition

            context = get_current_context()
            summary = summarize_acquisition(list(results), planned)
            failed = [unit["unit"] for unit in summary["units"] if unit.get("outcome") == "task_failed"]
            if failed:
                raise RuntimeError(f"{len(failed)} unit(s) failed after their retries: {', '.join(failed[:10])}")
            context["outlet_events"][RAW_ARTICLES].extra = asset_event_extra(summary, **run_info(context))
            return summary

        planned = plan_units()
        summarize(acquire.expand(work=planned), planned)

    return acquisition()


def polled_source_dag(*, kind: str, unit: str, example: str, schedule: str | None, description: str,
                      unit_timeout: timedelta):  # noqa: ANN201 — a DAG
    """The acquisition DAG of a polled source (feeds, sitemaps): its list, a selection by name and
    ``force`` as Params, on a cron schedule (None: manual runs only). Each mapped task acquires a
    batch of ``NEWSFLOW_POLL_UNITS_PER_TASK`` units concurrently (``tasks.plan_polled``)."""

    def plan(context: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
        from pipelines.orchestration.tasks import plan_polled

        return plan_polled(settings(), kind, **{kind: params[kind], "only": params[f"{unit}_names"]})

    return acquisition_dag(
        dag_id=f"news_{kind}",
        description=description,
        plan=plan,
        schedule=CronTriggerTimetable(schedule, timezone="UTC") if schedule else None,
        tags=(kind,),
        unit_timeout=unit_timeout,
        params={
            kind: Param(
                None, type=["null", "array"], items={"type": "object", "required": ["name", "url"]},
                title=f"{kind.capitalize()} (replaces {kind}.yaml for this run)",
                description=f"A list like {example}; same keys as {kind}.yaml. Empty: the {kind} in "
                f"{kind}.yaml (NEWSFLOW_{kind.upper()}_CONFIG).",
            ),
            f"{unit}_names": Param(
                [], type="array", items={"type": "string"}, title=f"Only these {kind}",
                description=f"Names of {kind} to poll (disabled ones included); empty: every enabled {unit}.",
            ),
            "force": Param(
                False, type="boolean", title="Poll even if not due",
                description="Ignore ttl, minimum interval and failure backoff. A server's Retry-After is always honoured.",
            ),
        },
    )
