"""Benchmark: newsflow's throughput against raw spaCy and a naive script, side by side in one run.

Every path reads the same N texts (the corpus copied until there are N files) on the same
machine, one after the other, against one local Elasticsearch node started here:

* ``raw nlp.pipe``     spaCy alone with the components the pipeline uses, one process (the floor),
  measured before and after the pipeline rows, each on a fresh model; the ratios use the mean;
* ``raw nlp.pipe, N processes`` the same with the texts split between ``NEWSFLOW_WORKERS``
  processes, each with its model loaded first: what the machine's cores give spaCy alone, the
  ceiling P1b is read against (context, not a target);
* ``raw nlp.pipe + shared tok2vec`` the floor the throughput issue measured, with the shared
  ``tok2vec`` that nothing the pipeline uses reads (context: the targets use the row above);
* ``naive script``     per document ``nlp(text)`` with every component, then one ``es.index`` call;
* ``pipeline, 1 worker`` and ``pipeline, default`` — ``Pipeline.run("folder")`` in this process,
  from files to searchable documents (raw store, cleaning, extraction, deduplication, bulk
  indexing); the default uses ``NEWSFLOW_WORKERS`` (the usable cores);
* ``pipeline, 1 worker, JSONL sink`` — the same with the JSONL sink and SQLite store, so no
  cluster work shares the cores: a diagnostic of what bounds P1, not a target;
* ``pipeline, newsflow command`` — ``newsflow ingest folder`` into a fresh index, process start,
  imports and model loading included: the in-process run P3 compares Airflow with, since an
  Airflow task pays those costs too (as the throughput issue's own comparison did);
* ``unchanged re-run`` — the default pipeline again on the same folder, in process and as the
  ``newsflow ingest folder`` command (process start and imports included);
* ``Airflow`` — the ``newsflow_folder`` DAG through real services (api-server, scheduler,
  dag-processor, triggerer; the executor as configured), until its Asset event's enrich run
  has made every document searchable;
* peak RSS of the default pipeline at each ``--rss-docs`` size, each in a fresh process;
* with ``--feeds``, feed polling at scale (``bench/feed_polling.py``) when it is present.

Model loading is outside every timed section but the command's and Airflow's (it is a fixed
cost, printed apart). The table gives docs/s and the ratios the throughput issue sets targets
for, with the machine's load average before and after, since a busy machine skews absolute rates
more than ratios.

Usage: .venv/bin/python bench/throughput.py [--corpus DIR] [--docs 1000] [--rss-docs 1000,10000]
       [--no-airflow] [--feeds 2000] [--json bench-throughput.json] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

TARGETS = {  # name: (description, comparison, bound)
    "P1": ("pipeline, 1 worker / raw nlp.pipe", ">=", 0.90),
    "P1b": ("pipeline, default / raw nlp.pipe", ">=", 1.6),
    "P2": ("pipeline, default / naive script", ">=", 3.0),
    "P3": ("Airflow wall time / newsflow command's", "<=", 1.25),
    "P4": ("peak RSS, largest N / smallest N", "<=", 1.10),
    "P5": ("unchanged re-run time / first run time", "<=", 0.05),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def replicate(corpus: Path, count: int, target: Path) -> Path:
    """``count`` article files in ``target``: the corpus's files in order, repeated as needed."""
    from pipelines.sources.folder import iter_article_files

    files = list(iter_article_files(corpus))
    if not files:
        raise SystemExit(f"no article files in {corpus}")
    target.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        source = files[number % len(files)]
        shutil.copyfile(source, target / f"{number:06d}-{source.name}")
    return target


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    from pipelines.settings import usable_cores

    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable_cores(), "memory_gb": round(memory_gb, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------------------- the paths


def raw_pipe(bodies: list[str], model: Any, batch_size: int) -> float:
    started = time.perf_counter()
    for _ in model.pipe(bodies, batch_size=batch_size):
        pass
    return time.perf_counter() - started


def naive_script(raws: list[Any], client: Any, index: str, full_model: Any) -> float:
    """What a first script does: every component on each document, one index call per document."""
    started = time.perf_counter()
    for raw in raws:
        doc = full_model(raw.body)
        client.index(index=index, id=raw.doc_id, document={
            "title": raw.title, "body": raw.body,
            "entities": [{"text": ent.text, "label": ent.label_} for ent in doc.ents],
        })
    client.indices.refresh(index=index)
    return time.perf_counter() - started


def pipeline_run(settings: Any, folder: Path, label: str) -> tuple[float, Any, Any]:
    """``Pipeline.run("folder")`` from files to searchable documents; what the components load (the
    model, MinHash's permutations: 0.3 s of datasketch import) is loaded first, as the floor's model is."""
    from pipelines.models import RunInfo
    from pipelines.pipeline import Pipeline

    pipeline = Pipeline(settings)
    pipeline.prepare()
    pipeline.load()
    started, cpu_started = time.perf_counter(), _cpu_seconds(resource.RUSAGE_SELF)
    summary, _ = pipeline.run("folder", RunInfo(f"bench-{label}", "bench"), folder=str(folder), source_name="bench")
    pipeline.run_cpu_s = _cpu_seconds(resource.RUSAGE_SELF) - cpu_started  # this process's threads, not its workers
    return time.perf_counter() - started, summary, pipeline


def one_worker_row(name: str, settings: Any, folder: Path, label: str, *, notes: str | None) -> tuple[dict[str, Any], float]:
    """A 1-worker ``pipeline_run`` as a table row, with the CPU seconds of the coordinator and of the
    worker, and its documents per second (unrounded, for the ratios)."""
    children_before = _cpu_seconds(resource.RUSAGE_CHILDREN)
    seconds, summary, pipeline = pipeline_run(settings, folder, label)
    pipeline.close()  # the worker exits: its CPU time is counted in RUSAGE_CHILDREN
    worker_cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) - children_before
    return rate_row(name, summary.seen, seconds, notes=notes or str(summary.counts()),
                    coordinator_cpu_s=round(pipeline.run_cpu_s, 1), worker_cpu_s=round(worker_cpu, 1)), summary.seen / seconds


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def raw_pipe_processes(bodies: list[str], model_name: str, batch_size: int, processes: int) -> float:
    """Wall time of ``processes`` spawned processes, each running ``raw_pipe`` on its share of
    ``bodies`` (every ``processes``-th text), timed from when all have loaded their model."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(processes + 1), context.Queue()
    children = [context.Process(target=_raw_pipe_child, args=(bodies[start::processes], model_name, batch_size, ready, results))
                for start in range(processes)]
    for child in children:
        child.start()
    try:
        ready.wait(timeout=600)
        started = time.perf_counter()
        finished = 0
        while finished < processes:
            try:
                results.get(timeout=5)
                finished += 1
            except queue.Empty:
                if any(child.exitcode not in (None, 0) for child in children):
                    raise RuntimeError("a raw nlp.pipe process failed (its traceback is above)") from None
        return time.perf_counter() - started
    finally:
        for child in children:
            child.join(timeout=60)


def _raw_pipe_child(bodies: list[str], model_name: str, batch_size: int, ready: Any, results: Any) -> None:
    from pipelines.extraction.extractor import load_model

    model = load_model.__wrapped__(model_name)
    ready.wait()
    results.put(raw_pipe(bodies, model, batch_size))


def cli_ingest(env: dict[str, str], folder: Path) -> tuple[float, dict[str, Any]]:
    newsflow = Path(sys.executable).with_name("newsflow")
    command = [str(newsflow), "ingest", "folder", str(folder), "--source-name", "bench", "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def peak_rss(env: dict[str, str], folder: Path) -> dict[str, Any]:
    """The default pipeline over ``folder`` in a fresh process: its own and its largest worker's peak RSS."""
    done = subprocess.run([sys.executable, __file__, "--rss-child", str(folder)], env=env,
                          capture_output=True, text=True, timeout=7200)
    if done.returncode:
        raise RuntimeError(f"RSS run failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_child(folder: Path) -> int:
    from pipelines.settings import Settings

    seconds, summary, pipeline = pipeline_run(Settings.from_env(), folder, "rss")
    pipeline.close()  # workers exit, so their peak is counted in RUSAGE_CHILDREN
    print(json.dumps({
        "docs": summary.seen, "seconds": round(seconds, 2), "accounted": summary.accounted,
        "main_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "largest_worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }))
    return 0


def airflow_run(settings: Any, folder: Path, state: Path, count: int, timeout_s: float) -> dict[str, Any]:
    """Trigger ``newsflow_folder``; wall time until all ``count`` documents are searchable."""
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from airflow_services import start_airflow_services  # the test suite's harness for real services

    from pipelines.orchestration.airflow import ES_POOL, ES_POOL_SLOTS
    from pipelines.store import IndexNames
    from pipelines.store.client import connect

    client = connect(settings)
    index = IndexNames(settings.index_prefix).articles
    with start_airflow_services(settings, state / "airflow-home", pools={ES_POOL: ES_POOL_SLOTS}) as services:
        for dag_id in ("newsflow_folder", "newsflow_enrich"):
            services.wait_for_dag(dag_id)
            services.unpause(dag_id)
        # Unpausing the enrich DAG starts its daily run for the last interval (catchup is off). Timed
        # alongside, it would compete for the two cores with the folder run's first tasks: measure
        # a running Airflow, as in production, not one still starting.
        services.wait_for_started_runs("newsflow_enrich", lambda run: run.get("run_type") == "scheduled", settle_s=1)
        trigger_time = time.time()
        started = time.perf_counter()
        run_id = services.trigger("newsflow_folder", {"folder": str(folder), "source_name": "bench"})
        searchable = 0
        while time.perf_counter() - started < timeout_s:
            services.check_alive()  # a dead scheduler would otherwise leave this loop waiting out the timeout
            try:  # no refresh of our own: each enrich task refreshes when done, and searches see that
                searchable = client.count(index=index)["count"]
            except Exception:  # noqa: BLE001 — the index appears with the first write
                searchable = 0
            if searchable >= count:
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        enrich_runs = [run for run in services.dag_runs("newsflow_enrich") if run.get("run_type") == "asset_triggered"]
        folder_run = services.dag_run("newsflow_folder", run_id)
        tasks = [task_timing(ti, trigger_time) for dag_id, runs in (("newsflow_folder", [run_id]),
                 ("newsflow_enrich", [run["dag_run_id"] for run in enrich_runs]))
                 for one_run in runs for ti in services.task_instances(dag_id, one_run)]
    return {"seconds": seconds, "searchable": searchable, "folder_run": folder_run.get("state"),
            "enrich_runs": [run.get("state") for run in enrich_runs],
            "tasks": sorted(tasks, key=lambda row: (row["queued_s"] is None, row["queued_s"] or 0))}


def task_timing(ti: dict[str, Any], trigger_time: float) -> dict[str, Any]:
    """When a task instance was queued, started and ended, in seconds after the folder run's trigger."""
    from datetime import datetime

    def since_trigger(key: str) -> float | None:
        value = ti.get(key)
        return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - trigger_time, 1) if value else None

    return {"task": f"{ti['dag_id']}.{ti['task_id']}", "item": ti.get("rendered_map_index") or "",
            "queued_s": since_trigger("queued_when"), "started_s": since_trigger("start_date"),
            "ended_s": since_trigger("end_date"), "state": ti.get("state")}


