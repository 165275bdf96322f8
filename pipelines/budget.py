"""A time budget for a block of work, enforced by ``SIGALRM`` in the main thread.

Nested with any timer already running (Airflow's ``execution_timeout`` uses the same signal):
when the outer timer is due first it is left alone, and otherwise it is restored with its
remaining time afterwards. Off the main thread (signals cannot be set there) the work runs
without a budget; the task's own timeout still bounds it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.errors import OverTimeBudget


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise ``OverTimeBudget`` inside the block once it has run ``seconds``."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    outer_remaining, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if outer_remaining and outer_remaining <= seconds:
        yield  # the outer timer ends the work first
        return

    def expire(signum: int, frame: object) -> None:
        raise OverTimeBudget(f"still running after the time budget of {seconds:g}s")

    outer_handler = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_remaining:
            left = outer_remaining - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), outer_interval)
