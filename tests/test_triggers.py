"""The inbox watcher's trigger on a real folder: baseline, settled drops, restarts, changes."""

from __future__ import annotations

import asyncio
import os

from pipelines.orchestration.triggers import ArticleFilesTrigger, changed_files
from pipelines.store.state import FileStateStore


def test_a_file_is_reported_only_once_it_held_still_for_a_poll():
    reported = {"old.txt": (10, 1)}
    settled, pending = changed_files({"old.txt": (10, 1), "new.txt": (5, 2)}, reported, {})
    assert settled == [] and pending == {"new.txt": (5, 2)}
    settled, pending = changed_files({"old.txt": (10, 1), "new.txt": (9, 3)}, reported, pending)  # still growing
    assert settled == []
    settled, _ = changed_files({"old.txt": (10, 1), "new.txt": (9, 3)}, reported, pending)
    assert settled == ["new.txt"]


async def _next_event(trigger: ArticleFilesTrigger, timeout: float = 10.0):
    events = trigger.run()
    try:
        return (await asyncio.wait_for(events.__anext__(), timeout)).payload
    finally:
        await events.aclose()


def _drop(path, text: str) -> None:
    path.write_text(text)
    os.utime(path)  # a fresh mtime even on coarse-grained filesystems


def test_trigger_reports_drops_survives_restarts_and_sees_later_drops(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "already-there.txt").write_text("Old news\n\nIngested by a normal folder run.\n")
    state = tmp_path / "watch"

    async def scenario():
        trigger = ArticleFilesTrigger(folder=str(inbox), poll_interval=0.05, state_dir=str(state))
        waiting = asyncio.create_task(_next_event(trigger))
        # Until the trigger has saved its baseline (a fixed sleep is too short on a loaded machine).
        while FileStateStore(state).load(ArticleFilesTrigger.STATE_KIND, os.path.realpath(inbox)) is None:
            await asyncio.sleep(0.05)
        _drop(inbox / "dropped.txt", "Fresh news\n\nA ferry sank near Lamu.\n")
        (inbox / "notes.csv").write_text("not an article")
        first = await waiting

        # A restarted trigger (new instance, same state) does not report the same drop again…
        restarted = ArticleFilesTrigger(folder=str(inbox), poll_interval=0.05, state_dir=str(state))
        waiting = asyncio.create_task(_next_event(restarted))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        # …but does report the next drop, here into a subfolder.
        (inbox / "sub").mkdir()
        _drop(inbox / "sub" / "later.md", "# Later\n\nMore news.\n")
        second = await waiting
        return first, second

    first, second = asyncio.run(scenario())
    assert first == {"folder": str(inbox), "files": ["dropped.txt"]}
    assert second == {"folder": str(inbox), "files": ["sub/later.md"]}


def test_trigger_serializes_for_the_triggerer(tmp_path):
    classpath, kwargs = ArticleFilesTrigger(folder=str(tmp_path), poll_interval=2.0).serialize()
    assert classpath == "pipelines.orchestration.triggers.ArticleFilesTrigger"
    rebuilt = ArticleFilesTrigger(**kwargs)
    assert rebuilt.folder == str(tmp_path) and rebuilt.poll_interval == 2.0 and rebuilt.state_dir == kwargs["state_dir"]
