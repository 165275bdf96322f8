"""Kibana content for newsflow: data views, saved searches (articles, changed articles), a map of
article locations and three dashboards (overview, source health, politeness).

The saved objects are built from the index names, so a deployment with its own
``NEWSFLOW_INDEX_PREFIX`` gets objects that point at its own aliases; ``kibana/newsflow.ndjson``
is the build for the default prefix (a test keeps it in sync). Visualizations are the classic
aggregation-based kind, which every Kibana 8.x and 9.x imports and migrates.

Every object states the shape it is written in, so that Kibana's import runs each migration
newer than that shape (an object without ``typeMigrationVersion`` is taken as already current and
never migrated). The objects have the 8.0.0 shape of their types: 8.0.0 is the
``convertToMultiNamespaceTypeVersion`` that index-pattern, search, visualization and dashboard
declare in every 8.x and 9.x, so no release rejects it as "a more recent version". Core's newest
own transform is 8.8.0 (``migrationVersion`` became ``typeMigrationVersion``, ``managed`` was
added), and a ``coreMigrationVersion`` above the running Kibana is refused: hence Kibana ≥ 8.8.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipelines.errors import NewsflowError
from pipelines.store.names import IndexNames

_NAMESPACE = uuid.UUID("5d1e1c1a-6f0e-4a53-9c55-6e6577736677")  # stable ids per prefix

CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSIONS = {"index-pattern": "8.0.0", "search": "8.0.0", "visualization": "8.0.0", "dashboard": "8.0.0",
                           "map": "8.0.0"}
ARTICLE_TIME_FIELD = "date"  # published_at, else fetched_at: every article has it (pipelines.sinks.base)
ARTICLE_GEO_FIELD = "locations_geo"  # the resolved places of the location facet (pipelines.extraction.geocoding)


class KibanaError(NewsflowError):
    pass


def _id(names: IndexNames, kind: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{names.prefix}:{kind}"))


def run_documents_data_view_id(names: IndexNames) -> str:
    """The data view over the articles and the raw store that Airflow's extra link opens per run."""
    return _id(names, "run-documents")


def _search_source(index_ref: str = "kibanaSavedObjectMeta.searchSourceJSON.index", query: str = "") -> str:
    return json.dumps(
        {"query": {"query": query, "language": "kuery"}, "filter": [], "indexRefName": index_ref}, separators=(",", ":")
    )


def _data_view(names: IndexNames, kind: str, title: str, time_field: str | None, label: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"title": title, "name": label}
    if time_field:
        attributes["timeFieldName"] = time_field
    return {"id": _id(names, kind), "type": "index-pattern", "attributes": attributes, "references": []}


def _visualization(names: IndexNames, kind: str, title: str, vis_type: str, aggs: list[dict], data_view: str,
                   params: dict[str, Any] | None = None, query: str = "") -> dict[str, Any]:
    vis_state = {"title": title, "type": vis_type, "params": params or {}, "aggs": aggs}
    return {
        "id": _id(names, kind),
        "type": "visualization",
        "attributes": {
            "title": title,
            "visState": json.dumps(vis_state, separators=(",", ":")),
            "uiStateJSON": "{}",
            "description": "",
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query=query)},
        },
        "references": [
            {"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": data_view}
        ],
    }


def _search(names: IndexNames, kind: str, title: str, description: str, columns: list[str], sort_field: str,
            data_view: str, query: str = "") -> dict[str, Any]:
    return {
        "id": _id(names, kind),
        "type": "search",
        "attributes": {
            "title": title,
            "description": description,
            "columns": columns,
            "sort": [[sort_field, "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query=query)},
        },
        "references": [
            {"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": data_view}
        ],
    }


def _dashboard(names: IndexNames, kind: str, title: str, description: str, panels_of: list[dict[str, Any]]) -> dict[str, Any]:
    """The first panel full width, the rest two by two below it."""
    panels, references = [], []
    for number, saved in enumerate(panels_of):
        name = f"panel_{number}"
        width = 48 if number == 0 else 24
        panels.append({
            "version": "8.0.0", "type": saved["type"], "panelIndex": str(number + 1), "panelRefName": name,
            "gridData": {"x": 0 if number == 0 else 24 * ((number - 1) % 2), "y": 0 if number == 0 else 15 * ((number + 1) // 2),
                         "w": width, "h": 15, "i": str(number + 1)},
            "embeddableConfig": {},
        })
        references.append({"name": name, "type": saved["type"], "id": saved["id"]})
    return {
        "id": _id(names, kind),
        "type": "dashboard",
        "attributes": {
            "title": title,
            "description": description,
            "panelsJSON": json.dumps(panels, separators=(",", ":")),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": False,
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []})},
        },
        "references": references,
    }


