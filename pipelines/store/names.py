"""Every index, alias and template name newsflow uses, in one place (``P`` is the index prefix)::

    P-articles-template     composable index template for P-articles-*
    P-articles-000001       the concrete article index (the next one after a migration: -000002, …)
    P-articles              read alias
    P-articles-write        write alias (is_write_index)
    P-raw-articles          the raw store: every article as its source delivered it
    P-raw-versions          every distinct version of an article (title + cleaned body), with when it was seen
    P-source-state          per-source state: feed and sitemap validators, poll schedule, health
    P-deadletters           every input that could not go further, with stage and reason
    P-source-health         per source and day: extraction health metrics, baseline and alerts
    P-runs                  one report per run, stage and source: seen = indexed + unchanged +
                            duplicate + dead-lettered (the pipeline role's P* pattern covers it)
    P-politeness            the politeness ledger: requests, bytes, 304s, waits, robots decisions per host and unit
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Small indices on small clusters: one shard, a replica wherever a second node exists.
SHARD_SETTINGS: dict[str, Any] = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
# The indices a run writes in bulk (articles, raw store, versions) refresh every 30 s rather than
# every second: each refresh makes a segment that is then merged, a quarter of the node's CPU in a
# run. What must be seen at once is refreshed explicitly: the sink at the end of every enrichment,
# the raw store and the versions before they are searched.
BULK_REFRESH_INTERVAL = "30s"
BULK_WRITTEN_SETTINGS: dict[str, Any] = {**SHARD_SETTINGS, "refresh_interval": BULK_REFRESH_INTERVAL}


@dataclass(frozen=True)
class IndexNames:
    prefix: str

    @property
    def articles(self) -> str:
        return f"{self.prefix}articles"

    @property
    def articles_write(self) -> str:
        """Write alias: moves to a new concrete index only when a migration swaps it."""
        return f"{self.prefix}articles-write"

    @property
    def articles_template(self) -> str:
        return f"{self.prefix}articles-template"

    @property
    def articles_pattern(self) -> str:
        return f"{self.articles}-*"

    @property
    def first_articles_index(self) -> str:
        return f"{self.prefix}articles-000001"

    @property
    def raw_articles(self) -> str:
        return f"{self.prefix}raw-articles"

    @property
    def raw_versions(self) -> str:
        return f"{self.prefix}raw-versions"

    @property
    def source_health(self) -> str:
        return f"{self.prefix}source-health"

    @property
    def source_state(self) -> str:
        return f"{self.prefix}source-state"

    @property
    def deadletters(self) -> str:
        return f"{self.prefix}deadletters"

    @property
    def runs(self) -> str:
        return f"{self.prefix}runs"

    @property
    def politeness(self) -> str:
        return f"{self.prefix}politeness"

    @property
    def all_patterns(self) -> list[str]:
        """What a least-privilege role for this prefix must reach."""
        return [f"{self.prefix}*"]
