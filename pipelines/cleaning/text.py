"""Plain-text repairs: encoding (ftfy), whitespace, boilerplate lines, stripped apostrophes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import ftfy

from pipelines.lexicon import DEMONYM_ENDING

_INLINE_SPACE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# Zero-width and formatting characters that only break words apart for search and NER.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e"))
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


def remove_invisible(text: str) -> str:
    """``text`` without zero-width and formatting characters (a soft hyphen inside mojibake hides it from ftfy)."""
    return text.translate(_INVISIBLE)


def normalize_whitespace(text: str) -> str:
    """NFC, no invisible or control characters, single spaces, paragraphs separated by one blank line."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    cleaned = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [stripped for line in paragraph.split("\n") if (stripped := _INLINE_SPACE.sub(" ", line).strip())]
        if lines:
            cleaned.append("\n".join(lines))
    return "\n\n".join(cleaned)


# ------------------------------------------------------------------------------ encoding


# Curly quotes, ligatures and full-width forms are the author's text, not damage, so those
# ftfy fixes stay off; HTML entities are the HTML stage's job.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    normalization="NFC",
    explain=False,
)


def repair_encoding(text: str) -> str:
    """Undo mojibake ("â€™" → "’", "CafÃ©" → "Café") with ftfy."""
    return ftfy.fix_text(text, _FTFY_CONFIG)


# ---------------------------------------------------------------------------- boilerplate

# Whole lines (paragraphs) that feeds and CMS exports append to articles. Matched against
# the entire line, case-insensitively, so a sentence that merely mentions "read more" stays.
DEFAULT_BOILERPLATE: tuple[str, ...] = (
    r"the post .{1,300} appeared first on .{1,200}",
    r"(?:continue|keep) reading(?: (?:on|at) .{1,80})?(?:\s*(?:→|»|>|\.\.\.|…))?",
    r"read (?:more|the full (?:story|article))(?:\s*[:>»→]\s*.{0,200}|\s*(?:\.\.\.|…|»|→)?)",
    r"(?:click|tap) here to .{1,120}",
    r"share (?:this|on)\s*:?.{0,80}",
    r"(?:follow|like) us on .{1,120}",
    r"subscribe (?:to|for|now)\b.{0,120}",
    r"sign up (?:to|for) (?:our|the) .{1,100}newsletter.{0,80}",
    r"(?:advertisement|sponsored content|related(?: (?:articles|stories|posts))?|like this:?)",
    r"(?:this article|this story) (?:was )?(?:originally )?(?:appeared|published) (?:first )?(?:on|in) .{1,150}",
)


def compile_boilerplate(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns), re.IGNORECASE)


DEFAULT_BOILERPLATE_RE = compile_boilerplate(DEFAULT_BOILERPLATE)


def drop_boilerplate(text: str, pattern: re.Pattern[str] = DEFAULT_BOILERPLATE_RE) -> tuple[str, tuple[str, ...]]:
    """``text`` without lines that are entirely boilerplate, and the lines dropped."""
    kept, dropped = [], []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and len(stripped) < 400 and pattern.fullmatch(stripped.rstrip(".!").strip()):
            dropped.append(stripped)
        else:
            kept.append(line)
    return "\n".join(kept), tuple(dropped)


# ------------------------------------------------------------------- stripped apostrophes

# Places and names whose "-s" form is a possessive, never a plural, in news copy.
GAZETTEER: frozenset[str] = frozenset(
    """Afghanistan Africa Albania Algeria America Angola Argentina Armenia Asia Australia Austria
    Azerbaijan Bahrain Bangladesh Belarus Belgium Bolivia Bosnia Brazil Britain Bulgaria Cambodia
    Cameroon Canada Chile China Colombia Congo Croatia Cuba Cyprus Denmark Ecuador Egypt England
    Eritrea Estonia Ethiopia Europe Finland France Gaza Georgia Germany Ghana Greece Guatemala Haiti
    Hungary Iceland India Indonesia Iran Iraq Ireland Israel Italy Japan Jordan Kazakhstan Kenya
    Korea Kosovo Kuwait Latvia Lebanon Libya Lithuania Malaysia Mali Mexico Moldova Mongolia
    Morocco Myanmar Nepal Nigeria Norway Oman Pakistan Palestine Panama Peru Poland Portugal Qatar
    Romania Russia Rwanda Scotland Serbia Singapore Slovakia Slovenia Somalia Spain Sudan Sweden
    Switzerland Syria Taiwan Tanzania Thailand Tunisia Turkey Uganda Ukraine Uruguay Venezuela
    Vietnam Wales Yemen Zambia Zimbabwe Ankara Athens Baghdad Beijing Berlin Brussels Cairo
    Damascus Delhi Geneva Jerusalem Kabul Kyiv Kiev London Madrid Moscow Nairobi Paris Rome
    Seoul Tehran Tokyo Warsaw Washington Kremlin Pentagon NATO""".split()
)
# Demonyms, agent nouns and weekdays pluralise ("Americans", "Israelis", "Farmers", "Mondays"):
# never "repair" them.
_PLURAL_PRONE_ENDING = re.compile(r"(?:er|day)$")
_PLURAL_CONTEXT = frozenset(
    "the these those many some all both few several two three four five six seven eight nine ten".split()
)
# After a possessive comes a noun phrase; after a plural subject, often one of these.
_NOT_AFTER_POSSESSIVE = frozenset(
    """and or but nor so yet as at by for from in into of on to with without about against than that which
    who whom whose are were is was be been being have has had do does did will would shall should can
    could may might must said say says told tell believe believed think thought want wanted""".split()
)
_CANDIDATE = re.compile(r"\b([A-Z][a-z]+)s\b(?=(\s+)(\S+))")


def repair_stripped_apostrophes(text: str) -> tuple[str, tuple[str, ...]]:
    """Put back apostrophes a scraper dropped ("Russias Defense Ministry" → "Russia's …"), only where safe.

    A word ``Xs`` is repaired when ``X`` is a known place or name (the gazetteer) or appears on
    its own in the same article and is not a word that pluralises (demonyms, weekdays); when it
    is not preceded by a plural cue ("the", "two", …); and when a word follows that can start a
    noun phrase. Returns the text and the repairs made (``"Russias→Russia's"``).
    """
    standalone = set(re.findall(r"\b([A-Z][a-z]+)\b(?!['’]?s\b)", text))
    repairs: list[str] = []

    def repair(match: re.Match[str]) -> str:
        base, following = match.group(1), match.group(3)
        if base.endswith("s") or following[:1] in "'’":
            return match.group(0)
        plural_prone = DEMONYM_ENDING.search(base) or _PLURAL_PRONE_ENDING.search(base)
        known = base in GAZETTEER or (base in standalone and not plural_prone)
        preceding = text[: match.start()].rsplit(None, 1)
        previous_word = preceding[-1].lower() if preceding else ""
        if not known or previous_word in _PLURAL_CONTEXT or previous_word.isdigit():
            return match.group(0)
        next_word = following.strip("\"'“”‘’(").lower()
        if not next_word[:1].isalpha() or next_word in _NOT_AFTER_POSSESSIVE or not following[:1].isalnum():
            return match.group(0)
        repairs.append(f"{base}s→{base}'s")
        return f"{base}'s"

    return _CANDIDATE.sub(repair, text), tuple(repairs)
