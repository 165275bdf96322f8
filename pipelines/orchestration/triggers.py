"""An event trigger for Airflow asset watchers: article files appearing or changing in a folder.

Runs in the triggerer. It reports a file only once its size and modification time have held
still for one poll (so a half-copied file is never ingested), and remembers what it reported
through the source-state API (``FileStateStore`` under ``Settings.watch_state_dir``: the
triggerer needs no cluster), so a triggerer restart neither loses a drop nor reports one twice.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from pipelines.store.state import FileStateStore

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

    STATE_KIND = "inbox"

    def __init__(self, folder: str, poll_interval: float = 1.0, state_dir: str | None = None) -> None:
        super().__init__()
        self.folder = folder
        self.poll_interval = poll_interval
        if state_dir is None:
            from pipelines.settings import Settings

            state_dir = str(Settings.from_env().watch_state_dir)
        self.state_dir = state_dir
        self._state = FileStateStore(Path(state_dir))

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "pipelines.orchestration.triggers.ArticleFilesTrigger",
            {"folder": self.folder, "poll_interval": self.poll_interval, "state_dir": self.state_dir},
        )

    def _load(self) -> dict[str, Signature] | None:
        state = self._state.load(self.STATE_KIND, os.path.realpath(self.folder))
        return None if state is None else {name: tuple(sig) for name, sig in state["reported"].items()}

    def _save(self, reported: dict[str, Signature]) -> None:
        self._state.save(self.STATE_KIND, os.path.realpath(self.folder), {"reported": reported})

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
