"""newsflow: news articles from feeds and folders, cleaned, enriched with spaCy, indexed into Elasticsearch.

Stages, each a module with a pure core: ``sources`` → ``cleaning`` → ``extraction`` → ``indexing``;
``runner`` wires them for the CLI and the Airflow DAGs.
"""

__version__ = "0.1.0"