# ---------------------------------------------------------------------------- report


def rate_row(name: str, docs: int, seconds: float, **extra: Any) -> dict[str, Any]:
    return {"path": name, "docs": docs, "seconds": round(seconds, 2), "docs_per_s": round(docs / seconds, 2), **extra}


def judge(ratios: dict[str, float]) -> list[dict[str, Any]]:
    verdicts = []
    for key, (what, comparison, bound) in TARGETS.items():
        if key not in ratios:
            continue
        value = ratios[key]
        holds = value >= bound if comparison == ">=" else value <= bound
        verdicts.append({"target": key, "what": what, "value": round(value, 3), "bound": f"{comparison} {bound}", "holds": holds})
    return verdicts


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\nmachine: {m['cpu']}, {m['usable_cores']} usable of {m['cores']} cores, {m['memory_gb']} GB, "
          f"Python {m['python']}; load average {report['load_before']} before, {report['load_after']} after")
    print(f"corpus: {report['corpus']} ({report['docs']} documents); model {report['model']} "
          f"(loaded in {report['model_load_s']:.1f}s, outside the timings)\n")
    print(f"{'path':<34}{'docs':>7}{'seconds':>10}{'docs/s':>9}  notes")
    for row in report["rows"]:
        cpu = (f"; CPU s: coordinator {row['coordinator_cpu_s']}, worker {row['worker_cpu_s']}"
               if "worker_cpu_s" in row else "")
        print(f"{row['path']:<34}{row['docs']:>7}{row['seconds']:>10.1f}{row['docs_per_s']:>9.1f}  {row.get('notes', '')}{cpu}")
    if report.get("rss"):
        print("\npeak RSS of the default pipeline (fresh process each):")
        for row in report["rss"]:
            print(f"  N={row['docs']:>6}: main {row['main_mb']:.0f} MB, largest worker {row['largest_worker_mb']:.0f} MB "
                  f"({row['seconds']:.0f}s)")
    if report.get("airflow_tasks"):
        print("\nAirflow task instances (seconds after the folder run was triggered):")
        for row in report["airflow_tasks"]:
            print(f"  {row['task']:<26} {row['item']:<26} queued {row['queued_s']!s:>6}  started {row['started_s']!s:>6}  "
                  f"ended {row['ended_s']!s:>6}  {row['state']}")
    if report.get("feeds"):
        print(f"\nfeed polling: {json.dumps(report['feeds'])}")
    for name, value in report.get("diagnostics", {}).items():
        print(f"\ndiagnostic: {name} (not a target): {value:.3f}")
    print("\ntargets:")
    for verdict in report["targets"]:
        print(f"  {verdict['target']:<4} {verdict['what']:<44} {verdict['value']:>7.3f}  {verdict['bound']:<8} "
              f"{'holds' if verdict['holds'] else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_corpus = PROJECT_ROOT.parent / "shared" / "corpora" / "bbc-dev"
    parser.add_argument("--corpus", type=Path, default=default_corpus if default_corpus.is_dir() else None)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--rss-docs", default="1000,10000", help="comma-separated sizes; empty to skip")
    parser.add_argument("--no-airflow", action="store_true")
    parser.add_argument("--feeds", type=int, default=0, help="feeds for the polling benchmark (0: skip)")
    parser.add_argument("--feed-entries", type=int, default=20)
    parser.add_argument("--airflow-timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness works, times mean nothing")
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child)
    if args.smoke:
        args.docs, args.rss_docs, args.feeds, args.feed_entries = 40, "20,60", min(args.feeds, 20), 5

    import logging

    from pipelines.extraction.extractor import MODEL_FALLBACKS, load_model
    from pipelines.models import RawArticle
    from pipelines.settings import SAMPLE_ARTICLES, Settings
    from pipelines.sources.folder import read_folder
    from pipelines.store.client import connect
    from pipelines.store.local_node import LocalNode

    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    corpus = args.corpus or SAMPLE_ARTICLES
    report: dict[str, Any] = {"machine": machine(), "load_before": load_average(), "corpus": str(corpus),
                              "docs": args.docs, "rows": [], "diagnostics": {}}
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="newsflow-throughput-") as temp:
        state = Path(temp)
        folder = replicate(corpus, args.docs, state / "corpus")
        os.environ.update(NEWSFLOW_STATE_DIR=str(state / "state"), NEWSFLOW_ES_PORT=str(free_port()),
                          NEWSFLOW_INDEX_PREFIX="bench-", NEWSFLOW_ES_HEAP="1g")
        settings = Settings.from_env()
        node = LocalNode(settings, progress=lambda message: print(message, flush=True))
        node.start()
        try:
            client = connect(settings)
            raws = [item for item in read_folder(folder, source_name="bench") if isinstance(item, RawArticle)]
            started = time.perf_counter()
            # An instance of its own, not load_model's cached one, which the pipeline's workers are forked
            # with: a model that has seen these texts has their words in its vocabulary, and the worker's
            # first pass would start ahead of the raw one (about 4 % on 300 texts, measured interleaved).
            model = load_model.__wrapped__(settings.spacy_model)
            report["model_load_s"] = time.perf_counter() - started
            report["model"] = f"{settings.spacy_model}-{model.meta['version']} ({', '.join(model.pipe_names)})"
            bodies = [raw.body for raw in raws]
            print(f"{len(bodies)} documents; measuring raw nlp.pipe…", flush=True)
            raw_seconds = [raw_pipe(bodies, model, settings.batch_size)]
            report["rows"].append(rate_row("raw nlp.pipe, 1 process", len(bodies), raw_seconds[0],
                                           notes=f"{', '.join(model.pipe_names)}; before the pipeline rows"))
            del model

            if settings.workers > 1:
                print(f"raw nlp.pipe in {settings.workers} processes…", flush=True)
                seconds = raw_pipe_processes(bodies, settings.spacy_model, settings.batch_size, settings.workers)
                report["rows"].append(rate_row(f"raw nlp.pipe, {settings.workers} processes", len(bodies), seconds,
                                               notes="the texts split between them: the cores' ceiling, not a target"))
                report["diagnostics"][f"raw nlp.pipe, {settings.workers} processes / 1 process"] = raw_seconds[0] / seconds

            # The floor the throughput issue measured, shared tok2vec included, which the pipeline no
            # longer runs (pipelines.extraction.extractor.components_needed_for): context, not a target.
            floor_model = load_model.__wrapped__(settings.spacy_model)
            floor_rate: float | None = None
            if "tok2vec" in floor_model.disabled:
                floor_model.enable_pipe("tok2vec")
                print("raw nlp.pipe with the shared tok2vec…", flush=True)
                seconds = raw_pipe(bodies, floor_model, settings.batch_size)
                report["rows"].append(rate_row("raw nlp.pipe + shared tok2vec", len(bodies), seconds,
                                               notes=f"{', '.join(floor_model.pipe_names)}: the issue's floor, not a target"))
                floor_rate = len(bodies) / seconds
            del floor_model

            import spacy

            full_model = None
            for name in (settings.spacy_model, *MODEL_FALLBACKS.get(settings.spacy_model, ())):
                try:
                    full_model = spacy.load(name)
                    break
                except OSError:
                    continue
            print("naive script…", flush=True)
            seconds = naive_script(raws, client, "bench-naive", full_model)
            report["rows"].append(rate_row("naive script", len(raws), seconds, notes="nlp(text) all components + es.index"))
            naive_rate = len(raws) / seconds

            print("pipeline, 1 worker…", flush=True)
            one = settings.with_changes(index_prefix="bench-one-", workers=1)
            row, one_rate = one_worker_row("pipeline, 1 worker", one, folder, "one", notes=None)
            report["rows"].append(row)

            # The same run with the JSONL sink and SQLite store: no cluster work on the cores the
            # worker shares, which shows how much of P1's gap is the node rather than the pipeline.
            print("pipeline, 1 worker, JSONL sink…", flush=True)
            jsonl = one.with_changes(sink=f"jsonl:{state / 'bench-jsonl.jsonl'}", state_dir=state / "jsonl-state")
            row, jsonl_rate = one_worker_row("pipeline, 1 worker, JSONL sink", jsonl, folder, "jsonl",
                                             notes="no cluster: SQLite store, JSONL file")
            report["rows"].append(row)

            print("pipeline, default settings…", flush=True)
            default = settings.with_changes(index_prefix="bench-all-")
            first_seconds, summary, pipeline = pipeline_run(default, folder, "all")
            report["rows"].append(rate_row(f"pipeline, default ({default.workers} workers)", summary.seen, first_seconds,
                                           notes=str(summary.counts())))
            default_rate = summary.seen / first_seconds

            # The floor again, after the pipeline rows, on a fresh instance: this shared machine's speed
            # drifts by 10 % within minutes, and a floor measured only first would carry that drift
            # into every ratio. The ratios use the mean of the two.
            print("raw nlp.pipe again…", flush=True)
            raw_seconds.append(raw_pipe(bodies, load_model.__wrapped__(settings.spacy_model), settings.batch_size))
            report["rows"].append(rate_row("raw nlp.pipe, 1 process", len(bodies), raw_seconds[1],
                                           notes="after the pipeline rows; the ratios use the mean of the two"))
            raw_rate = len(bodies) / (sum(raw_seconds) / len(raw_seconds))
            ratios["P1"] = one_rate / raw_rate
            ratios["P1b"] = default_rate / raw_rate
            report["diagnostics"]["P1 with the JSONL sink"] = jsonl_rate / raw_rate
            if floor_rate is not None:
                report["diagnostics"]["pipeline, default / raw nlp.pipe + shared tok2vec"] = default_rate / floor_rate
            ratios["P2"] = default_rate / naive_rate

            from pipelines.models import RunInfo

            started = time.perf_counter()
            again, _ = pipeline.run("folder", RunInfo("bench-again", "bench"), folder=str(folder), source_name="bench")
            seconds = time.perf_counter() - started
            pipeline.close()
            re_extracted = again.seen - again.unchanged - again.failed
            report["rows"].append(rate_row("unchanged re-run, in process", again.seen, seconds,
                                           notes=f"re-extracted {re_extracted}"))
            ratios["P5"] = seconds / first_seconds
            env = {**os.environ, "NEWSFLOW_INDEX_PREFIX": "bench-all-"}
            seconds, cli = cli_ingest(env, folder)
            report["rows"].append(rate_row("unchanged re-run, newsflow command", args.docs, seconds,
                                           notes=f"process start included; unchanged {cli.get('unchanged')}"))

            if not args.no_airflow:
                print("pipeline, newsflow command into a fresh index…", flush=True)
                command_seconds, cli = cli_ingest({**os.environ, "NEWSFLOW_INDEX_PREFIX": "bench-cli-"}, folder)
                report["rows"].append(rate_row("pipeline, newsflow command", cli.get("seen", args.docs), command_seconds,
                                               notes=f"fresh index, process start and model loading included; "
                                                     f"indexed {cli.get('indexed')}, duplicate {cli.get('duplicate')}"))
                print("Airflow (real services)…", flush=True)
                air = settings.with_changes(index_prefix="bench-air-")
                result = airflow_run(air, folder, state, len(raws), args.airflow_timeout)
                report["rows"].append(rate_row("Airflow: folder DAG + enrich DAG", result["searchable"], result["seconds"],
                                               notes=f"folder run {result['folder_run']}, enrich runs {result['enrich_runs']}"))
                ratios["P3"] = result["seconds"] / command_seconds
                report["diagnostics"]["Airflow / in-process run with its components loaded first"] = result["seconds"] / first_seconds
                report["airflow_tasks"] = result["tasks"]

            rss = []
            for size in [int(part) for part in args.rss_docs.split(",") if part.strip()]:
                print(f"peak RSS at N={size}…", flush=True)
                sized = replicate(corpus, size, state / f"rss-{size}")
                rss.append({"docs": size, **peak_rss({**os.environ, "NEWSFLOW_INDEX_PREFIX": f"bench-rss{size}-"}, sized)})
                shutil.rmtree(sized)
            report["rss"] = rss
            if len(rss) >= 2:
                ratios["P4"] = max(rss[-1]["main_mb"], rss[-1]["largest_worker_mb"]) / max(rss[0]["main_mb"], rss[0]["largest_worker_mb"])
        finally:
            node.stop()

        if args.feeds:
            try:
                from feed_polling import measure_feed_polling
            except ImportError:
                print("bench/feed_polling.py is not here: feed polling skipped", file=sys.stderr)
            else:
                # Five feeds a host, as bench/feed_polling.py's 2,000 on 400.
                report["feeds"] = measure_feed_polling(args.feeds, args.feed_entries, hosts=max(1, args.feeds // 5))

    report["load_after"] = load_average()
    report["ratios"] = {key: round(value, 3) for key, value in ratios.items()}
    report["diagnostics"] = {key: round(value, 3) for key, value in report["diagnostics"].items()}
    report["targets"] = judge(ratios)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
