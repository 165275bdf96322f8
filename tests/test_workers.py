"""The worker processes of the parallel components end with the process that started them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

# A process that starts two workers and ends the way an Airflow task process does: os._exit,
# which runs no interpreter shutdown and so never closes the pool.
STARTS_WORKERS_THEN_EXITS = """
import json, os
from pipelines.workers import BatchRunner

runner = BatchRunner(lambda items: (items, []), 2)
assert runner.submit([1, 2]).result() == ([1, 2], [])
print(json.dumps(sorted(runner._pool._processes)), flush=True)
os._exit(0)
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_die_with_a_parent_that_exits_without_closing_them():
    finished = subprocess.run([sys.executable, "-c", STARTS_WORKERS_THEN_EXITS], capture_output=True, text=True,
                              timeout=120, check=True)
    workers = json.loads(finished.stdout)
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while (alive := [pid for pid in workers if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive == []
