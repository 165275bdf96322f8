"""The operations page rendered in-process from a real cluster (no api-server): what the
Airflow plugin serves at ``/newsflow/``."""

from __future__ import annotations

from pipelines.operations import operations_status
from pipelines.operations_page import operations_page
from pipelines.settings import Settings
from pipelines.store import IndexNames


def render_operations_page(client, settings: Settings) -> tuple[dict, str]:
    """The status JSON and the HTML page for these settings' indices."""
    status = operations_status(client, IndexNames(settings.index_prefix), settings.health)
    return status, operations_page(status)
