"""The store in one SQLite file: raw articles and their versions, per-source state, dead letters, run
reports and the politeness ledger, as tables.

For ingestion without an Elasticsearch cluster (enriched articles go to a JSON Lines file), with
the behaviour of the Elasticsearch store: the same stored documents, the same unchanged/changed
accounting and pending flags, the same dead-letter ids. Each table keeps the whole document as
JSON next to the columns queries filter on.

One connection per store, guarded by a lock, serves every thread of a process; WAL mode and a
busy timeout let a second process (a watcher, a CLI run) read and write the same file. The
connection opens on first use, so a store made before a fork but first used after it is safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from pipelines.errors import Stage
from pipelines.models import Failure, RawArticle, RunInfo
from pipelines.store.base import DeadLetterPage, RawSelection, StoreResult
from pipelines.store.deadletters import dead_letter, dead_letter_id
from pipelines.store.politeness import politeness_document, politeness_id
from pipelines.store.raw import CHUNK, missing, raw_article, raw_document, split
from pipelines.store.versions import by_article, version_id
from pipelines.store.runs import run_report_id

BUSY_TIMEOUT_S = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_articles (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    ingest_run_id TEXT,
    fetched_at TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    pending INTEGER NOT NULL,
    enriched_at TEXT,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_articles_fetched_at ON raw_articles (fetched_at);
CREATE INDEX IF NOT EXISTS raw_articles_source ON raw_articles (source);
CREATE INDEX IF NOT EXISTS raw_articles_ingest_run_id ON raw_articles (ingest_run_id);
CREATE INDEX IF NOT EXISTS raw_articles_pending ON raw_articles (pending);
CREATE TABLE IF NOT EXISTS raw_versions (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_versions_doc_id ON raw_versions (doc_id);
CREATE TABLE IF NOT EXISTS source_state (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS deadletters (
    id TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    source TEXT NOT NULL,
    source_ref TEXT NOT NULL,
    doc_id TEXT,
    failed_at TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deadletters_source_ref ON deadletters (source, source_ref);
CREATE INDEX IF NOT EXISTS deadletters_failed_at ON deadletters (failed_at);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_run_id ON runs (run_id);
CREATE TABLE IF NOT EXISTS politeness (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    day TEXT NOT NULL,
    document TEXT NOT NULL
);
"""

# A list bound as one JSON parameter: no limit on the number of ids, no SQL built from values.
IN_LIST = "IN (SELECT value FROM json_each(?))"


