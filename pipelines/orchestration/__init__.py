"""Airflow glue: what DAG tasks call (``tasks``, no Airflow import), what DAG files share
(``airflow``: default args, pool, Asset, failure callback), the inbox watcher's trigger, the
Kibana extra link, and the environment every Airflow process of this project runs with.
"""
