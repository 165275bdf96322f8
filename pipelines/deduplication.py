"""Near-duplicate detection with MinHash over word shingles, and LSH bands to find candidates.

A document's signature (``NUM_PERM`` MinHash values of its body's 5-word shingles) is stored
with it; its LSH band keys are indexed as keywords, so "which indexed documents might nearly
duplicate this one?" is one ``terms`` query. Candidates are then confirmed by the estimated
Jaccard similarity of the signatures (``THRESHOLD``). The same banding is used in memory for
documents earlier in the same run (``SignatureIndex``).

Headlines are left out on purpose: a re-headlined copy of a story is still the same story.

``Signer`` is the ``sign`` component; ``Deduplicator`` is the ``deduplicate`` component: it marks exact copies
(same content hash) and near copies of what the sink holds, or of an earlier article of the run,
with ``duplicate_of``; they are still written, so nothing is lost, and counted as duplicates.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from pipelines.errors import Stage
from pipelines.models import EnrichedArticle

if TYPE_CHECKING:
    from pipelines.sinks.base import Sink

NUM_PERM = 128
BANDS = 32  # 32 bands of 4 rows: documents with Jaccard ≥ 0.6 become candidates with probability > 0.98
ROWS = NUM_PERM // BANDS
SHINGLE_WORDS = 5
MIN_SHINGLES = 10  # below this a signature is noise: very short texts are never near-duplicates
THRESHOLD = 0.8  # estimated Jaccard similarity from which a document is a near-duplicate
CANDIDATES = 10  # originals confirmed per document: those sharing the most bands with it
BAND_RECENT = 64  # originals per band an in-memory lookup ranks: the latest (see SignatureIndex.match)
SEED = 1
SCHEME = "affine32"  # datasketch's permutation scheme: signatures of different schemes are not comparable

_WORD = re.compile(r"\w+")

Signature = tuple[int, ...]


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    """Overlapping ``size``-word windows of the lower-cased words, punctuation ignored."""
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


@cache
def _permutations() -> Any:
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations  # made once: building them per document is slow


def signature(text: str) -> Signature:
    """MinHash signature of ``text``; empty when the text is too short to compare meaningfully."""
    from datasketch import MinHash

    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return ()
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, permutations=_permutations())
    minhash.update_batch([gram.encode("utf-8") for gram in sorted(grams)])
    return tuple(int(value) for value in minhash.hashvalues)


def band_keys(sig: Signature) -> list[str]:
    """One key per LSH band; documents sharing any key are candidates."""
    if len(sig) != NUM_PERM:
        return []
    keys = []
    for band in range(BANDS):
        rows = ",".join(str(value) for value in sig[band * ROWS : (band + 1) * ROWS])
        keys.append(f"{band}:{hashlib.blake2b(rows.encode(), digest_size=8).hexdigest()}")
    return keys


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of the two documents behind the signatures."""
    if not a or len(a) != len(b):
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def best_match(sig: Signature, candidates: dict[str, Sequence[int]], *, exclude: str | None = None) -> tuple[str, float] | None:
    """The most similar candidate at or above THRESHOLD (ties: smallest id), or None."""
    scored = [
        (similarity(sig, other), doc_id) for doc_id, other in candidates.items() if doc_id != exclude and other
    ]
    scored = [(score, doc_id) for score, doc_id in scored if score >= THRESHOLD]
    if not scored:
        return None
    score, doc_id = min(scored, key=lambda item: (-item[0], item[1]))
    return doc_id, score


