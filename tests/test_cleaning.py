"""Cleaning, first version: shortcodes out, captions kept apart, other brackets untouched."""

import pytest

from pipelines.cleaning import ShortcodeAction, clean_article, clean_text, normalize_whitespace
from pipelines.models import RawArticle

SEED_STYLE = (
    "Officials in Oslo confirmed the plan on Monday.\n"
    '[caption id="attachment_7" align="aligncenter" width="555"] Workers repair the dam near Bergen. (Reuters)[/caption]\n'
    "The ministry said costs would rise [sic] by 4 percent [1].\n"
)


@pytest.mark.parametrize(
    ("text", "expected_text", "expected_captions"),
    [
        ("plain text", "plain text", ()),
        ('a [caption id="1"]A cat. (AFP)[/caption] b', "a b", ("A cat. (AFP)",)),
        ('[caption id="1" width="300"]<img src="x.jpg" /> Photo: a dog[/caption]', "", ("Photo: a dog",)),
        ("[wp_caption]Shot in Rome[/wp_caption]", "", ("Shot in Rome",)),
        ('before [gallery ids="1,2,3"] after', "before after", ()),
        ('before [gallery ids="1,2,3" /] after', "before after", ()),
        ("watch [embed]https://video.example/v/1[/embed] now", "watch now", ()),
        ("[CAPTION]Upper case name[/CAPTION]", "", ("Upper case name",)),
        ('[caption title="a [b] c"]Brackets in attributes[/caption]', "", ("Brackets in attributes",)),
        ("the word [sic] stays", "the word [sic] stays", ()),
        ("footnote [1] stays", "footnote [1] stays", ()),
        ("agency [Reuters] stays", "agency [Reuters] stays", ()),
        ("[citation needed] stays", "[citation needed] stays", ()),
        ("[[caption]] is written literally", "[caption] is written literally", ()),
        ("[caption without a closing bracket", "[caption without a closing bracket", ()),
        ('[caption id="9"]never closed, the text goes on', "never closed, the text goes on", ()),
        ("stray closing [/caption] tag", "stray closing tag", ()),
        ("[caption]outer [caption]inner[/caption] tail[/caption]", "", ("inner", "outer tail")),
        ("[unknown_code x=1]kept[/unknown_code]", "[unknown_code x=1]kept[/unknown_code]", ()),
    ],
)
def test_shortcodes(text, expected_text, expected_captions):
    cleaned = clean_text(text)
    assert cleaned.text == expected_text
    assert cleaned.captions == expected_captions


def test_seed_style_article_keeps_every_sentence_and_moves_the_caption():
    cleaned = clean_text(SEED_STYLE)
    assert "[caption" not in cleaned.text
    assert cleaned.captions == ("Workers repair the dam near Bergen. (Reuters)",)
    assert cleaned.text == (
        "Officials in Oslo confirmed the plan on Monday.\n"
        "The ministry said costs would rise [sic] by 4 percent [1]."
    )
    assert cleaned.removed_shortcodes == ("caption",)


def test_keep_action_keeps_content_as_body_text():
    registry = {"vc_column": ShortcodeAction.KEEP}
    assert clean_text("[vc_column]Body text.[/vc_column]", registry).text == "Body text."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a   b\t c", "a b c"),
        ("para one\n\n\n\npara two", "para one\n\npara two"),
        ("line\r\nbreak\rhere", "line\nbreak\nhere"),
        ("zero\u200bwidth soft\u00adhyphen", "zerowidth softhyphen"),
        ("non\u00a0breaking", "non breaking"),
        ("cafe\u0301", "café"),
        ("  \n\n  ", ""),
    ],
)
def test_normalize_whitespace(text, expected):
    assert normalize_whitespace(text) == expected


def test_clean_article_cleans_title_and_keeps_the_raw_article():
    raw = RawArticle(doc_id="d1", source="folder:x", source_ref="a.txt", body=SEED_STYLE, title="  A   title \n")
    article = clean_article(raw)
    assert article.title == "A title"
    assert article.raw is raw
    assert article.captions == ("Workers repair the dam near Bergen. (Reuters)",)


def test_cleaning_is_idempotent_on_the_seed_style_article():
    once = clean_text(SEED_STYLE).text
    assert clean_text(once).text == once
