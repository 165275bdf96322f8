"""Cleaning: raw article text in, clean text out, plus a report of everything removed or repaired.

Order matters: encoding is repaired first (mojibake can hide anywhere), then shortcodes
(captions move to their own field), then HTML, then boilerplate lines and stripped
apostrophes, and whitespace last. Every step is a pure function; ``Cleaner`` is the pipeline
component (``clean`` in the component registry), ``clean_article`` its work on one article.

A raw article's ``content_type`` says what arrived: ``text/html`` bodies are converted here,
and only here (``pipelines.cleaning.html``), as a fragment, a whole document or a fetched page.

Cleaning is idempotent (``clean(clean(x)) == clean(x)``) with one deliberate exception taken
from WordPress: an escaped shortcode ``[[caption]]`` means the literal text ``[caption]``,
which a second pass would read as a shortcode.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.cleaning.html import html_document, html_to_text, looks_like_html, main_text
from pipelines.cleaning.shortcodes import (
    DEFAULT_REGISTRY,
    REMOVED,
    ShortcodeAction,
    ShortcodeFindings,
    ShortcodeRegistry,
    parse_attributes,
    strip_shortcodes,
)
from pipelines.cleaning.text import (
    DEFAULT_BOILERPLATE,
    compile_boilerplate,
    drop_boilerplate,
    normalize_whitespace,
    remove_invisible,
    repair_encoding,
    repair_stripped_apostrophes,
)
from pipelines.errors import CleaningError, ConfigError, Stage
from pipelines.models import CleanArticle, Failure, RawArticle

if TYPE_CHECKING:
    from pipelines.settings import Settings

__all__ = [
    "DEFAULT_REGISTRY",
    "CleanedText",
    "Cleaner",
    "CleaningConfig",
    "ShortcodeAction",
    "ShortcodeRegistry",
    "clean_article",
    "clean_text",
    "html_to_text",
    "looks_like_html",
    "normalize_whitespace",
    "parse_attributes",
]

_LINES_ONLY_REMOVED = re.compile(r"^[ \t]*\x00[ \t\x00]*(?:\n|$)", re.MULTILINE)
_MAX_HTML_ROUNDS = 3  # double-escaped feeds ("&lt;p&gt;") need a second pass, never many


@dataclass(frozen=True)
class CleaningConfig:
    registry: ShortcodeRegistry = DEFAULT_REGISTRY
    boilerplate: tuple[str, ...] = DEFAULT_BOILERPLATE
    repair_apostrophes: bool = True
    _boilerplate_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = compile_boilerplate(self.boilerplate)
        except re.error as error:
            raise ConfigError(f"invalid boilerplate pattern: {error}") from None
        object.__setattr__(self, "_boilerplate_re", compiled)

    @classmethod
    def from_file(cls, path: Path) -> CleaningConfig:
        """Extra rules from YAML: ``shortcodes: {name: drop|keep|caption}``, ``shortcode_prefixes: {…}``,
        ``boilerplate: [regex, …]`` (added to the defaults), ``repair_apostrophes: bool``."""
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
            registry = DEFAULT_REGISTRY.with_rules(data.get("shortcodes"), data.get("shortcode_prefixes"))
        except (OSError, yaml.YAMLError, ValueError, AttributeError) as error:
            raise ConfigError(f"cannot read cleaning config {path}: {error}") from None
        return cls(
            registry=registry,
            boilerplate=(*DEFAULT_BOILERPLATE, *data.get("boilerplate", ())),
            repair_apostrophes=bool(data.get("repair_apostrophes", True)),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> CleaningConfig:
        """The defaults plus the rules in ``NEWSFLOW_CLEANING_CONFIG`` (``Settings.cleaning_config``)."""
        return cls.from_file(settings.cleaning_config) if settings.cleaning_config else DEFAULT_CONFIG


DEFAULT_CONFIG = CleaningConfig()


@dataclass(frozen=True)
class CleanedText:
    text: str
    captions: tuple[str, ...] = ()
    removed_shortcodes: tuple[str, ...] = ()  # one name per removed tag
    dropped_lines: tuple[str, ...] = ()  # boilerplate
    repairs: tuple[str, ...] = ()  # "Russias→Russia's"
    encoding_repaired: bool = False
    html_removed: bool = False


def _caption_text(markup: str) -> str:
    text = html_to_text(markup) if looks_like_html(markup) else markup
    return normalize_whitespace(text).replace("\n", " ")


def clean_text(
    text: str, config: CleaningConfig | Mapping[str, ShortcodeAction] | None = None, *, html: bool = False
) -> CleanedText:
    """Clean one text; a plain mapping is taken as the complete shortcode registry. ``html``: the
    text is an HTML fragment, converted whether or not it looks like markup (entities included)."""
    if config is None:
        config = DEFAULT_CONFIG
    elif not isinstance(config, CleaningConfig):
        config = CleaningConfig(registry=ShortcodeRegistry(names={k.lower(): v for k, v in config.items()}))

    text = remove_invisible(text.replace(REMOVED, ""))
    repaired = repair_encoding(text)
    findings = ShortcodeFindings()
    stripped = strip_shortcodes(repaired, config.registry, findings, _caption_text)
    stripped = _LINES_ONLY_REMOVED.sub("", stripped).replace(REMOVED, " ")

    html_removed = False
    for round_ in range(_MAX_HTML_ROUNDS):
        if not looks_like_html(stripped) and not (html and round_ == 0):
            break
        stripped, html_removed = html_to_text(stripped), True

    body, dropped = drop_boilerplate(normalize_whitespace(stripped), config._boilerplate_re)
    repairs: tuple[str, ...] = ()
    if config.repair_apostrophes:
        body, repairs = repair_stripped_apostrophes(body)
    return CleanedText(
        text=normalize_whitespace(body),
        captions=tuple(findings.captions),
        removed_shortcodes=tuple(findings.removed),
        dropped_lines=dropped,
        repairs=repairs,
        encoding_repaired=repaired != text,
        html_removed=html_removed,
    )


def clean_title(title: str | None, *, html: bool = False) -> str | None:
    if not title:
        return None
    text = repair_encoding(title)
    if html or looks_like_html(text):
        text = html_to_text(text)
    return normalize_whitespace(text).replace("\n", " ") or None


def _body_and_title(raw: RawArticle) -> tuple[str, str | None, bool]:
    """The text to clean, a title found in the markup, and whether the text is still an HTML fragment."""
    if raw.content_type != "text/html":
        return raw.body, None, False
    kind = raw.metadata.get("html", "fragment")
    if kind == "document":
        title, text = html_document(raw.body)
        return text, title, False
    if kind == "page":
        text = main_text(raw.body, url=raw.metadata.get("page_url") or raw.url)
        summary = raw.metadata.get("summary") or ""
        summary_is_html = raw.metadata.get("summary_type", "text/html") == "text/html"
        summary_text = html_to_text(summary) if summary_is_html else summary
        # A page whose main text is shorter than the source's own summary is a paywall or a teaser.
        return (text, None, False) if len(text) > len(summary_text) else (summary, None, summary_is_html)
    return raw.body, None, True


def clean_article(raw: RawArticle, config: CleaningConfig | None = None) -> CleanArticle:
    text, markup_title, html = _body_and_title(raw)
    body = clean_text(text, config, html=html)
    return CleanArticle(
        raw=raw,
        title=clean_title(raw.title, html=raw.metadata.get("title_type") == "text/html") or clean_title(markup_title),
        body=body.text,
        captions=body.captions,
        removed_shortcodes=body.removed_shortcodes,
        dropped_lines=body.dropped_lines,
        repairs=body.repairs,
        encoding_repaired=body.encoding_repaired,
        html_removed=body.html_removed or raw.content_type == "text/html",
    )


DEFAULT_MAX_CHARS = 2_000_000


class Cleaner:
    """The cleaning component: raw articles in, clean articles (or ``Stage.CLEAN`` failures) out.

    A body longer than ``max_chars`` is not cleaned at all: it becomes that article's dead
    letter, so one giant input cannot stall a batch (``NEWSFLOW_MAX_ARTICLE_CHARS``).
    """

    name = "clean"
    stage = Stage.CLEAN
    parallel = True  # a pure function of its input: may run in worker processes

    def __init__(self, config: CleaningConfig = DEFAULT_CONFIG, *, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.config = config
        self.max_chars = max_chars

    @classmethod
    def from_settings(cls, settings: Settings) -> Cleaner:
        return cls(CleaningConfig.from_settings(settings), max_chars=settings.max_article_chars)

    def __call__(self, raw: RawArticle) -> CleanArticle:
        if len(raw.body) > self.max_chars:
            raise CleaningError(
                f"body has {len(raw.body):,} characters, over the budget of {self.max_chars:,} "
                "(NEWSFLOW_MAX_ARTICLE_CHARS)",
                source_ref=raw.source_ref,
                doc_id=raw.doc_id,
            )
        try:
            article = clean_article(raw, self.config)
        except Exception as error:  # noqa: BLE001 — any bug on one odd article becomes its dead letter
            raise CleaningError(f"{type(error).__name__}: {error}", source_ref=raw.source_ref, doc_id=raw.doc_id) from error
        if not article.body.strip():
            raise CleaningError("no text left after cleaning", source_ref=raw.source_ref, doc_id=raw.doc_id)
        return article

    def pipe(self, raws: Iterable[RawArticle]) -> Iterator[CleanArticle | Failure]:
        for raw in raws:
            try:
                yield self(raw)
            except CleaningError as error:
                yield Failure.from_error(error, source=raw.source)
