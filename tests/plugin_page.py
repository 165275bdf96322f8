"""The Airflow plugin's operations page rendered in-process from a real cluster (no api-server):
what an operator would see at ``/newsflow/``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipelines.operations import operations_status
from pipelines.settings import Settings
from pipelines.store import IndexNames

PLUGIN = Path(__file__).resolve().parent.parent / "plugins" / "newsflow_plugin.py"


def render_operations_page(client, settings: Settings) -> tuple[dict, str]:
    """The status JSON and the HTML page for these settings' indices."""
    spec = importlib.util.spec_from_file_location("newsflow_plugin_under_test", PLUGIN)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    status = operations_status(client, IndexNames(settings.index_prefix), settings.health)
    return status, plugin._page(status)
