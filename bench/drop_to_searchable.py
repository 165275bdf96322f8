"""Benchmark: seconds from dropping a file into the inbox to finding it with a search.

Starts everything for real in a temporary state directory — the local Elasticsearch node and
Airflow's api-server, scheduler, dag-processor and triggerer (the test suite's harness) — then drops files one
at a time into the watched inbox and polls the article index until each is searchable: the
watcher fires, ``newsflow_inbox`` stores the file raw, its Asset event starts ``newsflow_enrich``.
Reports p50/p95 over the measured drops (after one warm-up drop) and stops every process.

Usage: .venv/bin/python bench/drop_to_searchable.py [--drops 20] [--timeout 180]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def article(number: int) -> str:
    return (
        f"Inbox benchmark article {number}\n\n"
        f"Harbour officials in Bergen counted {1000 + number} ferry passengers on Tuesday, "
        f"the port authority said in a statement marked inboxbench{number}.\n"
    )


def wait_searchable(client, index: str, marker: str, timeout: float) -> float | None:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            client.indices.refresh(index=index)
            if client.count(index=index, query={"match": {"body": marker}})["count"]:
                return time.perf_counter() - started
        except Exception:  # noqa: BLE001 — the index may not exist before the first drop lands
            pass
        time.sleep(0.1)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for one drop")
    args = parser.parse_args()

    import logging

    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from airflow_services import start_airflow_services  # the test suite's harness for real services

    from pipelines.settings import Settings
    from pipelines.store.client import connect
    from pipelines.store import IndexNames
    from pipelines.store.local_node import LocalNode
    from pipelines.orchestration.airflow import ES_POOL, ES_POOL_SLOTS

    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="newsflow-inbox-bench-") as state:
        inbox = Path(state) / "inbox"
        inbox.mkdir()
        os.environ.update(
            NEWSFLOW_STATE_DIR=state, NEWSFLOW_ES_PORT=str(free_port()), NEWSFLOW_INDEX_PREFIX="bench-",
            NEWSFLOW_ES_HEAP="512m",
        )
        settings = Settings.from_env()
        node = LocalNode(settings, progress=print)
        node.start()
        try:
            extra = {"NEWSFLOW_INBOX": str(inbox)}
            with start_airflow_services(settings, Path(state) / "airflow-home", extra_env=extra,
                                        pools={ES_POOL: ES_POOL_SLOTS}) as services:
                for dag_id in ("newsflow_inbox", "newsflow_enrich"):
                    services.wait_for_dag(dag_id)
                    services.unpause(dag_id)
                client = connect(settings)
                index = IndexNames(settings.index_prefix).articles
                print("Airflow services up; waiting for the inbox watcher (warm-up drop)…", flush=True)
                time.sleep(10)  # the triggerer picks the watcher up and takes its baseline
                (inbox / "warmup.txt").write_text(article(0))
                warmup = wait_searchable(client, index, "inboxbench0", 300)
                if warmup is None:
                    print(f"the warm-up drop never became searchable; logs in {services.log_dir}", file=sys.stderr)
                    return 1
                print(f"warm-up: {warmup:.1f}s", flush=True)
                latencies = []
                for number in range(1, args.drops + 1):
                    (inbox / f"drop-{number:03d}.txt").write_text(article(number))
                    latency = wait_searchable(client, index, f"inboxbench{number}", args.timeout)
                    if latency is None:
                        print(f"drop {number} not searchable after {args.timeout:.0f}s", file=sys.stderr)
                        return 1
                    latencies.append(latency)
                    print(f"drop {number:2d}: {latency:5.1f}s", flush=True)
        finally:
            node.stop()
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"drop-to-searchable over {len(latencies)} drops: p50 {statistics.median(latencies):.1f}s, "
          f"p95 {p95:.1f}s, max {ordered[-1]:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
