"""Facet evaluation against independent gold data: readers, the lenient matcher and the scores.

Pure functions only (no spaCy, no store): ``eval/facets_conll.py`` runs the systems and calls
these; ``tests/test_facet_eval.py`` tests them on tiny inline strings.

* **Readers** turn gold files into ``GoldDocument``s — text with character offsets for every
  gold entity: ``read_conll`` (CoNLL-2003 columns, documents split on ``-DOCSTART-``, tokens
  detokenised by ``detokenize``) and ``read_ieer`` (the NIST 1999 IE-ER newswire sample, inline
  ``<b_enamex type=…>…<e_enamex>`` markup).
* **Facet sets** are document level: the distinct values of a facet in one document.
  ``facet_set`` makes values distinct by their match key (``match_tokens``), so "LONDON" and
  "London" are one value. ``gold_entities`` also folds a gold value into the one longer gold
  value of the same facet that contains it ("Simmons" into "Phil Simmons"): a facet should show
  one value per entity, so a system that shows only "Phil Simmons" is fully right, and one that
  shows both has one value too many.
* **Lenient matching** (``lenient_match``): a predicted value matches a gold value when the
  match tokens of one are a contiguous subsequence of the other's. Match tokens are the runs of
  word characters (``\\w+``) of the case-folded value, so punctuation and case are ignored:
  "Putin" matches "Vladimir Putin", "assad" matches "Bashar al-Assad", "U.S." matches "U.S";
  "Bank" matches "World Bank" but "Bank World" does not, and a value without word characters
  matches nothing. An acronym also matches its expansion: a value of 2–6 capital letters (dots
  ignored) matches a value whose capitalised words start with those letters in order ("OSCE" —
  "Organisation for Security and Cooperation in Europe", "U.N." — "United Nations"). CoNLL
  annotates both forms as separate mentions; a facet rightly shows one.
* **Scores** (``match_values``, ``FacetScore``): per document and facet, the largest one-to-one
  pairing of gold and predicted values under the lenient match (each gold and each predicted
  value counted at most once); true positives are the pairs, precision = pairs / predicted,
  recall = pairs / gold, summed over documents (micro average).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

# Gold labels of each source, by facet (CoNLL MISC and IE-ER's non-name types are not facets).
CONLL_FACETS: Mapping[str, str] = {"PER": "persons", "ORG": "organizations", "LOC": "locations"}
IEER_FACETS: Mapping[str, str] = {"PERSON": "persons", "ORGANIZATION": "organizations", "LOCATION": "locations"}
EVAL_FACETS = ("persons", "organizations", "locations")

_WORD = re.compile(r"\w+")
DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class GoldEntity:
    text: str
    label: str  # the source's own label (PER, ORG, …)
    start: int  # character offsets into the document text
    end: int


@dataclass(frozen=True)
class GoldDocument:
    doc_id: str
    text: str
    entities: tuple[GoldEntity, ...]
    words: int  # gold tokens (CoNLL) or whitespace-separated words (IE-ER): the unit of words/s

    def values(self, facets: Mapping[str, str]) -> dict[str, list[str]]:
        """Every gold entity text per facet, in document order (duplicates kept)."""
        values: dict[str, list[str]] = {facet: [] for facet in EVAL_FACETS}
        for entity in self.entities:
            if entity.label in facets:
                values[facets[entity.label]].append(entity.text)
        return values


# ---------------------------------------------------------------------------- CoNLL

# Tokens written without a space before them, and tokens that take none after them.
_NO_SPACE_BEFORE = frozenset({".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "'s", "'S", "n't", "N'T", "'", "'re",
                              "'ve", "'ll", "'d", "'m", "...", "''"})
_NO_SPACE_AFTER = frozenset({"(", "[", "{", "$", "``", "#"})


def detokenize(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """One sentence's tokens as text, and each token's (start, end) offsets in it.

    Spaces go between tokens except before closing punctuation and clitics ("'s", "n't") and
    after opening brackets; a straight double quote opens (no space after) and closes (no space
    before) in turn. The text of every token is kept exactly, so ``text[start:end] == token``.
    """
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    length = 0
    quote_open = False
    glue_next = True  # no space before the first token
    for token in tokens:
        glue = glue_next or token in _NO_SPACE_BEFORE or (token == '"' and quote_open)
        if not glue:
            parts.append(" ")
            length += 1
        offsets.append((length, length + len(token)))
        parts.append(token)
        length += len(token)
        glue_next = token in _NO_SPACE_AFTER
        if token == '"':
            glue_next = not quote_open
            quote_open = not quote_open
    return "".join(parts), offsets


def _spans(tags: Sequence[str]) -> Iterator[tuple[int, int, str]]:
    """(first, end, type) token spans from IOB1 or IOB2 tags (an I- after O or another type starts a span)."""
    start, kind = None, None
    for index, tag in enumerate([*tags, "O"]):
        prefix, _, tag_type = tag.partition("-")
        continues = prefix == "I" and tag_type == kind
        if start is not None and not continues:
            yield start, index, kind  # type: ignore[misc]
            start, kind = None, None
        if prefix in ("B", "I") and start is None:
            start, kind = index, tag_type


def read_conll(text: str, *, name: str = "conll") -> list[GoldDocument]:
    """Documents from CoNLL-2003-style text: one token per line, the tag in the last column,
    blank lines between sentences, ``-DOCSTART-`` lines between documents (a file may start
    without one). Sentences become lines of the document text. Ids are ``<name>:<n>``, n from 1."""
    documents: list[list[list[tuple[str, str]]]] = [[]]
    sentence: list[tuple[str, str]] = []

    def end_sentence() -> None:
        nonlocal sentence
        if sentence:
            documents[-1].append(sentence)
            sentence = []

    for line in text.splitlines():
        columns = line.split()
        if not columns:
            end_sentence()
        elif columns[0] == DOCSTART:
            end_sentence()
            if documents[-1]:
                documents.append([])
        else:
            sentence.append((columns[0], columns[-1] if len(columns) > 1 else "O"))
    end_sentence()
    return [_conll_document(f"{name}:{number}", sentences)
            for number, sentences in enumerate((doc for doc in documents if doc), start=1)]


def _conll_document(doc_id: str, sentences: list[list[tuple[str, str]]]) -> GoldDocument:
    lines: list[str] = []
    entities: list[GoldEntity] = []
    base = 0
    for sentence in sentences:
        tokens = [token for token, _ in sentence]
        line, offsets = detokenize(tokens)
        for first, end, kind in _spans([tag for _, tag in sentence]):
            start, stop = base + offsets[first][0], base + offsets[end - 1][1]
            entities.append(GoldEntity(line[offsets[first][0]:offsets[end - 1][1]], kind, start, stop))
        lines.append(line)
        base += len(line) + 1
    words = sum(len(sentence) for sentence in sentences)
    return GoldDocument(doc_id, "\n".join(lines), tuple(entities), words)


# ---------------------------------------------------------------------------- NIST IE-ER

_IEER_DOC = re.compile(r"<DOC>(.*?)</DOC>", re.S)
_IEER_DOCNO = re.compile(r"<DOCNO>\s*(\S+)\s*</DOCNO>")
_IEER_PART = re.compile(r"<(HEADLINE|TEXT)>(.*?)</\1>", re.S)
_IEER_ENAMEX = re.compile(r'<b_enamex type="(\w+)">(.*?)<e_enamex>', re.S)
_IEER_OTHER_TAG = re.compile(r"<[be]_(?:timex|numex)[^>]*>")
_IEER_ANNOTATION = re.compile(r"<ANNOTATION>.*?</ANNOTATION>", re.S)
_IEER_ESCAPES = {"&AMP;": "&", "&UR;": "", "&LR;": ""}


def _ieer_prose(markup: str) -> str:
    """Markup with the wire layout undone: a tab-indented line starts a paragraph, other line
    breaks are wrapping; runs of spaces become one."""
    markup = _IEER_ANNOTATION.sub("", markup)
    markup = _IEER_OTHER_TAG.sub("", markup)
    for escape, character in _IEER_ESCAPES.items():
        markup = markup.replace(escape, character)
    paragraphs = re.split(r"\n[ \t]*\t", "\n" + markup.strip("\n"))
    return "\n".join(re.sub(r"\s+", " ", paragraph).strip() for paragraph in paragraphs if paragraph.strip())


def read_ieer(text: str) -> list[GoldDocument]:
    """Documents from a NIST IE-ER file: the headline, a blank line, then the paragraphs of the
    text; ENAMEX PERSON / ORGANIZATION / LOCATION spans are the gold entities."""
    documents = []
    for doc_match in _IEER_DOC.finditer(text):
        doc = doc_match.group(1)
        number = _IEER_DOCNO.search(doc)
        parts = {kind: _ieer_prose(body) for kind, body in _IEER_PART.findall(doc)}
        markup = "\n\n".join(part for part in (parts.get("HEADLINE", ""), parts.get("TEXT", "")) if part)
        out: list[str] = []
        entities: list[GoldEntity] = []
        length, position = 0, 0
        for match in _IEER_ENAMEX.finditer(markup):
            out.append(markup[position:match.start()])
            length += match.start() - position
            value = match.group(2)
            entities.append(GoldEntity(value, match.group(1), length, length + len(value)))
            out.append(value)
            length += len(value)
            position = match.end()
        out.append(markup[position:])
        body = "".join(out)
        doc_id = f"ieer:{number.group(1) if number else len(documents) + 1}"
        documents.append(GoldDocument(doc_id, body, tuple(entities), len(body.split())))
    return documents


# ---------------------------------------------------------------------------- matching and scores


def normalize(value: str) -> str:
    """Whitespace collapsed to single spaces, ends stripped."""
    return " ".join(value.split())


def match_tokens(value: str) -> tuple[str, ...]:
    """The tokens the lenient match compares: runs of word characters, case-folded."""
    return tuple(_WORD.findall(value.casefold()))


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    if not shorter or len(shorter) > len(longer):
        return False
    return any(longer[i:i + len(shorter)] == shorter for i in range(len(longer) - len(shorter) + 1))


_ACRONYM = re.compile(r"(?:[A-Z]\.?){2,6}")


def is_acronym_of(short: str, long: str) -> bool:
    """``short`` is 2–6 capitals (dots allowed) that are the initials of ``long``'s capitalised words."""
    short = short.strip()
    if not _ACRONYM.fullmatch(short):
        return False
    initials = "".join(word[0] for word in re.findall(r"[^\W\d_][\w'-]*", long) if word[0].isupper())
    return len(long.split()) > 1 and initials == short.replace(".", "")


