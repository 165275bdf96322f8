"""WordPress shortcodes, parsed with WordPress's own semantics.

Forms handled: self-closing ``[tag attr="x" /]``, enclosing ``[tag …]content[/tag]``,
attributes in double, single or no quotes and positional ones, nesting, the escape
``[[tag]]`` (the literal text ``[tag]``), and unclosed tags (treated as self-closing, as
WordPress does). Only names the registry knows are touched: ``[sic]``, ``[1]``,
``[Reuters]`` and ``[citation needed]`` are content in news copy and stay word for word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType


class ShortcodeAction(Enum):
    DROP = "drop"  # remove the tag and its content (galleries, embeds, players, raw code)
    KEEP = "keep"  # remove the tag, keep its content as body text (layout wrappers)
    CAPTION = "caption"  # move the content to the ``captions`` field


@dataclass(frozen=True)
class ShortcodeRegistry:
    """Which shortcode names are known, and what happens to each; exact names win over prefixes."""

    names: Mapping[str, ShortcodeAction] = field(default_factory=dict)
    prefixes: Mapping[str, ShortcodeAction] = field(default_factory=dict)

    def action(self, name: str) -> ShortcodeAction | None:
        name = name.lower()
        if name in self.names:
            return self.names[name]
        for prefix, action in self.prefixes.items():
            if name.startswith(prefix):
                return action
        return None

    def with_rules(
        self,
        names: Mapping[str, ShortcodeAction | str] | None = None,
        prefixes: Mapping[str, ShortcodeAction | str] | None = None,
    ) -> ShortcodeRegistry:
        """A copy with extra or overriding rules (actions given as enum or "drop"/"keep"/"caption")."""

        def merged(base: Mapping[str, ShortcodeAction], extra: Mapping[str, ShortcodeAction | str] | None):
            rules = dict(base)
            for key, action in (extra or {}).items():
                rules[key.lower()] = ShortcodeAction(action)
            return MappingProxyType(rules)

        return ShortcodeRegistry(merged(self.names, names), merged(self.prefixes, prefixes))


DEFAULT_REGISTRY = ShortcodeRegistry(
    names=MappingProxyType(
        {
            "caption": ShortcodeAction.CAPTION,
            "wp_caption": ShortcodeAction.CAPTION,
            "gallery": ShortcodeAction.DROP,
            "embed": ShortcodeAction.DROP,
            "video": ShortcodeAction.DROP,
            "audio": ShortcodeAction.DROP,
            "playlist": ShortcodeAction.DROP,
            # Page-builder members whose content is markup or code, never prose.
            "vc_raw_html": ShortcodeAction.DROP,
            "vc_raw_js": ShortcodeAction.DROP,
            "vc_video": ShortcodeAction.DROP,
            "et_pb_code": ShortcodeAction.DROP,
            "et_pb_video": ShortcodeAction.DROP,
            "su_youtube": ShortcodeAction.DROP,
            "su_vimeo": ShortcodeAction.DROP,
            "su_audio": ShortcodeAction.DROP,
            "su_video": ShortcodeAction.DROP,
        }
    ),
    # Page builders (WPBakery, Divi, Shortcodes Ultimate) wrap the article's own text.
    prefixes=MappingProxyType({"vc_": ShortcodeAction.KEEP, "et_pb_": ShortcodeAction.KEEP, "su_": ShortcodeAction.KEEP}),
)

# One tag: optional escape bracket, optional "/", name, attributes (quoted values may hold
# brackets), optional self-closing "/", optional closing escape bracket.
_TAG = re.compile(
    r"""\[(?P<escape_open>\[?)
        (?P<closing>/?)
        (?P<name>[A-Za-z][\w-]*)(?=[\s/\]])
        (?P<attrs>(?:\s|"[^"]*"|'[^']*'|[^\s\[\]"'/]|/(?!\s*\]))*?)
        (?P<self_closing>/?)\s*
        \](?P<escape_close>\]?)""",
    re.VERBOSE,
)
# WordPress's shortcode_parse_atts: name="v", name='v', name=v, "positional", positional.
_ATTRIBUTE = re.compile(
    r"""([\w-]+)\s*=\s*"([^"]*)"(?:\s|$)
      | ([\w-]+)\s*=\s*'([^']*)'(?:\s|$)
      | ([\w-]+)\s*=\s*([^\s'"]+)(?:\s|$)
      | "([^"]*)"(?:\s|$)
      | '([^']*)'(?:\s|$)
      | (\S+)(?:\s|$)""",
    re.VERBOSE,
)
REMOVED = "\x00"  # marks where a shortcode was, so a line it leaves empty disappears entirely


def parse_attributes(text: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Named attributes (lower-cased names) and positional ones, as WordPress reads them."""
    named: dict[str, str] = {}
    positional: list[str] = []
    for match in _ATTRIBUTE.finditer(text.strip()):
        groups = match.groups()
        for name_index in (0, 2, 4):
            if groups[name_index]:
                named[groups[name_index].lower()] = groups[name_index + 1]
                break
        else:
            positional.append(next(value for value in groups[6:] if value is not None))
    return named, tuple(positional)


