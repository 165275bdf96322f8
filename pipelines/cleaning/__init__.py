"""Cleaning: raw article text in, clean text out, plus a report of everything removed or repaired.

Order matters: encoding is repaired first (mojibake can hide anywhere), then shortcodes
(captions move to their own field), then HTML, then boilerplate lines and stripped
apostrophes, and whitespace last. Every step is a pure function; ``clean_article`` is the
stage the runner calls.

Cleaning is idempotent (``clean(clean(x)) == clean(x)``) with one deliberate exception taken
from WordPress: an escaped shortcode ``[[caption]]`` means the literal text ``[caption]``,
which a second pass would read as a shortcode.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.cleaning.html import html_to_text, looks_like_html
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
    repair_encoding,
    repair_stripped_apostrophes,
)
from pipelines.errors import ConfigError
from pipelines.models import CleanArticle, RawArticle

__all__ = [
    "DEFAULT_REGISTRY",
    "CleanedText",
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
    def from_env(cls) -> CleaningConfig:
        path = os.environ.get("NEWSFLOW_CLEANING_CONFIG")
        return cls.from_file(Path(path)) if path else DEFAULT_CONFIG


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


def clean_text(text: str, config: CleaningConfig | Mapping[str, ShortcodeAction] | None = None) -> CleanedText:
    """Clean one text; a plain mapping is taken as the complete shortcode registry."""
    if config is None:
        config = DEFAULT_CONFIG
    elif not isinstance(config, CleaningConfig):
        config = CleaningConfig(registry=ShortcodeRegistry(names={k.lower(): v for k, v in config.items()}))

    text = text.replace(REMOVED, "")
    repaired = repair_encoding(text)
    findings = ShortcodeFindings()
    stripped = strip_shortcodes(repaired, config.registry, findings, _caption_text)
    stripped = _LINES_ONLY_REMOVED.sub("", stripped).replace(REMOVED, " ")

    html_removed = False
    for _ in range(_MAX_HTML_ROUNDS):
        if not looks_like_html(stripped):
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


def clean_title(title: str | None) -> str | None:
    if not title:
        return None
    text = repair_encoding(title)
    if looks_like_html(text):
        text = html_to_text(text)
    return normalize_whitespace(text).replace("\n", " ") or None


def clean_article(raw: RawArticle, config: CleaningConfig | None = None) -> CleanArticle:
    body = clean_text(raw.body, config)
    return CleanArticle(
        raw=raw,
        title=clean_title(raw.title),
        body=body.text,
        captions=body.captions,
        removed_shortcodes=body.removed_shortcodes,
        dropped_lines=body.dropped_lines,
        repairs=body.repairs,
        encoding_repaired=body.encoding_repaired,
        html_removed=body.html_removed,
    )
