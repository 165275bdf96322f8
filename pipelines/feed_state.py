"""Per-feed state in Elasticsearch: validators, health and the next allowed poll.

One document per feed (id: the feed's name) in ``<prefix>feed-state``. Kept in Elasticsearch
rather than on a worker's disk so it survives restarts, is shared by every Airflow worker, and
charts in Kibana as feed health (``consecutive_failures``, ``last_error``, ``bozo_reason``).

Validators (``etag``, ``last_modified``) are only saved once a fetch's entries are indexed:
saving them earlier would make the next poll a 304 and lose entries whose ingestion failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipelines.indexing import IndexNames, create_index_once

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

STATE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "name": {"type": "keyword"},
        "url": {"type": "keyword"},
        "final_url": {"type": "keyword"},
        "etag": {"type": "keyword", "index": False},
        "last_modified": {"type": "keyword", "index": False},
        "last_attempt": {"type": "date"},
        "last_success": {"type": "date"},
        "last_outcome": {"type": "keyword"},
        "last_status": {"type": "integer"},
        "last_error": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "consecutive_failures": {"type": "integer"},
        "entries_seen": {"type": "long"},
        "last_entries": {"type": "integer"},
        "next_poll": {"type": "date"},
        "next_poll_reason": {"type": "keyword"},
        "requested_interval_s": {"type": "float"},
        "bozo": {"type": "boolean"},
        "bozo_reason": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "updated_at": {"type": "date"},
    },
}

_DATES = ("last_attempt", "last_success", "next_poll", "updated_at")


def state_index(names: IndexNames) -> str:
    return f"{names.prefix}feed-state"


@dataclass
class FeedState:
    """What the pipeline remembers about one feed between polls."""

    name: str
    url: str | None = None
    final_url: str | None = None  # after redirects, last time
    etag: str | None = None
    last_modified: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_outcome: str | None = None  # fetched | not_modified | rate_limited | refused | failed
    last_status: int | None = None  # HTTP status, when there was a response
    last_error: str | None = None
    consecutive_failures: int = 0
    entries_seen: int = 0  # entries parsed over the feed's life
    last_entries: int = 0  # entries in the last fetched document
    next_poll: datetime | None = None  # no request before this time
    next_poll_reason: str | None = None  # ttl | retry-after | backoff | min-interval
    requested_interval_s: float | None = None  # what the feed's ttl / sy:updatePeriod asked for
    bozo: bool = False
    bozo_reason: str | None = None
    updated_at: datetime | None = None

    def to_document(self) -> dict[str, Any]:
        document = asdict(self)
        for key in _DATES:
            if document[key] is not None:
                document[key] = document[key].isoformat()
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> FeedState:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in document.items() if key in known}
        for key in _DATES:
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)


def ensure_state_index(client: Elasticsearch, names: IndexNames) -> str:
    index = state_index(names)
    create_index_once(client, index, settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"}, mappings=STATE_MAPPINGS)
    return index


def load_state(client: Elasticsearch, names: IndexNames, feed_name: str) -> FeedState:
    """The feed's saved state, or a fresh one for a feed never polled."""
    from elasticsearch import NotFoundError

    try:
        response = client.get(index=state_index(names), id=feed_name)
    except NotFoundError:
        return FeedState(name=feed_name)
    return FeedState.from_document(response["_source"])


def save_state(client: Elasticsearch, names: IndexNames, state: FeedState) -> None:
    client.index(index=state_index(names), id=state.name, document=state.to_document(), refresh="wait_for")


def load_states(client: Elasticsearch, names: IndexNames) -> list[FeedState]:
    """Every feed's state, by name (for the CLI and health checks)."""
    from pipelines.indexing import iter_documents

    if not client.indices.exists(index=state_index(names)):
        return []
    states = [FeedState.from_document(doc) for doc in iter_documents(client, state_index(names))]
    return sorted(states, key=lambda state: state.name)
