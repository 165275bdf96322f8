"""``newsflow airflow`` and ``newsflow demo``: Airflow with this project's configuration."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipelines.cli.output import print_err
from pipelines.settings import Settings


def cmd_airflow(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.orchestration.environment import airflow_environment

    env = airflow_environment(settings)
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.call([str(airflow), *args.airflow_args], env=env)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Start the local node, run the folder DAG then the enrich DAG on the samples, show a faceted search."""
    from pipelines.orchestration.environment import prepare_airflow
    from pipelines.orchestration.tasks import STORE_MARKER, SUMMARY_MARKER

    if not settings.elasticsearch.is_external:
        from pipelines.store.local_node import LocalNode

        info = LocalNode(settings, progress=print_err).start()
        print_err(f"Elasticsearch {info.version} at {info.url}")
    print_err("preparing Airflow (metadata database, pools)…")
    env = prepare_airflow(settings)
    folder = Path(args.folder).resolve()
    stages = [
        ("newsflow_folder", {"folder": str(folder), "source_name": None, "files_per_batch": 200}, STORE_MARKER),
        # What the Asset event would trigger under a scheduler: enrich this source's raw articles.
        ("newsflow_enrich", {"sources": [f"folder:{folder.name}"], "ingest_run_ids": [], "force": False,
                             "articles_per_batch": 200}, SUMMARY_MARKER),
    ]
    airflow = str(Path(sys.executable).with_name("airflow"))
    for dag_id, conf, marker in stages:
        print_err(f"running DAG {dag_id} (airflow dags test)…")
        log_path = settings.airflow_home / f"demo-{dag_id}.log"
        with log_path.open("w") as log:
            code = subprocess.call(
                [airflow, "dags", "test", dag_id, "--conf", json.dumps(conf)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if code != 0:
            print_err(f"the DAG run failed (exit {code}); its log: {log_path}")
            return code
        summary = _last_summary(log_path, marker)
        if summary:
            print(f"{dag_id}: " + "  ".join(f"{key}: {value}" for key, value in summary.items()))
    from pipelines.cli.search import FACET_OPTIONS, cmd_search

    return cmd_search(
        argparse.Namespace(query=args.query, size=3, json=False, about=False, date_from=None, date_to=None,
                           **dict.fromkeys(FACET_OPTIONS)),
        settings,
    )


def _last_summary(log_path: Path, marker: str) -> dict[str, Any] | None:
    lines = [line.split(marker + " ", 1)[1] for line in log_path.read_text(errors="replace").splitlines() if marker + " " in line]
    if not lines:
        return None
    # Log formatters append fields after the message; read just the JSON object.
    summary, _ = json.JSONDecoder().raw_decode(lines[-1])
    return summary
