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


def _end(match: re.Match[str]) -> int:
    # A "]" after a tag that is not escaped is ordinary text: give it back.
    return match.end() - len(match["escape_close"])


@dataclass
class _Token:
    """One known tag, in text order; ``partner`` is the index of the tag that closes an opening one."""

    match: re.Match[str]
    name: str
    action: ShortcodeAction
    escaped: bool = False  # the "[" of "[[tag…]": its tag follows as the next token
    partner: int | None = None

    @property
    def opens(self) -> bool:
        return not (self.escaped or self.match["escape_open"] or self.match["closing"] or self.match["self_closing"])


def _tokens(text: str, registry: ShortcodeRegistry) -> list[_Token]:
    """Every known tag in one left-to-right scan, and which closing tag ends each opening one.

    Unknown names are text: the scan moves on by one character, so a known tag inside one is
    still seen. Closing tags are paired with a stack per name (the innermost open tag of that
    name), which is WordPress's nesting rule; an opening tag left without a partner is unclosed.
    """
    tokens: list[_Token] = []
    open_by_name: dict[str, list[int]] = {}
    position = 0
    while (match := _TAG.search(text, position)) is not None:
        name = match["name"].lower()
        action = registry.action(name)
        if action is None:
            position = match.start() + 1
            continue
        if match["escape_open"] and not match["escape_close"]:
            # "[[tag…]": a lone "[" unless the tag's partner ends in "]]"; the tag itself comes next.
            tokens.append(_Token(match, name, action, escaped=True))
            position = match.start() + 1
            continue
        token = _Token(match, name, action)
        if token.opens:
            open_by_name.setdefault(name, []).append(len(tokens))
        elif match["closing"] and not match["escape_open"] and open_by_name.get(name):
            tokens[open_by_name[name].pop()].partner = len(tokens)
        tokens.append(token)
        position = _end(match) if not match["escape_open"] else match.end()
    return tokens


@dataclass
class _Frame:
    """An enclosing shortcode being read: where it ends, and where its content goes."""

    out: list[str]
    end: int  # index of the closing token (len(tokens) for the whole text)
    opening: _Token | None = None  # a caption's opening tag; None: content is kept in place


def strip_shortcodes(
    text: str,
    registry: ShortcodeRegistry,
    findings: ShortcodeFindings,
    caption_text=None,  # noqa: ANN001 — callable turning caption markup into text
) -> str:
    """``text`` without known shortcodes (each replaced by ``REMOVED``); captions go to ``findings``.

    One scan finds the tags and pairs them (``_tokens``); one walk over the tags writes the
    result, with an explicit stack for nesting: linear time and no recursion, however deep
    the nesting or however many tags are left unclosed.
    """
    tokens = _tokens(text, registry)
    top: list[str] = []
    frames = [_Frame(top, len(tokens))]
    position = 0
    index = 0
    while True:
        frame = frames[-1]
        if index == frame.end:  # the closing tag of the innermost frame, or the end of the text
            end = tokens[index].match.start() if index < len(tokens) else len(text)
            frame.out.append(text[position:end])
            if len(frames) == 1:
                return "".join(top)
            frames.pop()
            if frame.opening is not None:
                _add_caption(frame, findings, caption_text)
            position = _end(tokens[index].match)
            index += 1
            continue
        token = tokens[index]
        match = token.match
        frame.out.append(text[position : match.start()])
        # An opening tag whose partner lies beyond the enclosing tag's end is unclosed here.
        partner = token.partner if token.partner is not None and token.partner < frame.end else None
        if token.escaped:
            tag = tokens[index + 1]
            pair = tag.partner if tag.opens and tag.partner is not None and tag.partner < frame.end else None
            if pair is not None and tokens[pair].match["escape_close"]:
                frame.out.append(text[tag.match.start() : tokens[pair].match.end() - 1])
                position, index = tokens[pair].match.end(), pair + 1
            else:
                frame.out.append("[")  # a lone bracket; the tag itself is the next token
                position, index = match.start() + 1, index + 1
            continue
        if match["escape_open"]:  # "[[tag]]" is the literal text "[tag]"
            frame.out.append(match.group(0)[1:-1])
            position, index = match.end(), index + 1
            continue
        findings.removed.append(token.name)
        frame.out.append(REMOVED)
        position, index = _end(match), index + 1
        if not token.opens or partner is None:
            continue  # closing, self-closing or unclosed (WordPress treats it as self-closing)
        if token.action is ShortcodeAction.DROP:
            position, index = _end(tokens[partner].match), partner + 1
        elif token.action is ShortcodeAction.CAPTION:
            frames.append(_Frame([], partner, token))
        else:
            frames.append(_Frame(frame.out, partner))


def _add_caption(frame: _Frame, findings: ShortcodeFindings, caption_text) -> None:  # noqa: ANN001
    inner_text = "".join(frame.out).replace(REMOVED, " ")
    caption = caption_text(inner_text) if caption_text else inner_text.strip()
    if not caption and frame.opening is not None:  # old WordPress put the caption in an attribute
        caption = parse_attributes(frame.opening.match["attrs"])[0].get("caption", "").strip()
    if caption:
        findings.captions.append(caption)
