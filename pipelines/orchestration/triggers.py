"""An event trigger for Airflow asset watchers: article files appearing or changing in a folder.

Runs in the triggerer. It reports a file only once its size and modification time have held
still for one poll (so a half-copied file is never ingested), and remembers what it reported in
a small state file, so a triggerer restart neither loses a drop nor reports one twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

Signature = tuple[int, int]  # (size, mtime_ns)


def snapshot(folder: Path) -> dict[str, Signature]:
    """Every article file under ``folder`` (as ingestion sees them) with its size and mtime."""
    from pipelines.sources.folder import iter_article_files

    if not folder.is_dir():
        return {}
    found = {}
    for path in iter_article_files(folder):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed between listing and stat
            continue
        found[path.relative_to(folder).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def default_state_file(folder: str) -> str:
    state_dir = Path(os.environ.get("NEWSFLOW_STATE_DIR") or Path.home() / ".local" / "state" / "newsflow")
    digest = hashlib.sha256(os.path.realpath(folder).encode()).hexdigest()[:16]
    return str(state_dir / "watch" / f"{digest}.json")


def changed_files(
    current: dict[str, Signature], reported: dict[str, Signature], pending: dict[str, Signature]
) -> tuple[list[str], dict[str, Signature]]:
    """Files to report now (changed since reported, and unchanged since the last poll), and the new pending set."""
    changed = {name: sig for name, sig in current.items() if reported.get(name) != sig}
    settled = sorted(name for name, sig in changed.items() if pending.get(name) == sig)
    return settled, changed


class ArticleFilesTrigger(BaseEventTrigger):
    """Fires with ``{"folder", "files"}`` when article files under ``folder`` are new or changed.

    Files already there the first time a folder is watched are the baseline, not events: ingest
    them with a normal folder run.
    """

    def __init__(self, folder: str, poll_interval: float = 1.0, state_file: str | None = None) -> None:
        super().__init__()
        self.folder = folder
        self.poll_interval = poll_interval
        self.state_file = state_file or default_state_file(folder)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "pipelines.triggers.ArticleFilesTrigger",
            {"folder": self.folder, "poll_interval": self.poll_interval, "state_file": self.state_file},
        )

    def _load(self) -> dict[str, Signature] | None:
        try:
            return {name: tuple(sig) for name, sig in json.loads(Path(self.state_file).read_text()).items()}
        except (OSError, ValueError):
            return None

    def _save(self, reported: dict[str, Signature]) -> None:
        path = Path(self.state_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(reported))
        partial.replace(path)  # atomic: a crash never leaves half a state file

    async def run(self) -> AsyncIterator[TriggerEvent]:
        folder = Path(self.folder)
        reported = self._load()
        if reported is None:
            reported = await asyncio.to_thread(snapshot, folder)
            self._save(reported)
        pending: dict[str, Signature] = {}
        while True:
            current = await asyncio.to_thread(snapshot, folder)
            settled, pending = changed_files(current, reported, pending)
            if settled:
                reported.update({name: current[name] for name in settled})
                # Forget files that were removed, so a file dropped again under the same name counts.
                reported = {name: sig for name, sig in reported.items() if name in current}
                self._save(reported)
                self.log.info("new or changed article files in %s: %s", self.folder, settled[:20])
                yield TriggerEvent({"folder": self.folder, "files": settled})
            await asyncio.sleep(self.poll_interval)
