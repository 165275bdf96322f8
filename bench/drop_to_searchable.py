"""Benchmark: seconds from dropping a file into the inbox to finding it with a search.

Starts everything for real in a temporary state directory — the local Elasticsearch node and
Airflow's api-server, scheduler, dag-processor and triggerer (the test suite's harness) — then drops files one
at a time into the watched inbox and polls the article index until each is searchable: the
watcher fires and the DAG runs it starts make the file searchable.
Reports p50/p95 over the measured drops (after one warm-up drop) and stops every process.

Then where the seconds went, read back after the last drop (so reading never slows a drop down):
for each drop, every milestone on its path — the file's mtime, the watcher's Asset event, each
DAG run's queued/started time and each task instance's scheduled/queued/started/ended time (REST
API), the raw store's ``fetched_at``, the article's ``indexed_at`` and the moment the search found
it — and, per step between consecutive milestones, the median and p95 over the drops.

Usage: .venv/bin/python bench/drop_to_searchable.py [--drops 20] [--timeout 180] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

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


def epoch(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def first_source(client, index: str, query: dict) -> dict:
    client.indices.refresh(index=index)
    hits = client.search(index=index, query=query, size=1)["hits"]["hits"]
    return hits[0]["_source"] if hits else {}


def run_milestones(services, dag_id: str, run_id: str) -> list[tuple[str, float | None]]:
    """A DAG run's queued/started/ended times and each task instance's scheduled/queued/started/ended."""
    path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
    run = services.api("GET", path)
    short = dag_id.removeprefix("newsflow_")
    found = [(f"{short} run queued", epoch(run["queued_at"])), (f"{short} run started", epoch(run["start_date"])),
             (f"{short} run ended", epoch(run["end_date"]))]
    for ti in services.api("GET", f"{path}/taskInstances", params={"limit": 100})["task_instances"]:
        name = f"{short}.{ti['task_id']}"
        found += [(f"{name} scheduled", epoch(ti.get("scheduled_when"))), (f"{name} queued", epoch(ti.get("queued_when"))),
                  (f"{name} started", epoch(ti["start_date"])), (f"{name} ended", epoch(ti["end_date"]))]
    return found


def triggering_event_time(services, dag_id: str, run_id: str, source_run_id: str | None = None) -> float | None:
    """When the Asset event that started this run was recorded (the one from ``source_run_id`` if given)."""
    events = services.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/upstreamAssetEvents")["asset_events"]
    chosen = [e for e in events if source_run_id is None or e.get("source_run_id") == source_run_id] or events
    return min((epoch(e["timestamp"]) for e in chosen), default=None)


def drop_milestones(services, client, names, drop: dict) -> list[tuple[str, float]]:
    """Every milestone of one drop, in time order."""
    article = first_source(client, names.articles, {"match": {"body": drop["marker"]}})
    raw = first_source(client, names.raw_articles, {"term": {"doc_id": article.get("doc_id", "")}})
    found: list[tuple[str, float | None]] = [("dropped (mtime)", drop["mtime"]), ("searchable", drop["found"]),
                                             ("raw stored", epoch(raw.get("fetched_at"))),
                                             ("article indexed", epoch(article.get("indexed_at")))]
    inbox_run = raw.get("ingest_run_id")
    if inbox_run:
        found.append(("watcher event", triggering_event_time(services, "newsflow_inbox", inbox_run)))
        found += run_milestones(services, "newsflow_inbox", inbox_run)
    if article.get("run_id") and article.get("run_id") != inbox_run:
        found.append(("raw-articles event",
                      triggering_event_time(services, article["dag_id"], article["run_id"], source_run_id=inbox_run)))
        found += run_milestones(services, article["dag_id"], article["run_id"])
    return sorted(((label, at) for label, at in found if at is not None), key=lambda item: item[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def print_breakdown(timelines: list[list[tuple[str, float]]]) -> None:
    """Median and p95 of each step between consecutive milestones, in path order, over the drops."""
    steps: dict[str, list[float]] = {}
    order: dict[str, float] = {}
    for timeline in timelines:
        start = timeline[0][1]
        for (before, at_before), (after, at_after) in zip(timeline, timeline[1:]):
            step = f"{before} -> {after}"
            steps.setdefault(step, []).append(at_after - at_before)
            order[step] = order.get(step, 0.0) + (at_before - start) / len(timelines)
    print(f"\nwhere the seconds go (steps between consecutive milestones, {len(timelines)} drops):")
    print(f"  {'step':<58} {'drops':>5} {'p50 s':>6} {'p95 s':>6}")
    for step in sorted(steps, key=order.__getitem__):
        values = steps[step]
        print(f"  {step:<58} {len(values):>5} {statistics.median(values):>6.2f} {percentile(values, 0.95):>6.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for one drop")
    parser.add_argument("--json", type=Path, help="also write every drop's milestones here")
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
                names = IndexNames(settings.index_prefix)
                index = names.articles
                print("Airflow services up; waiting for the inbox watcher (warm-up drop)…", flush=True)
                time.sleep(10)  # the triggerer picks the watcher up and takes its baseline
                (inbox / "warmup.txt").write_text(article(0))
                warmup = wait_searchable(client, index, "inboxbench0", 300)
                if warmup is None:
                    print(f"the warm-up drop never became searchable; logs in {services.log_dir}", file=sys.stderr)
                    return 1
                print(f"warm-up: {warmup:.1f}s", flush=True)
                latencies, drops = [], []
                for number in range(1, args.drops + 1):
                    path = inbox / f"drop-{number:03d}.txt"
                    path.write_text(article(number))
                    mtime = path.stat().st_mtime
                    latency = wait_searchable(client, index, f"inboxbench{number}", args.timeout)
                    if latency is None:
                        print(f"drop {number} not searchable after {args.timeout:.0f}s", file=sys.stderr)
                        return 1
                    latencies.append(latency)
                    drops.append({"marker": f"inboxbench{number}", "mtime": mtime, "found": time.time()})
                    print(f"drop {number:2d}: {latency:5.1f}s", flush=True)
                print(f"drop-to-searchable over {len(latencies)} drops: p50 {statistics.median(latencies):.1f}s, "
                      f"p95 {percentile(latencies, 0.95):.1f}s, max {max(latencies):.1f}s "
                      f"(load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores)", flush=True)
                timelines = [drop_milestones(services, client, names, drop) for drop in drops]
                print_breakdown(timelines)
                if args.json:
                    args.json.write_text(json.dumps(timelines, indent=1))
        finally:
            node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
