"""Cleaning: WordPress shortcodes out (captions kept apart), whitespace normalised.

Pure functions only: text in, text out. Bracketed text that is not a known shortcode
(``[sic]``, ``[1]``, ``[Reuters]``) is never touched, because in news copy it is content.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import Enum

from pipelines.models import CleanArticle, RawArticle


class ShortcodeAction(Enum):
    DROP = "drop"  # remove the tag and its content (galleries, embeds, players)
    KEEP = "keep"  # remove the tag, keep its content as body text (layout wrappers)
    CAPTION = "caption"  # move the content to the ``captions`` field


DEFAULT_SHORTCODES: dict[str, ShortcodeAction] = {
    "caption": ShortcodeAction.CAPTION,
    "wp_caption": ShortcodeAction.CAPTION,
    "gallery": ShortcodeAction.DROP,
    "embed": ShortcodeAction.DROP,
    "video": ShortcodeAction.DROP,
    "audio": ShortcodeAction.DROP,
    "playlist": ShortcodeAction.DROP,
}

# One shortcode tag: optional escape bracket, optional "/", name, attributes (quoted values may
# contain brackets), optional self-closing "/", optional closing escape bracket.
_TAG = re.compile(
    r"""\[(?P<escape_open>\[?)
        (?P<closing>/?)
        (?P<name>[A-Za-z][\w-]*)(?=[\s/\]])
        (?P<attrs>(?:\s|"[^"]*"|'[^']*'|[^\s\[\]"'/]|/(?!\s*\]))*?)
        (?P<self_closing>/?)\s*
        \](?P<escape_close>\]?)""",
    re.VERBOSE,
)
_HTML_TAG = re.compile(r"<[^>]*>")
_INLINE_SPACE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_REMOVED = "\x00"  # marks where a shortcode was, so a line left empty by it disappears entirely
_LINES_ONLY_REMOVED = re.compile(r"^[ \t]*\x00[ \t\x00]*(?:\n|$)", re.MULTILINE)


@dataclass(frozen=True)
class CleanedText:
    text: str
    captions: tuple[str, ...] = ()
    removed_shortcodes: tuple[str, ...] = ()


@dataclass
class _Found:
    captions: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def normalize_whitespace(text: str) -> str:
    """NFC, no invisible characters, single spaces, paragraphs separated by one blank line."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (_INLINE_SPACE.sub(" ", line).strip() for line in re.split(r"\n\s*\n", text))
    cleaned = []
    for paragraph in paragraphs:
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        if lines:
            cleaned.append("\n".join(lines))
    return "\n\n".join(cleaned)


def _find_closing(text: str, name: str, start: int) -> tuple[int, int] | None:
    """Span of the ``[/name]`` that closes a tag opened before ``start``, honouring nesting."""
    depth = 1
    for match in _TAG.finditer(text, start):
        if match["name"].lower() != name or match["escape_open"]:
            continue
        if match["closing"]:
            depth -= 1
            if depth == 0:
                return match.start(), match.end()
        elif not match["self_closing"]:
            depth += 1
    return None


def _strip_shortcodes(text: str, registry: dict[str, ShortcodeAction], found: _Found) -> str:
    out: list[str] = []
    position = 0
    while True:
        match = _TAG.search(text, position)
        if match is None:
            out.append(text[position:])
            return "".join(out)
        name = match["name"].lower()
        action = registry.get(name)
        out.append(text[position : match.start()])
        position = match.end()
        if action is None:
            # Not a shortcode we know: ordinary bracketed text stays, word for word.
            out.append(text[match.start() : match.start() + 1])
            position = match.start() + 1
            continue
        if match["escape_open"] and match["escape_close"]:
            out.append(match.group(0)[1:-1])  # [[caption]] is how WordPress writes a literal [caption]
            continue
        found.removed.append(name)
        out.append(_REMOVED)
        if match["closing"] or match["self_closing"]:
            continue
        closing = _find_closing(text, name, match.end())
        if closing is None:
            continue  # unclosed: drop the tag alone, keep what follows
        inner = text[match.end() : closing[0]]
        position = closing[1]
        if action is ShortcodeAction.CAPTION:
            inner_text = _strip_shortcodes(inner, registry, found).replace(_REMOVED, " ")
            caption = normalize_whitespace(_HTML_TAG.sub(" ", inner_text))
            if caption:
                found.captions.append(caption)
        elif action is ShortcodeAction.KEEP:
            out.append(_strip_shortcodes(inner, registry, found))


# ---------------------------------------------------------------------------- HTML

_SKIPPED_ELEMENTS = frozenset(
    {"script", "style", "noscript", "template", "iframe", "svg", "canvas", "head", "title", "form", "button", "select"}
)
_BLOCK_ELEMENTS = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "aside", "main", "nav", "blockquote", "pre",
        "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr", "figure",
        "figcaption", "hr", "address", "details", "summary",
    }
)
_CELL_ELEMENTS = frozenset({"td", "th"})


def html_to_text(html: str) -> str:
    """Readable text from an HTML fragment or page.

    Block elements become paragraphs and ``<br>`` a line break; scripts, styles and comments
    go; entities are decoded by the parser; links and inline markup keep only their text.
    Parsing is selectolax (lexbor), which never raises on broken markup.
    """
    from selectolax.lexbor import LexborHTMLParser

    if "<" not in html and "&" not in html:
        return normalize_whitespace(html)
    tree = LexborHTMLParser(html)
    root = tree.body or tree.root
    if root is None:
        return ""
    parts: list[str] = []
    _collect_text(root, parts)
    return normalize_whitespace("".join(parts))


def _collect_text(node, parts: list[str]) -> None:  # noqa: ANN001 — selectolax node
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            parts.append(child.text_content or "")
        elif tag == "br":
            parts.append("\n")
        elif tag in _SKIPPED_ELEMENTS or tag.startswith("-"):  # -comment, -doctype
            continue
        elif tag in _BLOCK_ELEMENTS:
            parts.append("\n\n")
            _collect_text(child, parts)
            parts.append("\n\n")
        elif tag in _CELL_ELEMENTS:
            parts.append(" ")
            _collect_text(child, parts)
            parts.append(" ")
        else:
            _collect_text(child, parts)


def clean_text(text: str, registry: dict[str, ShortcodeAction] | None = None) -> CleanedText:
    """Remove known shortcodes and normalise whitespace; captions are returned apart."""
    found = _Found()
    stripped = _strip_shortcodes(text.replace(_REMOVED, ""), registry or DEFAULT_SHORTCODES, found)
    stripped = _LINES_ONLY_REMOVED.sub("", stripped).replace(_REMOVED, " ")
    return CleanedText(
        text=normalize_whitespace(stripped),
        captions=tuple(found.captions),
        removed_shortcodes=tuple(found.removed),
    )


def clean_article(raw: RawArticle, registry: dict[str, ShortcodeAction] | None = None) -> CleanArticle:
    body = clean_text(raw.body, registry)
    title = normalize_whitespace(raw.title).replace("\n", " ") if raw.title else None
    return CleanArticle(
        raw=raw,
        title=title or None,
        body=body.text,
        captions=body.captions,
        removed_shortcodes=body.removed_shortcodes,
    )
