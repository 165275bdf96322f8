"""HTML to readable text with selectolax (lexbor): fast, and never raises on broken markup."""

from __future__ import annotations

import re

from pipelines.cleaning.text import normalize_whitespace

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
_KNOWN_ELEMENTS = _SKIPPED_ELEMENTS | _BLOCK_ELEMENTS | _CELL_ELEMENTS | {
    "a", "b", "i", "u", "s", "em", "strong", "span", "small", "sub", "sup", "br", "img", "picture", "source",
    "abbr", "cite", "code", "q", "mark", "time", "font", "center", "html", "body", "video", "audio",
}
# A real tag or comment, not "a < b" or "x<y": only known element names count.
_TAG_LIKE = re.compile(r"<(?:!--|/?(?:" + "|".join(sorted(_KNOWN_ELEMENTS)) + r")\b[^<>]*>)", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    return _TAG_LIKE.search(text) is not None


def html_to_text(html: str) -> str:
    """Readable text from an HTML fragment or page.

    Block elements become paragraphs and ``<br>`` a line break; scripts, styles and comments
    go; entities are decoded by the parser; links and inline markup keep only their text.
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


def _collect_text(node, parts: list[str]) -> None:  # noqa: ANN001 — a selectolax node
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
