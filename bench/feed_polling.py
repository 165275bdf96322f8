"""Benchmark: polling thousands of feeds on loopback — a first poll (every feed 200) and a second
poll (every feed 304) through the real pipeline's acquisition, into a real Elasticsearch.

A feed farm (tests/feed_farm.py, a process of its own) serves N feeds of M entries spread over H
loopback hosts (127.0.0.2, 127.0.0.3, …: Linux routes all of 127.0.0.0/8 to lo), each response
after a simulated round trip, with ETag and Last-Modified, answering 304 to a matching
conditional GET. The pipeline acquires them as ``newsflow ingest feeds`` does, without the
enrichment (``Pipeline.run(..., enrich=False)``): fetch, parse, store raw, save each feed's state,
with the default politeness (``FetchPolicy``: per host one request start a second, two in
flight; 32 in flight overall) unless told otherwise. Spreading the feeds over hosts is what
a real feed list looks like (many publishers) and what lets politeness and speed coexist:
a single host would be asked once a second, by design.

Then, unless ``--no-enrich``, the entries the first poll stored are enriched as the enrich DAG
takes them (the pending raw articles, by id: ``Pipeline.enrich_ids``), with the default workers
and with one, beside raw ``nlp.pipe`` on the same cleaned texts in one process (a fresh model, as
``bench/throughput.py``'s floor): the P1b and P1 ratios on feed entries; and once more with the
JSONL sink, so no cluster work shares the cores (a diagnostic). Each run's CPU seconds are split
between this process, its workers and the node (``_nodes/stats``). Every model ``spacy.load``
returns is counted by process (the workers fork from the process that loaded the model).

Prints a table and writes JSON: seconds per poll, statuses the server sent, entries stored, and
what the server saw of politeness (most requests in flight to one host, shortest interval between
two requests to one host), whether spaCy was imported during acquisition (it must not be), and
the enrichment's rates and model loads.
The machine is shared: absolute seconds move with its load; run both polls in one go.

Usage: .venv/bin/python bench/feed_polling.py [--feeds 2000] [--entries 20] [--hosts 400] [--smoke]
       [--no-enrich] [--json bench-feed-polling.json]
``measure_feed_polling(feeds, entries, ...)`` is the same measurement for other harnesses.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import resource
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "tests"))

SMOKE = {"feeds": 60, "entries": 5, "hosts": 12}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _poll(pipeline: Any, farm: Any, run_id: str) -> dict[str, Any]:
    from pipelines.models import RunInfo

    farm.reset()
    started = time.perf_counter()
    _, rows = pipeline.run("feeds", RunInfo(run_id), feeds=farm.feed_list(), enrich=False)
    seconds = time.perf_counter() - started
    seen = farm.stats()
    hosts = seen["hosts"].values()
    intervals = [stats["min_interval_s"] for stats in hosts if stats["min_interval_s"] is not None]
    return {
        "seconds": round(seconds, 2),
        "feeds_per_s": round(len(rows) / seconds, 1),
        "outcomes": dict(Counter(row["outcome"] for row in rows)),
        "statuses": seen["statuses"],
        "entries_stored": sum(row["stored"] for row in rows),
        "entries_unchanged": sum(row["unchanged"] for row in rows),
        "entries_failed": sum(row["failed"] for row in rows),
        "max_in_flight": seen["max_in_flight"],
        "max_in_flight_per_host": max((stats["max_in_flight"] for stats in hosts), default=0),
        "min_interval_per_host_s": round(min(intervals), 3) if intervals else None,
    }


class _ModelLoads:
    """Every model ``spacy.load`` returns from now on, in this process and in processes forked from
    it, by pid (a name not installed, tried first by ``load_model``, is not a load)."""

    def __init__(self, log: Path) -> None:
        import spacy

        self.log, self._spacy, self._load = log, spacy, spacy.load

        def counted(*args: Any, **kwargs: Any) -> Any:
            model = self._load(*args, **kwargs)
            with log.open("a") as out:
                out.write(f"{os.getpid()}\n")
            return model

        spacy.load = counted

    def by_process(self) -> Counter[int]:
        return Counter(int(pid) for pid in self.log.read_text().split()) if self.log.exists() else Counter()

    def close(self) -> None:
        self._spacy.load = self._load


def _node_cpu_s(client: Any) -> float:
    """CPU seconds the cluster's nodes have used since they started (``_nodes/stats``)."""
    nodes = client.nodes.stats(metric="process")["nodes"].values()
    return sum(node["process"]["cpu"]["total_in_millis"] for node in nodes) / 1000


