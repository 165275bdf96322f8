"""Per-source state behind one API: ``load(kind, name)``, ``save(kind, name, state)``,
``load_many`` / ``save_many`` (one request for a batch of feeds), ``load_all(kind)``.

Sources keep here whatever lets the next acquisition be incremental and polite: a feed's or a
sitemap's validators (ETag, Last-Modified), its poll schedule and health; the inbox watcher's
list of reported files. Elasticsearch keeps it for Airflow workers (shared, survives restarts,
charts in Kibana as source health); a directory of JSON files keeps it for the triggerer's
watcher and for runs without a cluster.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.errors import IndexingError
from pipelines.models import stable_id
from pipelines.store.names import IndexNames
from pipelines.store.schema import STATE_MAPPINGS

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

# Fields the state index maps by type (health charts); everything else a source keeps goes in ``data``.
TYPED_FIELDS = frozenset(STATE_MAPPINGS["properties"]) - {"kind", "name", "data"}


def state_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


class ElasticsearchStateStore:
    def __init__(self, client: Elasticsearch, names: IndexNames) -> None:
        self.client = client
        self.index = names.source_state

    @staticmethod
    def _document(kind: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
        typed = {key: value for key, value in state.items() if key in TYPED_FIELDS}
        extra = {key: value for key, value in state.items() if key not in TYPED_FIELDS and key not in ("kind", "name")}
        return {"kind": kind, "name": name, **typed, "data": extra}

    @staticmethod
    def _state(document: dict[str, Any]) -> dict[str, Any]:
        extra = document.get("data") or {}
        return {key: value for key, value in document.items() if key != "data"} | extra

    def load(self, kind: str, name: str) -> dict[str, Any] | None:
        from elasticsearch import NotFoundError

        try:
            response = self.client.get(index=self.index, id=state_key(kind, name))
        except NotFoundError:
            return None
        return self._state(response["_source"])

    def load_many(self, kind: str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not names:
            return {}
        response = self.client.mget(index=self.index, ids=[state_key(kind, name) for name in names])
        return {doc["_source"]["name"]: self._state(doc["_source"]) for doc in response["docs"] if doc.get("found")}

    def save(self, kind: str, name: str, state: dict[str, Any]) -> None:
        self.save_many(kind, {name: state})

    def save_many(self, kind: str, states: dict[str, dict[str, Any]]) -> None:
        from pipelines.store.client import bulk_with_backoff

        # One bulk request with 429s waited out, as every other write (an overloaded node must not
        # fail a unit over its state); no refresh: state is read back by id (real-time get), never
        # searched within a run. A state refused for its own sake raises.
        actions = ({"_index": self.index, "_id": state_key(kind, name), "_source": self._document(kind, name, state)}
                   for name, state in states.items())
        if refused := bulk_with_backoff(self.client, actions):
            raise IndexingError(f"could not save {len(refused)} {kind} state(s): {refused[:3]}")

    def load_all(self, kind: str) -> list[dict[str, Any]]:
        from elasticsearch import helpers

        if not self.client.indices.exists(index=self.index):
            return []
        self.client.indices.refresh(index=self.index)
        hits = helpers.scan(self.client, index=self.index, query={"query": {"term": {"kind": kind}}})
        return sorted((self._state(hit["_source"]) for hit in hits), key=lambda state: state["name"])


class FileStateStore:
    """One JSON file per (kind, name) under a directory; writes are atomic (rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, kind: str, name: str) -> Path:
        return self.directory / kind / f"{stable_id(kind, name)[:16]}.json"

    def load(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(kind, name).read_text())
        except (OSError, ValueError):
            return None

    def load_many(self, kind: str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {name: state for name in names if (state := self.load(kind, name)) is not None}

    def save(self, kind: str, name: str, state: dict[str, Any]) -> None:
        path = self._path(kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({**state, "kind": kind, "name": name,
                                       "updated_at": state.get("updated_at") or datetime.now(UTC).isoformat()}))
        partial.replace(path)  # a crash never leaves half a state file

    def save_many(self, kind: str, states: dict[str, dict[str, Any]]) -> None:
        for name, state in states.items():
            self.save(kind, name, state)

    def load_all(self, kind: str) -> list[dict[str, Any]]:
        folder = self.directory / kind
        states = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                states.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(states, key=lambda state: state.get("name", ""))
