"""Canonical entities within one document: one clean value per real person, organisation or place.

Raw NER mentions are noisy in ways that break facets: titles glued to names ("Major-General
Igor Konashenkov"), short forms ("Putin" beside "Vladimir Putin"), possessives, including the
apostrophe-stripped kind common in scraped text ("Russias Khmeimim", "Syrias"), and one surface
form tagged with different types in different sentences. ``canonicalize`` turns the mentions of
one document into entities with a single canonical text and type, using only evidence from the
document itself (its text and its other mentions) — no gazetteer, no model, no I/O.

Steps, in order: clean each mention (whitespace, quotes, leading "the", possessives and
possessors, titles and ranks, a leading place name glued to a name), re-type it from its context
(a title before it means a person; "airbase" or "province" after it means a place; an ORG right
before "Minister" is part of a title and dropped), vote one type per surface form, then merge
short forms into the single longer form they abbreviate.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines.lexicon import DEMONYM_ENDING
from pipelines.models import Entity

PERSON, ORG = "PERSON", "ORG"
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
NAME_LABELS = frozenset({PERSON, ORG, *PLACE_LABELS})

# Words that name an office, rank or honorific: stripped from the front of a name.
TITLE_HEADS = frozenset(
    """
    president vice-president president-elect premier minister chancellor secretary secretary-general
    spokesman spokeswoman spokesperson envoy ambassador governor mayor senator sen sen. rep rep.
    representative congressman congresswoman lawmaker mp mep judge justice king queen prince princess
    pope sheikh emir ayatollah general gen gen. major-general lieutenant-general brigadier-general
    lt lt. col col. colonel major captain capt capt. admiral commander sergeant sgt sgt. inspector
    detective chief chairman chairwoman chair ceo director founder leader head adviser advisor
    dr dr. mr mr. mrs mrs. ms ms. miss sir dame lord lady professor prof prof. rev rev. reverend
    father bishop archbishop cardinal coach manager striker midfielder goalkeeper defender
    executive economist analyst commissioner officer prosecutor attorney-general negotiator
    scientist researcher volcanologist historian lawyer activist journalist author detective
    """.split()
)
# Words that qualify a title ("Prime", "Defense", "Deputy"): stripped only together with a title head.
TITLE_MODIFIERS = frozenset(
    """
    prime vice deputy foreign defense defence finance interior health education trade special former
    acting senior junior first interim attorney supreme grand crown opposition party army navy air
    police military national security energy environment economy economic transport culture sports
    agriculture labour labor home state chief general executive managing assistant associate
    u.s. us uk eu un nato team club head
    """.split()
)
_CONNECTORS = frozenset({"of", "for", "the", "and", "to"})
ORG_WORDS = frozenset(
    """
    ministry department office council committee commission agency bank university college institute
    party union company corp corp. corporation inc inc. ltd ltd. plc group association federation
    organisation organization court parliament senate congress assembly army forces force police service
    fund foundation board authority club fc league news times post press motors airlines airways school
    hospital centre center trust network bureau government administration alliance reserve exchange
    """.split()
)
_NAME_PARTICLES = frozenset({"de", "del", "della", "der", "den", "van", "von", "da", "di", "du", "la", "le", "bin", "ibn", "al", "el", "dos", "das"})
_ARABIC_ARTICLE = re.compile(r"^(?:al|el|ad|as|ash|at|az|ar)-", re.IGNORECASE)
# Nouns after a name that make it a place: "Khmeimim airbase", "Tartus naval base", "Latakia province".
PLACE_HEADS = frozenset(
    """
    airbase base airport airfield port harbour harbor province region district county city town village
    valley river mountains island islands peninsula border crossing refinery camp dam square bridge
    stadium prison strait sea lake desert oblast governorate municipality neighbourhood neighborhood
    prefecture regions provinces districts counties rivers islands prefectures
    """.split()
)
_PLACE_HEAD_ADJECTIVES = frozenset(
    "naval air military nuclear coastal northern southern eastern western central power border refugee".split()
)
_TOKEN = re.compile(r"\S+")
_APOSTROPHES = "'\u2019"
_POSSESSIVE = re.compile(r"(?:['\u2019]s|['\u2019])$", re.IGNORECASE)
_EDGE_PUNCT = " .,;:!?\"'()[]{}\u201c\u201d\u2018\u2019«»-"
_INITIALISM_END = re.compile(r"(?:^|\s)(?:[A-Z]\.)+[A-Z]$")  # "U.S" of "U.S.": the stripped dot was part of it
_CONSONANT_YS = re.compile(r"[^aeiouAEIOU]ys$")  # "Ministrys": never a plural, always a lost apostrophe
# Named storms and wars are events, whatever the model says ("Typhoon Hagibis" as ORG, "Gulf War" as GPE).
_EVENT_NAME = re.compile(
    r"^(?:(?:super |tropical )?(?:typhoon|hurricane|cyclone|storm)|tropical depression) [A-Z]"
    r"|\bwar(?: (?:I|II|of .+))?$",
    re.IGNORECASE,
)
_CONTEXT_CHARS = 48
_PLACE_PREPOSITIONS = frozenset({"in", "near", "outside", "across", "into", "towards", "toward", "around"})


@dataclass(frozen=True)
class Mention:
    """One NER span: its text, label and character offsets in the document text."""

    text: str
    label: str
    start: int
    end: int


@dataclass(frozen=True)
class _Token:
    text: str
    start: int  # in the document


@dataclass
class _Clean:
    text: str
    label: str
    start: int
    titled: bool  # a title or rank was attached to, or stood right before, the name
    end: int = -1  # in the document; -1 when unknown (owners split off a possessive)


def canonicalize(text: str, mentions: Iterable[Mention]) -> tuple[Entity, ...]:
    """Canonical entities of one document, in order of first appearance.

    ``text`` is the document the mentions' offsets point into; it supplies the context words
    (a title before a mention, "airbase" after it). Mentions with labels outside NAME_LABELS
    (dates, groups, events…) are only cleaned of whitespace and possessives.
    """
    mentions = [m for m in mentions if m.text.strip() and not _headline_only(text, m)]
    known = _known_surfaces(mentions)
    cleaned = [clean for mention in mentions for clean in _clean_mention(text, mention, known)]
    return _merge(_type_by_coordination(text, cleaned))


def facet_values(entities: Sequence[Entity], labels: Iterable[str]) -> tuple[str, ...]:
    """The texts of entities with one of ``labels``, in order of first appearance, without repeats."""
    wanted = set(labels)
    ordered = sorted((e for e in entities if e.label in wanted), key=lambda e: e.first_offset)
    return tuple(dict.fromkeys(e.text for e in ordered))


def normalize_surface(text: str) -> str:
    """Whitespace collapsed, edge punctuation and a trailing possessive removed; an initialism
    keeps its last dot ("U.S.", "Washington D.C.")."""
    text = " ".join(text.split())
    return _with_initialism_dot(_POSSESSIVE.sub("", text.strip(_EDGE_PUNCT)).strip(_EDGE_PUNCT), text)


def _with_initialism_dot(stripped: str, original: str) -> str:
    """``stripped`` with the last dot of an initialism put back, when ``original`` had it ("U.S" → "U.S.")."""
    if _INITIALISM_END.search(stripped) and f"{stripped}." in original:
        return f"{stripped}."
    return stripped


def _headline_only(text: str, mention: Mention) -> bool:
    """A name found only in an ALL-CAPS headline opening the text ("MOTOR RACING LEADING", "ENGLAND
    BEAT"): caps hide where names end, so it counts only if the text repeats it below."""
    headline_end = text.find("\n")
    if mention.label not in NAME_LABELS or headline_end < 0 or mention.end > headline_end:
        return False
    headline = text[:headline_end]
    if headline.upper() != headline or sum(ch.isalpha() for ch in headline) < 10:
        return False
    return normalize_surface(mention.text).casefold() not in text[headline_end:].casefold()


def _known_surfaces(mentions: Sequence[Mention]) -> dict[str, set[str]]:
    """Surface forms (and their single words) seen in the document, with the labels they had."""
    known: dict[str, set[str]] = defaultdict(set)
    for mention in mentions:
        surface = normalize_surface(mention.text)
        known[surface].add(mention.label)
    return known


def _tokens(text: str, mention: Mention) -> list[_Token]:
    return [_Token(m.group(), mention.start + m.start()) for m in _TOKEN.finditer(text[mention.start : mention.end])]


def _is_place(surface: str, known: dict[str, set[str]]) -> bool:
    return bool(known.get(surface, set()) & PLACE_LABELS)


def _is_name_in_doc(surface: str, known: dict[str, set[str]]) -> bool:
    return bool(known.get(surface, set()) & NAME_LABELS)


def _fix_lost_apostrophe(word: str, known: dict[str, set[str]]) -> tuple[str, bool]:
    """``Russias`` → (``Russia``, True) when the document also names Russia; ``Ministrys`` → ``Ministry``."""
    bare = word.strip(_EDGE_PUNCT)
    possessive = _POSSESSIVE.search(bare)
    if possessive:
        return normalize_surface(bare), True
    if (with_dot := _with_initialism_dot(bare, word)) != bare:
        return with_dot, False
    if len(bare) > 3 and bare.endswith("s") and bare[0].isupper():
        stem = bare[:-1]
        if _is_name_in_doc(stem, known) or _CONSONANT_YS.search(bare):
            return stem, True
    return bare, False


def _is_title_word(word: str) -> bool:
    return word.lower() in TITLE_HEADS


def _strip_title(tokens: list[_Token]) -> tuple[list[_Token], bool]:
    """Drop a leading run of title words ("Russian Defense Minister", "Major-General") ending in a head."""
    cut = 0
    for i, token in enumerate(tokens):
        word = token.text.lower().strip(",")
        if word in TITLE_HEADS:
            cut = i + 1
        elif word in TITLE_MODIFIERS or word in _CONNECTORS or DEMONYM_ENDING.search(word) and token.text[0].isupper():
            continue
        else:
            break
    if cut and cut < len(tokens):
        return tokens[cut:], True
    return tokens, False


def _title_before(text: str, start: int) -> bool:
    """Whether the words right before ``start`` end in a title: "President ", "Envoy for Syria "."""
    words = text[max(0, start - _CONTEXT_CHARS) : start].split()
    if words and words[-1].lower() in _CONNECTORS:
        return False  # "chief executive of Acme Widgets": the name after "of" is the employer
    for word in reversed(words[-4:]):
        bare = word.strip(_EDGE_PUNCT).lower()
        if bare in TITLE_HEADS:
            return True
        if bare in _CONNECTORS or bare in TITLE_MODIFIERS or (word[:1].isupper() and not word.endswith((".", ","))):
            continue
        return False
    return False


def _place_preposition_before(text: str, start: int) -> bool:
    words = text[max(0, start - 16) : start].split()
    return bool(words) and words[-1] in _PLACE_PREPOSITIONS


def _title_in_apposition(text: str, end: int) -> bool:
    """ "Arthur Brand, a Dutch art detective," / "Therese Chambers, the regulator's director": a person."""
    after = text[end : end + 80]
    if not after.startswith(", "):
        return False
    phrase = re.split(r"[,.;]", after[2:], maxsplit=1)[0].split()
    return bool(phrase) and phrase[0].lower() in ("a", "an", "the") and any(
        w.strip(_EDGE_PUNCT).lower() in TITLE_HEADS for w in phrase[1:7]
    )


def _coordinated(text: str, left: _Clean, right: _Clean) -> bool:
    """ "Uwajima and Sukumo", "Frankfurt, Munich, Berlin": two names in one list."""
    if left.end < 0 or right.start < left.end:
        return False
    return text[left.end : right.start] in (", ", " and ", ", and ", " or ", ", or ")


def _type_by_coordination(text: str, cleaned: list[_Clean]) -> list[_Clean]:
    """A name listed with places is a place, one listed with organisations an organisation, and so on.

    Only single-word names are re-typed (the small model's usual miss: an unfamiliar town or
    company), never into persons, and only from neighbours whose type is well supported: a
    place, a titled person, an organisation named as one, or a form tagged alike twice.
    """
    ordered = sorted(cleaned, key=lambda c: c.start)
    majority = {}
    for key, group in _group(ordered).items():
        majority[key] = Counter(_facet_of(c.label) for c in group).most_common(1)[0][0]
    names = [c for c in ordered if c.label in NAME_LABELS]
    groups = _group(ordered)

    def confident(other: _Clean) -> bool:
        agreeing = sum(1 for c in groups[other.text.casefold()] if _facet_of(c.label) == _facet_of(other.label))
        return other.titled or other.label in PLACE_LABELS or agreeing >= 2 or (
            other.label == ORG and any(w.lower() in ORG_WORDS for w in other.text.split())
        )

    for i, mention in enumerate(names):
        if mention.titled or len(mention.text.split()) > 1:
            continue
        neighbours = []
        if i > 0 and _coordinated(text, names[i - 1], mention) and confident(names[i - 1]):
            neighbours.append(majority[names[i - 1].text.casefold()])
        if i + 1 < len(names) and _coordinated(text, mention, names[i + 1]) and confident(names[i + 1]):
            neighbours.append(majority[names[i + 1].text.casefold()])
        if neighbours and len(set(neighbours)) == 1 and neighbours[0] not in (PERSON, _facet_of(mention.label)):
            mention.label = {"PLACE": "GPE"}.get(neighbours[0], neighbours[0])
    return cleaned


def _facet_of(label: str) -> str:
    return "PLACE" if label in PLACE_LABELS else label


def _group(cleaned: Sequence[_Clean]) -> dict[str, list[_Clean]]:
    groups: dict[str, list[_Clean]] = defaultdict(list)
    for mention in cleaned:
        groups[mention.text.casefold()].append(mention)
    return groups


def _words_after(text: str, end: int) -> list[str]:
    return [w.strip(_EDGE_PUNCT).lower() for w in text[end : end + _CONTEXT_CHARS].split()[:3]]


def _place_head_after(text: str, end: int) -> bool:
    words = _words_after(text, end)
    while words and words[0] in _PLACE_HEAD_ADJECTIVES:
        words = words[1:]
    return bool(words) and words[0] in PLACE_HEADS


def _looks_like_personal_name(tokens: Sequence[_Token]) -> bool:
    words = [t.text for t in tokens]
    if not 2 <= len(words) <= 5:
        return False
    if any(w.lower() in ORG_WORDS for w in words):
        return False
    return all(w[0].isupper() or w.lower() in _NAME_PARTICLES or _ARABIC_ARTICLE.match(w) for w in words)


def _clean_mention(text: str, mention: Mention, known: dict[str, set[str]]) -> list[_Clean]:
    """The cleaned mention, plus the owner of a possessive it started with ("Russia" in "Russia's Khmeimim")."""
    label = mention.label
    tokens = _tokens(text, mention)
    if label not in NAME_LABELS and not (label == "NORP" and not DEMONYM_ENDING.search(normalize_surface(mention.text))):
        surface = normalize_surface(mention.text)
        keep = surface and (label not in ("NORP", "EVENT") or any(ch.isupper() for ch in surface))
        return [_Clean(surface, label, mention.start, False)] if keep else []

    # Leading "the"; possessors ("Russia's Khmeimim", "Russias Defense Ministry") and lost apostrophes.
    while tokens and tokens[0].text.lower() == "the":
        tokens = tokens[1:]
    fixed: list[_Token] = []
    owners: list[_Clean] = []
    ends_possessive = False
    for i, token in enumerate(tokens):
        word, was_possessive = _fix_lost_apostrophe(token.text, known)
        ends_possessive = was_possessive
        if was_possessive and i < len(tokens) - 1:
            # Everything up to a possessor names the owner, not this entity; a known owner still counts.
            owner = " ".join([*(t.text for t in fixed), word])
            if known.get(owner):
                owners.append(_Clean(owner, min(known[owner] & PLACE_LABELS or known[owner]), fixed[0].start if fixed else token.start, False))
            fixed = []
            continue
        fixed.append(_Token(word, token.start))
    tokens = [t for t in fixed if t.text]

    untitled, titled = _strip_title(tokens)
    if titled and label != PERSON and not _looks_like_personal_name(untitled):
        untitled, titled = tokens, False  # "General Motors", "Major League Baseball": part of the name
    tokens = untitled
    # A place name glued in front of a name: "UN Special Envoy for Syria Staffan de Mistura".
    if len(tokens) >= 3 and _is_place(tokens[0].text, known) and _looks_like_personal_name(tokens[1:]):
        tokens = tokens[1:]
    if not tokens:
        return owners
    start = tokens[0].start
    end = mention.end
    surface = normalize_surface(" ".join(t.text for t in tokens))
    if not surface or not any(ch.isupper() for ch in surface) or surface.lower() in TITLE_HEADS:
        return owners

    if _EVENT_NAME.search(surface) and surface[:1].isupper():
        return [*owners, _Clean(surface, "EVENT", start, False, end)]
    if label == PERSON and " of " in surface and surface.split(" of ", 1)[1][:1].isupper():
        surface = surface.split(" of ", 1)[0]  # "Nigel Farage of Reform UK": the person, not the party
        end = start + len(surface)
    titled = titled or _title_before(text, start)
    words_after = _words_after(text, end)
    if label == ORG and words_after and words_after[0] in TITLE_HEADS and len(tokens) <= 2:
        return owners  # "Defense" in "Defense Minister": part of a title, not an organisation
    if ends_possessive and _is_place(surface, known):
        label = min(known[surface] & PLACE_LABELS)  # "Syrias coastal province": the owner is the place
    elif label in (ORG, "NORP") and (titled or _title_in_apposition(text, end)) and _looks_like_personal_name(tokens):
        label = PERSON
    elif label == PERSON and len(tokens) <= 2 and _place_preposition_before(text, start):
        label = "GPE"  # "in Sukumo", "near Kempsey": people are rarely "in" anyone
    elif label in (PERSON, ORG, "NORP") and not titled and _place_head_after(text, end):
        label = "FAC"
    elif label == PERSON and all(_is_place(t.text, known) for t in tokens):
        label = "GPE"
    return [*owners, _Clean(surface, label, start, titled, end)]


def _display_form(forms: Counter[str]) -> str:
    """The most frequent casing, preferring mixed case over ALL CAPS for words longer than an acronym."""
    def rank(item: tuple[str, int]) -> tuple[bool, int]:
        form, count = item
        shouty = form.isupper() and len(form) > 5
        return (not shouty, count)

    return max(forms.items(), key=rank)[0]


def _name_key(word: str) -> str:
    return _ARABIC_ARTICLE.sub("", word).lower()


def _initials(words: Sequence[str]) -> str:
    return "".join(w[0] for w in words if w.lower() not in _CONNECTORS and w[:1].isupper()).upper()


def _merge(cleaned: Sequence[_Clean]) -> tuple[Entity, ...]:
    # One type per surface form (case-insensitive), by majority vote; ties go to the first seen.
    groups = _group(cleaned)
    labels = {key: Counter(m.label for m in group).most_common(1)[0][0] for key, group in groups.items()}
    forms = {key: _display_form(Counter(m.text for m in group)) for key, group in groups.items()}

    target = {key: key for key in groups}
    # Only a person's or an organisation's name has short forms, and a short form has fewer words:
    # trying only those pairs keeps this linear in practice instead of quadratic in the names.
    word_counts = {key: len(forms[key].split()) for key in groups}
    full_names = [key for key in groups if labels[key] in (PERSON, ORG)]
    for key in sorted(groups, key=len):
        label = labels[key]
        longer = [other for other in full_names if word_counts[other] > word_counts[key]
                  and _abbreviates(forms[key], forms[other], label, labels[other])]
        if len(longer) == 1:
            target[key] = longer[0]
        elif len(longer) > 1:
            # "Putin" with "Vladimir Putin" and "Russian President Vladimir Putin": fine if all nest in one.
            longest = max(longer, key=len)
            if all(_abbreviates(forms[other], forms[longest], labels[other], labels[longest]) or other == longest for other in longer):
                target[key] = longest

    def root(key: str) -> str:
        while target[key] != key:
            key = target[key]
        return key

    clusters: dict[str, list[_Clean]] = defaultdict(list)
    for key, group in groups.items():
        clusters[root(key)].extend(group)
    entities = [
        Entity(text=forms[key], label=labels[key], count=len(group), first_offset=min(m.start for m in group))
        for key, group in clusters.items()
    ]
    return tuple(sorted(entities, key=lambda e: e.first_offset))


def _abbreviates(short: str, long: str, short_label: str, long_label: str) -> bool:
    """Whether ``short`` is a short form of ``long``: "Putin"/"Vladimir Putin", "Assad"/"Bashar al-Assad", "UN"/"United Nations"."""
    short_words, long_words = short.split(), long.split()
    if len(short_words) >= len(long_words):
        return False
    if long_label == PERSON and short_label in (PERSON, ORG, "NORP"):
        keys = [_name_key(w) for w in long_words]
        tail = [_name_key(w) for w in short_words]
        return keys[-len(tail):] == tail or (len(tail) == 1 and keys[0] == tail[0])
    if long_label == PERSON and short_label in PLACE_LABELS and len(short_words) == 1:
        # The small model often calls a lone surname a place ("Modi", "Araghchi"): the full name decides.
        return _name_key(long_words[-1]) == _name_key(short)
    if long_label == ORG and short_label == ORG:
        if len(short_words) == 1 and short.isupper() and _initials(long_words) == short:
            return True
        return [w.lower() for w in long_words[-len(short_words):]] == [w.lower() for w in short_words]
    return False