def _map(names: IndexNames, kind: str, title: str, description: str, data_view: str, geo_field: str) -> dict[str, Any]:
    """A Maps app map: the base map and the articles' points, clustered when there are many.

    Written in the 8.0.0 shape of the ``map`` type (layer types ``VECTOR_TILE`` and ``VECTOR``),
    which Kibana's later migrations rename (``EMS_VECTOR_TILE``, ``GEOJSON_VECTOR``)."""
    base = {"id": str(uuid.uuid5(_NAMESPACE, f"{names.prefix}:{kind}:base")), "type": "VECTOR_TILE",
            "sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True}, "label": None, "minZoom": 0, "maxZoom": 24,
            "alpha": 1, "visible": True, "style": {"type": "TILE"}}
    points = {
        "id": str(uuid.uuid5(_NAMESPACE, f"{names.prefix}:{kind}:points")), "type": "VECTOR", "label": "Article locations",
        "sourceDescriptor": {
            "type": "ES_SEARCH", "id": str(uuid.uuid5(_NAMESPACE, f"{names.prefix}:{kind}:source")),
            "geoField": geo_field, "scalingType": "CLUSTERS", "applyGlobalQuery": True,
            "tooltipProperties": ["title", "locations", "source_domain"], "indexPatternRefName": "layer_1_source_index_pattern",
        },
        "minZoom": 0, "maxZoom": 24, "alpha": 0.75, "visible": True, "style": {"type": "VECTOR", "properties": {}},
    }
    map_state = {"zoom": 1.4, "center": {"lon": 10, "lat": 25}, "timeFilters": {"from": "now-30d", "to": "now"},
                 "refreshConfig": {"isPaused": True, "interval": 0}, "query": {"query": "", "language": "kuery"},
                 "filters": []}
    return {
        "id": _id(names, kind),
        "type": "map",
        "attributes": {
            "title": title,
            "description": description,
            "mapStateJSON": json.dumps(map_state, separators=(",", ":")),
            "layerListJSON": json.dumps([base, points], separators=(",", ":")),
            "uiStateJSON": json.dumps({"isLayerTOCOpen": True, "openTOCDetails": []}, separators=(",", ":")),
        },
        "references": [{"name": "layer_1_source_index_pattern", "type": "index-pattern", "id": data_view}],
    }


def _with_migration_fields(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        **obj,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSIONS[obj["type"]],
        "managed": False,
    }


def _count(aggregation_id: str = "1") -> dict[str, Any]:
    return {"id": aggregation_id, "enabled": True, "type": "count", "schema": "metric", "params": {}}


def _terms(field: str, size: int = 10, schema: str = "bucket", aggregation_id: str = "2") -> dict[str, Any]:
    return {
        "id": aggregation_id, "enabled": True, "type": "terms", "schema": schema,
        "params": {"field": field, "size": size, "order": "desc", "orderBy": "1", "missingBucket": False},
    }


def _sum(field: str, aggregation_id: str) -> dict[str, Any]:
    return {"id": aggregation_id, "enabled": True, "type": "sum", "schema": "metric", "params": {"field": field}}