_NODE_OPERATIONS = {  # index stats field: milliseconds spent in it, summed over shards
    "indexing": ("indexing", "index_time_in_millis"), "search": ("search", "query_time_in_millis"),
    "fetch": ("search", "fetch_time_in_millis"), "get": ("get", "time_in_millis"),
    "refresh": ("refresh", "total_time_in_millis"), "merge": ("merges", "total_time_in_millis"),
}


def _node_operations_s(client: Any, prefix: str) -> dict[str, float]:
    """Seconds the run's indices have spent per operation (``_stats``): where the node's CPU goes."""
    total = client.indices.stats(index=f"{prefix}*", expand_wildcards="all")["_all"]["total"]
    return {name: total.get(group, {}).get(field, 0) / 1000 for name, (group, field) in _NODE_OPERATIONS.items()}


def _enrich(settings: Any, state: Path) -> dict[str, Any]:
    """The pending entries through the default pipeline, a 1-worker one and the default one with the
    JSONL sink (no cluster work: a diagnostic), beside raw ``nlp.pipe``; CPU seconds of this process,
    of its workers and of the node for each."""
    from pipelines.extraction.extractor import load_model
    from pipelines.models import CleanArticle, RawArticle, RunInfo
    from pipelines.pipeline import Pipeline
    from pipelines.store import RawSelection

    loads = _ModelLoads(state / "model-loads")
    try:
        reader = Pipeline(settings)
        client = reader.client
        ids = reader.select(RawSelection(pending=True))
        raws = [item for item in reader.store.raw.get(ids) if isinstance(item, RawArticle)]
        bodies = [item.body for item in reader.component("clean").pipe(raws) if isinstance(item, CleanArticle)]
        floor_model = load_model.__wrapped__(settings.spacy_model)
        started = time.perf_counter()
        for _ in floor_model.pipe(bodies, batch_size=settings.batch_size):
            pass
        raw_seconds = time.perf_counter() - started
        del floor_model
        floor_loads = loads.by_process()

        jsonl = settings.with_changes(sink=f"jsonl:{state / 'feed-enrich.jsonl'}", state_dir=state / "jsonl-state")
        plans = (  # name, settings, how the run is fed
            ("default", settings, lambda pipeline, run: pipeline.enrich_ids(ids, run)),
            # Everything extracted again (force) into the same indices: ids are stable, nothing doubles.
            ("1 worker", settings.with_changes(workers=1), lambda pipeline, run: pipeline.enrich_ids(ids, run, force=True)),
            ("default, JSONL sink", jsonl, lambda pipeline, run: pipeline.enrich(raws, run)),
        )
        runs = {}
        for name, run_settings, feed in plans:
            run_pipeline = Pipeline(run_settings)
            run_pipeline.load()  # the model before the timing, as the floor's
            cpu = (_cpu_s(resource.RUSAGE_SELF), _cpu_s(resource.RUSAGE_CHILDREN), _node_cpu_s(client))
            operations = _node_operations_s(client, settings.index_prefix)
            started = time.perf_counter()
            summary = feed(run_pipeline, RunInfo(f"feed-bench-enrich-{len(runs)}"))
            seconds = time.perf_counter() - started
            run_pipeline.close()  # the workers exit: their CPU is counted in RUSAGE_CHILDREN
            runs[name] = {
                "workers": run_settings.workers, "seconds": round(seconds, 2), "docs_per_s": round(summary.seen / seconds, 1),
                "vs_raw_nlp_pipe": round(raw_seconds / seconds, 3), "counts": summary.counts(),
                "cpu_s": {"this process": round(_cpu_s(resource.RUSAGE_SELF) - cpu[0], 1),
                          "workers": round(_cpu_s(resource.RUSAGE_CHILDREN) - cpu[1], 1),
                          "node": round(_node_cpu_s(client) - cpu[2], 1)},
                "node_operations_s": {operation: round(spent - operations[operation], 1)
                                      for operation, spent in _node_operations_s(client, settings.index_prefix).items()},
            }
        reader.close()
        enrich_loads = loads.by_process() - floor_loads
    finally:
        loads.close()
    return {
        "entries": len(ids), "texts": len(bodies), "raw_nlp_pipe_s": round(raw_seconds, 2),
        "raw_docs_per_s": round(len(bodies) / raw_seconds, 1), "runs": runs,
        # pid -> loads during the runs: the workers fork after the load, so only this process appears
        "model_loads": {("this process" if pid == os.getpid() else f"pid {pid}"): count for pid, count in enrich_loads.items()},
    }


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure_feed_polling(feeds: int = 2000, entries: int = 20, *, hosts: int = 400, latency_s: float = 0.02,
                         settings: Any = None, policy: dict[str, Any] | None = None, enrich: bool = False) -> dict[str, Any]:
    """Both polls of ``feeds`` × ``entries`` on ``hosts`` loopback hosts; returns the figures.
    ``enrich``: then the entries' enrichment too (``_enrich``).

    ``settings``: a cluster to write to (an index prefix of this run's own is used and deleted
    afterwards); None starts a local node in a temporary directory and stops it. ``policy``:
    changes to the default ``FetchPolicy`` (loopback is always allowed here)."""
    from feed_farm import FeedFarm

    from pipelines.pipeline import Pipeline
    from pipelines.settings import FetchPolicy, Settings

    with tempfile.TemporaryDirectory(prefix="newsflow-feed-bench-") as state:
        node = None
        if settings is None:
            from pipelines.store.local_node import LocalNode

            settings = Settings.from_env({**os.environ, "NEWSFLOW_STATE_DIR": state, "NEWSFLOW_ES_PORT": str(_free_port()),
                                          "NEWSFLOW_ES_HEAP": os.environ.get("NEWSFLOW_ES_HEAP", "512m")})
            # A shared, loaded machine can take minutes to start a node: wait longer than the default.
            settings = settings.with_changes(local_node=replace(settings.local_node, startup_timeout_s=900.0))
            node = LocalNode(settings)
            node.start()
        prefix = f"{settings.index_prefix}feedbench{os.getpid()}-"
        fetch = FetchPolicy(**{**(policy or {}), "allowed_networks": (ipaddress.ip_network("127.0.0.0/8"),)})
        pipeline = Pipeline(settings.with_changes(index_prefix=prefix, fetch=fetch))
        try:
            pipeline.prepare()  # index creation is set-up, not polling
            with FeedFarm.start(feeds=feeds, entries=entries, hosts=hosts, latency_s=latency_s) as farm:
                first = _poll(pipeline, farm, "feed-bench-1")
                second = _poll(pipeline, farm, "feed-bench-2")
            spacy_loaded = "spacy" in sys.modules
            enrichment = _enrich(pipeline.settings, Path(state)) if enrich else None
        finally:
            client = pipeline.client  # this run's indices only (wildcard deletes may be disabled)
            for index in client.indices.get(index=f"{prefix}*", allow_no_indices=True, expand_wildcards="all"):
                client.indices.delete(index=index)
            template = pipeline.store.names.articles_template
            if client.indices.exists_index_template(name=template):
                client.indices.delete_index_template(name=template)
            pipeline.close()
            if node is not None:
                node.stop()
    return {
        "feeds": feeds, "entries_per_feed": entries, "hosts": hosts, "latency_s": latency_s,
        "policy": {"min_host_interval_s": fetch.min_host_interval_s, "max_host_connections": fetch.max_host_connections,
                   "max_connections": fetch.max_connections, "feeds_per_batch": settings.poll_units_per_task},
        "first_poll": first, "second_poll": second, "spacy_loaded_during_acquisition": spacy_loaded,
        "targets": {"first_poll_le_120s": first["seconds"] <= 120, "second_poll_le_20s": second["seconds"] <= 20},
        **({"enrichment": enrichment} if enrichment else {}),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the farm's simulated round trip")
    parser.add_argument("--smoke", action="store_true", help=f"a small run that checks the harness: {SMOKE}")
    parser.add_argument("--no-enrich", action="store_true", help="polls only: leave the entries' enrichment out")
    parser.add_argument("--json", type=Path, default=Path("bench-feed-polling.json"))
    args = parser.parse_args()
    size = SMOKE if args.smoke else {"feeds": args.feeds, "entries": args.entries, "hosts": args.hosts}

    import logging

    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    result = measure_feed_polling(**size, latency_s=args.latency_ms / 1000, enrich=not args.no_enrich)
    args.json.write_text(json.dumps(result, indent=2))
    policy = result["policy"]
    print(f"{result['feeds']} feeds × {result['entries_per_feed']} entries on {result['hosts']} loopback hosts "
          f"(round trip {result['latency_s'] * 1000:g} ms); per host ≥ {policy['min_host_interval_s']:g}s between "
          f"starts, ≤ {policy['max_host_connections']} in flight; ≤ {policy['max_connections']} in flight overall")
    print(f"{'poll':<8} {'seconds':>8} {'feeds/s':>8} {'statuses':<22} {'stored':>7} {'unchanged':>9} "
          f"{'max in flight':>13} {'per host':>8} {'min host interval':>17}")
    for name in ("first_poll", "second_poll"):
        poll = result[name]
        statuses = ", ".join(f"{count}×{status}" for status, count in sorted(poll["statuses"].items()))
        print(f"{name.split('_')[0]:<8} {poll['seconds']:>8.1f} {poll['feeds_per_s']:>8.1f} {statuses:<22} "
              f"{poll['entries_stored']:>7} {poll['entries_unchanged']:>9} {poll['max_in_flight']:>13} "
              f"{poll['max_in_flight_per_host']:>8} {poll['min_interval_per_host_s']!s:>16}s")
    print(f"spaCy imported during acquisition: {result['spacy_loaded_during_acquisition']}; targets (P7): "
          f"first poll ≤ 120 s {result['targets']['first_poll_le_120s']}, second ≤ 20 s {result['targets']['second_poll_le_20s']}"
          f"; load average {result['machine']['load_average'][0]:.1f} on {result['machine']['cpus']} CPUs")
    if enrichment := result.get("enrichment"):
        print(f"enrichment of the {enrichment['entries']} stored entries: raw nlp.pipe, 1 process "
              f"{enrichment['raw_nlp_pipe_s']:.1f} s ({enrichment['raw_docs_per_s']:.1f} docs/s)")
        for name, run in enrichment["runs"].items():
            cpu = ", ".join(f"{who} {seconds:.1f}" for who, seconds in run["cpu_s"].items())
            print(f"  pipeline, {name} ({run['workers']} workers): {run['seconds']:.1f} s ({run['docs_per_s']:.1f} docs/s), "
                  f"{run['vs_raw_nlp_pipe']:.3f} × raw; CPU s: {cpu}; {run['counts']}")
            print(f"    node, seconds per operation: {', '.join(f'{k} {v:.1f}' for k, v in run['node_operations_s'].items())}")
        print(f"  spaCy models loaded during the runs, by process: {enrichment['model_loads']}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
