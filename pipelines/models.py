"""Plain records that flow between stages: source → raw → clean → enriched.

Each stage takes and returns these values and nothing else, so every stage can be run
from the CLI, a test or an Airflow task without the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


def stable_id(*parts: str) -> str:
    """A deterministic document id: the same parts give the same id on every run and machine."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RawArticle:
    """An article as the source delivered it, before any cleaning."""

    doc_id: str
    source: str  # e.g. "folder:seeds" — which source produced it
    source_ref: str  # where it came from, precise enough to find it again (path, URL)
    body: str
    title: str | None = None  # None: the source had no title; extraction derives one
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(f"{self.title or ''}\n\n{self.body}")


@dataclass(frozen=True)
class CleanArticle:
    """Body text with markup removed, plus what the cleaner took out and why."""

    raw: RawArticle
    title: str | None
    body: str
    captions: tuple[str, ...] = ()
    removed_shortcodes: tuple[str, ...] = ()  # names, one entry per occurrence
    dropped_lines: tuple[str, ...] = ()  # boilerplate lines removed
    repairs: tuple[str, ...] = ()  # e.g. "Russias→Russia's"
    encoding_repaired: bool = False
    html_removed: bool = False


@dataclass(frozen=True)
class Entity:
    text: str
    label: str  # spaCy label: PERSON, ORG, GPE, …
    count: int
    first_offset: int


@dataclass(frozen=True)
class EnrichedArticle:
    """A cleaned article plus what extraction found: ready to index."""

    clean: CleanArticle
    title: str
    language: str
    word_count: int
    entities: tuple[Entity, ...]
    facets: dict[str, tuple[str, ...]]  # persons, organizations, locations, groups, dates, events
    model: str  # "<name>-<version>" of the spaCy pipeline that produced it
    keywords: tuple[str, ...] = ()  # key phrases, best first
    dates_mentioned: tuple[str, ...] = ()  # ISO dates (or months, years) the text refers to
    summary: str = ""  # lead sentences within a length budget
    reading_time_minutes: int = 0
    minhash: tuple[int, ...] = ()  # MinHash signature of the body: near-duplicate detection


@dataclass(frozen=True)
class Failure:
    """An input that could not go further, and why: it is dead-lettered, never dropped."""

    stage: str  # read | clean | extract | index
    source_ref: str
    error_type: str
    message: str
    doc_id: str | None = None
    source: str | None = None  # set by sources; otherwise the batch's source is recorded
