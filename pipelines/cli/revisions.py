"""``newsflow revisions ID`` and ``newsflow health``: an article's versions with word-level diffs,
and each source's extraction health against its baseline."""

from __future__ import annotations

import argparse
import json

from pipelines.cli.output import print_err
from pipelines.pipeline import Pipeline
from pipelines.revisions import word_diff
from pipelines.settings import Settings


def cmd_revisions(args: argparse.Namespace, settings: Settings) -> int:
    pipeline = Pipeline.from_settings(settings)
    try:
        pipeline.store.prepare()
        versions = pipeline.store.versions.of([args.doc_id]).get(args.doc_id, [])
    finally:
        pipeline.close()
    if not versions:
        print_err(f"no versions stored for {args.doc_id} (is it an article id? `newsflow search` shows them)")
        return 1
    if args.json:
        print(json.dumps(versions, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.doc_id}: {len(versions)} versions ({len(versions) - 1} revisions)")
    for number, version in enumerate(versions, 1):
        print(f"  v{number}  first seen {version['first_seen_at']}  last seen {version['last_seen_at']}  "
              f"{version['content_hash'][:12]}  {version['title']}")
    for number, (before, after) in enumerate(zip(versions, versions[1:]), 2):
        print(f"\n--- v{number - 1} → v{number} (seen {after['first_seen_at']})")
        print(f"title: {word_diff(before['title'], after['title'])}")
        print(f"body: {word_diff(before['body'], after['body'])}")
        added = sorted(set(after["entities"]) - set(before["entities"]))
        removed = sorted(set(before["entities"]) - set(after["entities"]))
        if added or removed:
            print("entities: " + ", ".join([*(f"+{name}" for name in added), *(f"-{name}" for name in removed)]))
    return 0


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """Each source's latest days: the metrics and alerts; exit 1 when a source's latest day has alerts."""
    from pipelines.health import recent_health
    from pipelines.store import IndexNames
    from pipelines.store.client import connect

    client = connect(settings)
    try:
        rows = recent_health(client, IndexNames(settings.index_prefix), days=args.days)
    finally:
        client.close()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no health recorded yet: it is computed after each enrichment")
        return 0
    print(f"{'source':<28} {'day':<10} {'articles':>8} {'body words':>10} {'undated':>8} {'boilerpl.':>9} "
          f"{'ent/1k':>7} {'other lang':>10} {'dead':>6}  alerts")
    for row in rows:
        alerts = "; ".join(f"{a['metric']} {a['value']:.3g} vs {a['baseline']:.3g}" for a in row["alerts"])
        print(f"{row['source']:<28} {row['day']:<10} {row['articles']:>8} {row['median_body_words']:>10.0f} "
              f"{row['undated_share']:>8.0%} {row['boilerplate_share']:>9.0%} {row['entities_per_1000_words']:>7.1f} "
              f"{row['other_language_share']:>10.0%} {row['deadletter_rate']:>6.0%}  {alerts}")
    latest = {row["source"]: row for row in rows}  # rows are oldest first per source
    return 1 if any(row["alerts"] for row in latest.values()) else 0
