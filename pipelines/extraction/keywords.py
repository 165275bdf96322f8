"""Key phrases of one document: YAKE's unsupervised statistics, computed in one pass over the words.

The features and the phrase score follow the published YAKE method (Campos et al., 2020):
a word matters when it is capitalised mid-sentence, occurs early, often (relative to the
document's other words), in many sentences, and beside few distinct neighbours; a phrase of
up to three words scores ``prod(H) / (tf * (1 + sum(H)))``, lower is better. The ``yake``
package computes the same with a graph library and per-word objects, which cost as much as
spaCy's NER; counting in plain dicts costs about a millisecond per article (``bench/throughput.py``
and ``eval/keywords_compare.py`` measure both).

Stop words come from spaCy's language data (installed with spaCy, nothing downloaded).
"""

from __future__ import annotations

import importlib
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from operator import itemgetter

from pipelines.extraction.entities import TITLE_HEADS

KEYWORDS_PER_DOCUMENT = 10
MAX_PHRASE_WORDS = 3

_DIGIT = re.compile(r"\d")
_TOKEN = re.compile(r"[^\W_](?:[\w'’.&-]*[^\W_])?|[^\w\s]")
_FUNCTION_WORDS = frozenset("and or but nor on in at to for with by from as than that which und et y e och og".split())
_ARABIC_ARTICLE = re.compile(r"^(?:al|el)-")  # "Assad" is part of "Bashar al-Assad"
_SPACY_LANGUAGE = {"no": "nb"}  # spaCy files Norwegian Bokmål under its own code


@cache
def stop_words(language: str) -> frozenset[str]:
    """spaCy's stop words for ``language``; English ones for a language spaCy has none for."""
    code = _SPACY_LANGUAGE.get(language, language)
    try:
        module = importlib.import_module(f"spacy.lang.{code}.stop_words")
    except ImportError:
        module = importlib.import_module("spacy.lang.en.stop_words")
    return frozenset(word.casefold() for word in module.STOP_WORDS)


def candidate_phrases(sentences: Sequence[str], language: str = "en") -> list[tuple[str, float]]:
    """Every phrase of up to three words with its YAKE score, best (lowest) first."""
    stops = stop_words(language)
    term_tf: Counter[str] = Counter()
    term_named: Counter[str] = Counter()  # capitalised mid-sentence, or an acronym
    term_sentences: dict[str, list[int]] = defaultdict(list)
    pair_tf: Counter[tuple[str, str]] = Counter()
    chunks: list[tuple[list[str], list[str]]] = []  # runs of words between punctuation or numbers: surfaces, terms

    for sentence_index, sentence in enumerate(sentences):
        surfaces: list[str] = []
        terms: list[str] = []
        for position, token in enumerate(_TOKEN.findall(sentence)):
            # Punctuation and numbers close the run (most tokens are plain words: isalpha decides alone).
            if not token.isalpha() and (not token[0].isalpha() or _DIGIT.search(token)):
                if terms:
                    chunks.append((surfaces, terms))
                    surfaces, terms = [], []
                continue
            term = token.casefold()
            if terms:
                pair_tf[terms[-1], term] += 1
            surfaces.append(token)
            terms.append(term)
            term_tf[term] += 1
            if position > 0 and token[0].isupper() or len(token) > 1 and token.isupper():
                term_named[term] += 1
            term_sentences[term].append(sentence_index)
        if terms:
            chunks.append((surfaces, terms))
    if not term_tf:
        return []

    is_stop = {term: term in stops or len(term) < 3 for term in term_tf}
    neighbours_right = Counter(map(itemgetter(0), pair_tf))
    neighbours_left = Counter(map(itemgetter(1), pair_tf))
    content_tfs = [tf for term, tf in term_tf.items() if not is_stop[term]] or [0]
    max_tf = max(term_tf.values())
    tf_scale = statistics.fmean(content_tfs) + statistics.pstdev(content_tfs) or 1.0
    sentence_count = max(1, len(sentences))

    weights = {}
    for term, tf in term_tf.items():
        # Distinct neighbours per co-occurrence: near 1 beside anything (a function word), low in a set phrase.
        spread = neighbours_left[term] / tf + neighbours_right[term] / tf
        relatedness = 1.0 + spread * tf / max_tf
        casing = term_named[term] / (1.0 + math.log(tf))
        position = math.log(math.log(3.0 + _median_of_sorted(term_sentences[term])))
        frequency = tf / tf_scale
        sentence_share = len(set(term_sentences[term])) / sentence_count
        weights[term] = position * relatedness / (casing + frequency / relatedness + sentence_share / relatedness)

    phrase_tf: Counter[tuple[str, ...]] = Counter()
    surface: dict[tuple[str, ...], str] = {}
    for surfaces, terms in chunks:
        stop_flags = [is_stop[term] for term in terms]
        for start in range(len(terms)):
            if stop_flags[start]:
                continue
            for end in range(start + 1, min(start + MAX_PHRASE_WORDS, len(terms)) + 1):
                if stop_flags[end - 1]:
                    continue
                key = tuple(terms[start:end])
                phrase_tf[key] += 1
                if key not in surface:
                    surface[key] = " ".join(surfaces[start:end])

    scored = []
    for key, tf in phrase_tf.items():
        if len(key) == 1:  # most phrases: one word, never a stop word
            weight = weights[key[0]]
            scored.append((surface[key], weight / (tf * (1.0 + weight))))
            continue
        product, total = 1.0, 0.0
        for index, term in enumerate(key):
            if not is_stop[term]:
                product *= weights[term]
                total += weights[term]
            else:  # a stop word inside ("Bank of England") weighs by how firmly it binds its neighbours
                before, after = key[index - 1], key[index + 1]
                bond = (pair_tf[before, term] / term_tf[before]) * (pair_tf[term, after] / term_tf[after])
                product *= 2.0 - bond
                total -= 1.0 - bond
        scored.append((surface[key], product / (tf * (1.0 + total))))
    scored.sort(key=lambda item: item[1])
    return scored


