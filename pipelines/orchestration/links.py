"""The "Kibana: this run's documents" extra link, and ``@task_with_kibana_link`` to put it on a task.

A DAG opts a task in by decorating it with ``@task_with_kibana_link(...)`` instead of
``@task(...)`` (same arguments, mapped tasks included). The plugin in ``plugins/`` registers
the link for that operator class, so the api-server builds the URL when the UI asks, from its
own ``KIBANA_URL`` (unset: no link is shown). Imported by DAG files and the plugin only: it
needs Airflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.decorator import task_decorator_factory

from pipelines.orchestration.kibana_links import run_documents_link

KIBANA_LINK_NAME = "Kibana: this run's documents"


class KibanaRunDocumentsLink(BaseOperatorLink):
    """Kibana Discover filtered on the task's DAG run (documents record ``dag_id`` and ``run_id``)."""

    name = KIBANA_LINK_NAME

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return run_documents_link(ti_key.dag_id, ti_key.run_id)


class KibanaLinkedPythonOperator(_PythonDecoratedOperator):
    """What ``@task`` runs, plus the Kibana link (a class of its own so the plugin can target it)."""

    operator_extra_links = (KibanaRunDocumentsLink(),)


KibanaRunDocumentsLink.operators = [KibanaLinkedPythonOperator]


def task_with_kibana_link(python_callable: Callable | None = None, **kwargs: Any):
    """``@task`` whose task instances link to the documents of their run in Kibana."""
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=KibanaLinkedPythonOperator, **kwargs
    )