@dataclass
class ShortcodeFindings:
    captions: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # one name per removed tag


def _find_closing(text: str, name: str, start: int) -> re.Match[str] | None:
    """The ``[/name]`` that closes a tag opened before ``start``, honouring nesting."""
    depth = 1
    for match in _TAG.finditer(text, start):
        if match["name"].lower() != name or match["escape_open"]:
            continue
        if match["closing"]:
            depth -= 1
            if depth == 0:
                return match
        elif not match["self_closing"]:
            depth += 1
    return None


def _end(match: re.Match[str]) -> int:
    # A "]" after a tag that is not escaped is ordinary text: give it back.
    return match.end() - len(match["escape_close"])


def strip_shortcodes(
    text: str,
    registry: ShortcodeRegistry,
    findings: ShortcodeFindings,
    caption_text=None,  # noqa: ANN001 — callable turning caption markup into text
) -> str:
    """``text`` without known shortcodes (each replaced by ``REMOVED``); captions go to ``findings``."""
    out: list[str] = []
    position = 0
    while True:
        match = _TAG.search(text, position)
        if match is None:
            out.append(text[position:])
            return "".join(out)
        name = match["name"].lower()
        action = registry.action(name)
        out.append(text[position : match.start()])
        position = _end(match)
        if action is None:
            # Not a shortcode we know: ordinary bracketed text stays, word for word.
            out.append("[")
            position = match.start() + 1
            continue
        if match["escape_open"]:
            position = _unescape(text, match, name, out)
            continue
        findings.removed.append(name)
        out.append(REMOVED)
        if match["closing"] or match["self_closing"]:
            continue
        closing = _find_closing(text, name, _end(match))
        if closing is None:
            continue  # unclosed: WordPress treats it as self-closing; what follows is kept
        inner = text[_end(match) : closing.start()]
        position = _end(closing)
        if action is ShortcodeAction.CAPTION:
            inner_text = strip_shortcodes(inner, registry, findings, caption_text).replace(REMOVED, " ")
            caption = caption_text(inner_text) if caption_text else inner_text.strip()
            if not caption:  # old WordPress put the caption in an attribute
                caption = parse_attributes(match["attrs"])[0].get("caption", "").strip()
            if caption:
                findings.captions.append(caption)
        elif action is ShortcodeAction.KEEP:
            out.append(strip_shortcodes(inner, registry, findings, caption_text))


def _unescape(text: str, match: re.Match[str], name: str, out: list[str]) -> int:
    """``[[tag]]`` and ``[[tag]…[/tag]]`` stand for their literal text minus the outer brackets."""
    if match["escape_close"]:
        out.append(match.group(0)[1:-1])
        return match.end()
    if not match["closing"] and not match["self_closing"]:
        closing = _find_closing(text, name, match.end())
        if closing is not None and closing["escape_close"]:
            out.append(text[match.start() + 1 : closing.end() - 1])
            return closing.end()
    # A lone "[" before a tag is just a bracket; the tag itself is handled on the next pass.
    out.append("[")
    return match.start() + 1
