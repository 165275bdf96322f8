"""The ``newsflow`` command line: local Elasticsearch, ingestion, enrichment replay, search, export, Airflow, demo."""

from __future__ import annotations

import argparse
import sys

from pipelines import __version__
from pipelines.cli.output import print_err
from pipelines.errors import ClusterRefusedWrites, NewsflowError, ReconciliationError, Stage
from pipelines.settings import SAMPLE_ARTICLES, Settings


def _date(value: str):  # noqa: ANN202 — argparse type
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def _near(value: str):  # noqa: ANN202 — argparse type
    from pipelines.search import Near

    try:
        return Near.parse(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _handler(module: str, name: str):  # noqa: ANN202
    """Import a command's module only when it runs: ``newsflow --help`` stays fast."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from importlib import import_module

        return getattr(import_module(f"pipelines.cli.{module}"), name)(args, settings)

    return run


def _ingest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sink", help="where enriched articles go: elasticsearch (default) or jsonl:PATH (no cluster needed)")
    parser.add_argument("--batch-size", type=int, help="articles per spaCy and bulk batch")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def build_parser() -> argparse.ArgumentParser:
    from pipelines.cli.search import FACET_OPTIONS

    parser = argparse.ArgumentParser(prog="newsflow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"newsflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    es = commands.add_parser("es", help="the embedded local Elasticsearch node")
    es.add_argument("es_command", choices=["start", "stop", "status", "create-api-key"])
    es.add_argument("--name", default="newsflow-pipeline", help="create-api-key: the key's name")
    es.add_argument("--expiration", default=None, help="create-api-key: e.g. 90d (default: no expiry)")
    es.set_defaults(handler=_handler("admin", "cmd_es"))

    stack = commands.add_parser(
        "stack", help="the production topology on this machine: PostgreSQL, Redis, Airflow with Celery workers, "
        "a three-node Elasticsearch cluster"
    )
    stack.add_argument("stack_command", choices=["up", "down", "status"])
    stack.add_argument("--json", action="store_true", help="status: as JSON")
    stack.set_defaults(handler=_handler("admin", "cmd_stack"))

    ingest = commands.add_parser("ingest", help="acquire articles into the raw store and enrich them, in one process")
    sources = ingest.add_subparsers(dest="source", required=True)
    folder = sources.add_parser("folder", help="every article file under a folder, recursively")
    folder.add_argument("path")
    folder.add_argument("--source-name", help="name recorded as the source (default: the folder's name)")
    _ingest_options(folder)
    folder.set_defaults(handler=_handler("ingest", "cmd_ingest_folder"))
    for kind, unit, config in (("feeds", "feed", "feeds.yaml"), ("sitemaps", "sitemap", "sitemaps.yaml")):
        polled = sources.add_parser(
            kind, help=f"poll {kind} (conditional GET, ttl, Retry-After) and ingest what is new"
        )
        polled.add_argument("--config", help=f"list (default: NEWSFLOW_{kind.upper()}_CONFIG or the bundled {config})")
        polled.add_argument(f"--{unit}", dest="only", action="append", metavar="NAME", help=f"only this {unit} (repeatable)")
        polled.add_argument("--force", action="store_true", help="poll even if not due (Retry-After is still honoured)")
        _ingest_options(polled)
        polled.set_defaults(handler=_handler("ingest", "cmd_ingest_polled"))

    enrich = commands.add_parser("enrich", help="enrich again from the raw store (after an upgrade): no re-fetching")
    enrich.add_argument("--source", action="append", help="only raw articles of this source (repeatable)")
    enrich.add_argument("--from", dest="date_from", type=_date, help="fetched on or after (YYYY-MM-DD)")
    enrich.add_argument("--to", dest="date_to", type=_date, help="fetched on or before (YYYY-MM-DD)")
    enrich.add_argument("--all", action="store_true", help="every raw article (default: those due, stored since their last enrichment)")
    enrich.add_argument("--force", action="store_true", help="also articles this pipeline and model version already produced")
    _ingest_options(enrich)
    enrich.set_defaults(handler=_handler("ingest", "cmd_enrich"))

    export = commands.add_parser("export", help="the indexed articles as JSON Lines, for your own tools")
    export.add_argument("--output", required=True, help="file to write (replaced atomically)")
    export.add_argument("--source", action="append", help="only articles of this source (repeatable)")
    export.set_defaults(handler=_handler("ingest", "cmd_export"))

    find = commands.add_parser("search", help="full-text search with facets")
    find.add_argument("query", help="simple query string; empty for everything")
    for option, field in FACET_OPTIONS.items():
        find.add_argument(f"--{option}", action="append", help=f"filter on {field} (repeatable)")
    find.add_argument("--from", dest="date_from", type=_date, help="published on or after (YYYY-MM-DD)")
    find.add_argument("--to", dest="date_to", type=_date, help="published on or before (YYYY-MM-DD)")
    find.add_argument("--near", type=_near, metavar="LAT,LON,KM",
                      help="only articles with a resolved place within KM kilometres of LAT,LON")
    find.add_argument("--about", action="store_true", help="also list terms that set the matches apart (significant_text)")
    find.add_argument("--size", type=int, default=10)
    find.add_argument("--json", action="store_true")
    find.set_defaults(handler=_handler("search", "cmd_search"))

    index = commands.add_parser("index", help="the article index: status, zero-downtime mapping migration")
    index.add_argument("index_command", choices=["status", "migrate"])
    index.set_defaults(handler=_handler("admin", "cmd_index"))

    dead = commands.add_parser("deadletters", help="inputs that could not go through, and why")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True)
    listing = dead_commands.add_parser("list", help="the most recent dead letters")
    listing.add_argument("--stage", choices=[stage.value for stage in Stage])
    listing.add_argument("--source", help="only this source, e.g. folder:articles or feed:bbc-world")
    listing.add_argument("--size", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    requeue = dead_commands.add_parser("requeue", help="ingest a source's dead-lettered inputs again")
    target = requeue.add_mutually_exclusive_group(required=True)
    target.add_argument("folder", nargs="?", help="a folder source: read its dead-lettered files again")
    target.add_argument("--source", help="any other source (feed:NAME, sitemap:NAME): enrich its stored articles again")
    requeue.add_argument("--source-name", help="the folder's source name used when ingesting (default: the folder's name)")
    dead.set_defaults(handler=_handler("ingest", "cmd_deadletters"))

    revisions = commands.add_parser("revisions", help="an article's versions, with word-level diffs of title and body")
    revisions.add_argument("doc_id", help="the article's id (doc_id)")
    revisions.add_argument("--json", action="store_true", help="the versions as JSON")
    revisions.set_defaults(handler=_handler("revisions", "cmd_revisions"))

    health = commands.add_parser("health", help="per-source extraction health by day, with baseline alerts")
    health.add_argument("--days", type=int, default=14, help="days per source (default: 14)")
    health.add_argument("--json", action="store_true")
    health.set_defaults(handler=_handler("revisions", "cmd_health"))

    kibana = commands.add_parser("kibana", help="the project's Kibana data views, saved search and dashboard")
    kibana_commands = kibana.add_subparsers(dest="kibana_command", required=True)
    export_objects = kibana_commands.add_parser("export", help="write the saved objects as ndjson")
    export_objects.add_argument("--output", default="-", help="file to write (default: standard output)")
    load = kibana_commands.add_parser("import", help="load them through Kibana's saved-objects API")
    load.add_argument("--url", help="Kibana base URL (default: $KIBANA_URL)")
    load.add_argument("--space", help="Kibana space id (default: the default space)")
    kibana.set_defaults(handler=_handler("admin", "cmd_kibana"))

    airflow = commands.add_parser("airflow", help="run the airflow CLI with this project's configuration")
    airflow.add_argument("airflow_args", nargs=argparse.REMAINDER)
    airflow.set_defaults(handler=_handler("demo", "cmd_airflow"))

    demo = commands.add_parser("demo", help="start Elasticsearch, ingest the samples through Airflow, search")
    demo.add_argument("--folder", default=str(SAMPLE_ARTICLES))
    demo.add_argument("--query", default="climate")
    demo.set_defaults(handler=_handler("demo", "cmd_demo"))
    return parser


# Exit codes: what a script or an Airflow BashOperator can tell apart without reading the output.
EXIT_INPUTS_FAILED = 1  # the run finished; some inputs were dead-lettered
EXIT_USAGE = 2  # bad usage or configuration
EXIT_UNREACHABLE = 3  # Elasticsearch could not be reached, or refused writes (overloaded, write block)
EXIT_FORBIDDEN = 4  # Elasticsearch refused: bad credentials, or they do not cover these indices
EXIT_UNRECONCILED = 5  # a run report did not add up: an input went missing without a dead letter


def _cluster_failure(error: BaseException, settings: Settings | None) -> tuple[int, str] | None:
    """One line and an exit code for a cluster that is down or refuses us, else None.

    The error may arrive wrapped (a NewsflowError raised from the client's error), so the
    whole chain of causes is searched."""
    if "elasticsearch" not in sys.modules and "elastic_transport" not in sys.modules:
        return None  # nothing talked to a cluster
    from elastic_transport import ConnectionError as TransportConnectionError
    from elasticsearch import AuthenticationException, AuthorizationException

    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ClusterRefusedWrites):
            return EXIT_UNREACHABLE, f"newsflow: Elasticsearch at {_cluster_url(settings)} refused writes: {cause}"
        if isinstance(cause, TransportConnectionError):
            return EXIT_UNREACHABLE, (
                f"newsflow: Elasticsearch at {_cluster_url(settings)} is unreachable: {_first_line(cause)}; "
                "start it with `newsflow es start` or check NEWSFLOW_ES_URL"
            )
        if isinstance(cause, AuthenticationException):
            return EXIT_FORBIDDEN, (
                f"newsflow: Elasticsearch at {_cluster_url(settings)} did not accept the credentials (HTTP 401): "
                "check NEWSFLOW_ES_USERNAME / NEWSFLOW_ES_PASSWORD or NEWSFLOW_ES_API_KEY"
            )
        if isinstance(cause, AuthorizationException):
            prefix = settings.index_prefix if settings else "newsflow-"
            return EXIT_FORBIDDEN, (
                f"newsflow: Elasticsearch refused access to {prefix}* (HTTP {cause.meta.status}): "
                f"NEWSFLOW_INDEX_PREFIX={prefix!r} must fall inside the pipeline role's index pattern — "
                "use the prefix the role or API key was made for, or restart the local node "
                "(`newsflow es stop && newsflow es start`) so its role covers this prefix"
            )
        cause = cause.__cause__ or cause.__context__
    return None


def _cluster_url(settings: Settings | None) -> str:
    if settings is None:
        return "the configured URL"
    if settings.elasticsearch.url:
        return settings.elasticsearch.url
    from pipelines.store.local_node import read_credentials

    try:
        node = read_credentials(settings)
    except Exception:  # noqa: BLE001 — only for the message
        node = None
    return node.url if node else f"http://127.0.0.1:{settings.local_node.port}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    import logging

    args = build_parser().parse_args(argv)
    # Request-level client logs belong in debug sessions, not in command output (Airflow's
    # logging setup, once imported, would print them).
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    settings = None
    try:
        settings = Settings.from_env()
        return args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        failure = _cluster_failure(error, settings)
        if failure is not None:
            print_err(failure[1])
            return failure[0]
        if isinstance(error, ReconciliationError):
            print_err(f"newsflow: {error}")
            return EXIT_UNRECONCILED
        if isinstance(error, NewsflowError):
            print_err(f"newsflow: {error}")
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
