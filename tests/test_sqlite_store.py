"""The SQLite store keeps the Elasticsearch store's behaviour: accounting, pending flags, windows, dead letters."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipelines.errors import Stage
from pipelines.models import Failure, RawArticle, RunInfo
from pipelines.store.base import RawSelection
from pipelines.store.sqlite import SqliteStore

RUN = RunInfo("run-1", "ingest_folder")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def article(doc_id: str, body: str = "body", *, source: str = "folder:seeds", fetched_at: datetime = T0,
            metadata: dict[str, str] | None = None) -> RawArticle:
    return RawArticle(doc_id=doc_id, source=source, source_ref=f"/in/{doc_id}.txt", body=body, title=f"Title {doc_id}",
                      fetched_at=fetched_at, metadata=metadata or {})


def failure(ref: str, stage: Stage = Stage.READ, source: str | None = "folder:seeds", message: str = "bad") -> Failure:
    return Failure(stage, ref, "ArticleReadError", message, doc_id=None, source=source)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "store.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(path)
    store.prepare()
    yield store
    store.close()


def test_prepare_creates_parent_directories_and_is_idempotent(path: Path) -> None:
    store = SqliteStore(path)
    store.prepare()
    store.prepare()
    assert path.is_file()
    store.close()


def test_put_counts_new_changed_and_unchanged_and_passes_failures_through(store: SqliteStore) -> None:
    first = store.raw.put([article("a"), article("b"), failure("/in/broken.txt")], RUN)
    assert (first.stored, first.unchanged, [f.source_ref for f in first.failures]) == (2, 0, ["/in/broken.txt"])

    again = store.raw.put([article("b", "new body"), article("a"), article("c")], RunInfo("run-2"))
    assert again.doc_ids == ["b", "a", "c"]
    assert (again.stored, again.unchanged, again.failures) == (2, 1, [])


def test_repeated_id_in_one_put_keeps_the_first(store: SqliteStore) -> None:
    result = store.raw.put([article("a", "first"), article("a", "second")], RUN)
    assert (result.doc_ids, result.stored) == (["a"], 1)
    assert next(iter(store.raw.get(["a"]))).body == "first"


def test_unchanged_article_keeps_its_version_fetched_at_and_enriched_flag(store: SqliteStore) -> None:
    store.raw.put([article("a"), article("b")], RUN)
    store.raw.mark_enriched(["a", "b"])

    later = T0 + timedelta(days=1)
    store.raw.put([article("a", fetched_at=later), article("b", "changed", fetched_at=later)], RunInfo("run-2"))

    kept, changed = store.raw.get(["a", "b"])
    assert kept.fetched_at == T0 and changed.fetched_at == later
    assert store.raw.select(RawSelection(pending=True)) == ["b"]
    assert store.raw.select(RawSelection(ingest_run_ids=["run-1"])) == ["a"]


def test_get_returns_articles_in_asked_order_and_a_load_failure_for_a_missing_id(store: SqliteStore) -> None:
    stored = article("a", metadata={"etag": "x"})
    store.raw.put([stored, article("b")], RUN)

    got = list(store.raw.get(["b", "nope", "a"]))

    assert [item.doc_id for item in got] == ["b", "nope", "a"]
    assert got[2] == stored
    lost = got[1]
    assert isinstance(lost, Failure) and lost.stage is Stage.LOAD and lost.source_ref == "nope"


def test_select_window_includes_its_start_and_excludes_its_end_across_time_zones(store: SqliteStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    store.raw.put([
        article("before", fetched_at=T0 - timedelta(microseconds=1)),
        article("start", fetched_at=T0.astimezone(plus_two)),
        article("inside", fetched_at=(T0 + timedelta(minutes=30)).replace(tzinfo=None)),
        article("end", fetched_at=T0 + timedelta(hours=1)),
    ], RUN)

    window = RawSelection(fetched_from=T0.astimezone(plus_two), fetched_to=T0 + timedelta(hours=1))
    assert store.raw.select(window) == ["inside", "start"]
    assert store.raw.select(RawSelection(fetched_to=T0)) == ["before"]


def test_select_by_sources_run_ids_and_doc_ids_combines_criteria(store: SqliteStore) -> None:
    store.raw.put([article("a"), article("b", source="feed:bbc")], RUN)
    store.raw.put([article("c", source="feed:bbc")], RunInfo("run-2"))

    assert store.raw.select(RawSelection()) == ["a", "b", "c"]
    assert store.raw.select(RawSelection(sources=["feed:bbc"])) == ["b", "c"]
    assert store.raw.select(RawSelection(sources=["feed:bbc"], ingest_run_ids=["run-1"])) == ["b"]
    assert store.raw.select(RawSelection(ingest_run_ids=[])) == []
    assert store.raw.select(RawSelection(doc_ids=["c", "a", "zzz"])) == ["a", "c"]
    assert store.raw.select(RawSelection(doc_ids=[])) == []


def test_mark_enriched_clears_pending_and_mark_pending_counts_only_existing_ids(store: SqliteStore) -> None:
    store.raw.put([article("a"), article("b")], RUN)
    assert store.raw.select(RawSelection(pending=True)) == ["a", "b"]

    store.raw.mark_enriched(["a", "b"])
    assert store.raw.select(RawSelection(pending=True)) == []

    assert store.raw.mark_pending(["a", "ghost"]) == 1
    assert store.raw.mark_pending([]) == 0
    assert store.raw.select(RawSelection(pending=True)) == ["a"]


def test_content_hashes_and_metadata_only_for_stored_ids(store: SqliteStore) -> None:
    stored = article("a", metadata={"etag": '"v1"'})
    store.raw.put([stored, article("b")], RUN)

    assert store.raw.content_hashes(["a", "ghost"]) == {"a": stored.content_hash}
    assert store.raw.metadata(["a", "b", "ghost"]) == {"a": {"etag": '"v1"'}, "b": {}}


def test_put_handles_more_articles_than_one_chunk(store: SqliteStore) -> None:
    ids = [f"doc-{n:04d}" for n in range(450)]
    result = store.raw.put((article(doc_id) for doc_id in ids), RUN)
    assert (result.stored, result.doc_ids) == (450, ids)
    assert len(list(store.raw.get(ids))) == 450
    assert store.raw.select(RawSelection(doc_ids=ids)) == ids


def test_state_round_trip_includes_kind_and_name_and_load_all_sorts_by_name(store: SqliteStore) -> None:
    assert store.state.load("feed", "bbc") is None
    store.state.save("feed", "zeit", {"etag": "z", "failures": 2})
    store.state.save("feed", "bbc", {"etag": "a", "next_poll": "2024-05-01T12:00:00+00:00"})
    store.state.save("feed", "bbc", {"etag": "b"})
    store.state.save("sitemap", "ap", {"etag": "s"})

    assert store.state.load("feed", "bbc") == {"etag": "b", "kind": "feed", "name": "bbc"}
    assert [state["name"] for state in store.state.load_all("feed")] == ["bbc", "zeit"]
    assert store.state.load_all("feed")[1] == {"etag": "z", "failures": 2, "kind": "feed", "name": "zeit"}
    assert store.state.load_all("inbox") == []


def test_dead_letter_recorded_twice_is_one_entry(store: SqliteStore) -> None:
    store.deadletters.record([failure("/in/x.txt", message="first")], RUN)
    store.deadletters.record([failure("/in/x.txt", message="second")], RunInfo("run-2"))

    page = store.deadletters.list()
    assert page.total == 1
    assert (page.rows[0]["message"], page.rows[0]["run_id"]) == ("second", "run-2")


def test_dead_letters_of_one_input_at_two_stages_are_two_entries(store: SqliteStore) -> None:
    store.deadletters.record([failure("/in/x.txt"), failure("/in/x.txt", Stage.CLEAN)], RUN)
    assert store.deadletters.list().total == 2


def test_resolve_removes_only_the_given_source_and_ref_pairs(store: SqliteStore) -> None:
    store.deadletters.record([
        failure("/in/x.txt"), failure("/in/x.txt", Stage.CLEAN), failure("/in/x.txt", source="folder:other"),
        failure("/in/y.txt"),
    ], RUN)

    assert store.deadletters.resolve([("folder:seeds", "/in/x.txt"), ("folder:seeds", "/in/nothing")]) == 2
    assert store.deadletters.resolve([]) == 0
    remaining = {(row["source"], row["source_ref"]) for row in store.deadletters.list().rows}
    assert remaining == {("folder:other", "/in/x.txt"), ("folder:seeds", "/in/y.txt")}


def test_list_filters_counts_by_stage_and_returns_newest_first(store: SqliteStore) -> None:
    store.deadletters.record([failure("/in/a.txt"), failure("/in/b.txt", Stage.CLEAN)], RUN)
    store.deadletters.record([failure("/in/c.txt"), failure("/in/d.txt", source=None)], RunInfo("run-2"))

    page = store.deadletters.list(size=3)
    assert (page.total, page.by_stage, len(page.rows)) == (4, {"read": 3, "clean": 1}, 3)
    assert {row["source_ref"] for row in page.rows[:2]} == {"/in/c.txt", "/in/d.txt"}
    assert page.rows[0]["failed_at"] >= page.rows[-1]["failed_at"]

    assert store.deadletters.list(stage=Stage.CLEAN).by_stage == {"clean": 1}
    unknown = store.deadletters.list(source="unknown")
    assert (unknown.total, unknown.rows[0]["source_ref"]) == (1, "/in/d.txt")
    both = store.deadletters.list(stage=Stage.READ, source="folder:seeds")
    assert (both.total, {row["source_ref"] for row in both.rows}) == (2, {"/in/a.txt", "/in/c.txt"})


def test_refs_lists_every_dead_letter_of_a_source(store: SqliteStore) -> None:
    stored = Failure(Stage.CLEAN, "/in/a.txt", "CleaningError", "empty", doc_id="a", source="folder:seeds")
    store.deadletters.record([stored, failure("/in/b.txt"), failure("/in/c.txt", source="feed:bbc")], RUN)

    assert store.deadletters.refs("folder:seeds") == [
        {"source_ref": "/in/a.txt", "doc_id": "a", "stage": "clean"},
        {"source_ref": "/in/b.txt", "doc_id": None, "stage": "read"},
    ]


def test_store_reopened_from_the_same_file_keeps_everything(path: Path) -> None:
    first = SqliteStore(path)
    first.prepare()
    first.raw.put([article("a"), article("b")], RUN)
    first.raw.mark_enriched(["a"])
    first.state.save("feed", "bbc", {"etag": "x"})
    first.deadletters.record([failure("/in/x.txt")], RUN)
    first.close()

    again = SqliteStore(path)
    again.prepare()
    assert [item.doc_id for item in again.raw.get(["a", "b"])] == ["a", "b"]
    assert again.raw.select(RawSelection(pending=True)) == ["b"]
    # A later run (the same run's own writes count as stored: a retry after an outage).
    assert again.raw.put([article("a")], RunInfo("run-2", RUN.dag_id)).unchanged == 1
    assert again.state.load("feed", "bbc") == {"etag": "x", "kind": "feed", "name": "bbc"}
    assert again.deadletters.list().total == 1
    again.close()


def test_threads_share_one_store(store: SqliteStore) -> None:
    def ingest(worker: int) -> None:
        for n in range(20):
            store.raw.put([article(f"w{worker}-{n}")], RunInfo(f"run-{worker}"))
            store.state.save("feed", f"w{worker}", {"n": n})

    threads = [threading.Thread(target=ingest, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(store.raw.select(RawSelection())) == 80
    assert [state["n"] for state in store.state.load_all("feed")] == [19, 19, 19, 19]


def _ingest_in_another_process(path: Path, worker: int, start: multiprocessing.synchronize.Event) -> None:
    store = SqliteStore(path)
    start.wait(timeout=60)
    for n in range(100):
        store.raw.put([article(f"p{worker}-{n:03d}")], RunInfo(f"run-{worker}"))
        store.raw.mark_enriched([f"p{worker}-{n:03d}"])
    store.close()


def test_two_processes_write_the_same_file_at_once(path: Path) -> None:
    setup = SqliteStore(path)
    setup.prepare()
    setup.close()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_ingest_in_another_process, args=(path, worker, start)) for worker in range(3)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]

    store = SqliteStore(path)
    assert len(store.raw.select(RawSelection())) == 300
    assert store.raw.select(RawSelection(ingest_run_ids=["run-1"]))[:2] == ["p1-000", "p1-001"]
    assert store.raw.select(RawSelection(pending=True)) == []
    store.close()


def test_a_batch_stored_in_one_put_is_accounted_unit_by_unit(store: SqliteStore) -> None:
    store.raw.put([article("kept")], RunInfo("run-0"))
    first = [article("a"), article("a"), article("shared"), failure("/in/broken.txt")]  # "a" twice in one unit
    second = [article("shared"), article("kept"), article("b")]  # "shared" also in the first unit
    result = store.raw.put([*first, *second], RUN)

    one, two = result.per_unit([first, second])
    assert (one.seen, one.stored, one.unchanged, one.duplicate, len(one.failures)) == (4, 2, 0, 1, 1)
    assert (two.seen, two.stored, two.unchanged, two.duplicate, len(two.failures)) == (3, 1, 2, 0, 0)
    for part in (one, two):  # every unit adds up on its own
        assert part.seen == part.stored + part.unchanged + part.duplicate + len(part.failures)
    assert one.doc_ids == ["a", "shared"] and two.doc_ids == ["shared", "kept", "b"]
    assert one.stored + two.stored == result.stored == 3  # a, shared, b: "kept" was stored by run-0
