"""Links from an Airflow run to its documents in Kibana Discover (no Airflow import here).

Every document records the run that produced it: ``dag_id``/``run_id`` in the articles index,
``ingest_dag_id``/``ingest_run_id`` in the raw store. The Discover URL opens the "documents by
run" data view (both indices, see ``pipelines/kibana.py``) filtered on whichever pair matches,
so one link serves ingestion and enrichment tasks alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pipelines.kibana import run_documents_data_view_id
from pipelines.settings import Settings
from pipelines.store.names import IndexNames

_RISON_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./~")


def rison(value: Any) -> str:
    """Rison, the URL-friendly JSON Kibana keeps its app state in (strings always quoted)."""
    if value is True or value is False:
        return "!t" if value else "!f"
    if value is None:
        return "!n"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, Mapping):
        def key(name: str) -> str:
            return name if name and set(name) <= _RISON_ID_CHARS and not name[0].isdigit() else rison(name)

        return "(" + ",".join(f"{key(k)}:{rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, (list, tuple)):
        return "!(" + ",".join(rison(item) for item in value) + ")"
    raise TypeError(f"cannot encode {type(value).__name__} as rison")


def _kql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_documents_query(dag_id: str, run_id: str) -> str:
    """KQL for the documents one run produced, in the articles index or the raw store."""
    dag, run = _kql_string(dag_id), _kql_string(run_id)
    return f"(dag_id:{dag} and run_id:{run}) or (ingest_dag_id:{dag} and ingest_run_id:{run})"


def kibana_discover_url(kibana_url: str, *, names: IndexNames, dag_id: str, run_id: str) -> str:
    """A Discover URL showing the documents of one DAG run, newest fetch first."""
    data_view = run_documents_data_view_id(names)
    global_state = {"time": {"from": "now-10y", "to": "now"}}
    app_state = {
        "dataSource": {"dataViewId": data_view, "type": "dataView"},
        "index": data_view,  # Kibana before 8.11 reads the data view from here
        "query": {"language": "kuery", "query": run_documents_query(dag_id, run_id)},
        "sort": [["fetched_at", "desc"]],
    }

    def encode(state: dict[str, Any]) -> str:
        return quote(rison(state), safe="():,!*'-._~/")

    return f"{kibana_url.rstrip('/')}/app/discover#/?_g={encode(global_state)}&_a={encode(app_state)}"


def run_documents_link(dag_id: str, run_id: str, environ: Mapping[str, str] | None = None) -> str:
    """The link for an Airflow task of this run, or "" (Airflow then hides it) without ``KIBANA_URL``."""
    settings = Settings.from_env(environ)
    if not settings.kibana.url:
        return ""
    names = IndexNames(settings.index_prefix)
    return kibana_discover_url(settings.kibana.url, names=names, dag_id=dag_id, run_id=run_id)
