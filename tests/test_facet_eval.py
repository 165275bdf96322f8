"""The pure parts of the facet evaluation (pipelines.evaluation): readers, offsets, the lenient
matcher and the scores, on tiny inline texts written for these tests."""

from __future__ import annotations

from pipelines.evaluation import (
    CONLL_FACETS,
    IEER_FACETS,
    FacetScore,
    detokenize,
    facet_set,
    gold_entities,
    lenient_match,
    match_values,
    read_conll,
    read_ieer,
    score_documents,
)

CONLL = """\
-DOCSTART- -X- O O

Ann I-PER
Lee I-PER
visited O
( O
Oslo I-LOC
) O
. O

Acme I-ORG
Corp I-ORG
B-ORG B-ORG
said O
" O
fine O
" O
. O
-DOCSTART- -X- O O

Bo B-PER
Nu I-PER
Ky B-PER
"""


def test_conll_documents_split_on_docstart_and_sentences_become_lines():
    first, second = read_conll(CONLL, name="toy")
    assert first.doc_id == "toy:1" and second.doc_id == "toy:2"
    assert first.text == 'Ann Lee visited (Oslo).\nAcme Corp B-ORG said "fine".'
    assert first.words == 15
    assert second.text == "Bo Nu Ky"


def test_a_file_may_start_without_docstart():
    (only,) = read_conll("Ann I-PER\nwent O\n")
    assert only.text == "Ann went"
    assert [(e.text, e.label) for e in only.entities] == [("Ann", "PER")]


def test_conll_entities_carry_offsets_into_the_text():
    first, _ = read_conll(CONLL)
    assert [(e.text, e.label) for e in first.entities] == [("Ann Lee", "PER"), ("Oslo", "LOC"), ("Acme Corp", "ORG"),
                                                           ("B-ORG", "ORG")]
    assert all(first.text[e.start:e.end] == e.text for e in first.entities)


def test_iob1_b_tag_starts_a_second_entity_of_the_same_type():
    _, second = read_conll(CONLL)
    assert [e.text for e in second.entities] == ["Bo Nu", "Ky"]


def test_detokenize_glues_punctuation_clitics_and_quotes():
    text, offsets = detokenize(["He", "said", '"', "it", "'s", "Lee", "'s", '"', "(", "yes", ")", ",", "ok", "."])
    assert text == 'He said "it\'s Lee\'s" (yes), ok.'
    assert [text[start:end] for start, end in offsets] == ["He", "said", '"', "it", "'s", "Lee", "'s", '"', "(", "yes",
                                                            ")", ",", "ok", "."]


def test_gold_values_per_facet_ignore_misc():
    (doc,) = read_conll("Ann I-PER\nKeen I-MISC\nOslo I-LOC\n")
    assert doc.values(CONLL_FACETS) == {"persons": ["Ann"], "organizations": [], "locations": ["Oslo"]}


IEER = """<DOC>
<DOCNO> X1 </DOCNO>
<HEADLINE>
<b_enamex type="PERSON">Ann Lee<e_enamex> wins
</HEADLINE>
<TEXT>
	   <b_enamex type="LOCATION">OSLO<e_enamex> (<b_enamex type="ORGANIZATION">AP<e_enamex>) _ On <b_timex type="DATE">Monday<e_timex>,
<b_enamex type="PERSON">Ann
Lee<e_enamex> won &AMP; left.
<ANNOTATION>
	   (OPTIONAL MATERIAL)
</ANNOTATION>
	   Second paragraph.
</TEXT>
</DOC>
"""


def test_ieer_headline_then_unwrapped_paragraphs_with_offsets():
    (doc,) = read_ieer(IEER)
    assert doc.doc_id == "ieer:X1"
    assert doc.text == "Ann Lee wins\n\nOSLO (AP) _ On Monday, Ann Lee won & left.\nSecond paragraph."
    assert [(e.text, e.label) for e in doc.entities] == [("Ann Lee", "PERSON"), ("OSLO", "LOCATION"),
                                                         ("AP", "ORGANIZATION"), ("Ann Lee", "PERSON")]
    assert all(doc.text[e.start:e.end] == e.text for e in doc.entities)
    assert doc.values(IEER_FACETS)["organizations"] == ["AP"]


def test_lenient_match_is_a_contiguous_token_subsequence_ignoring_case_and_punctuation():
    assert lenient_match("Putin", "Vladimir Putin")
    assert lenient_match("Vladimir Putin", "putin")
    assert lenient_match("Assad", "Bashar al-Assad")
    assert lenient_match("U.S.", "U.S")
    assert lenient_match("World Bank", "the World Bank Group")
    assert not lenient_match("Bank World", "World Bank")
    assert not lenient_match("Put", "Putin")
    assert not lenient_match("Vladimir Putin", "Vladimir Ilyich Putin")
    assert not lenient_match("...", "...")


def test_an_acronym_matches_its_expansion():
    assert lenient_match("OSCE", "Organisation for Security and Cooperation in Europe")
    assert lenient_match("United Nations", "U.N.")
    assert not lenient_match("SDA", "Party of Democratic Action")
    assert not lenient_match("Un", "United Nations")
    assert gold_entities(["KDP", "Kurdistan Democratic Party", "PUK"]) == ["Kurdistan Democratic Party", "PUK"]


def test_facet_set_keeps_one_value_per_match_key():
    assert facet_set(["LONDON", "London", "  New   York ", "—"]) == ["LONDON", "New York"]


def test_gold_short_forms_fold_into_their_one_full_form():
    assert gold_entities(["Simmons", "Phil Simmons", "Lee"]) == ["Phil Simmons", "Lee"]
    assert gold_entities(["Clinton", "Bill Clinton", "President Bill Clinton"]) == ["President Bill Clinton"]
    # Contained in two different full names: ambiguous, so it stays a value of its own.
    assert gold_entities(["Bush", "George Bush", "Jeb Bush"]) == ["Bush", "George Bush", "Jeb Bush"]


def test_each_gold_and_predicted_value_is_counted_at_most_once():
    assert match_values(["Vladimir Putin"], ["Putin", "Vladimir Putin"]) == [("Vladimir Putin", "Vladimir Putin")]
    # A greedy pairing would give "Smith" to "John Smith" and leave "Smith Barney" unmatched.
    pairs = match_values(["John Smith", "Smith Barney"], ["Smith", "John Smith"])
    assert sorted(pairs) == [("John Smith", "John Smith"), ("Smith Barney", "Smith")]


def test_scores_are_micro_averaged_over_documents_with_errors_listed():
    gold = {"d1": {"persons": ["Phil Simmons", "Simmons"], "locations": ["Oslo"]},
            "d2": {"persons": ["Ann Lee"]}}
    predicted = {"d1": {"persons": ["Simmons", "Phil Simmons"], "locations": ["Oslo", "Bergen"]}}
    scores = score_documents(gold, predicted)
    persons, locations = scores["persons"], scores["locations"]
    assert (persons.gold, persons.predicted, persons.matched) == (2, 2, 1)
    assert persons.false_negatives == [("d2", "Ann Lee")]
    assert persons.false_positives == [("d1", "Simmons")]
    assert (locations.precision, locations.recall) == (0.5, 1.0)
    assert round(locations.f1, 4) == 0.6667
    assert scores["organizations"].to_dict() == {"gold": 0, "predicted": 0, "matched": 0, "precision": 0.0,
                                                 "recall": 0.0, "f1": 0.0}


def test_f1_is_zero_without_matches():
    score = FacetScore()
    score.add("d", ["A"], ["B"])
    assert (score.precision, score.recall, score.f1) == (0.0, 0.0, 0.0)
