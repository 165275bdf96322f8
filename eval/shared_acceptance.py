"""Acceptance on the data beside the project (``../shared``): run by ``.ci/run`` after the tests.

Not part of the test suite because users' clones have no ``../shared``. It starts its own
local node in a temporary state directory, drives the real ``newsflow`` command and checks:

* seeds: ``newsflow search Shoigu`` finds the seed article; persons include Sergey Shoigu
  and Vladimir Putin; no ``[caption`` in the body; the AFP caption is in ``captions``;
  ingesting the folder again indexes 0 new documents;
* bbc-dev: every file is accounted for (indexed, or failed with a reason), and each
  indexed title equals the file's first line.

Usage: ``.venv/bin/python eval/shared_acceptance.py [--shared ../shared]``; exit 0 when all hold.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, ok: bool, what: str, detail: object = "") -> None:
        print(f"  [{'ok' if ok else 'FAIL'}] {what}" + (f" — {detail}" if detail != "" else ""), flush=True)
        if not ok:
            self.failed.append(what)


def newsflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([NEWSFLOW, *args], capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode not in (0, 1):
        raise SystemExit(f"newsflow {' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_line(path: Path) -> str:
    from pipelines.sources.folder import decode_bytes

    return decode_bytes(path.read_bytes()).splitlines()[0].strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=PROJECT_ROOT.parent / "shared")
    args = parser.parse_args()
    seeds, bbc = args.shared / "seeds", args.shared / "corpora" / "bbc-dev"
    if not seeds.is_dir() or not bbc.is_dir():
        print(f"no shared data at {args.shared}", file=sys.stderr)
        return 2

    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="newsflow-eval-") as state:
        env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSFLOW_")}
        env.update(NEWSFLOW_STATE_DIR=state, NEWSFLOW_ES_PORT=str(free_port()), NEWSFLOW_INDEX_PREFIX="eval-")
        started = newsflow("es", "start", env=env)
        print(started.stdout.strip())
        try:
            run_seed_checks(seeds, env, checks)
            run_corpus_checks(bbc, env, checks)
        finally:
            newsflow("es", "stop", env=env)

    print(f"\n{'PASS' if not checks.failed else 'FAIL'}: {len(checks.failed)} check(s) failed {checks.failed or ''}")
    return 1 if checks.failed else 0


def run_seed_checks(seeds: Path, env: dict[str, str], checks: Checks) -> None:
    print(f"\nseeds ({seeds})")
    first = json.loads(newsflow("ingest", "folder", str(seeds), "--json", env=env).stdout)
    files = sum(1 for path in seeds.rglob("*") if path.is_file())
    checks.check(first["seen"] == files and first["indexed"] == files, "every seed file indexed", first)

    found = json.loads(newsflow("search", "Shoigu", "--json", env=env).stdout)
    checks.check(found["total"] >= 1, "`newsflow search Shoigu` finds the seed article", f"{found['total']} hit(s)")
    if found["hits"]:
        from pipelines.settings import Settings
        from pipelines.store.client import connect
        from pipelines.store import IndexNames

        settings = Settings.from_env(env)
        doc = connect(settings).get(index=IndexNames(settings.index_prefix).articles, id=found["hits"][0]["id"])["_source"]
        persons = set(doc["persons"])
        checks.check({"Sergey Shoigu", "Vladimir Putin"} <= persons, "persons has Sergey Shoigu and Vladimir Putin", sorted(persons))
        checks.check("[caption" not in doc["body"], "body has no [caption")
        checks.check(any("(AFP)" in caption for caption in doc["captions"]), "captions hold the AFP caption", doc["captions"])

    again = json.loads(newsflow("ingest", "folder", str(seeds), "--json", env=env).stdout)
    checks.check(again["indexed"] == 0 and again["duplicate"] == 0, "re-ingesting seeds indexes 0 new documents", again)


def run_corpus_checks(bbc: Path, env: dict[str, str], checks: Checks) -> None:
    print(f"\nbbc-dev ({bbc})")
    files = sorted(path for path in bbc.rglob("*") if path.is_file() and not path.name.startswith("."))
    started = time.perf_counter()
    summary = json.loads(newsflow("ingest", "folder", str(bbc), "--source-name", "bbc-dev", "--json", env=env).stdout)
    seconds = time.perf_counter() - started
    print(f"  ingested {summary['seen']} in {seconds:.0f}s ({summary['seen'] / seconds:.1f} articles/s)")
    accounted = summary["indexed"] + summary["unchanged"] + summary["duplicate"] + summary["failed"]
    checks.check(summary["seen"] == len(files) == accounted, f"all {len(files)} files accounted for", summary)
    checks.check(all(f["message"] for f in summary["failures"]), "every failure has a reason", summary["failures"][:3])

    from pipelines.settings import Settings
    from pipelines.store.client import connect
    from pipelines.store import IndexNames
    from pipelines.store.schema import iter_documents

    settings = Settings.from_env(env)
    docs = {
        doc["source_ref"]: doc["title"]
        for doc in iter_documents(connect(settings), IndexNames(settings.index_prefix).articles, {"term": {"source": "folder:bbc-dev"}})
    }
    failed_refs = {failure["source_ref"] for failure in summary["failures"]}
    mismatched = [
        (ref, docs.get(ref), first_line(bbc / ref))
        for ref in (path.relative_to(bbc).as_posix() for path in files)
        if ref not in failed_refs and docs.get(ref) != first_line(bbc / ref)
    ]
    checks.check(not mismatched, f"indexed titles equal first lines ({len(docs)} documents)", mismatched[:3])


if __name__ == "__main__":
    sys.exit(main())
