"""Plain records that flow between stages: source → raw → clean → enriched, and failures.

Each stage takes and returns these values and nothing else, so every stage can be run
from the CLI, a test or an Airflow task without the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pipelines.errors import InputError, Stage

# The facet fields every enriched article has, in display order (extraction fills them).
FACETS = ("persons", "organizations", "locations", "groups", "dates", "events")
# Facets from what the source said about an article (feed authors, categories, the configured
# tags, the site) and the days or months its text mentions (``EnrichedArticle.mentioned_dates``).
METADATA_FACETS = ("authors", "categories", "tags", "source_domain", "mentioned_dates")


def stable_id(*parts: str) -> str:
    """A deterministic document id: the same parts give the same id on every run and machine."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RawArticle:
    """An article as the source delivered it, before any cleaning: what the raw store keeps.

    ``body`` is the delivered content as text — markup included — in ``content_type``
    (``text/plain``, ``text/markdown``, ``text/html``), decoded from ``encoding``. Turning
    HTML into text is cleaning's job, so a better parser can be replayed from the raw store.
    """

    doc_id: str
    source: str  # e.g. "folder:seeds" — which source produced it
    source_ref: str  # where it came from, precise enough to find it again (path, URL)
    body: str
    title: str | None = None  # None: the source had no title; extraction derives one
    content_type: str = "text/plain"
    encoding: str | None = None  # how the source's bytes were decoded, when it had bytes
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(f"{self.title or ''}\n\n{self.body}")

    def metadata_values(self, key: str, separator: str) -> tuple[str, ...]:
        """A list the source stored joined in ``metadata[key]`` (feeds join authors with "; "), distinct, in order."""
        values = (" ".join(value.split()) for value in self.metadata.get(key, "").split(separator))
        return tuple(dict.fromkeys(value for value in values if value))

    @property
    def source_domain(self) -> str | None:
        """The article's web site, without ``www.``; None for sources without URLs (folders)."""
        host = (urlsplit(self.url).hostname or "") if self.url else ""
        return host.removeprefix("www.") or None


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


@dataclass(frozen=True, slots=True)
class Place:
    """A GeoNames place a location value resolved to (``pipelines.extraction.geocoding``)."""

    geonameid: int
    name: str
    kind: str  # continent, country, state (US, UK nations), city, province (other countries' first level),
    # district (second level; third for a country's features), town (GeoNames' places of 500 people or more),
    # sea (oceans, seas, gulfs, straits), region (world regions: "Middle East"; a country's: "Lake District"),
    # or a country's feature, looked at after all the others: island, lake, river, mountain, glacier,
    # stadium, airport, racecourse
    country: str | None  # ISO 3166-1 alpha-2; None for continents, seas and world regions
    admin1: str | None  # the US state code of a US state, city, district or town
    population: int
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class Revision:
    """An article's version history as indexed with it (``pipelines.revisions`` builds it).

    ``revision_count`` is how many times its content (title + cleaned body) changed to a version
    not seen before; the ``*_changed`` and ``entities_*`` fields compare the newest version with
    the one before it.
    """

    revision_count: int
    first_seen_at: datetime
    last_changed_at: datetime | None = None
    headline_changed: bool = False  # the title differs between any two versions
    title_changed: bool = False
    body_changed: bool = False
    entities_added: tuple[str, ...] = ()
    entities_removed: tuple[str, ...] = ()


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
    places: tuple[Place, ...] = ()  # the location facet's values that resolved to GeoNames places, distinct
    summary: str = ""  # lead sentences within a length budget
    reading_time_minutes: int = 0
    minhash: tuple[int, ...] = ()  # MinHash signature of the body: near-duplicate detection
    duplicate_of: str | None = None  # id of the indexed original this copies (exactly or nearly)
    duplicate_similarity: float | None = None
    enrichments: dict[str, Any] = field(default_factory=dict)  # component name → its output
    revision: Revision | None = None  # set just before the sink writes it

    @property
    def raw(self) -> RawArticle:
        return self.clean.raw

    @property
    def content_hash(self) -> str:
        """What a revision is: the title and cleaned body (markup, fetch dates and layout do not count)."""
        return content_hash(f"{self.title}\n\n{self.clean.body}")

    @property
    def entity_mentions(self) -> int:
        return sum(entity.count for entity in self.entities)

    @property
    def mentioned_dates(self) -> tuple[str, ...]:
        """The days and months the text mentions (``2016-03-14``, ``2011-03``): a bare year is too coarse to filter by."""
        return tuple(value for value in self.dates_mentioned if len(value) >= len("2011-03"))

    def geo_fields(self) -> dict[str, Any]:
        """The places as stable ids, country codes and map points (a place without coordinates has no point)."""
        return {
            "location_ids": [str(place.geonameid) for place in self.places],
            "countries": list(dict.fromkeys(place.country for place in self.places if place.country)),
            "locations_geo": [{"lat": place.lat, "lon": place.lon} for place in self.places if place.lat is not None],
        }

    def metadata_facets(self) -> dict[str, tuple[str, ...]]:
        """``METADATA_FACETS`` → values: feed authors and categories (a sitemap's news keywords count as
        categories), the source's configured tags, the site and the mentioned days or months."""
        raw = self.raw
        domain = raw.source_domain
        return {
            "authors": raw.metadata_values("authors", ";"),
            "categories": tuple(dict.fromkeys((*raw.metadata_values("categories", ";"), *raw.metadata_values("keywords", ",")))),
            "tags": raw.metadata_values("tags", ","),
            "source_domain": (domain,) if domain else (),
            "mentioned_dates": self.mentioned_dates,
        }


@dataclass(frozen=True)
class RunInfo:
    """Who wrote a record: stored on every raw and enriched document so a run's output can be found again."""

    run_id: str
    dag_id: str | None = None


@dataclass(frozen=True)
class Failure:
    """An input that could not go further, and why: it is dead-lettered, never dropped."""

    stage: Stage
    source_ref: str
    error_type: str
    message: str
    doc_id: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage", Stage(self.stage))

    @classmethod
    def from_error(cls, error: Exception, *, source: str | None, stage: Stage | None = None,
                   source_ref: str | None = None, doc_id: str | None = None) -> Failure:
        """A failure from an exception; an ``InputError`` brings its own stage, reference and reason."""
        if isinstance(error, InputError):
            return cls(stage or error.stage, source_ref or error.source_ref, getattr(error, "error_type", type(error).__name__),
                       error.reason, doc_id or error.doc_id, source)
        return cls(stage or Stage.READ, source_ref or "?", type(error).__name__, str(error), doc_id, source)

    @classmethod
    def of(cls, raw: RawArticle, stage: Stage, error: Exception) -> Failure:
        """A failure of one raw article at a stage after acquisition."""
        reason = error.reason if isinstance(error, InputError) else str(error)
        return cls(stage, raw.source_ref, type(error).__name__, reason, raw.doc_id, raw.source)

    def to_dict(self, *, message_chars: int | None = None) -> dict[str, Any]:
        return {"stage": self.stage.value, "source_ref": self.source_ref, "error_type": self.error_type,
                "message": self.message[:message_chars] if message_chars else self.message,
                "doc_id": self.doc_id, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Failure:
        return cls(**{key: data.get(key) for key in ("stage", "source_ref", "error_type", "message", "doc_id", "source")})