@dataclass
class SignatureIndex:
    """Signatures of the originals seen so far in a run, banded like the index: near-duplicates within a run."""

    _by_band: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _signatures: dict[str, array[int]] = field(default_factory=dict)  # 8 bytes a value; a tuple of ints takes 36

    def add(self, doc_id: str, sig: Signature) -> None:
        if not sig or doc_id in self._signatures:
            return
        self._signatures[doc_id] = array("Q", sig)
        for key in band_keys(sig):
            members = self._by_band[key]
            members.append(doc_id)
            if len(members) > 2 * BAND_RECENT:  # only the latest are ever ranked
                del members[:-BAND_RECENT]

    def match(self, sig: Signature, *, exclude: str | None = None) -> tuple[str, float] | None:
        """The most similar near-duplicate among the ``CANDIDATES`` originals sharing the most bands
        with ``sig``, as the sink's ranked search confirms them. Templated texts (results tables,
        weather, one feed's boilerplate) share bands by the thousand: comparing every original
        that shares one made a run quadratic (the 40,000 entries of ``bench/feed_polling.py``)."""
        shared: Counter[str] = Counter()
        for key in band_keys(sig):
            shared.update(self._by_band.get(key, ())[-BAND_RECENT:])
        if exclude is not None:
            shared.pop(exclude, None)
        ranked = heapq.nsmallest(CANDIDATES, shared.items(), key=lambda item: (-item[1], item[0]))
        return best_match(sig, {doc_id: self._signatures[doc_id] for doc_id, _ in ranked})


class Signer:
    """The ``sign`` component: each article's MinHash signature (a pure function of its body, so it
    runs in the worker processes beside extraction, not in the process that writes)."""

    name = "sign"
    stage = Stage.DEDUPLICATE
    parallel = True

    def load(self) -> None:
        """Import datasketch and build the permutations now, before worker processes fork: each
        worker otherwise pays the import (0.7 s) with its first article."""
        _permutations()

    def __call__(self, article: EnrichedArticle) -> EnrichedArticle:
        return replace(article, minhash=signature(article.clean.body))

    def pipe(self, articles: Sequence[EnrichedArticle]) -> Iterator[EnrichedArticle]:
        return (self(article) for article in articles)


class Deduplicator:
    """Marks exact and near copies (see the module docstring); its memory of the run is reset by ``begin_run``."""

    name = "deduplicate"
    stage = Stage.DEDUPLICATE

    def __init__(self, sink: Sink | Callable[[], Sink]) -> None:
        self._sink = sink  # or how to get it: a pipeline builds its sink only when something is written
        self.begin_run()

    @property
    def sink(self) -> Sink:
        if callable(self._sink) and not hasattr(self._sink, "originals_by_hash"):
            self._sink = self._sink()
        return self._sink

    def begin_run(self) -> None:
        self.seen_hashes: dict[str, str] = {}
        self.seen_signatures = SignatureIndex()

    def __call__(self, article: EnrichedArticle) -> EnrichedArticle:
        return next(self.pipe([article]))

    def pipe(self, articles: Sequence[EnrichedArticle]) -> Iterator[EnrichedArticle]:
        # Signed by the ``sign`` component when it ran first; a pipeline without it signs here.
        signed = [article if article.minhash else replace(article, minhash=signature(article.clean.body)) for article in articles]
        held_by_hash = self.sink.originals_by_hash([article.raw.content_hash for article in signed])
        held_nearly = self.sink.near_originals({article.raw.doc_id: article.minhash for article in signed})
        for article in signed:
            raw = article.raw
            original = self.seen_hashes.get(raw.content_hash) or held_by_hash.get(raw.content_hash)
            duplicate_of = original if original not in (None, raw.doc_id) else None
            similarity_ = 1.0 if duplicate_of else None
            if duplicate_of is None:
                near = self.seen_signatures.match(article.minhash, exclude=raw.doc_id) or held_nearly.get(raw.doc_id)
                duplicate_of, similarity_ = near if near else (None, None)
            self.seen_hashes.setdefault(raw.content_hash, raw.doc_id)
            if duplicate_of is None:
                self.seen_signatures.add(raw.doc_id, article.minhash)
            yield replace(article, duplicate_of=duplicate_of, duplicate_similarity=similarity_)
