"""Language, keywords, mentioned dates, lead summary, reading time, MinHash signatures: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.extraction.metadata import (
    detect_language,
    lead_summary,
    reading_time_minutes,
    resolve_date,
    resolve_dates,
    split_sentences,
)
from pipelines.extraction.keywords import candidate_phrases, extract_keywords
from pipelines.deduplication import SignatureIndex, band_keys, best_match, signature, similarity

PUBLISHED = datetime(2016, 3, 19, 9, 30, tzinfo=UTC)  # a Saturday

STORY = (
    "Engineers in Rotterdam have finished a storm surge barrier that can close the port in under an hour. "
    "The barrier protects about one million residents from flooding when North Sea storms push water inland. "
    "Its two steel gates, each as long as the Eiffel Tower is tall, float into place on hollow arms. "
    "The project cost 450 million euros and took six years to build, the water authority said on Friday. "
    "Officials said the barrier would be tested twice a year and closed only when the sea rises three metres. "
    "Shipping companies had worried about delays, but the port expects closures of at most one day a decade."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Norwegian Prime Minister Jonas Gahr Store met German Chancellor Olaf Scholz in Berlin on Tuesday.", "en"),
        ("Der Bundeskanzler traf sich am Dienstag mit dem Präsidenten in Berlin, um über Gaslieferungen zu sprechen.", "de"),
        ("Le président a rencontré le chancelier à Berlin mardi pour parler des livraisons de gaz.", "fr"),
        ("El presidente se reunió con el canciller en Berlín el martes para hablar del suministro de gas.", "es"),
        ("Gas talks in Berlin", "en"),  # too short to tell: the default, not a guess at Frisian
        ("", "en"),
    ],
)
def test_detect_language(text, expected):
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("expression", "published_at", "expected"),
    [
        ("September 30, 2015", None, "2015-09-30"),
        ("14 March 2016", None, "2016-03-14"),
        ("March 2011", None, "2011-03"),
        ("2015", None, "2015"),
        ("March 14", PUBLISHED, "2016-03-14"),
        ("December 20", PUBLISHED, "2015-12-20"),  # no year: the latest such day before publication
        ("Saturday", PUBLISHED, "2016-03-19"),  # the publication day itself
        ("Friday", PUBLISHED, "2016-03-18"),
        ("on Monday", PUBLISHED, "2016-03-14"),
        ("yesterday", PUBLISHED, "2016-03-18"),
        ("last year", PUBLISHED, "2015"),
        ("March 14", None, None),  # relative without a publication date: unresolvable
        ("Saturday", None, None),
        ("last week", PUBLISHED, None),  # vague: never turned into a made-up day
        ("the 1990s", PUBLISHED, None),
        ("two years ago", PUBLISHED, None),
        ("the past decade", PUBLISHED, None),
        ("900", PUBLISHED, None),  # an amount spaCy tagged DATE (seen in the BBC corpus), not the year 900
        ("227", None, None),
        ("1066", None, "1066"),
    ],
)
def test_resolve_date(expression, published_at, expected):
    assert resolve_date(expression, published_at) == expected


@pytest.mark.parametrize("published_at", [None, PUBLISHED])
def test_years_and_months_resolve_as_dateparser_resolves_them(published_at, monkeypatch):
    """Plain years and month-years skip dateparser; what they resolve to must not change."""
    from pipelines.extraction import metadata

    expressions = [str(year) for year in (999, 1000, 1066, 1999, 2016, 2999, 3000)]
    expressions += [f"{month} {year}" for month in ("january", "feb", "sept", "september", "may", "dec") for year in (1999, 2016)]
    fast = [resolve_date(expression, published_at) for expression in expressions]
    monkeypatch.setattr(metadata, "_year_or_month", lambda text: None)
    assert fast == [resolve_date(expression, published_at) for expression in expressions]
    assert fast[:4] == [None, "1000", "1066", "1999"] and fast[7] == "1999-01"


def test_resolve_dates_keeps_first_mention_order_without_repeats():
    assert resolve_dates(["Friday", "March 2011", "March 18, 2016", "last week"], PUBLISHED) == ("2016-03-18", "2011-03")


def test_keywords_complement_entity_names():
    keywords = extract_keywords(split_sentences(STORY), names=["Rotterdam", "North Sea", "Eiffel Tower"])
    assert 3 <= len(keywords) <= 10
    assert any("barrier" in k.lower() for k in keywords)
    for keyword in keywords:
        words = keyword.lower().split()
        if keyword not in ("Rotterdam", "North Sea", "Eiffel Tower"):  # a whole name may be a keyword
            assert not {"rotterdam", "north", "eiffel", "tower"} & set(words)  # a fragment may not
        assert "and" not in words


def test_keywords_of_a_tiny_text_are_empty():
    assert extract_keywords(["Short text."]) == ()


def test_keyword_scores_favour_repeated_words_over_one_off_ones():
    ranked = [phrase.casefold() for phrase, _ in candidate_phrases(split_sentences(STORY))]
    # "barrier" is in four of six sentences; "hollow" once, late.
    assert ranked.index("barrier") < ranked.index("hollow")
    assert "storm surge barrier" in ranked[:3]


def test_keywords_never_start_or_end_with_a_stop_word_and_skip_numbers():
    for phrase, _ in candidate_phrases(split_sentences(STORY)):
        words = phrase.casefold().split()
        assert words[0] not in {"the", "of", "a", "its"} and words[-1] not in {"the", "of", "a", "its"}
        assert not any(word.isdigit() for word in words)


def test_keywords_use_the_documents_language_stop_words():
    german = split_sentences(
        "Die Regierung in Berlin hat am Montag ein neues Gesetz zum Klimaschutz beschlossen. "
        "Das Gesetz soll den Ausstoß von Kohlendioxid bis 2030 halbieren. "
        "Kritiker sagen, das Gesetz gehe nicht weit genug."
    )
    keywords = [k.casefold().split() for k in extract_keywords(german, "de")]
    assert any("gesetz" in words for words in keywords)
    german_stop_words = {"die", "das", "den", "von", "ein", "zum", "am", "bis"}
    assert not german_stop_words & {word for words in keywords for word in (words[0], words[-1])}


def test_lead_summary_keeps_whole_sentences_within_budget():
    sentences = split_sentences(STORY)
    summary = lead_summary(sentences, max_chars=250)
    assert summary == " ".join(sentences[:2])
    assert len(summary) <= 250


def test_lead_summary_cuts_a_long_first_sentence_at_a_word():
    summary = lead_summary(["word " * 100], max_chars=50)
    assert len(summary) <= 50 and summary.endswith("word…")


@pytest.mark.parametrize(("words", "minutes"), [(0, 0), (1, 1), (230, 1), (231, 2), (1200, 6)])
def test_reading_time(words, minutes):
    assert reading_time_minutes(words) == minutes


def test_split_sentences_on_other_languages():
    assert split_sentences("Der Kanzler kam. Er sprach lange.\nDann ging er.") == ["Der Kanzler kam.", "Er sprach lange.", "Dann ging er."]


def test_signature_is_deterministic_and_short_texts_have_none():
    assert signature(STORY) == signature(STORY)
    assert len(signature(STORY)) == 128 and len(band_keys(signature(STORY))) == 32
    assert signature("Too short to compare.") == () and band_keys(()) == []


def test_an_edited_copy_is_similar_and_another_story_is_not():
    edited = STORY + " A second barrier is planned for the port of Antwerp in Belgium by 2030."
    other = STORY.replace("Rotterdam", "Hamburg").split(". ")[::-1]
    assert similarity(signature(STORY), signature(edited)) >= 0.8
    assert similarity(signature(STORY), signature(". ".join(other))) < 0.8
    assert best_match(signature(edited), {"a": signature(STORY)}) is not None
    assert best_match(signature(edited), {"a": signature(STORY)}, exclude="a") is None


def test_signature_index_finds_a_near_duplicate_seen_earlier_in_a_run():
    seen = SignatureIndex()
    seen.add("original", signature(STORY))
    match = seen.match(signature(STORY.replace("six years", "seven years")))
    assert match is not None and match[0] == "original" and match[1] >= 0.8
    assert seen.match(signature("An unrelated report about wheat prices in Kansas and rain in Iowa this spring season.")) is None


def test_a_lookup_confirms_only_the_originals_sharing_the_most_bands_however_many_share_one(monkeypatch):
    """Templated texts share bands by the thousand; each lookup still compares a bounded few."""
    import pipelines.deduplication as deduplication

    original = signature(STORY)
    seen = SignatureIndex()
    seen.add("original", original)
    # 1,000 later originals that share one band (the first four values) with it and nothing else.
    for number in range(1000):
        seen.add(f"templated-{number:04d}", (*original[:4], *(10**9 + number * 1000 + row for row in range(124))))
    compared = []
    real_similarity = deduplication.similarity
    monkeypatch.setattr(deduplication, "similarity", lambda a, b: compared.append(1) or real_similarity(a, b))

    match = seen.match(signature(STORY.replace("six years", "seven years")))

    assert match is not None and match[0] == "original"
    assert len(compared) <= deduplication.CANDIDATES
