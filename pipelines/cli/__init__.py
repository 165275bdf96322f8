"""The ``newsflow`` command line: local Elasticsearch, ingestion, search, Airflow, demo."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.errors import NewsflowError

SAMPLE_FOLDER = PROJECT_ROOT / "samples" / "articles"
FOLDER_DAG_ID = "newsflow_folder"
FACET_OPTIONS = {"person": "persons", "org": "organizations", "location": "locations", "source": "source", "lang": "language"}


def _print_err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- es ------------------------------------------------------------------------------------------


def cmd_es(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.local_node import LocalNode

    if settings.elasticsearch.is_external and args.es_command == "create-api-key":
        return _create_api_key(args, settings)
    if settings.elasticsearch.is_external:
        _print_err(f"NEWSFLOW_ES_URL is set ({settings.elasticsearch.url}): the local node is not used")
        return 2
    node = LocalNode(settings, progress=_print_err)
    if args.es_command == "create-api-key":
        return _create_api_key(args, settings)
    if args.es_command == "start":
        info = node.start()
        print(f"Elasticsearch {info.version} ready at {info.url} (user {info.username}, password in "
              f"{settings.local_node_dir / 'elastic-password'})")
    elif args.es_command == "stop":
        print("stopped" if node.stop() else "not running")
    else:
        status = node.status()
        print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in vars(status).items()}, indent=2, default=str))
        return 0 if status.running else 3
    return 0


def _create_api_key(args: argparse.Namespace, settings: Settings) -> int:
    """An API key that can do what the pipeline does on its own indices, and nothing else."""
    from elasticsearch import ApiError

    from pipelines.elastic import connect
    from pipelines.local_node import pipeline_role_descriptor

    client = connect(settings, admin=True)
    try:
        response = client.security.create_api_key(
            name=args.name, role_descriptors={"newsflow_pipeline": pipeline_role_descriptor(settings.index_prefix)},
            expiration=args.expiration,
        )
    except ApiError as error:
        if "pattern_capture" in str(error):
            _print_err(
                "this cluster cannot store API keys (its .security index needs the analysis-common module, which the "
                "embedded Maven distribution lacks); the local pipeline already runs as the least-privilege file-realm "
                "user newsflow_pipeline. Create API keys on a full cluster."
            )
            return 2
        raise
    _print_err(f"created API key {response['id']} ({args.name}) limited to {settings.index_prefix}* ; store it as a secret:")
    print(f"NEWSFLOW_ES_API_KEY={response['encoded']}")
    return 0


# --- ingest --------------------------------------------------------------------------------------


def _print_summary(summary: Any, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
        return
    counts = summary.counts()
    print("  ".join(f"{name}: {value}" for name, value in counts.items()))
    for failure in summary.failures:
        print(f"  failed [{failure.stage}] {failure.source_ref}: {failure.error_type}: {failure.message}")


def cmd_ingest_folder(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pipelines.tasks import ingest_folder

    folder = Path(args.path)
    if not folder.is_dir():
        _print_err(f"not a folder: {folder}")
        return 2
    if args.batch_size:
        settings = settings.with_changes(batch_size=args.batch_size)
    run_id = f"cli__{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
    columns = (TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=None, disable=args.json or not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("ingest", total=None)
        summary = ingest_folder(
            folder,
            settings=settings,
            source_name=args.source_name,
            run_id=run_id,
            on_total=lambda total: bar.update(task, total=total),
            progress=lambda done: bar.advance(task, done),
        )
    _print_summary(summary, as_json=args.json)
    return 1 if summary.failed else 0


def cmd_ingest_feeds(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.feed_tasks import plan_feeds, poll_feeds, prepare_feed_indices

    feeds = plan_feeds(config_path=Path(args.config) if args.config else None, only=args.feed)
    prepare_feed_indices(settings)
    results = poll_feeds(feeds, settings=settings, run_id=f"cli__{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}", force=args.force)
    if args.json:
        print(json.dumps([result.to_dict() for result in results], indent=2))
    for result in [] if args.json else results:
        detail = result.error or (f"next poll {result.next_poll}" if result.outcome == "not_due" else "")
        print(f"{result.feed:<24} {result.outcome:<13} new: {result.new}  unchanged: {result.unchanged}  "
              f"failed: {result.failed}" + (f"  ({detail})" if detail else ""))
    return 1 if any(r.failed or r.outcome in ("failed", "refused") for r in results) else 0


# --- search --------------------------------------------------------------------------------------


def _date(value: str):  # noqa: ANN202 — argparse type
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.elastic import connect
    from pipelines.indexing import IndexNames
    from pipelines.search import search

    filters = {field: getattr(args, option) for option, field in FACET_OPTIONS.items() if getattr(args, option)}
    result = search(
        connect(settings), IndexNames(settings.index_prefix), args.query, filters=filters, size=args.size,
        published_from=getattr(args, "date_from", None), published_to=getattr(args, "date_to", None),
        about=getattr(args, "about", False),
    )
    if args.json:
        print(json.dumps({
            "total": result.total,
            "hits": [{"id": h.doc_id, "score": h.score, "title": h.title, "source_ref": h.source_ref,
                      "published_at": h.document.get("published_at"), "highlights": h.highlights} for h in result.hits],
            "facets": {name: [{"value": v, "count": c} for v, c in values] for name, values in result.facets.items()},
            "per_day": [{"date": day, "count": count} for day, count in result.per_day],
            "undated": result.undated,
            "about": list(result.about),
        }, indent=2, ensure_ascii=False))
        return 0
    print(f"{result.total} article(s) match {args.query!r}")
    for rank, hit in enumerate(result.hits, 1):
        print(f"\n{rank}. {hit.title}  [{hit.source_ref}]  score {hit.score:.2f}")
        for fragment in hit.highlights:
            print(f"   … {' '.join(fragment.split())} …")
    print("\nFacets")
    for name, values in result.facets.items():
        if values:
            print(f"  {name:<14} " + ", ".join(f"{value} ({count})" for value, count in values))
    if result.per_day:
        print("\nPer day (published)")
        widest = max(count for _, count in result.per_day)
        for day, count in result.per_day[-31:]:
            print(f"  {day}  {'█' * max(1, round(20 * count / widest))} {count}")
    if result.undated:
        print(f"  ({result.undated} without a publication date)")
    if result.about:
        print("\nWhat these articles are about: " + ", ".join(result.about))
    return 0


# --- index lifecycle and dead letters ------------------------------------------------------------


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.elastic import connect
    from pipelines.indexing import IndexNames, ensure_indices
    from pipelines.lifecycle import current_index, migrate

    client, names = connect(settings), IndexNames(settings.index_prefix)
    if args.index_command == "migrate":
        report = migrate(client, names, progress=_print_err)
        print(f"migrated {report.source_index} ({report.documents_before} documents) → {report.target_index} "
              f"({report.documents_after} documents; {report.copied} copied, {report.caught_up} caught up, "
              f"{'_reindex API' if report.used_reindex_api else 'client-side copy'}, {report.seconds:.1f}s)")
        print(f"{report.source_index} is kept with no aliases; delete it once you are satisfied")
        return 0 if report.complete else 1
    ensure_indices(client, names)
    index = current_index(client, names)
    count = client.count(index=names.articles)["count"]
    dead = client.count(index=names.deadletters)["count"]
    print(f"read alias {names.articles} and write alias {names.articles_write} → {index}: {count} documents; "
          f"{names.deadletters}: {dead} dead letters")
    return 0


def cmd_deadletters(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.elastic import connect
    from pipelines.indexing import IndexNames, ensure_indices

    client, names = connect(settings), IndexNames(settings.index_prefix)
    ensure_indices(client, names)
    if args.dead_command == "requeue":
        return _requeue_folder(args, settings, client, names)
    filters = [{"term": {"stage": args.stage}}] if args.stage else []
    response = client.search(
        index=names.deadletters, query={"bool": {"filter": filters}}, size=args.size,
        sort=[{"failed_at": "desc"}], aggs={"stages": {"terms": {"field": "stage"}}},
    )
    rows = [hit["_source"] for hit in response["hits"]["hits"]]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    stages = ", ".join(f"{b['key']}: {b['doc_count']}" for b in response["aggregations"]["stages"]["buckets"])
    print(f"{response['hits']['total']['value']} dead letter(s)" + (f" ({stages})" if stages else ""))
    for row in rows:
        print(f"  {row['failed_at'][:19]}  [{row['stage']}] {row['source']} {row['source_ref']}: "
              f"{row['error_type']}: {row['message'][:160]}")
    return 0


def _requeue_folder(args: argparse.Namespace, settings: Settings, client: Any, names: Any) -> int:
    """Ingest again the files behind a folder source's dead letters (after fixing them, or the pipeline)."""
    from elasticsearch import helpers

    from pipelines.tasks import ingest_folder_files

    folder = Path(args.folder)
    if not folder.is_dir():
        _print_err(f"not a folder: {folder}")
        return 2
    source = f"folder:{args.source_name or folder.resolve().name}"
    refs = {
        hit["_source"]["source_ref"].split("#", 1)[0]  # "feed.jsonl#L3" → the file it came from
        for hit in helpers.scan(client, index=names.deadletters, query={"query": {"term": {"source": source}}})
    }
    existing = sorted(ref for ref in refs if (folder / ref).is_file())
    print(f"{len(refs)} file(s) dead-lettered for {source}; {len(existing)} still present, requeuing them")
    if not existing:
        return 0
    run_id = f"requeue__{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
    summary = ingest_folder_files(folder, existing, settings=settings, run_id=run_id, source_name=source.split(":", 1)[1])
    _print_summary(summary, as_json=False)
    return 1 if summary.failed else 0


