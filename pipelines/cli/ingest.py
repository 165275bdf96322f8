"""``newsflow ingest | enrich | export | deadletters``: the pipeline from the command line, in one process."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pipelines.cli.output import print_err, print_summary, run_id
from pipelines.errors import Stage
from pipelines.models import RunInfo
from pipelines.pipeline import IngestSummary, Pipeline
from pipelines.settings import Settings
from pipelines.store import RawSelection


def _with_options(args: argparse.Namespace, settings: Settings) -> Settings:
    changes: dict[str, Any] = {}
    if getattr(args, "batch_size", None):
        changes["batch_size"] = args.batch_size
    if getattr(args, "sink", None):
        changes["sink"] = args.sink
    if getattr(args, "config", None):
        changes[{"feeds": "feeds_config", "sitemaps": "sitemaps_config"}[args.source]] = Path(args.config)
    settings = settings.with_changes(**changes) if changes else settings
    settings.validate()
    return settings


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """(set_total, advance) callbacks over a rich progress bar on an interactive terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not enabled or not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("ingest", total=None)
        yield (lambda total: bar.update(task, total=total)), (lambda done: bar.advance(task, done))


def _run(kind: str, args: argparse.Namespace, settings: Settings, **options: Any) -> tuple[IngestSummary, list[dict]]:
    pipeline = Pipeline.from_settings(_with_options(args, settings))
    run = RunInfo(run_id())
    try:
        with _progress_bar(not args.json) as (set_total, advance):
            result = pipeline.run(kind, run, force=getattr(args, "force", False), progress=advance,
                                  on_total=set_total, **options)
        _report_health(pipeline, run)
        return result
    finally:
        pipeline.close()


def _report_health(pipeline: Pipeline, run: RunInfo) -> None:
    """Extraction-health alerts of the sources and days this run enriched, as warnings on stderr."""
    for alert in pipeline.check_health(run):
        print_err(f"warning: extraction health: {alert.message}")


def cmd_ingest_folder(args: argparse.Namespace, settings: Settings) -> int:
    folder = Path(args.path)
    if not folder.is_dir():
        print_err(f"not a folder: {folder}")
        return 2
    summary, _ = _run("folder", args, settings, folder=str(folder), source_name=args.source_name)
    print_summary(summary, as_json=args.json)
    return 1 if summary.failed else 0


def cmd_ingest_polled(args: argparse.Namespace, settings: Settings) -> int:
    """Feeds or sitemaps: one line per feed or sitemap with its outcome, then the run's summary."""
    summary, reports = _run(args.source, args, settings, only=args.only)
    if args.json:
        print(json.dumps({"units": reports, **summary.to_dict()}, indent=2, default=str))
    else:
        for row in reports:
            detail = row.get("error") or (f"next poll {row.get('next_poll')}" if row["outcome"] == "not_due" else "")
            print(f"{row['unit']:<24} {row['outcome']:<13} stored: {row['stored']}  unchanged: {row['unchanged']}  "
                  f"failed: {row['failed']}" + (f"  ({detail})" if detail else ""))
        print_summary(summary, as_json=False)
    failed_units = any(row["outcome"] in ("failed", "refused") for row in reports)
    return 1 if summary.failed or failed_units else 0


def cmd_enrich(args: argparse.Namespace, settings: Settings) -> int:
    """Replay enrichment from the raw store: after a cleaning, parser or model upgrade, no re-fetching."""
    pipeline = Pipeline.from_settings(_with_options(args, settings))
    try:
        everything = args.all or args.source or args.date_from or args.date_to
        selection = RawSelection(
            pending=not everything, sources=args.source or (),
            fetched_from=_day(args.date_from), fetched_to=_day(args.date_to, next_day=True),
        )
        ids = pipeline.select(selection)
        print_err(f"re-enriching {len(ids)} raw article(s)")
        run = RunInfo(run_id("enrich"))
        with _progress_bar(not args.json) as (set_total, advance):
            set_total(len(ids))
            summary = pipeline.enrich_ids(ids, run, force=args.force, progress=advance)
        _report_health(pipeline, run)
    finally:
        pipeline.close()
    print_summary(summary, as_json=args.json)
    return 1 if summary.failed else 0


