"""How commands report: errors on stderr, summaries as text or JSON, run ids."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from pipelines.pipeline import IngestSummary, describe_failure


def print_err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_id(kind: str = "cli") -> str:
    return f"{kind}__{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"


def print_summary(summary: IngestSummary, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
        return
    print("  ".join(f"{name}: {value}" for name, value in summary.counts().items()))
    for failure in summary.failures:
        print(f"  {describe_failure(failure)}")
    if summary.reports:
        print("run report (also in the runs index):")
        for report in summary.reports:
            print(f"  {report.describe()}")
