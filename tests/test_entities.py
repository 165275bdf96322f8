"""Canonical entities: pure, table-driven — mentions are given by hand, no model involved."""

from __future__ import annotations

import pytest

from pipelines.extraction.entities import Mention, canonicalize, facet_values, normalize_surface


def mentions(text: str, *spans: tuple[str, str] | tuple[str, str, int]) -> list[Mention]:
    """Mentions of ``(surface, label[, occurrence])`` found in ``text``; occurrence counts from 0."""
    found = []
    for span in spans:
        surface, label, *rest = span
        start = -1
        for _ in range((rest[0] if rest else 0) + 1):
            start = text.index(surface, start + 1)
        found.append(Mention(surface, label, start, start + len(surface)))
    return found


def canonical(text: str, *spans) -> dict[str, str]:
    return {entity.text: entity.label for entity in canonicalize(text, mentions(text, *spans))}


@pytest.mark.parametrize(
    ("text", "spans", "expected"),
    [
        pytest.param(
            "Russian President Vladimir Putin spoke. Later Putin left.",
            [("Vladimir Putin", "PERSON"), ("Putin", "PERSON", 1)],
            {"Vladimir Putin": "PERSON"},
            id="surname-merged-into-full-name",
        ),
        pytest.param(
            "Syrian President Bashar al-Assad met Shoigu. Assad said so.",
            [("Bashar al-Assad", "PERSON"), ("Assad", "PERSON", 1)],
            {"Bashar al-Assad": "PERSON"},
            id="arabic-article-ignored-when-merging",
        ),
        pytest.param(
            "the spokesman Major-General Igor Konashenkov noted it, said Konashenkov.",
            [("Major-General Igor Konashenkov", "ORG"), ("Konashenkov", "PERSON", 1)],
            {"Igor Konashenkov": "PERSON"},
            id="rank-stripped-and-retyped-as-person",
        ),
        pytest.param(
            "He inspected Russias Khmeimim airbase in Syrias coastal province. Russia and Syria agreed.",
            [("Russias Khmeimim", "PERSON"), ("Syrias", "ORG"), ("Russia", "GPE"), ("Syria", "GPE")],
            {"Russia": "GPE", "Khmeimim": "FAC", "Syria": "GPE"},
            id="stripped-apostrophes-are-possessives-not-names",
        ),
        pytest.param(
            "A statement by Russia's Defense Ministry. The Russian Defense Ministrys spokesman spoke.",
            [("Russia's Defense Ministry", "ORG"), ("Russian Defense Ministrys", "ORG")],
            {"Russian Defense Ministry": "ORG"},
            id="possessor-split-off-and-short-org-merged",
        ),
        pytest.param(
            "UN Special Envoy for Syria Staffan de Mistura said it. Syria is at war.",
            [("Syria Staffan de Mistura", "ORG"), ("Syria", "GPE", 1)],
            {"Staffan de Mistura": "PERSON", "Syria": "GPE"},
            id="place-glued-to-name-after-title",
        ),
        pytest.param(
            "Russian Defense Minister Sergey Shoigu arrived.",
            [("Defense", "ORG"), ("Sergey Shoigu", "PERSON")],
            {"Sergey Shoigu": "PERSON"},
            id="org-fragment-of-a-title-dropped",
        ),
        pytest.param(
            "Paris is big. Paris is old. Paris was rebuilt.",
            [("Paris", "GPE"), ("Paris", "PERSON", 1), ("Paris", "GPE", 2)],
            {"Paris": "GPE"},
            id="majority-type-per-surface-form",
        ),
        pytest.param(
            "The  European\nCommission said. THE EUROPEAN COMMISSION agreed.",
            [("The  European\nCommission", "ORG"), ("EUROPEAN COMMISSION", "ORG")],
            {"European Commission": "ORG"},
            id="whitespace-case-and-leading-the-normalised",
        ),
        pytest.param(
            "The United Nations met. The UN said no.",
            [("United Nations", "ORG"), ("UN", "ORG")],
            {"United Nations": "ORG"},
            id="acronym-merged-into-its-expansion",
        ),
        pytest.param(
            "General Motors and Major League Baseball signed.",
            [("General Motors", "ORG"), ("Major League Baseball", "ORG")],
            {"General Motors": "ORG", "Major League Baseball": "ORG"},
            id="title-words-inside-organisation-names-kept",
        ),
        pytest.param(
            "Ed Miliband and David Miliband spoke. Miliband left.",
            [("Ed Miliband", "PERSON"), ("David Miliband", "PERSON"), ("Miliband", "PERSON", 2)],
            {"Ed Miliband": "PERSON", "David Miliband": "PERSON", "Miliband": "PERSON"},
            id="ambiguous-surname-not-merged",
        ),
        pytest.param(
            "Residents of Uwajima reported damage; police in Sukumo said so.",
            [("Uwajima", "GPE"), ("Sukumo", "PERSON")],
            {"Uwajima": "GPE", "Sukumo": "GPE"},
            id="person-after-in-is-a-place",
        ),
        pytest.param(
            "Flights left Frankfurt, Munich and Düsseldorf.",
            [("Frankfurt", "GPE"), ("Munich", "GPE"), ("Düsseldorf", "PERSON")],
            {"Frankfurt": "GPE", "Munich": "GPE", "Düsseldorf": "GPE"},
            id="name-listed-with-places-is-a-place",
        ),
        pytest.param(
            "It went to Arthur Brand, a Dutch art detective, who returned it.",
            [("Arthur Brand", "ORG")],
            {"Arthur Brand": "PERSON"},
            id="title-in-apposition-makes-a-person",
        ),
        pytest.param(
            "Prime Minister Narendra Modi won. Modi thanked voters.",
            [("Narendra Modi", "PERSON"), ("Modi", "GPE")],
            {"Narendra Modi": "PERSON"},
            id="surname-mistyped-as-place-joins-the-person",
        ),
        pytest.param(
            "Nigel Farage of Reform UK objected.",
            [("Nigel Farage of Reform UK", "PERSON")],
            {"Nigel Farage": "PERSON"},
            id="person-cut-before-of-organisation",
        ),
    ],
)
def test_canonical_entities(text, spans, expected):
    assert canonical(text, *spans) == expected