def _day(value: Any, *, next_day: bool = False) -> Any:
    from datetime import UTC, datetime, timedelta

    if value is None:
        return None
    start = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return start + timedelta(days=1) if next_day else start


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """The indexed articles as JSON Lines, the same documents the ``jsonl`` sink writes."""
    from pipelines.sinks.jsonl import export_articles
    from pipelines.store import IndexNames
    from pipelines.store.articles import iter_articles
    from pipelines.store.client import connect

    count = export_articles(iter_articles(connect(settings), IndexNames(settings.index_prefix), args.source or ()),
                            Path(args.output))
    print(f"exported {count} article(s) to {args.output}")
    return 0


def cmd_deadletters(args: argparse.Namespace, settings: Settings) -> int:
    pipeline = Pipeline.from_settings(settings).prepare()
    if args.dead_command == "requeue":
        return _requeue(args, pipeline)
    page = pipeline.store.deadletters.list(stage=Stage(args.stage) if args.stage else None, source=args.source,
                                           size=args.size)
    if args.json:
        print(json.dumps(page.rows, indent=2, ensure_ascii=False))
        return 0
    stages = ", ".join(f"{stage}: {count}" for stage, count in page.by_stage.items())
    print(f"{page.total} dead letter(s)" + (f" ({stages})" if stages else ""))
    for row in page.rows:
        print(f"  {row['failed_at'][:19]}  [{row['stage']}] {row['source']} {row['source_ref']}: "
              f"{row['error_type']}: {row['message'][:160]}")
    return 0


def _requeue(args: argparse.Namespace, pipeline: Pipeline) -> int:
    """A folder's dead-lettered files are read again (after fixing them, or the pipeline); any other
    source's dead-lettered articles are enriched again from the raw store."""
    from pipelines.sources.folder import folder_source_name

    run = RunInfo(run_id("requeue"))
    if args.folder:
        folder = Path(args.folder)
        source_name = folder_source_name(folder, args.source_name, pipeline.store.state)  # exactly as ingest names it
        name = f"folder:{source_name}"
        refs = {row["source_ref"].split("#", 1)[0] for row in pipeline.store.deadletters.refs(name)}  # "a.jsonl#L3" → its file
        existing = sorted(ref for ref in refs if (folder / ref).is_file())
        print(f"{len(refs)} file(s) dead-lettered for {name}; {len(existing)} still present, requeuing them")
        if not existing:
            return 0
        summary, _ = pipeline.run("folder", run, folder=str(folder), source_name=source_name, files=existing)
    else:
        letters = pipeline.store.deadletters.refs(args.source)
        ids = sorted({row["doc_id"] for row in letters if row.get("doc_id")})
        stored = pipeline.store.raw.mark_pending(ids)
        print(f"{len(ids)} dead-lettered article(s) of {args.source}; {stored} in the raw store, enriching them again")
        summary = pipeline.enrich_ids(pipeline.select(RawSelection(doc_ids=ids, pending=True)), run, force=True)
        unstored = len(letters) - stored
        kind, _, name = args.source.partition(":")
        if unstored and kind in POLLED_KINDS:
            # Entries that never reached the raw store come back only from the feed itself: poll
            # it again now, without the validators (a 304 would deliver nothing).
            print(f"{unstored} dead letter(s) of {args.source} never reached the raw store; polling {kind} {name!r} again")
            _forget_validators(pipeline, kind, name)
            polled, _ = pipeline.run(POLLED_KINDS[kind], run, force=True, only=[name])
            summary = summary.add(polled)
    print_summary(summary, as_json=False)
    return 1 if summary.failed else 0


POLLED_KINDS = {"feed": "feeds", "sitemap": "sitemaps"}  # a source's kind → its source type


def _forget_validators(pipeline: Pipeline, kind: str, name: str) -> None:
    state = pipeline.store.state.load(kind, name)
    if state:
        pipeline.store.state.save(kind, name, {**state, "etag": None, "last_modified": None, "validators": {}})