def _median_of_sorted(values: Sequence[int]) -> float:
    """``statistics.median`` of values already in order (sentence indices are appended in order)."""
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _stem(word: str) -> str:
    """Plural and singular alike: enough to tell a repeated phrase, no more."""
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def select_keywords(candidates: Iterable[str], *, names: Iterable[str] = (), limit: int = KEYWORDS_PER_DOCUMENT) -> tuple[str, ...]:
    """The best ``limit`` candidates that complement the document's entities.

    ``names`` are its canonical entities: a phrase that holds part of one ("Kenyan rival Samuel",
    "Syrian President Bashar") is dropped, a phrase that is exactly one is kept.
    """
    exact_names = {name.casefold() for name in names}
    name_words = {form for name in exact_names for word in name.split() for form in (word, _ARABIC_ARTICLE.sub("", word))}
    phrases: list[str] = []
    kept_stems: list[set[str]] = []
    for phrase in candidates:
        folded = phrase.casefold()
        words = folded.split()
        if folded not in exact_names and name_words.intersection(words):
            continue
        if any(word in TITLE_HEADS for word in words):
            continue  # "Defense Minister": an office, not a topic
        if any(word in _FUNCTION_WORDS for word in words):
            continue  # "Damascus and inspected", "Marathon on Sunday": spans two phrases
        stems = {_stem(word) for word in words}
        if any(stems <= kept for kept in kept_stems):
            continue  # "Defense Ministry" after "Russian Defense Ministry", "protest" after "protests"
        phrases.append(phrase)
        kept_stems.append(stems)
        if len(phrases) == limit:
            break
    return tuple(phrases)


def extract_keywords(
    sentences: Sequence[str], language: str = "en", *, names: Iterable[str] = (), limit: int = KEYWORDS_PER_DOCUMENT
) -> tuple[str, ...]:
    """The document's key phrases, best first (empty for a text of under five words)."""
    if sum(len(sentence.split()) for sentence in sentences) < 5:
        return ()
    return select_keywords((phrase for phrase, _ in candidate_phrases(sentences, language)), names=names, limit=limit)
