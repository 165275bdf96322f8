"""Process groups the stack starts: each component in a session of its own, its pid in a file.

A component's pid is also its process-group and session id. Airflow task processes start
process groups of their own, and outlive their parent when a worker dies, but stay in the
component's session: stopping a component ends every process of its session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path


def launch(command: Sequence[str], env: Mapping[str, str], log: Path, pid_file: Path, cwd: Path | None = None) -> int:
    """Start ``command`` as the leader of a new session; its output appends to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(command), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n")
    return process.pid


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _live_processes() -> Iterator[tuple[int, int, int]]:
    """(pid, process group, session) of every live (non-zombie) process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            yield int(entry.name), int(fields[2]), int(fields[3])


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in the group."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)  # reap our own exited child
    return any(group == pgid for _, group, _ in _live_processes())


def session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid``, whatever their process group and parent."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(sid, os.WNOHANG)  # reap our own exited child
    return [pid for pid, _, session in _live_processes() if session == sid]


def stop_sessions(sids: Iterable[int], grace_s: float = 30.0, first_signal: int = signal.SIGTERM) -> None:
    """``first_signal`` to each session leader's process group (a graceful shutdown), then SIGKILL
    to every process left in the sessions after ``grace_s``, and wait until none is."""
    sids = list(sids)
    for sid in sids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, first_signal)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(group_alive(sid) for sid in sids):
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while (left := [pid for sid in sids for pid in session_processes(sid)]) and time.monotonic() < deadline:
        kill_processes(left)
        time.sleep(0.2)


def kill_processes(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
