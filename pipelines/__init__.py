"""newsflow: news articles from folders, feeds and sitemaps, kept raw, cleaned, enriched with spaCy,
indexed into Elasticsearch (or written to JSON Lines).

Data flows one way: ``sources`` acquire into the raw store (``store``); ``pipeline.Pipeline`` runs
the registered components (``cleaning``, ``extraction``, ``deduplication``, your own) over raw
articles in batches and writes to a sink (``sinks``). ``orchestration`` is the Airflow glue,
``cli`` the command line; both build one ``Pipeline`` from ``settings.Settings``.
"""

__version__ = "0.1.0"
