"""``newsflow es | stack | index | kibana``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.cli.output import print_err
from pipelines.settings import Settings


def cmd_es(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.store.local_node import LocalNode

    if settings.elasticsearch.is_external and args.es_command == "create-api-key":
        return _create_api_key(args, settings)
    if settings.elasticsearch.is_external:
        print_err(f"NEWSFLOW_ES_URL is set ({settings.elasticsearch.url}): the local node is not used")
        return 2
    node = LocalNode(settings, progress=print_err)
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


def cmd_stack(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.stack import Stack

    stack = Stack(settings, progress=print_err)
    if args.stack_command == "up":
        stack.up()
        print(f"stack up: Airflow {stack.api_url} (user admin, password in {stack.directory / 'airflow-passwords.json'}), "
              f"Elasticsearch {', '.join(stack.es_urls)}")
        return 0
    if args.stack_command == "down":
        stopped = stack.down()
        print(f"stopped and checked: {', '.join(stopped)}")
        return 0
    report = stack.status()
    if args.json:
        print(json.dumps([vars(component) for component in report], indent=2))
    else:
        for component in report:
            state = "healthy" if component.healthy else "running, unhealthy" if component.running else "stopped"
            print(f"{component.name:14} {state:18} {component.detail}")
    return 0 if all(component.healthy for component in report) else 3


def _create_api_key(args: argparse.Namespace, settings: Settings) -> int:
    """An API key that can do what the pipeline does on its own indices, and nothing else."""
    from elasticsearch import ApiError

    from pipelines.store.client import connect
    from pipelines.store.local_node import pipeline_role_descriptor

    client = connect(settings, admin=True)
    try:
        response = client.security.create_api_key(
            name=args.name, role_descriptors={"newsflow_pipeline": pipeline_role_descriptor(settings.index_prefix)},
            expiration=args.expiration,
        )
    except ApiError as error:
        if "pattern_capture" in str(error):
            print_err(
                "this cluster cannot store API keys (its .security index needs the analysis-common module, which the "
                "embedded Maven distribution lacks); the local pipeline already runs as the least-privilege file-realm "
                "user newsflow_pipeline. Create API keys on a full cluster."
            )
            return 2
        raise
    print_err(f"created API key {response['id']} ({args.name}) limited to {settings.index_prefix}* ; store it as a secret:")
    print(f"NEWSFLOW_ES_API_KEY={response['encoded']}")
    return 0


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.store import IndexNames
    from pipelines.store.client import connect
    from pipelines.store.lifecycle import current_index, migrate
    from pipelines.store.schema import ensure_indices

    client, names = connect(settings), IndexNames(settings.index_prefix)
    if args.index_command == "migrate":
        report = migrate(client, names, progress=print_err)
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


def cmd_kibana(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.kibana import import_saved_objects, saved_objects, to_ndjson
    from pipelines.store import IndexNames

    ndjson = to_ndjson(saved_objects(IndexNames(settings.index_prefix)))
    if args.kibana_command == "export":
        if args.output == "-":
            sys.stdout.write(ndjson)
        else:
            Path(args.output).write_text(ndjson)
            print(f"wrote {ndjson.count(chr(10))} saved objects to {args.output}")
        return 0
    url = args.url or settings.kibana.url
    if not url:
        print_err("set KIBANA_URL (and KIBANA_USERNAME/KIBANA_PASSWORD or KIBANA_API_KEY), or pass --url")
        return 2
    result = import_saved_objects(
        url, ndjson,
        username=settings.kibana.username, password=settings.kibana.password,
        api_key=settings.kibana.api_key, space=args.space,
    )
    print(f"imported {result.imported} saved objects into {url}")
    for error in result.errors:
        print(f"  failed: {error.get('type')} {error.get('id')}: {error.get('error')}")
    return 1 if result.errors else 0
