"""Running the pure components (cleaning, extraction) on every core, overlapped with writing.

The pipeline's components split in two: a leading run of *parallel* ones — pure functions of
their input (``parallel = True``: clean, extract) — and the rest, which read the sink or keep
the run's memory (deduplicate) and so run in order in the pipeline's own process.

``BatchRunner`` takes batches of raw articles and returns, in order, what the parallel
components made of each. It forks its workers — one is enough — *after* the model is loaded, so
the workers share its memory and start at once, and a worker stays alive for the whole run: the
model is loaded once per process. Extraction then never waits on the calling process's own work
(reading, deduplicating, serializing bulk requests), which in one process would take turns with
it under the GIL. With zero workers, or where forking is not allowed, it runs them in the
calling thread.

Whatever the worker count, the pipeline writes batch *n* from a writer thread while batch
*n + 1* is cleaned and extracted (``Pipeline.enrich``), so bulk indexing and Elasticsearch's
own work overlap with extraction.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

BatchWork = Callable[[list[Any]], tuple[list[Any], list[Any]]]  # items -> (outputs, failures)

# The work a forked worker runs, set in the parent just before the fork (inherited, never pickled).
_worker_work: BatchWork | None = None


def _run_in_worker(items: list[Any]) -> tuple[list[Any], list[Any]]:
    assert _worker_work is not None, "worker started without work"
    return _worker_work(items)


def _started() -> bool:
    return True


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Worker initializer: the kernel kills the worker when the process that forked it exits,
    however it exits. An Airflow task process ends with ``os._exit``, which shuts no pool down:
    without this its workers would wait for work forever, orphaned."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: close() still stops the workers
        return
    if os.getppid() != parent:  # the parent was gone before the request took effect
        os._exit(0)


def _can_fork_workers() -> tuple[bool, str]:
    if "fork" not in multiprocessing.get_all_start_methods():
        return False, "this platform cannot fork"
    if multiprocessing.current_process().daemon:
        # Celery's prefork pool and other daemonic workers may not have children.
        return False, "this process is daemonic and may not start children"
    return True, ""


class BatchRunner:
    """``submit(items)`` returns a future of ``work(items)``; ``close()`` stops the workers."""

    def __init__(self, work: BatchWork, workers: int) -> None:
        self.work = work
        self.workers = 1  # batches extracted at once
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            can_fork, why_not = _can_fork_workers()
            if can_fork:
                self._start_pool(workers)
            else:
                log.warning("running on one core: %s", why_not)

    def _start_pool(self, workers: int) -> None:
        global _worker_work
        _worker_work = self.work
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_die_with_parent, initargs=(os.getpid(),))
        # Fork every worker now, while this process has no other threads of ours: a fork copies
        # only the calling thread, and a lock held by another thread would stay held in the child.
        for future in [pool.submit(_started) for _ in range(workers)]:
            future.result()
        self._pool, self.workers = pool, workers

    def submit(self, items: Sequence[Any]) -> Future[tuple[list[Any], list[Any]]]:
        if self._pool is not None:
            return self._pool.submit(_run_in_worker, list(items))
        future: Future[tuple[list[Any], list[Any]]] = Future()
        try:
            future.set_result(self.work(list(items)))
        except BaseException as error:  # noqa: BLE001 — handed to whoever waits on the future
            future.set_exception(error)
        return future

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_STOP = object()


class OrderedWriter:
    """A thread that finishes jobs in the order they were put, at most ``depth`` waiting.

    ``put`` blocks while ``depth`` jobs wait, which bounds memory however long the input is.
    After a failure the rest of the queue is drained unfinished and ``close`` raises the error.
    """

    def __init__(self, finish: Callable[[Any], Any], *, depth: int, on_done: Callable[[Any], None] | None = None) -> None:
        self._finish = finish
        self._on_done = on_done
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self.results: list[Any] = []
        self._thread = threading.Thread(target=self._loop, name="newsflow-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (job := self._queue.get()) is not _STOP:
            if self._error is not None:
                continue
            try:
                result = self._finish(job)
            except BaseException as error:  # noqa: BLE001 — re-raised in the caller's thread by close()
                self._error = error
                continue
            self.results.append(result)
            if self._on_done:
                self._on_done(result)

    def put(self, job: Any) -> None:
        self.raise_if_failed()
        self._queue.put(job)

    def raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> list[Any]:
        """Finish what was put, stop the thread, and return the results (or raise the first failure)."""
        self._queue.put(_STOP)
        self._thread.join()
        self.raise_if_failed()
        return self.results