def utc_text(value: datetime) -> str:
    """A fixed-width UTC timestamp, so string order is time order (naive means UTC, as in Elasticsearch)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Database:
    """The file's one connection, opened on first use and shared under a lock by the tables."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # durable across crashes in WAL mode, not power loss
            connection.executescript(SCHEMA)
            self._connection = connection
        return self._connection

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._open()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock from its start, so what it reads is still true when it writes."""
        with self._lock:
            connection = self._open()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def prepare(self) -> None:
        with self._lock:
            self._open()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class SqliteRawStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    @staticmethod
    def _hashes(connection: sqlite3.Connection, doc_ids: Sequence[str]) -> dict[str, str]:
        rows = connection.execute(f"SELECT doc_id, content_hash FROM raw_articles WHERE doc_id {IN_LIST}",
                                  (json.dumps(list(doc_ids)),))
        return dict(rows.fetchall())

    @staticmethod
    def _stored_by(connection: sqlite3.Connection, doc_ids: Sequence[str], run: RunInfo) -> set[str]:
        rows = connection.execute(
            f"SELECT doc_id FROM raw_articles WHERE ingest_run_id = ? AND doc_id {IN_LIST}", (run.run_id, json.dumps(list(doc_ids)))
        )
        return {doc_id for (doc_id,) in rows.fetchall()}

    def put(self, items: Iterable[RawArticle | Failure], run: RunInfo) -> StoreResult:
        result = StoreResult()
        iterator = iter(items)
        while batch := list(islice(iterator, CHUNK)):
            raws, failures = split(batch)
            with self.database.write() as connection:
                existing = self._hashes(connection, list(raws))
                changed = [raw for doc_id, raw in raws.items() if existing.get(doc_id) != raw.content_hash]
                again = self._stored_by(connection, [d for d in raws if existing.get(d) == raws[d].content_hash], run)
                documents = [raw_document(raw, run) for raw in changed]
                connection.executemany(
                    "INSERT OR REPLACE INTO raw_articles"
                    " (doc_id, source, ingest_run_id, fetched_at, content_hash, pending, enriched_at, document)"
                    " VALUES (?, ?, ?, ?, ?, 1, NULL, ?)",
                    [(doc["doc_id"], doc["source"], doc["ingest_run_id"],
                      utc_text(datetime.fromisoformat(doc["fetched_at"])), doc["content_hash"], json.dumps(doc))
                     for doc in documents],
                )
            result.add_chunk(batch, raws, {raw.doc_id for raw in changed} | again, failures)
        return result

    def get(self, doc_ids: Sequence[str]) -> Iterator[RawArticle | Failure]:
        for start in range(0, len(doc_ids), CHUNK):
            chunk = list(doc_ids[start : start + CHUNK])
            with self.database.read() as connection:
                rows = connection.execute(f"SELECT doc_id, document FROM raw_articles WHERE doc_id {IN_LIST}",
                                          (json.dumps(chunk),))
                found = dict(rows.fetchall())
            for doc_id in chunk:
                yield raw_article(json.loads(found[doc_id])) if doc_id in found else missing(doc_id)

    def content_hashes(self, doc_ids: Sequence[str]) -> dict[str, str]:
        with self.database.read() as connection:
            return self._hashes(connection, doc_ids)

    def metadata(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.database.read() as connection:
            rows = connection.execute(
                f"SELECT doc_id, json_extract(document, '$.metadata') FROM raw_articles WHERE doc_id {IN_LIST}",
                (json.dumps(list(doc_ids)),),
            ).fetchall()
        return {doc_id: json.loads(metadata) if metadata else {} for doc_id, metadata in rows}

    def select(self, selection: RawSelection) -> list[str]:
        conditions: list[str] = []
        parameters: list[Any] = []
        if selection.fetched_from:
            conditions.append("fetched_at >= ?")
            parameters.append(utc_text(selection.fetched_from))
        if selection.fetched_to:
            conditions.append("fetched_at < ?")
            parameters.append(utc_text(selection.fetched_to))
        if selection.ingest_run_ids is not None:
            conditions.append(f"ingest_run_id {IN_LIST}")
            parameters.append(json.dumps(list(selection.ingest_run_ids)))
        if selection.sources:
            conditions.append(f"source {IN_LIST}")
            parameters.append(json.dumps(list(selection.sources)))
        if selection.doc_ids is not None:
            conditions.append(f"doc_id {IN_LIST}")
            parameters.append(json.dumps(list(selection.doc_ids)))
        if selection.pending:
            conditions.append("pending = 1")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        with self.database.read() as connection:
            rows = connection.execute(f"SELECT doc_id FROM raw_articles{where} ORDER BY doc_id", parameters).fetchall()
        return [doc_id for (doc_id,) in rows]

    def pending(self, doc_ids: Sequence[str]) -> set[str]:
        with self.database.read() as connection:
            rows = connection.execute(f"SELECT doc_id FROM raw_articles WHERE pending = 1 AND doc_id {IN_LIST}",
                                      (json.dumps(list(doc_ids)),))
            return {doc_id for (doc_id,) in rows.fetchall()}

    def mark_enriched(self, doc_ids: Sequence[str]) -> None:
        if doc_ids:
            with self.database.write() as connection:
                connection.execute(f"UPDATE raw_articles SET pending = 0, enriched_at = ? WHERE doc_id {IN_LIST}",
                                   (datetime.now(UTC).isoformat(), json.dumps(list(doc_ids))))

    def mark_pending(self, doc_ids: Sequence[str]) -> int:
        if not doc_ids:
            return 0
        with self.database.write() as connection:
            return connection.execute(f"UPDATE raw_articles SET pending = 1 WHERE doc_id {IN_LIST}",
                                      (json.dumps(list(doc_ids)),)).rowcount


class SqliteVersions:
    """Every distinct version of an article (see ``pipelines.store.versions``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def of(self, doc_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        with self.database.read() as connection:
            rows = connection.execute(f"SELECT document FROM raw_versions WHERE doc_id {IN_LIST}", (json.dumps(list(doc_ids)),))
            return by_article([json.loads(document) for (document,) in rows])

    def save(self, versions: Sequence[dict[str, Any]]) -> None:
        with self.database.write() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO raw_versions (id, doc_id, document) VALUES (?, ?, ?)",
                [(version_id(v["doc_id"], v["content_hash"]), v["doc_id"], json.dumps(v)) for v in versions],
            )


class SqliteStateStore:
    """States as the Elasticsearch state store returns them: the saved mapping plus its ``kind`` and ``name``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self, kind: str, name: str) -> dict[str, Any] | None:
        with self.database.read() as connection:
            row = connection.execute("SELECT state FROM source_state WHERE kind = ? AND name = ?", (kind, name)).fetchone()
        return json.loads(row[0]) if row else None

    def load_many(self, kind: str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.database.read() as connection:
            rows = connection.execute(f"SELECT name, state FROM source_state WHERE kind = ? AND name {IN_LIST}",
                                      (kind, json.dumps(list(names)))).fetchall()
        return {name: json.loads(state) for name, state in rows}

    def save(self, kind: str, name: str, state: dict[str, Any]) -> None:
        with self.database.write() as connection:
            connection.execute("INSERT OR REPLACE INTO source_state (kind, name, state) VALUES (?, ?, ?)",
                               (kind, name, json.dumps({**state, "kind": kind, "name": name})))

    def save_many(self, kind: str, states: dict[str, dict[str, Any]]) -> None:
        with self.database.write() as connection:
            connection.executemany("INSERT OR REPLACE INTO source_state (kind, name, state) VALUES (?, ?, ?)",
                                   [(kind, name, json.dumps({**state, "kind": kind, "name": name}))
                                    for name, state in states.items()])

    def load_all(self, kind: str) -> list[dict[str, Any]]:
        with self.database.read() as connection:
            rows = connection.execute("SELECT state FROM source_state WHERE kind = ? ORDER BY name", (kind,)).fetchall()
        return [json.loads(state) for (state,) in rows]


class SqliteDeadLetters:
    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, failures: Sequence[Failure], run: RunInfo) -> None:
        if not failures:
            return
        # Microseconds always written: string order of failed_at is then time order.
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        rows = []
        for failure in failures:
            letter = dead_letter(failure, run, now)
            rows.append((dead_letter_id(failure), letter["stage"], letter["source"], letter["source_ref"],
                         letter["doc_id"], now, json.dumps(letter)))
        with self.database.write() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO deadletters (id, stage, source, source_ref, doc_id, failed_at, document)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def resolve(self, inputs: Sequence[tuple[str, str]]) -> int:
        if not inputs:
            return 0
        with self.database.write() as connection:
            return connection.executemany("DELETE FROM deadletters WHERE source = ? AND source_ref = ?",
                                          sorted(set(inputs))).rowcount

    def list(self, *, stage: Stage | None = None, source: str | None = None, size: int = 20) -> DeadLetterPage:
        filters = [(column, str(value)) for column, value in (("stage", stage), ("source", source)) if value]
        where = f" WHERE {' AND '.join(f'{column} = ?' for column, _ in filters)}" if filters else ""
        parameters = [value for _, value in filters]
        with self.database.read() as connection:
            by_stage = dict(connection.execute(
                f"SELECT stage, COUNT(*) FROM deadletters{where} GROUP BY stage ORDER BY COUNT(*) DESC, stage",
                parameters,
            ).fetchall())
            rows = connection.execute(
                f"SELECT document FROM deadletters{where} ORDER BY failed_at DESC, rowid DESC LIMIT ?",
                [*parameters, size],
            ).fetchall()
        return DeadLetterPage(sum(by_stage.values()), by_stage, [json.loads(document) for (document,) in rows])

    def refs(self, source: str) -> list[dict[str, Any]]:
        with self.database.read() as connection:
            rows = connection.execute(
                "SELECT source_ref, doc_id, stage FROM deadletters WHERE source = ? ORDER BY source_ref, stage",
                (source,),
            ).fetchall()
        return [{"source_ref": source_ref, "doc_id": doc_id, "stage": stage} for source_ref, doc_id, stage in rows]


class SqliteRunReports:
    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, reports: Sequence[dict[str, Any]]) -> None:
        with self.database.write() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO runs (id, run_id, recorded_at, document) VALUES (?, ?, ?, ?)",
                [(run_report_id(r), r["run_id"], r["recorded_at"], json.dumps(r)) for r in reports],
            )

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        with self.database.read() as connection:
            rows = connection.execute("SELECT document FROM runs WHERE run_id = ? ORDER BY recorded_at, rowid",
                                      (run_id,)).fetchall()
        return [json.loads(document) for (document,) in rows]


class SqlitePoliteness:
    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, hosts: Sequence[dict[str, Any]], run: RunInfo, *, unit: str) -> None:
        now = datetime.now(UTC)
        rows = [(politeness_id(run, unit, counts["host"]), counts["host"], now.date().isoformat(),
                 json.dumps(politeness_document(counts, run, unit, now))) for counts in hosts]
        with self.database.write() as connection:
            connection.executemany("INSERT OR REPLACE INTO politeness (id, host, day, document) VALUES (?, ?, ?, ?)", rows)


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.database = Database(self.path)
        self.raw = SqliteRawStore(self.database)
        self.state = SqliteStateStore(self.database)
        self.deadletters = SqliteDeadLetters(self.database)
        self.versions = SqliteVersions(self.database)
        self.runs = SqliteRunReports(self.database)
        self.politeness = SqlitePoliteness(self.database)

    def prepare(self) -> None:
        """Create the file, its directory and its tables (each step idempotent)."""
        self.database.prepare()

    def close(self) -> None:
        """Close the connection; the next use opens a new one."""
        self.database.close()