# --- kibana --------------------------------------------------------------------------------------


def cmd_kibana(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from pipelines.indexing import IndexNames
    from pipelines.kibana import import_saved_objects, saved_objects, to_ndjson

    ndjson = to_ndjson(saved_objects(IndexNames(settings.index_prefix)))
    if args.kibana_command == "export":
        if args.output == "-":
            sys.stdout.write(ndjson)
        else:
            Path(args.output).write_text(ndjson)
            print(f"wrote {ndjson.count(chr(10))} saved objects to {args.output}")
        return 0
    url = args.url or os.environ.get("KIBANA_URL")
    if not url:
        _print_err("set KIBANA_URL (and KIBANA_USERNAME/KIBANA_PASSWORD or KIBANA_API_KEY), or pass --url")
        return 2
    result = import_saved_objects(
        url, ndjson,
        username=os.environ.get("KIBANA_USERNAME"), password=os.environ.get("KIBANA_PASSWORD"),
        api_key=os.environ.get("KIBANA_API_KEY"), space=args.space,
    )
    print(f"imported {result.imported} saved objects into {url}")
    for error in result.errors:
        print(f"  failed: {error.get('type')} {error.get('id')}: {error.get('error')}")
    return 1 if result.errors else 0


# --- airflow and demo ----------------------------------------------------------------------------


def cmd_airflow(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.airflow_env import airflow_environment

    env = airflow_environment(settings)
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.call([str(airflow), *args.airflow_args], env=env)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Start the local node, run the folder DAG then the enrich DAG on the samples, show a faceted search."""
    from pipelines.airflow_env import prepare_airflow

    if not settings.elasticsearch.is_external:
        from pipelines.local_node import LocalNode

        info = LocalNode(settings, progress=_print_err).start()
        _print_err(f"Elasticsearch {info.version} at {info.url}")
    _print_err("preparing Airflow (metadata database, pools)…")
    env = prepare_airflow(settings)
    folder = Path(args.folder).resolve()
    stages = [
        (FOLDER_DAG_ID, {"folder": str(folder), "source_name": None, "files_per_batch": 200}, "NEWSFLOW_STORE"),
        # What the Asset event would trigger under a scheduler: enrich this source's raw articles.
        ("newsflow_enrich", {"sources": [f"folder:{folder.name}"], "ingest_run_ids": [], "force": False,
                             "articles_per_batch": 200}, "NEWSFLOW_SUMMARY"),
    ]
    airflow = str(Path(sys.executable).with_name("airflow"))
    for dag_id, conf, marker in stages:
        _print_err(f"running DAG {dag_id} (airflow dags test)…")
        log_path = settings.airflow_home / f"demo-{dag_id}.log"
        with log_path.open("w") as log:
            code = subprocess.call(
                [airflow, "dags", "test", dag_id, "--conf", json.dumps(conf)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if code != 0:
            _print_err(f"the DAG run failed (exit {code}); its log: {log_path}")
            return code
        summary = _last_summary(log_path, marker)
        if summary:
            print(f"{dag_id}: " + "  ".join(f"{key}: {value}" for key, value in summary.items()))
    return cmd_search(
        argparse.Namespace(query=args.query, size=3, json=False, about=False, date_from=None, date_to=None,
                           **dict.fromkeys(FACET_OPTIONS)),
        settings,
    )


def _last_summary(log_path: Path, marker: str = "NEWSFLOW_SUMMARY") -> dict[str, Any] | None:
    lines = [line.split(marker + " ", 1)[1] for line in log_path.read_text(errors="replace").splitlines() if marker + " " in line]
    if not lines:
        return None
    # Log formatters append fields after the message; read just the JSON object.
    summary, _ = json.JSONDecoder().raw_decode(lines[-1])
    return summary


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    es = commands.add_parser("es", help="the embedded local Elasticsearch node")
    es.add_argument("es_command", choices=["start", "stop", "status", "create-api-key"])
    es.add_argument("--name", default="newsflow-pipeline", help="create-api-key: the key's name")
    es.add_argument("--expiration", default=None, help="create-api-key: e.g. 90d (default: no expiry)")
    es.set_defaults(handler=cmd_es)

    ingest = commands.add_parser("ingest", help="ingest articles")
    sources = ingest.add_subparsers(dest="source", required=True)
    folder = sources.add_parser("folder", help="every article file under a folder, recursively")
    folder.add_argument("path")
    folder.add_argument("--source-name", help="name recorded as the source (default: the folder's name)")
    folder.add_argument("--batch-size", type=int, help="articles per spaCy and bulk batch")
    folder.add_argument("--json", action="store_true", help="print the summary as JSON")
    folder.set_defaults(handler=cmd_ingest_folder)
    feeds = sources.add_parser("feeds", help="poll RSS/Atom feeds (conditional GET, ttl, Retry-After) and ingest new entries")
    feeds.add_argument("--config", help="feed list (default: NEWSFLOW_FEEDS_CONFIG or feeds.yaml in the checkout)")
    feeds.add_argument("--feed", action="append", metavar="NAME", help="only this feed (repeatable)")
    feeds.add_argument("--force", action="store_true", help="poll even if not due (Retry-After is still honoured)")
    feeds.add_argument("--json", action="store_true", help="print per-feed results as JSON")
    feeds.set_defaults(handler=cmd_ingest_feeds)

    find = commands.add_parser("search", help="full-text search with facets")
    find.add_argument("query", help="simple query string; empty for everything")
    for option, field in FACET_OPTIONS.items():
        find.add_argument(f"--{option}", action="append", help=f"filter on {field} (repeatable)")
    find.add_argument("--from", dest="date_from", type=_date, help="published on or after (YYYY-MM-DD)")
    find.add_argument("--to", dest="date_to", type=_date, help="published on or before (YYYY-MM-DD)")
    find.add_argument("--about", action="store_true", help="also list terms that set the matches apart (significant_text)")
    find.add_argument("--size", type=int, default=10)
    find.add_argument("--json", action="store_true")
    find.set_defaults(handler=cmd_search)

    index = commands.add_parser("index", help="the article index: status, zero-downtime mapping migration")
    index.add_argument("index_command", choices=["status", "migrate"])
    index.set_defaults(handler=cmd_index)

    dead = commands.add_parser("deadletters", help="inputs that could not be indexed, and why")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True)
    listing = dead_commands.add_parser("list", help="the most recent dead letters")
    listing.add_argument("--stage", choices=["read", "clean", "extract", "index"])
    listing.add_argument("--size", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    requeue = dead_commands.add_parser("requeue", help="ingest a folder source's dead-lettered files again")
    requeue.add_argument("folder")
    requeue.add_argument("--source-name", help="the source name used when ingesting (default: the folder's name)")
    dead.set_defaults(handler=cmd_deadletters)

    kibana = commands.add_parser("kibana", help="the project's Kibana data views, saved search and dashboard")
    kibana_commands = kibana.add_subparsers(dest="kibana_command", required=True)
    export = kibana_commands.add_parser("export", help="write the saved objects as ndjson")
    export.add_argument("--output", default="-", help="file to write (default: standard output)")
    load = kibana_commands.add_parser("import", help="load them through Kibana's saved-objects API")
    load.add_argument("--url", help="Kibana base URL (default: $KIBANA_URL)")
    load.add_argument("--space", help="Kibana space id (default: the default space)")
    kibana.set_defaults(handler=cmd_kibana)

    airflow = commands.add_parser("airflow", help="run the airflow CLI with this project's configuration")
    airflow.add_argument("airflow_args", nargs=argparse.REMAINDER)
    airflow.set_defaults(handler=cmd_airflow)

    demo = commands.add_parser("demo", help="start Elasticsearch, ingest the samples through Airflow, search")
    demo.add_argument("--folder", default=str(SAMPLE_FOLDER))
    demo.add_argument("--query", default="climate")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    import logging

    args = build_parser().parse_args(argv)
    # Request-level client logs belong in debug sessions, not in command output (Airflow's
    # logging setup, once imported, would print them).
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        return args.handler(args, settings)
    except NewsflowError as error:
        _print_err(f"newsflow: {error}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
