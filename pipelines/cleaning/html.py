"""HTML to readable text: the one place in newsflow where markup becomes text.

Three shapes of HTML arrive: a **fragment** (a feed entry's content, a caption) becomes text
with ``html_to_text``; a **document** (an ``.html`` file) also gives its title and loses the
page chrome (``html_document``); a **page** fetched from the web is reduced to its main text by
trafilatura (``main_text``). selectolax (lexbor) is fast and never raises on broken markup.
"""

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


_COLLAPSIBLE = re.compile(r"[ \t\r\n\f]+")


def _collect_text(root, parts: list[str]) -> None:  # noqa: ANN001 — a selectolax node
    """Append the text under ``root`` to ``parts``, depth first with an explicit stack (no recursion:
    thousands of nested elements are as safe as a flat page)."""
    # Line breaks in HTML source are just spaces; only <br>, blocks and <pre> break lines.
    # Each stack entry: the children still to read, whether inside <pre>, and what to add after them.
    stack = [(root.iter(include_text=True), False, "")]
    while stack:
        children, preformatted, after = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            parts.append(after)
            continue
        tag = child.tag
        if tag == "-text":
            text = child.text_content or ""
            parts.append(text if preformatted else _COLLAPSIBLE.sub(" ", text))
        elif tag == "br":
            parts.append("\n")
        elif tag in _SKIPPED_ELEMENTS or tag.startswith("-"):  # -comment, -doctype
            continue
        elif tag in _BLOCK_ELEMENTS:
            parts.append("\n\n")
            stack.append((child.iter(include_text=True), preformatted or tag == "pre", "\n\n"))
        elif tag in _CELL_ELEMENTS:
            parts.append(" ")
            stack.append((child.iter(include_text=True), preformatted, " "))
        else:
            stack.append((child.iter(include_text=True), preformatted, ""))


_CHROME = ("nav", "footer", "aside", "header")


def html_document(html: str) -> tuple[str | None, str]:
    """The title (first ``<h1>``, else ``<title>``) and the text of a whole HTML document, without
    navigation, header, footer and aside chrome; the ``<h1>`` is not repeated in the text."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    heading, head_title = tree.css_first("h1"), tree.css_first("title")
    title = " ".join((heading or head_title).text().split()) if (heading or head_title) else None
    for node in tree.css(", ".join(_CHROME)):
        node.decompose()
    if heading is not None and tree.css_first("h1") is not None:
        tree.css_first("h1").decompose()
    root = tree.body or tree.root
    if root is None:
        return title or None, ""
    parts: list[str] = []
    _collect_text(root, parts)
    return title or None, normalize_whitespace("".join(parts))


def main_text(html: str, *, url: str | None = None) -> str:
    """The main text of a web page (trafilatura: article body without menus, comments, related
    links); empty when the page has none.

    lxml, under trafilatura, drops what is nested deeper than 255 elements, so a page nested
    that deep came back empty: its text is then read by the stack walk of ``html_document``."""
    import trafilatura

    text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False) or ""
    return text or (html_document(html)[1] if looks_like_html(html) else "")
