"""The production topology on one machine: PostgreSQL, Redis, Airflow with Celery workers and a
three-node Elasticsearch cluster, started and stopped as process groups (``newsflow stack``)."""

from pipelines.stack.topology import ComponentHealth, Stack, StackError

__all__ = ["ComponentHealth", "Stack", "StackError"]
