"""Stopping a component ends every process of its session, as Airflow's task processes need:
they move to process groups of their own and outlive a worker that dies."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipelines.stack.processes import group_alive, launch, session_processes, stop_sessions

# The component forks a "task process" that leaves its process group, then the component's
# direct child exits: the task is orphaned (re-parented to init) in a group of its own.
ORPHANING_COMPONENT = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a task that ignores a polite stop
if os.fork() == 0:
    if os.fork() == 0:
        os.setpgid(0, 0)
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(600)
    os._exit(0)
time.sleep(600)
"""


def _parent_and_group(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[2])


def test_stop_sessions_kills_task_processes_in_groups_of_their_own_orphaned_or_not(tmp_path):
    pid_of_task = tmp_path / "task.pid"
    leader = launch([sys.executable, "-c", ORPHANING_COMPONENT, str(pid_of_task)], {}, tmp_path / "component.log",
                    tmp_path / "component.pid")
    deadline = time.monotonic() + 30
    while not pid_of_task.exists() or not pid_of_task.read_text():
        assert time.monotonic() < deadline, (tmp_path / "component.log").read_text()
        time.sleep(0.05)
    task = int(pid_of_task.read_text())
    assert task in session_processes(leader)
    parent, group = _parent_and_group(task)
    assert group == task != leader  # a process group of its own, as Airflow's task processes
    assert parent != leader  # orphaned: its parent exited

    stop_sessions([leader], grace_s=1)

    assert session_processes(leader) == []
    assert not group_alive(task)
