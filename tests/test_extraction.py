"""Extraction with the real en_core_web_sm model (installed from the lock, never downloaded)."""

import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from pipelines.settings import Settings, usable_cores
from pipelines.extraction.entities import normalize_surface
from pipelines.errors import ConfigError, ModelNotFoundError
from pipelines.extraction import Extractor, load_model
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
    # The shared tok2vec feeds only the disabled tagger and parser: ner and senter embed their own.
    assert set(extractor.nlp.pipe_names) == {"ner", "senter"}
    assert extractor.model_version == "en_core_web_sm-3.8.0"


def test_without_the_shared_tok2vec_entities_and_sentences_are_the_same(extractor):
    texts = [ARTICLE, SPORTS_RESULTS, "Manchester United beat Chelsea 2-1 at Old Trafford on Sunday. Rooney scored twice."]
    nlp = extractor.nlp

    def annotations(docs):
        return [([(e.start_char, e.end_char, e.label_) for e in doc.ents], [s.start_char for s in doc.sents]) for doc in docs]

    without = annotations(nlp.pipe(texts))
    nlp.enable_pipe("tok2vec")
    try:
        assert nlp.pipe_names == ["tok2vec", "senter", "ner"]
        with_shared = annotations(nlp.pipe(texts))
    finally:
        nlp.disable_pipe("tok2vec")
    assert without == with_shared
    assert any(ents for ents, _ in without)


def test_a_shared_embedding_layer_is_kept_when_a_needed_component_listens_to_it():
    import spacy

    from pipelines.extraction.extractor import components_needed_for

    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "*"}
    nlp.add_pipe("ner", config={"model": {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
                                          "extra_state_tokens": False, "hidden_width": 16, "maxout_pieces": 2,
                                          "use_upper": True, "tok2vec": listener}})
    nlp.add_pipe("senter")  # embeds its own
    nlp.get_pipe("ner").add_label("ORG")
    nlp.initialize()
    assert components_needed_for(nlp, ("ner", "senter")) == {"tok2vec", "ner", "senter"}
    assert components_needed_for(nlp, ("senter",)) == {"senter"}


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
    # "Scholz" later in the text is the same person: one entity, two mentions.
    assert (scholz.label, scholz.count, scholz.first_offset) == ("PERSON", 2, ARTICLE.index("Olaf Scholz"))


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
    assert normalize_surface(text) == expected


def test_missing_model_says_how_to_install_it():
    with pytest.raises(ModelNotFoundError, match="requirements.lock"):
        load_model("xx_no_such_model")


def test_seed_style_facets_are_canonical(extractor):
    body = (
        "Russian Defense Minister Sergey Shoigu has met with Syrian President Bashar al-Assad in Damascus and "
        "inspected Russias Khmeimim airbase in Syrias coastal province of Latakia.\n"
        "Shoigu and Assad met on a request by Russian President Vladimir Putin, said Major-General Igor "
        "Konashenkov. Putin ordered a pull-out from Syria; Russia keeps forces in Latakia."
    )
    facets = extractor(_clean(body)).facets
    assert set(facets["persons"]) == {"Sergey Shoigu", "Bashar al-Assad", "Vladimir Putin", "Igor Konashenkov"}
    assert "Syrias" not in facets["organizations"] and "Khmeimim" in facets["locations"]


def test_other_languages_get_their_language_and_no_english_entities(extractor):
    body = "Der Bundeskanzler traf sich am Dienstag mit dem Präsidenten in Berlin, um über Gaslieferungen zu sprechen."
    enriched = extractor(_clean(body))
    assert enriched.language == "de"
    assert enriched.entities == () and all(values == () for values in enriched.facets.values())
    assert enriched.title.startswith("Der Bundeskanzler") and enriched.word_count == 16


def test_mentioned_dates_resolve_against_publication(extractor):
    raw = RawArticle(
        doc_id="d", source="folder:test", source_ref="t.txt", body=ARTICLE,
        published_at=datetime(2026, 1, 8, tzinfo=UTC),  # a Thursday
    )
    enriched = extractor(CleanArticle(raw=raw, title=None, body=ARTICLE))
    assert enriched.dates_mentioned == ("2026-01-06", "2026-03")
    assert enriched.summary.startswith("Norwegian Prime Minister") and enriched.reading_time_minutes == 1
    assert enriched.minhash == ()  # signing is the sign component's job


