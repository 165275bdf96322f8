"""The JSON Lines sink (``jsonl:PATH``): enriched articles in a file, one document per line.

It exists so a data team can take enriched articles into their own tools, and so the pipeline
can ingest with no Elasticsearch cluster at all. Each line is exactly ``article_document``, the
form the Elasticsearch sink indexes, so both sinks hold the same thing.

It is idempotent like the Elasticsearch sink. Writes upsert by ``doc_id``: a re-written id loses
its old line and its new one is appended, every other line keeps its place. ``prepare`` reads
the file once and keeps, per id, only the fingerprints the pipeline asks about (content hash,
versions, whether it is a duplicate, an original's MinHash signature), so unchanged articles are
skipped and duplicates are found as they are against the index. Written lines wait in a file
beside the target until ``flush`` puts a complete new file in place with ``os.replace``: a crash
leaves the old file untouched and a reader never sees half a file. One writer per file.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from pipelines.deduplication import Signature, SignatureIndex
from pipelines.errors import ConfigError, IndexingError, Stage
from pipelines.models import EnrichedArticle, Failure, RunInfo
from pipelines.sinks.base import SINKS, article_document

if TYPE_CHECKING:
    from pipelines.settings import Settings


class _Held(NamedTuple):
    """What the sink remembers of a held document: enough to answer the pipeline, never its body."""

    content_hash: str | None
    pipeline_version: str | None
    model: str | None
    duplicate: bool


class JsonlSink:
    """Enriched articles upserted by id into the JSON Lines file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"jsonl:{path}"
        self._loaded = False
        self._held: dict[str, _Held] = {}
        self._originals: dict[str, set[str]] = defaultdict(set)  # content hash → ids of held originals
        self._signatures: dict[str, Signature] = {}  # held originals only
        self._near: SignatureIndex | None = None  # built from _signatures when first needed
        self._pending: _Pending | None = None

    def prepare(self, enrichments: Mapping[str, dict[str, Any]]) -> None:
        """Learn what the file holds, once; JSON has no mapping, so ``enrichments`` needs nothing."""
        if self._loaded:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _, document in _documents(self.path):
            self._remember(document)
        self._loaded = True

    def fingerprints(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.prepare({})
        return {
            doc_id: {"content_hash": held.content_hash, "pipeline_version": held.pipeline_version, "model": held.model}
            for doc_id in doc_ids
            if (held := self._held.get(doc_id))
        }

    def originals_by_hash(self, hashes: Sequence[str]) -> dict[str, str]:
        """Ties go to the smallest id, as the Elasticsearch sink's sorted search does."""
        self.prepare({})
        return {content_hash: min(ids) for content_hash in hashes if (ids := self._originals.get(content_hash))}

    def near_originals(self, signatures: Mapping[str, Signature]) -> dict[str, tuple[str, float]]:
        """An article is never a near copy of its own held version, as in the Elasticsearch sink."""
        self.prepare({})
        if self._near is None:
            self._near = SignatureIndex()
            for doc_id, held_signature in self._signatures.items():
                self._near.add(doc_id, held_signature)
        return {
            doc_id: match
            for doc_id, sig in signatures.items()
            if (match := self._near.match(tuple(sig), exclude=doc_id))
        }

    def write(self, articles: Sequence[EnrichedArticle], run: RunInfo) -> list[Failure]:
        """Append to the pending file; the target changes only at ``flush``."""
        self.prepare({})
        failures = []
        for article in articles:
            try:
                document = article_document(article, run)
                line = _encode(document)
            except (TypeError, ValueError) as error:  # not JSON-serialisable, NaN, lone surrogate, cycle
                failures.append(Failure.of(article.raw, Stage.INDEX, error))
                continue
            if self._pending is None:
                self._pending = _Pending(self.path)
            self._pending.append(document["doc_id"], line)
            self._remember(document)
        return failures

    def flush(self) -> None:
        """Replace the file: its lines whose id was not re-written, in order, then the new ones."""
        if self._pending is None:
            return
        latest = self._pending.latest
        with _replacing(self.path) as out:
            for line, document in _documents(self.path):
                if document["doc_id"] not in latest:
                    out.write(line if line.endswith(b"\n") else line + b"\n")
            out.writelines(self._pending.lines())
        self._pending.discard()
        self._pending = None

    def close(self) -> None:
        self.flush()

    def _remember(self, document: Mapping[str, Any]) -> None:
        """Record a document as the one now held for its id, forgetting what was held before."""
        doc_id = document["doc_id"]
        previous = self._held.get(doc_id)
        if previous is not None and not previous.duplicate and previous.content_hash:
            ids = self._originals[previous.content_hash]
            ids.discard(doc_id)
            if not ids:
                del self._originals[previous.content_hash]

        duplicate = bool(document.get("duplicate_of"))
        content_hash = document.get("content_hash")
        self._held[doc_id] = _Held(content_hash, document.get("pipeline_version"), document.get("model"), duplicate)
        if not duplicate and content_hash:
            self._originals[content_hash].add(doc_id)

        sig: Signature = () if duplicate else tuple(document.get("minhash") or ())
        previous_sig = self._signatures.pop(doc_id, ())
        if sig:
            self._signatures[doc_id] = sig
        if previous_sig and previous_sig != sig:
            self._near = None  # a SignatureIndex cannot forget: rebuilt when next needed
        elif sig and self._near is not None:
            self._near.add(doc_id, sig)


class _Pending:
    """Lines written since the last flush, in a file beside the target so that flush is a rename."""

    def __init__(self, target: Path) -> None:
        self.path, self._file = _create_beside(target, ".pending")
        self._ids: list[str] = []  # the id of each line, in file order
        self.latest: dict[str, int] = {}  # id → number of its last line: earlier versions are dropped

    def append(self, doc_id: str, line: bytes) -> None:
        self._file.write(line)
        self.latest[doc_id] = len(self._ids)
        self._ids.append(doc_id)

    def lines(self) -> Iterator[bytes]:
        """The written lines in order, each id only in its last version."""
        self._file.flush()
        with self.path.open("rb") as lines:
            for number, (doc_id, line) in enumerate(zip(self._ids, lines, strict=True)):
                if self.latest[doc_id] == number:
                    yield line

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def export_articles(documents: Iterable[dict[str, Any]], path: Path) -> int:
    """Write already built documents (e.g. streamed from the articles index) to ``path``; returns how many.

    Readers see the old file or the complete new one, never a partial export.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with _replacing(path) as out:
        for document in documents:
            try:
                out.write(_encode(document))
            except (TypeError, ValueError) as error:
                raise IndexingError(f"{path}: cannot export document {document.get('doc_id')!r}: {error}") from error
            count += 1
    return count


def jsonl_sink(settings: Settings, argument: str | None, client: Any) -> JsonlSink:
    """The ``jsonl:PATH`` factory: a file needs neither settings nor a cluster client."""
    if not argument:
        raise ConfigError("the jsonl sink needs a file: use jsonl:PATH, e.g. jsonl:articles.jsonl")
    return JsonlSink(Path(argument).expanduser().resolve())  # absolute: a later chdir must not move it


SINKS.register("jsonl", jsonl_sink)


def _encode(document: Mapping[str, Any]) -> bytes:
    """One line of strict JSON (no NaN, which other tools reject), non-ASCII text kept as UTF-8."""
    return (json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _documents(path: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Each non-blank line of ``path`` with its document; a line that is not one stops with its number."""
    if not path.exists():
        return
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError as error:  # also undecodable UTF-8
                raise IndexingError(f"{path}, line {number}: not valid JSON ({error})") from None
            if not isinstance(document, dict) or not isinstance(document.get("doc_id"), str):
                raise IndexingError(f"{path}, line {number}: not an article document (no string doc_id)")
            yield line, document


def _create_beside(path: Path, suffix: str) -> tuple[Path, BinaryIO]:
    """A new file in ``path``'s folder (so os.replace is an atomic rename), with the umask's usual permissions."""
    created = path.with_name(f".{path.name}.{uuid.uuid4().hex}{suffix}")
    return created, os.fdopen(os.open(created, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")


@contextmanager
def _replacing(path: Path) -> Iterator[BinaryIO]:
    """A file that atomically replaces ``path`` when the block completes; on any error ``path`` is untouched."""
    temporary, out = _create_beside(path, ".tmp")
    try:
        with out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            shutil.copymode(path, temporary)  # readers of the old file can read the new one
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
