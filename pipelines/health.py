"""Per-source extraction health: is each source still delivering articles the way it used to?

A site redesign breaks extraction silently: bodies shrink to a cookie banner, dates vanish,
boilerplate floods in. Dead letters only catch hard failures, so for every source and day this
module computes, from the indexed articles themselves (and the dead letters):

* ``articles`` and ``median_body_words``
* ``undated_share`` — articles without a publication date
* ``boilerplate_share`` — boilerplate lines the cleaner removed, of all lines
* ``entities_per_1000_words`` — entity mentions per 1,000 words
* ``other_language_share`` — articles not in the source's main language (the language mix)
* ``deadletter_rate`` — dead letters of that day, of articles + dead letters

Each day's document (id = source + day, so recomputing is idempotent) carries the source's
baseline — the median of each metric over up to ``HealthSettings.baseline_days`` earlier days —
and an alert for every metric that moved beyond its threshold (``HealthSettings.thresholds``).
An alert is *new* only on the first day a metric is out of line: the next days of the same
change, or a second run on the same day, do not notify again.

Days are the articles' ``fetched_at`` days (UTC), dead letters' their ``failed_at`` day.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipelines.models import stable_id
from pipelines.store.names import IndexNames
from pipelines.store.schema import HEALTH_METRICS

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from pipelines.settings import HealthSettings

RELATIVE_METRICS = ("median_body_words", "entities_per_1000_words")  # judged as a fraction of the baseline
MAX_SOURCES = 1000


@dataclass(frozen=True)
class HealthAlert:
    source: str
    day: date
    metric: str
    value: float
    baseline: float
    change: float  # a fraction of the baseline (relative metrics) or of all articles (shares)
    threshold: float
    examples: tuple[str, ...]  # article ids (or dead-lettered references) that show it

    @property
    def message(self) -> str:
        unit = "of its baseline" if self.metric in RELATIVE_METRICS else "points"
        change = f"{self.change:+.0%} {unit}" if self.metric in RELATIVE_METRICS else f"{self.change * 100:+.0f} {unit}"
        return (f"source {self.source} on {self.day}: {self.metric} is {self.value:.3g}, baseline {self.baseline:.3g} "
                f"({change}, threshold {self.threshold:g}); e.g. {', '.join(self.examples) or 'no example'}")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "day": self.day.isoformat(), "metric": self.metric, "value": self.value,
                "baseline": self.baseline, "change": self.change, "threshold": self.threshold,
                "examples": list(self.examples), "message": self.message}


def _day_range(day: date) -> dict[str, str]:
    return {"gte": day.isoformat(), "lt": (day + timedelta(days=1)).isoformat()}


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def other_language_share(languages: Sequence[dict[str, Any]], main: str | None) -> float:
    total = sum(row["articles"] for row in languages)
    return 1.0 - _share(sum(row["articles"] for row in languages if row["language"] == main), total) if total else 0.0


class SourceHealth:
    def __init__(self, client: Elasticsearch, names: IndexNames, settings: HealthSettings) -> None:
        self.client = client
        self.names = names
        self.settings = settings

    # ------------------------------------------------------------------------------ compute

    def check_run(self, run_id: str) -> list[HealthAlert]:
        """Recompute every (source, day) this run wrote articles or dead letters for; the new alerts."""
        self.client.indices.refresh(index=[self.names.articles, self.names.deadletters])
        touched: dict[date, set[str]] = {}
        for index, time_field in ((self.names.articles, "fetched_at"), (self.names.deadletters, "failed_at")):
            response = self.client.search(
                index=index, size=0, query={"term": {"run_id": run_id}},
                aggs={"sources": {"terms": {"field": "source", "size": MAX_SOURCES}, "aggs": {
                    "days": {"date_histogram": {"field": time_field, "calendar_interval": "day", "min_doc_count": 1}}}}},
            )
            for source in response["aggregations"]["sources"]["buckets"]:
                for bucket in source["days"]["buckets"]:
                    day = datetime.fromtimestamp(bucket["key"] / 1000, UTC).date()
                    touched.setdefault(day, set()).add(source["key"])
        alerts = []
        for day in sorted(touched):  # oldest first: a later day's baseline sees the earlier days
            alerts += self.update(day, sorted(touched[day]))
        return alerts

    def update(self, day: date, sources: Iterable[str]) -> list[HealthAlert]:
        """Compute, judge against the baseline and store these sources' health for ``day``; the new alerts."""
        new_alerts: list[HealthAlert] = []
        for source in sources:
            document = self._measure(source, day)
            earlier = self.history(source, until=day, days=self.settings.baseline_days)
            judged = [doc for doc in earlier if doc["articles"] >= self.settings.min_articles]
            alerts: list[HealthAlert] = []
            if len(judged) >= self.settings.min_baseline_days:
                main = Counter(doc["main_language"] for doc in judged).most_common(1)[0][0]
                for doc in (*judged, document):
                    doc["other_language_share"] = other_language_share(doc["languages"], main)
                document["baseline"] = {metric: statistics.median(doc[metric] for doc in judged) for metric in HEALTH_METRICS}
                if document["articles"] >= self.settings.min_articles:
                    alerts = self._judge(document, main)
            document["baseline_days"] = len(judged)
            document["alerts"] = [{k: v for k, v in a.to_dict().items() if k not in ("source", "day")} for a in alerts]
            document["alert_count"] = len(alerts)
            # Already alerting on the day before (or earlier today): the same change, not a new alert.
            ongoing = {a["metric"] for doc in (*earlier[-1:], self._stored(source, day)) if doc for a in doc["alerts"]}
            new_alerts += [alert for alert in alerts if alert.metric not in ongoing]
            self.client.index(index=self.names.source_health, id=stable_id(source, day.isoformat()), document=document,
                              refresh=True)
        return new_alerts

    def _measure(self, source: str, day: date) -> dict[str, Any]:
        response = self.client.search(
            index=self.names.articles, size=0,
            query={"bool": {"filter": [{"term": {"source": source}}, {"range": {"fetched_at": _day_range(day)}}]}},
            aggs={
                "body": {"percentiles": {"field": "word_count", "percents": [50]}},
                "undated": {"filter": {"bool": {"must_not": {"exists": {"field": "published_at"}}}}},
                "removed": {"sum": {"field": "cleaning.boilerplate_removed"}},
                "kept": {"sum": {"field": "cleaning.lines_kept"}},
                "mentions": {"sum": {"field": "entity_mentions"}},
                "words": {"sum": {"field": "word_count"}},
                "languages": {"terms": {"field": "language", "size": 50}},
            },
        )
        articles = response["hits"]["total"]["value"]
        aggs = response["aggregations"]
        dead = self.client.count(index=self.names.deadletters, query={"bool": {"filter": [
            {"term": {"source": source}}, {"range": {"failed_at": _day_range(day)}}]}})["count"]
        removed, kept = aggs["removed"]["value"], aggs["kept"]["value"]
        languages = [{"language": b["key"], "articles": b["doc_count"]} for b in aggs["languages"]["buckets"]]
        main = languages[0]["language"] if languages else None
        return {
            "source": source,
            "day": day.isoformat(),
            "articles": articles,
            "deadletters": dead,
            "median_body_words": (aggs["body"]["values"].get("50.0") or 0.0) if articles else 0.0,
            "undated_share": _share(aggs["undated"]["doc_count"], articles),
            "boilerplate_share": _share(removed, removed + kept),
            "entities_per_1000_words": 1000 * _share(aggs["mentions"]["value"], aggs["words"]["value"]),
            "other_language_share": other_language_share(languages, main),
            "deadletter_rate": _share(dead, articles + dead),
            "main_language": main,
            "languages": languages,
            "baseline": {},
            "computed_at": datetime.now(UTC).isoformat(),
        }

    def _judge(self, document: dict[str, Any], main_language: str) -> list[HealthAlert]:
        alerts = []
        for metric, threshold in self.settings.thresholds:
            value, baseline = document[metric], document["baseline"][metric]
            if metric in RELATIVE_METRICS:
                if baseline <= 0:
                    continue
                change = (value - baseline) / baseline
            else:
                change = value - baseline
            if abs(change) > threshold:
                day = date.fromisoformat(document["day"])
                examples = self._examples(document["source"], day, metric, change, main_language)
                alerts.append(HealthAlert(document["source"], day, metric, value, baseline, change, threshold, examples))
        return alerts

    def _examples(self, source: str, day: date, metric: str, change: float, main_language: str) -> tuple[str, ...]:
        """Articles that show the move: the shortest bodies when bodies shrank, the undated ones, …"""
        size = self.settings.examples
        where = [{"term": {"source": source}}]
        if metric == "deadletter_rate":
            response = self.client.search(
                index=self.names.deadletters, size=size, sort=[{"failed_at": "desc"}],
                query={"bool": {"filter": [*where, {"range": {"failed_at": _day_range(day)}}]}})
            return tuple(hit["_source"].get("doc_id") or hit["_source"]["source_ref"] for hit in response["hits"]["hits"])
        where.append({"range": {"fetched_at": _day_range(day)}})
        order = "asc" if change < 0 else "desc"
        sort: list[dict[str, Any]] = []
        unless: list[dict[str, Any]] = []
        if metric == "median_body_words":
            sort = [{"word_count": order}]
        elif metric == "entities_per_1000_words":
            sort = [{"entity_mentions": order}]
        elif metric == "boilerplate_share":
            sort = [{"cleaning.boilerplate_removed": order}]
        elif metric == "undated_share":
            (where if change < 0 else unless).append({"exists": {"field": "published_at"}})
        elif metric == "other_language_share":
            (where if change < 0 else unless).append({"term": {"language": main_language}})
        response = self.client.search(index=self.names.articles, size=size, source=False,
                                      query={"bool": {"filter": where, "must_not": unless}},
                                      sort=[*sort, {"doc_id": "asc"}])
        return tuple(hit["_id"] for hit in response["hits"]["hits"])

    # ------------------------------------------------------------------------------ read

    def _stored(self, source: str, day: date) -> dict[str, Any] | None:
        response = self.client.options(ignore_status=404).get(index=self.names.source_health,
                                                                id=stable_id(source, day.isoformat()))
        return response.body["_source"] if response.body.get("found") else None

    def history(self, source: str, *, until: date, days: int) -> list[dict[str, Any]]:
        """The source's stored days in [until - days, until), oldest first."""
        response = self.client.search(
            index=self.names.source_health, size=days, sort=[{"day": "asc"}],
            query={"bool": {"filter": [{"term": {"source": source}}, {"range": {"day": {
                "gte": (until - timedelta(days=days)).isoformat(), "lt": until.isoformat()}}}]}},
        )
        return [hit["_source"] for hit in response["hits"]["hits"]]


def recent_health(client: Elasticsearch, names: IndexNames, *, days: int = 14) -> list[dict[str, Any]]:
    """Each source's latest ``days`` stored days (by the newest day each source has), oldest first."""
    response = client.search(
        index=names.source_health, size=0, ignore_unavailable=True, allow_no_indices=True,
        aggs={"sources": {"terms": {"field": "source", "size": MAX_SOURCES},
                          "aggs": {"days": {"top_hits": {"size": days, "sort": [{"day": "desc"}]}}}}},
    )
    rows = []
    for source in (response.get("aggregations") or {}).get("sources", {}).get("buckets", []):
        rows += reversed([hit["_source"] for hit in source["days"]["hits"]["hits"]])
    return rows
