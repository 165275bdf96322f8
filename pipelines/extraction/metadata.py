"""Document-level enrichment beside the entities: language, mentioned dates, lead summary, reading time.

Keywords are in ``pipelines.extraction.keywords``.

Pure functions over text; the libraries they use carry their models and data in the installed
packages (py3langid's model, dateparser's locale data): nothing is
downloaded at run time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any

# Languages a news pipeline meets; restricting the classifier to them keeps short English
# texts from being called Frisian or Nigerian Pidgin.
NEWS_LANGUAGES = tuple(
    "en de fr es it pt nl sv da no fi pl cs sk sl hr sr bg ro hu el ru uk tr ar he fa hi ur zh ja ko id vi".split()
)
MIN_LANGUAGE_CONFIDENCE = 0.6
WORDS_PER_MINUTE = 230
SUMMARY_MAX_CHARS = 300

_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Date expressions precise enough to pin to a day, month or year; "last week", "the 1990s",
# "two years ago" or "recent months" are left alone rather than turned into a made-up day.
_DATE_WORD = rf"(?:(?:{_MONTHS})[a-z]*\.?|{'|'.join(_WEEKDAYS)}|\d{{1,2}}(?:st|nd|rd|th)?|\d{{4}}|of|,)"
_RESOLVABLE_DATE = re.compile(
    rf"^(?:{_DATE_WORD},?(?:\s+|$))+$|^(?:yesterday|today|tomorrow)$|^(?:this|last|next) (?:year|month)$"
)
_MONTH_NUMBERS = {
    name: number
    for number, full in enumerate(
        "january february march april may june july august september october november december".split(), start=1
    )
    for name in (full, full[:3], *(("sept",) if number == 9 else ()))
}
_YEAR_OR_MONTH = re.compile(rf"(?:(?P<month>{'|'.join(_MONTH_NUMBERS)})\s+)?(?P<year>\d{{4}})")
_LEADING_DATE_WORDS = re.compile(r"^(?:on|the|since|by|until|in|early|late)\s+", re.IGNORECASE)
_YEAR = re.compile(r"\b\d{4}\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'\u201c\u2018(]?[A-Z0-9\u00C0-\u024F])")


@cache
def _language_identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages([lang for lang in NEWS_LANGUAGES if lang in identifier.labels])
    return identifier


def load_tables() -> None:
    """Build the language identifier and the date parser now: about a second and a half on first
    use, paid before work starts (and before worker processes fork, so they share them). One
    parse builds the patterns dateparser compiles on first use (0.2–0.4 s), likewise."""
    _language_identifier()
    _date_parser(None).get_date_data("14 march 2016")


def detect_language(text: str, *, default: str = "en") -> str:
    """ISO 639-1 code of ``text``; ``default`` when the text is too short or mixed to tell confidently."""
    sample = text[:5000]
    if not sample.strip():
        return default
    language, confidence = _language_identifier().classify(sample)
    if language != default and confidence < MIN_LANGUAGE_CONFIDENCE:
        return default
    return language


@lru_cache(maxsize=256)  # one per publication minute: a long run meets unboundedly many
def _date_parser(relative_base: datetime | None) -> Any:
    from dateparser.date import DateDataParser

    settings: dict[str, Any] = {"PREFER_DATES_FROM": "past", "PREFER_DAY_OF_MONTH": "first"}
    if relative_base is not None:
        settings["RELATIVE_BASE"] = relative_base.replace(tzinfo=None)
    return DateDataParser(languages=["en"], settings=settings)


_PLAUSIBLE_YEARS = (1000, 2999)  # and four digits, as the index's strict date formats require


def resolve_date(expression: str, published_at: datetime | None) -> str | None:
    """An ISO date (``2016-03-14``), month (``2011-03``) or year (``2015``) for a date expression, or None.

    Expressions without a year ("March 14", "Saturday", "yesterday") are resolved relative to
    ``published_at`` — a weekday to the latest such day on or before publication — and are
    unresolvable without it. Vague expressions ("last week", "the 1990s") are never resolved.
    """
    text = _LEADING_DATE_WORDS.sub("", " ".join(expression.lower().split())).strip(" .,")
    if not text or not _RESOLVABLE_DATE.match(text):
        return None
    if not _YEAR.search(text) and published_at is None:
        return None
    if text in _WEEKDAYS:
        assert published_at is not None
        published = published_at.date()
        back = (published.weekday() - _WEEKDAYS.index(text)) % 7
        return date.fromordinal(published.toordinal() - back).isoformat()
    if plain := _year_or_month(text):
        return plain
    base = published_at.replace(second=0, microsecond=0) if published_at is not None else None
    data = _date_parser(base).get_date_data(text)
    if data.date_obj is None or not _PLAUSIBLE_YEARS[0] <= data.date_obj.year <= _PLAUSIBLE_YEARS[1]:
        return None  # "900" or "227" in news copy are amounts, not the years 900 and 227
    if data.period == "year":
        return f"{data.date_obj.year:04d}"
    if data.period == "month":
        return f"{data.date_obj.year:04d}-{data.date_obj.month:02d}"
    if data.period == "day":
        return data.date_obj.date().isoformat()
    return None


def _year_or_month(text: str) -> str | None:
    """``2004`` and ``june 2004`` as dateparser resolves them, without it: they are nearly half the
    date expressions of bbc-dev that reach it, and it takes about 4 ms for each. None for any other text."""
    match = _YEAR_OR_MONTH.fullmatch(text)
    if match is None or not _PLAUSIBLE_YEARS[0] <= int(match["year"]) <= _PLAUSIBLE_YEARS[1]:
        return None
    if match["month"] is None:
        return match["year"]
    return f"{match['year']}-{_MONTH_NUMBERS[match['month']]:02d}"


def resolve_dates(expressions: Iterable[str], published_at: datetime | None) -> tuple[str, ...]:
    """Distinct resolvable dates, in order of first mention."""
    resolved = (resolve_date(expression, published_at) for expression in expressions)
    return tuple(dict.fromkeys(value for value in resolved if value))


def split_sentences(text: str) -> list[str]:
    """A plain splitter for text the English model does not see (other languages)."""
    sentences = []
    for paragraph in text.split("\n"):
        sentences.extend(part.strip() for part in _SENTENCE_END.split(paragraph) if part.strip())
    return sentences


def lead_summary(sentences: Sequence[str], *, max_chars: int = SUMMARY_MAX_CHARS) -> str:
    """The first sentences that fit in ``max_chars``; a too-long first sentence is cut at a word boundary."""
    summary = ""
    for sentence in sentences:
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        candidate = f"{summary} {sentence}".strip()
        if len(candidate) <= max_chars:
            summary = candidate
            continue
        if not summary:
            summary = sentence[: max_chars - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
        break
    return summary


def reading_time_minutes(word_count: int) -> int:
    """Whole minutes at an adult reading speed; at least one for any text."""
    return max(1, math.ceil(word_count / WORDS_PER_MINUTE)) if word_count else 0