def _politeness_objects(names: IndexNames) -> list[dict[str, Any]]:
    """The politeness ledger: a data view, requests per day, a per-host table, robots.txt decisions, and their dashboard."""
    ledger = _data_view(names, "politeness", names.politeness, "recorded_at", "newsflow politeness ledger")
    table = {"perPage": 20, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": True}
    visualizations = [
        _visualization(
            names, "vis-politeness-requests", "newsflow · requests per host over time", "histogram",
            [_sum("requests", "1"),
             {"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
              "params": {"field": "recorded_at", "interval": "auto", "min_doc_count": 1}},
             _terms("host", 10, "group", "3")],
            ledger["id"], {"type": "histogram", "addTooltip": True, "addLegend": True},
        ),
        _visualization(
            names, "vis-politeness-hosts", "newsflow · politeness per host", "table",
            [_sum("requests", "1"), _sum("bytes", "3"), _sum("not_modified", "4"), _sum("retry_after_responses", "5"),
             _sum("robots_allowed", "6"), _sum("robots_blocked", "7"), _sum("errors", "8"),
             {"id": "9", "enabled": True, "type": "max", "schema": "metric", "params": {"field": "crawl_delay_s"}},
             _terms("host", 50)],
            ledger["id"], table,
        ),
        _visualization(names, "vis-politeness-blocked", "newsflow · pages blocked by robots.txt", "table",
                       [_sum("robots_blocked", "1"), _terms("blocked_urls", 50)], ledger["id"], table),
    ]
    dashboard = _dashboard(names, "dashboard-politeness", "newsflow · politeness",
                           "What newsflow asked of each host: requests over time, bytes, 304s, Retry-After "
                           "waits, robots.txt decisions, errors, crawl delays and the pages robots.txt blocked.",
                           visualizations)
    return [ledger, *visualizations, dashboard]


def saved_objects(names: IndexNames) -> list[dict[str, Any]]:
    """Every saved object, dependencies first (Kibana imports in file order)."""
    articles = _data_view(names, "articles", names.articles, ARTICLE_TIME_FIELD, "newsflow articles")
    dead = _data_view(names, "deadletters", names.deadletters, "failed_at", "newsflow dead letters")
    feeds = _data_view(names, "feed-state", names.source_state, None, "newsflow source health")
    runs = _data_view(names, "run-documents", f"{names.articles},{names.raw_articles}", "fetched_at",
                      "newsflow documents by run")
    table = {"perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": False}
    pie = {"type": "pie", "addTooltip": True, "addLegend": True, "legendPosition": "right", "isDonut": True}
    visualizations = [
        _visualization(
            names, "vis-over-time", "newsflow · articles over time", "histogram",
            [_count(), {"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
                        "params": {"field": ARTICLE_TIME_FIELD, "interval": "auto", "min_doc_count": 1}}],
            articles["id"], {"type": "histogram", "addTooltip": True, "addLegend": False},
        ),
        *(
            _visualization(names, f"vis-top-{facet}", f"newsflow · top {facet}", "table",
                           [_count(), _terms(facet, 15)], articles["id"], table)
            for facet in ("persons", "organizations", "locations")
        ),
        *(
            _visualization(names, f"vis-top-{facet}", f"newsflow · top {title}", "table",
                           [_count(), _terms(facet, 15)], articles["id"], table)
            for facet, title in (("authors", "authors"), ("categories", "categories"), ("source_domain", "sites"),
                                 ("mentioned_dates", "mentioned days and months"), ("countries", "countries"))
        ),
        _map(names, "map-locations", "newsflow · article locations",
             "Where the articles' places are: the location facet resolved to GeoNames places (countries at their "
             "capital, US states at their biggest city).", articles["id"], ARTICLE_GEO_FIELD),
        _visualization(names, "vis-sources", "newsflow · sources", "pie",
                       [_count(), _terms("source", 10, "segment")], articles["id"], pie),
        _visualization(names, "vis-languages", "newsflow · languages", "pie",
                       [_count(), _terms("language", 10, "segment")], articles["id"], pie),
        _visualization(
            names, "vis-feed-health", "newsflow · feed health", "table",
            [{"id": "1", "enabled": True, "type": "max", "schema": "metric", "params": {"field": "consecutive_failures"}},
             _terms("name", 50)],
            feeds["id"], table,
        ),
        _visualization(names, "vis-dead-letters", "newsflow · dead letters by stage", "table",
                       [_count(), _terms("stage", 10)], dead["id"], table),
    ]
    search = _search(names, "search-articles", "newsflow · articles",
                     "Every indexed article, newest first, with its main facets.",
                     ["title", "source_domain", "authors", "persons", "organizations", "locations"], ARTICLE_TIME_FIELD, articles["id"])
    dashboard = _dashboard(names, "dashboard", "newsflow · overview",
                           "Articles over time, top people, organisations and places, feed authors, "
                           "categories, sites, mentioned days, countries, a map of the places, sources, languages, "
                           "feed health and dead letters.",
                           visualizations)
    changed = _search(names, "search-changed-articles", "newsflow · changed articles",
                      "Articles whose content changed after it was first seen, most recently changed first "
                      "(`newsflow revisions ID` shows the diffs).",
                      ["title", "source", "revision_count", "headline_changed", "changes.entities_added",
                       "changes.entities_removed", "first_seen_at", "last_changed_at"],
                      "last_changed_at", articles["id"], query=CHANGED_ARTICLES_QUERY)
    health_objects = _health_objects(names, articles["id"], changed)
    return [_with_migration_fields(obj) for obj in (
        articles, dead, feeds, runs, health_objects[0], *visualizations, search, dashboard, changed, *health_objects[1:],
        *_politeness_objects(names),
    )]


CHANGED_ARTICLES_QUERY = "revision_count > 0"


def _health_objects(names: IndexNames, articles_view: str, changed: dict[str, Any]) -> list[dict[str, Any]]:
    """The extraction-health data view, its visualizations and a dashboard with them and the changed
    articles (the data view first)."""
    health = _data_view(names, "source-health", names.source_health, "day", "newsflow extraction health")
    line = {"type": "line", "addTooltip": True, "addLegend": True, "legendPosition": "right"}
    table = {"perPage": 20, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": False}

    def per_source_over_time(metric: str, title: str) -> dict[str, Any]:
        return _visualization(
            names, f"vis-health-{metric}", f"newsflow · {title} by source", "line",
            [{"id": "1", "enabled": True, "type": "max", "schema": "metric", "params": {"field": metric}},
             {"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
              "params": {"field": "day", "interval": "d", "min_doc_count": 1}},
             _terms("source", 10, "group", "3")],
            health["id"], line,
        )

    visualizations = [
        per_source_over_time("median_body_words", "median body words"),
        per_source_over_time("undated_share", "share without a date"),
        per_source_over_time("boilerplate_share", "boilerplate share"),
        per_source_over_time("entities_per_1000_words", "entities per 1,000 words"),
        per_source_over_time("deadletter_rate", "dead-letter rate"),
        _visualization(
            names, "vis-health-alerts", "newsflow · health alerts", "table",
            [{"id": "1", "enabled": True, "type": "sum", "schema": "metric", "params": {"field": "alert_count"}},
             _terms("source", 50, "bucket", "2"), _terms("alerts.metric", 10, "bucket", "3")],
            health["id"], table, query="alert_count > 0",
        ),
        _visualization(
            names, "vis-revisions-over-time", "newsflow · revised articles over time", "histogram",
            [_count(), {"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
                        "params": {"field": "last_changed_at", "interval": "auto", "min_doc_count": 1}}],
            articles_view, {"type": "histogram", "addTooltip": True, "addLegend": False}, query=CHANGED_ARTICLES_QUERY,
        ),
    ]
    dashboard = _dashboard(names, "dashboard-health", "newsflow · source health",
                           "Per-source extraction health by day (median body length, undated and boilerplate "
                           "shares, entity density, dead-letter rate), the alerts raised against each "
                           "source's baseline, and article revisions.", [*visualizations, changed])
    return [health, *visualizations, dashboard]



def to_ndjson(objects: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n" for obj in objects)


@dataclass(frozen=True)
class ImportResult:
    imported: int
    errors: list[dict[str, Any]]


def import_saved_objects(
    kibana_url: str,
    ndjson: str,
    *,
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    space: str | None = None,
    timeout_s: float = 60.0,
    verify: bool = True,
) -> ImportResult:
    """POST the objects to Kibana's saved-objects import API (overwriting earlier versions)."""
    import httpx

    headers = {"kbn-xsrf": "newsflow"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    auth = (username, password or "") if username and not api_key else None
    base = kibana_url.rstrip("/") + (f"/s/{space}" if space else "")
    try:
        response = httpx.post(
            f"{base}/api/saved_objects/_import",
            params={"overwrite": "true"},
            files={"file": ("newsflow.ndjson", ndjson.encode(), "application/ndjson")},
            headers=headers,
            auth=auth,
            timeout=timeout_s,
            verify=verify,
        )
    except httpx.HTTPError as error:
        raise KibanaError(f"cannot reach Kibana at {kibana_url}: {error}") from None
    if response.status_code in (401, 403):
        raise KibanaError(f"Kibana refused the credentials (HTTP {response.status_code}); set KIBANA_USERNAME/KIBANA_PASSWORD or KIBANA_API_KEY")
    if response.status_code >= 400:
        raise KibanaError(f"Kibana import failed: HTTP {response.status_code}: {response.text[:300]}")
    body = response.json()
    return ImportResult(imported=int(body.get("successCount", 0)), errors=list(body.get("errors", [])))