def test_counts_and_first_offsets_cover_every_merged_mention():
    text = "Putin spoke. Vladimir Putin left. Putin returned."
    (putin,) = canonicalize(text, mentions(text, ("Putin", "PERSON"), ("Vladimir Putin", "PERSON"), ("Putin", "PERSON", 2)))
    assert (putin.text, putin.count, putin.first_offset) == ("Vladimir Putin", 3, 0)


def test_non_name_labels_are_only_normalised():
    text = "On March  14 the Kurds met."
    entities = canonicalize(text, mentions(text, ("March  14", "DATE"), ("Kurds", "NORP")))
    assert [(e.text, e.label) for e in entities] == [("March 14", "DATE"), ("Kurds", "NORP")]


def test_facet_values_are_ordered_and_unique():
    text = "Berlin and Paris met. Paris agreed."
    entities = canonicalize(text, mentions(text, ("Paris", "GPE"), ("Berlin", "GPE"), ("Paris", "GPE", 1)))
    assert facet_values(entities, ["GPE"]) == ("Berlin", "Paris")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Russia's", "Russia"), ("Putin\u2019s", "Putin"), ("  Vladimir \n Putin ", "Vladimir Putin"), ("\u201cHamas\u201d", "Hamas")],
)
def test_normalize_surface(text, expected):
    assert normalize_surface(text) == expected


def test_sports_copy_is_told_from_share_price_tables():
    from pipelines.extraction.sports import is_sports_text

    assert is_sports_text("CRICKET - ENGLISH COUNTY CHAMPIONSHIP SCORES.\nLeicestershire 296, Somerset 83.")
    assert is_sports_text("Results of the weekend's league matches:\nLeeds 2 Chelsea 1\nNorwich 0 Stoke 0\nStandings ...")
    # Rows of names and numbers alone are not sport: a results table of a company looks the same.
    assert not is_sports_text("Net Income 821 512 565 301\nOperating Income 906 962 599 515\nTotal Assets 14 7 3 1")
    assert not is_sports_text("Leeds council approved the budget on Monday; Norwich followed.")


def test_sports_mentions_split_scores_and_keep_countries_as_places():
    from pipelines.extraction.sports import sports_mentions

    text = "SOCCER - RESULTS.\nNorwich 1 Wolverhampton 0\nRomania 2 Lithuania 1\nEssex 296 (P. Prichard 84)\n"
    glued = Mention("Norwich 1 Wolverhampton 0", "PERSON", text.index("Norwich"), text.index(" 0\n") + 2)
    result = sports_mentions(text, [glued], lambda name: name in ("Romania", "Lithuania"))
    assert {(m.text, m.label) for m in result} == {
        ("Norwich", "ORG"), ("Wolverhampton", "ORG"), ("Essex", "ORG"), ("P. Prichard", "PERSON")}
    assert all(text[m.start:m.end] == m.text for m in result)


def test_storms_and_wars_are_events_whatever_the_model_says():
    text = "Typhoon Hagibis hit Japan before the Gulf War talks; the War Office and Hurricane Katrina relief met."
    assert canonical(text, ("Typhoon Hagibis", "ORG"), ("Japan", "GPE"), ("Gulf War", "GPE"), ("War Office", "ORG"),
                     ("Hurricane Katrina", "PERSON")) == {
        "Typhoon Hagibis": "EVENT", "Japan": "GPE", "Gulf War": "EVENT", "War Office": "ORG", "Hurricane Katrina": "EVENT"}


def test_initialisms_keep_their_dots():
    text = "Officials in the U.S. and Washington D.C. said the U.S.'s envoy left."
    assert canonical(text, ("U.S.", "GPE"), ("Washington D.C.", "GPE"), ("U.S.'s", "GPE")) == {
        "U.S.": "GPE", "Washington D.C.": "GPE"}
    assert normalize_surface("U.S.,") == "U.S." and normalize_surface("Reuters.") == "Reuters"


def test_a_name_only_in_an_all_caps_headline_is_dropped():
    text = "SOCCER - SHEARER NAMED AS ENGLAND CAPTAIN.\nAlan Shearer will lead England on Friday."
    found = canonical(text, ("SOCCER - SHEARER", "ORG"), ("ENGLAND CAPTAIN", "ORG"), ("ENGLAND", "GPE"),
                      ("Alan Shearer", "PERSON"), ("England", "GPE"))
    assert found == {"England": "GPE", "Alan Shearer": "PERSON"}
