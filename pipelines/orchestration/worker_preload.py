"""Warm start for task processes: imported once by the scheduler's forkserver.

``airflow.cfg`` runs the LocalExecutor's workers from a forkserver (``[scheduler] mp_start_method``)
that imports this module first (``mp_forkserver_preload``). Each worker is forked from that
server and forks each task process in turn, so every task starts with Airflow's task runner, the
pipeline's modules and the spaCy model already in memory (shared copy-on-write) instead of paying
seconds of imports and model loading per task — most of the inbox's drop-to-searchable time.

Nothing here connects to Elasticsearch: sockets must not be shared across forks. A failure is
logged and swallowed: the forkserver must start anyway, and tasks then load what they need.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def preload() -> None:
    """Import what tasks use, load Airflow's plugins as each task's start does, and run the sample
    articles through every component that runs in a worker (clean, extract, sign) once, which
    loads the model and the lazily built tables (language identification, date parsing, MinHash
    permutations: signing's first call alone costs three seconds of imports)."""
    import airflow.sdk.execution_time.task_runner  # noqa: F401 — the task process's own entry point
    import elasticsearch  # noqa: F401 — imported by the first connection otherwise: a second every task
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager()  # cached: loads Airflow's plugins (ours imports FastAPI), 1–2 s every task paid
    import pipelines.orchestration.airflow  # noqa: F401 — what every DAG file imports
    import pipelines.orchestration.tasks  # noqa: F401
    import pipelines.sinks.elasticsearch  # noqa: F401
    import pipelines.store.client  # noqa: F401
    from pipelines.models import RawArticle
    from pipelines.pipeline import Pipeline
    from pipelines.settings import SAMPLE_ARTICLES, Settings
    from pipelines.sources.folder import read_folder

    pipeline = Pipeline.shared(Settings.from_env())
    # What the pipeline loads before its own workers fork (Pipeline.load): the model, every country's
    # towns and districts (under 2 s, a few MB, once, not per task), the language and date tables.
    pipeline.load()
    samples = [item for item in read_folder(SAMPLE_ARTICLES / "tech") if isinstance(item, RawArticle)]
    pipeline.apply(samples, until="sign")


try:
    preload()
except Exception:  # noqa: BLE001 — see the module docstring
    log.exception("newsflow worker preload failed; task processes will load the pipeline themselves")