def test_worker_processes_are_configurable_and_default_to_the_usable_cores():
    assert Settings.from_env({"NEWSFLOW_WORKERS": "3"}).workers == 3
    assert Settings.from_env({"NEWSFLOW_SPACY_N_PROCESS": "2"}).workers == 2  # the older name
    assert Settings.from_env({}).workers == usable_cores()
    assert Settings.from_env({"NEWSFLOW_WORKERS": "0"}).workers == 0  # in the calling process
    with pytest.raises(ConfigError, match="NEWSFLOW_WORKERS"):
        Settings.from_env({"NEWSFLOW_WORKERS": "-1"})


def test_the_model_version_is_read_without_loading_the_model():
    """An unchanged re-run compares versions only: it must not pay for loading spaCy's model."""
    extractor = Extractor()
    version = extractor.model_version
    assert extractor._nlp is None
    assert version == f"en_core_web_sm-{load_model('en_core_web_sm').meta['version']}"


SPORTS_RESULTS = (
    "SOCCER - ENGLISH LEAGUE RESULTS.\n"
    "LONDON 1996-08-31\n"
    "Results of English league soccer matches on Saturday:\n"
    "Division one\n"
    "Norwich 1 Wolverhampton 0\n"
    "Leeds 2 Chelsea 1\n"
    "Postponed: Walsall v Wrexham\n"
    "Standings (played, won, drawn, lost, goals for, against, points):\n"
    "Leeds 3 2 1 0 5 2 7\n"
    "Norwich 3 1 1 1 4 4 4\n"
    "England beat Moldova 3-0 on Sunday. Scorers: Nick Barmby (24th), Paul Gascoigne (25th).\n"
)


def test_sports_results_name_teams_as_organisations_without_scores(extractor):
    facets = extractor(_clean(SPORTS_RESULTS)).facets
    organisations = facets["organizations"]
    assert {"Norwich", "Wolverhampton", "Leeds", "Chelsea", "Walsall", "Wrexham"} <= set(organisations)
    values = [value for facet in ("persons", "organizations", "locations") for value in facets[facet]]
    assert not [value for value in values if any(ch.isdigit() for ch in value)], values
    # Clubs are not places; a national side keeps its country's name as a place (the model says ORG).
    assert not {"Norwich", "Leeds", "Chelsea"} & set(facets["locations"])
    assert "Moldova" in facets["locations"] and "Moldova" not in organisations
    assert {"Nick Barmby", "Paul Gascoigne"} <= set(facets["persons"])


def test_the_same_city_in_ordinary_news_stays_a_place(extractor):
    body = (
        "Flood defences in Leeds and Norwich held overnight, the Environment Agency said on Saturday.\n"
        "Residents of Leeds returned home after 2 days; 1 street in Norwich stayed closed."
    )
    facets = extractor(_clean(body)).facets
    assert {"Leeds", "Norwich"} <= set(facets["locations"])
    assert not {"Leeds", "Norwich"} & set(facets["organizations"])


def test_loading_the_extractor_builds_its_tables_before_any_article():
    """What ``load()`` builds is paid before work starts and shared by forked workers, not by the first article."""
    probe = textwrap.dedent("""
        from pipelines.extraction.extractor import Extractor
        from pipelines.extraction.geocoding import load_gazetteer
        from pipelines.extraction.metadata import _date_parser, _language_identifier
        Extractor().load()
        print(load_gazetteer.cache_info().currsize, _language_identifier.cache_info().currsize,
              _date_parser.cache_info().currsize)
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.split() == ["1", "1", "1"], done.stderr[-2000:]


@pytest.mark.parametrize("text", [
    "Ann Lee won the race in Oslo. She said: \"It was hard!\"  Then she left.\n\nSecond paragraph - short.\n",
    "  \n\nLeading space and no full stop",
    "One.",
    "",
    "Mr. J. R. Smith (the U.S. envoy) arrived at 10 p.m. ... Talks began; nothing was agreed?! \n \n",
])
def test_sentences_and_word_count_read_from_arrays_match_spacy_spans(extractor, text):
    from pipelines.extraction.extractor import sentences_and_word_count

    doc = extractor.nlp(text)
    spans = [sent.text for sent in doc.sents] if len(doc) else []
    words = sum(1 for token in doc if not (token.is_punct or token.is_space))
    assert sentences_and_word_count(doc) == (spans, words)
    assert sentences_and_word_count(doc, text) == (spans, words)
