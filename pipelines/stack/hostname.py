"""Airflow's ``[core] hostname_callable`` for the stack's Celery workers.

Several workers on one machine share its hostname; each records its own name in the task
instances it runs (``worker1@host``, as Celery's ``--celery-hostname`` names it), so the UI and
the REST API show which worker ran what.
"""

from __future__ import annotations

import socket

from pipelines.settings import Settings


def task_hostname() -> str:
    name = Settings.from_env().worker_name
    host = socket.getfqdn()
    return f"{name}@{host}" if name else host