def _same_entity(a: str, ta: tuple[str, ...], b: str, tb: tuple[str, ...]) -> bool:
    return _contains(ta, tb) or _contains(tb, ta) or is_acronym_of(a, b) or is_acronym_of(b, a)


def lenient_match(a: str, b: str) -> bool:
    """True when one value's match tokens are a contiguous subsequence of the other's, or one is
    the other's acronym (see the module docstring)."""
    return _same_entity(a, match_tokens(a), b, match_tokens(b))


def facet_set(values: Iterable[str]) -> list[str]:
    """Distinct values by match key, first surface form kept (whitespace-normalised); values
    without word characters are dropped."""
    seen: set[tuple[str, ...]] = set()
    kept = []
    for value in values:
        key = match_tokens(value)
        if key and key not in seen:
            seen.add(key)
            kept.append(normalize(value))
    return kept


def gold_entities(values: Iterable[str]) -> list[str]:
    """A gold facet set with short forms folded into their full form: a value whose tokens are a
    contiguous part of exactly one longer value, or which is its acronym, is dropped ("Simmons"
    beside "Phil Simmons", "OSCE" beside "Organisation for Security and Cooperation in Europe");
    one contained in several ("Bush" beside "George Bush" and "Jeb Bush") stays, as it is ambiguous."""
    distinct = facet_set(values)
    keys = {value: match_tokens(value) for value in distinct}
    kept = []
    for value in distinct:
        containers = [other for other in distinct if other != value and (
            (len(keys[other]) > len(keys[value]) and _contains(keys[other], keys[value])) or is_acronym_of(value, other))]
        # Containers nested in each other are one entity ("Bill Clinton", "President Bill Clinton").
        longest = [c for c in containers if not any(_contains(keys[o], keys[c]) and o != c for o in containers)]
        if len(longest) != 1:
            kept.append(value)
    return kept


