"""Extraction with the real en_core_web_sm model (installed from the lock, never downloaded)."""

import pytest

from pipelines.errors import ModelNotFoundError
from pipelines.extraction import Extractor, load_model, normalize_entity_text
from pipelines.models import CleanArticle, RawArticle

ARTICLE = (
    "Norwegian Prime Minister Jonas Gahr Store met German Chancellor Olaf Scholz in Berlin on Tuesday. "
    "Store said the talks with Scholz covered gas supplies from Norway.\n\n"
    "The European Commission welcomed the agreement, and Equinor said deliveries would rise in March 2026."
)


def _clean(body: str, title: str | None = None) -> CleanArticle:
    raw = RawArticle(doc_id="d", source="folder:test", source_ref="t.txt", body=body, title=title)
    return CleanArticle(raw=raw, title=title, body=body)


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor(batch_size=8)


def test_model_runs_only_the_components_facets_need(extractor):
    assert set(extractor.nlp.pipe_names) == {"tok2vec", "ner", "senter"}
    assert extractor.model_version == "en_core_web_sm-3.8.0"


def test_facets_group_entities_by_type_without_duplicates(extractor):
    enriched = extractor(_clean(ARTICLE))
    assert "Olaf Scholz" in enriched.facets["persons"]
    assert "Berlin" in enriched.facets["locations"]
    assert "Norway" in enriched.facets["locations"]
    assert "European Commission" in enriched.facets["organizations"] or "The European Commission" in enriched.facets["organizations"]
    assert "Tuesday" in enriched.facets["dates"]
    for values in enriched.facets.values():
        assert len(values) == len(set(values))
    (scholz,) = [e for e in enriched.entities if e.text == "Olaf Scholz"]
    assert (scholz.label, scholz.count, scholz.first_offset) == ("PERSON", 1, ARTICLE.index("Olaf Scholz"))


def test_title_is_derived_from_the_first_sentence_when_missing(extractor):
    enriched = extractor(_clean(ARTICLE))
    assert enriched.title == ARTICLE.split(". ")[0] + "."


def test_given_title_is_kept(extractor):
    assert extractor(_clean(ARTICLE, title="Gas talks in Berlin")).title == "Gas talks in Berlin"


def test_word_count_ignores_punctuation(extractor):
    assert extractor(_clean("One, two; three.")).word_count == 3


def test_pipe_keeps_order_and_count(extractor):
    bodies = [f"Article number {n} mentions Paris." for n in range(20)]
    enriched = list(extractor.pipe([_clean(body) for body in bodies]))
    assert [a.clean.body for a in enriched] == bodies


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Russia's", "Russia"), ("Putin\u2019s", "Putin"), ("  Vladimir \n Putin ", "Vladimir Putin"), ("the Moscows'", "the Moscows")],
)
def test_entity_text_normalisation(text, expected):
    assert normalize_entity_text(text) == expected


def test_missing_model_says_how_to_install_it():
    with pytest.raises(ModelNotFoundError, match="requirements.lock"):
        load_model("xx_no_such_model")
