"""Airflow glue: what DAG tasks call (``tasks``, no Airflow import), what DAG files share
(``airflow``: default args, pool, Asset, failure callback), the inbox watcher's trigger, the
Kibana extra link, and the environment every Airflow process of this project runs with.
"""

# Per mapped enrich task: each starts its own workers and fills and drains their pipeline (seconds),
# so a batch is minutes of work; 100,000 articles are still 100 bounded tasks. Here, not in
# ``tasks``, because DAG files use it as a Param default and must import little when parsed.
ARTICLES_PER_BATCH = 1000