def match_values(gold: Sequence[str], predicted: Sequence[str]) -> list[tuple[str, str]]:
    """The largest one-to-one set of (gold, predicted) pairs that match leniently (augmenting
    paths; exact key matches are tried first so the pairs read naturally)."""
    gold_keys = [match_tokens(value) for value in gold]
    predicted_keys = [match_tokens(value) for value in predicted]
    edges = [
        sorted((j for j, pk in enumerate(predicted_keys) if _same_entity(g, gk, predicted[j], pk)),
               key=lambda j, gk=gk: predicted_keys[j] != gk)
        for g, gk in zip(gold, gold_keys, strict=True)
    ]
    owner: dict[int, int] = {}  # predicted index → gold index

    def augment(i: int, visited: set[int]) -> bool:
        for j in edges[i]:
            if j in visited:
                continue
            visited.add(j)
            if j not in owner or augment(owner[j], visited):
                owner[j] = i
                return True
        return False

    for i in range(len(gold)):
        augment(i, set())
    return sorted(((gold[i], predicted[j]) for j, i in owner.items()), key=lambda pair: gold.index(pair[0]))


@dataclass
class FacetScore:
    """Counts over documents for one facet and system; precision, recall, F1 from them."""

    gold: int = 0
    predicted: int = 0
    matched: int = 0
    false_positives: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, value)
    false_negatives: list[tuple[str, str]] = field(default_factory=list)

    def add(self, doc_id: str, gold: Sequence[str], predicted: Sequence[str]) -> None:
        pairs = match_values(gold, predicted)
        self.gold += len(gold)
        self.predicted += len(predicted)
        self.matched += len(pairs)
        matched_gold = {g for g, _ in pairs}
        matched_predicted = {p for _, p in pairs}
        self.false_negatives += [(doc_id, value) for value in gold if value not in matched_gold]
        self.false_positives += [(doc_id, value) for value in predicted if value not in matched_predicted]

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"gold": self.gold, "predicted": self.predicted, "matched": self.matched,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def score_documents(
    gold: Mapping[str, Mapping[str, Sequence[str]]], predicted: Mapping[str, Mapping[str, Sequence[str]]]
) -> dict[str, FacetScore]:
    """Per facet scores; ``gold`` and ``predicted`` map doc id → facet → values (a document
    missing from ``predicted`` predicted nothing). Gold values are folded by ``gold_entities``,
    predicted ones made distinct by ``facet_set``."""
    scores = {facet: FacetScore() for facet in EVAL_FACETS}
    for doc_id, gold_facets in gold.items():
        predicted_facets = predicted.get(doc_id, {})
        for facet in EVAL_FACETS:
            scores[facet].add(doc_id, gold_entities(gold_facets.get(facet, ())),
                              facet_set(predicted_facets.get(facet, ())))
    return scores
