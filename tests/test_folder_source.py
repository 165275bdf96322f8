"""The folder source: every supported file becomes articles or Failures, with ids that never move.

Each test builds its own folder under ``tmp_path``, so the suite needs no shared data and
each one states exactly the input it reads.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipelines.cleaning import Cleaner, clean_article
from pipelines.errors import CleaningError, SourceError, Stage
from pipelines.models import Failure, RawArticle, stable_id
from pipelines.sources import folder as folder_source
from pipelines.sources.folder import (
    decode_bytes,
    iter_article_files,
    looks_like_title,
    read_article_file,
    read_files,
    read_folder,
)

SEED_LINES = [
    "Russian Defense Minister Sergey Shoigu has met his Chinese counterpart in Beijing, the ministry said on Tuesday.",
    "The two discussed military cooperation and joint exercises planned for the autumn.",
    "Neither side gave details of any new agreements.",
]


def write(root: Path, relative: str, content: str | bytes) -> Path:
    """Create ``root/relative`` (and its folders) holding ``content``; str is written as UTF-8."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def split(items) -> tuple[list[RawArticle], list[Failure]]:
    """Articles and failures of a read, checking nothing else slipped into the stream."""
    items = list(items)
    articles = [item for item in items if isinstance(item, RawArticle)]
    failures = [item for item in items if isinstance(item, Failure)]
    assert len(articles) + len(failures) == len(items)
    return articles, failures


def by_ref(items) -> dict[str, RawArticle | Failure]:
    return {item.source_ref: item for item in items}


def read_one(root: Path, relative: str, content: str | bytes, **kwargs) -> RawArticle:
    """Write one file into an otherwise empty folder and read it, expecting exactly one article."""
    write(root, relative, content)
    articles, failures = split(read_folder(root, **kwargs))
    assert failures == []
    assert [a.source_ref for a in articles] == [relative]
    return articles[0]


def read_failure(root: Path, relative: str, content: str | bytes, **kwargs) -> Failure:
    """Write one file into an otherwise empty folder and read it, expecting exactly one Failure."""
    write(root, relative, content)
    articles, failures = split(read_folder(root, **kwargs))
    assert articles == []
    assert len(failures) == 1
    return failures[0]


@pytest.fixture
def news(tmp_path: Path) -> Path:
    """An empty folder named ``news``: the default source name is the folder's name."""
    path = tmp_path / "news"
    path.mkdir()
    return path


# ---------------------------------------------------------------------------- .txt layouts


def test_seed_layout_has_no_title_and_keeps_one_paragraph_per_line(news):
    """The upstream scraper's layout: a first sentence must never be mistaken for a headline."""
    article = read_one(news, "seed.txt", "\n".join(SEED_LINES) + "\n")
    assert article.title is None
    assert article.body.split("\n\n") == SEED_LINES
    assert article.metadata["layout"] == "seed"


def test_seed_layout_with_blank_lines_between_paragraphs_still_has_no_title(news):
    """A full first sentence followed by a blank line is a paragraph, not a title."""
    article = read_one(news, "seed.txt", "\n\n".join(SEED_LINES))
    assert article.title is None
    assert article.body.split("\n\n") == SEED_LINES
    assert article.metadata["layout"] == "seed"


def test_title_first_layout_takes_the_headline_out_of_the_body(news):
    text = (
        "Shoigu meets Chinese counterpart in Beijing\n"
        "\n"
        "Russian Defense Minister Sergey Shoigu has met his Chinese\n"
        "counterpart, the ministry said.\n"
        "\n"
        "Neither side gave details.\n"
    )
    article = read_one(news, "titled.txt", text)
    assert article.title == "Shoigu meets Chinese counterpart in Beijing"
    # Hard-wrapped lines of one block are unwrapped into one paragraph.
    assert article.body == (
        "Russian Defense Minister Sergey Shoigu has met his Chinese counterpart, the ministry said."
        "\n\nNeither side gave details."
    )
    assert "Shoigu meets" not in article.body
    assert article.metadata["layout"] == "title-first"


def test_title_first_with_crlf_line_endings_and_surrounding_blank_lines(news):
    """Windows line endings and stray leading blank lines must not change the layout found."""
    article = read_one(news, "crlf.txt", "\r\n\r\nMarkets rally on rate hopes\r\n\r\nStocks rose.\r\n\r\nBonds fell.\r\n\r\n")
    assert article.title == "Markets rally on rate hopes"
    assert article.body == "Stocks rose.\n\nBonds fell."
    assert "\r" not in article.body


def test_headline_without_blank_line_after_it_is_seed_layout(news):
    """Only a blank line after the first line can make it a title."""
    article = read_one(news, "x.txt", "Markets rally on rate hopes\nStocks rose.\n")
    assert article.title is None
    assert article.body == "Markets rally on rate hopes\n\nStocks rose."


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Shoigu meets Chinese counterpart in Beijing", True),
        ("Why did the markets fall?", True),
        ("Stop the war!", True),
        ('"We will not back down"', True),
        ("Rivals of the £400 Apple...", True),
        ("Rivals of the £400 Apple…", True),
        (SEED_LINES[0], False),
        ("The minister said,", False),
        ("Update:", False),
        ("First; second;", False),
        ('He said "stop."', False),
        ('[caption id="attachment_7"]', False),
        ("<p>Markup</p>", False),
        ("2024-05-01 12:00", False),
        ("A" * 201, False),
        ("A" * 200, True),
    ],
)
def test_looks_like_title(line, expected):
    assert looks_like_title(line) is expected


# ---------------------------------------------------------------------------- walking the folder


def test_walk_recurses_sorts_and_skips_hidden_and_unsupported(news):
    for relative in [
        "zeta.txt",
        "beta/inner/deep.md",
        "alpha.txt",
        "beta/page.html",
        "beta/feed.jsonl",
        "UPPER.TXT",  # suffix match is case-insensitive
        ".hidden.txt",
        ".git/objects/blob.txt",
        "beta/.swap.txt",
        ".drafts/sub/draft.txt",
        "notes.pdf",
        "README",
        "image.png",
        "archive.txt.bak",
    ]:
        write(news, relative, "Body text.\n")
    found = [path.relative_to(news).as_posix() for path in iter_article_files(news)]
    assert found == [
        "UPPER.TXT",
        "alpha.txt",
        "beta/feed.jsonl",
        "beta/inner/deep.md",
        "beta/page.html",
        "zeta.txt",
    ]


def test_read_folder_follows_the_walk_order(news):
    """Output order is the sorted file order, so runs are reproducible."""
    for relative in ["c.txt", "a/b.txt", "b.txt", "a/a.txt"]:
        write(news, relative, "Some body text.\n")
    articles, failures = split(read_folder(news))
    assert failures == []
    assert [a.source_ref for a in articles] == ["a/a.txt", "a/b.txt", "b.txt", "c.txt"]
    assert all(a.metadata["path"] == a.source_ref for a in articles)


def test_empty_folder_yields_nothing(news):
    assert list(read_folder(news)) == []


# ---------------------------------------------------------------------------- stable ids


def _ids(folder: Path, **kwargs) -> dict[str, str]:
    articles, failures = split(read_folder(folder, **kwargs))
    assert failures == []
    return {a.source_ref: a.doc_id for a in articles}


@pytest.fixture
def small_corpus(news) -> Path:
    write(news, "a.txt", "First article body.\n")
    write(news, "sub/a.txt", "First article body.\n")  # same content, different path
    write(news, "sub/b.txt", "Second article body.\n")
    return news


def test_ids_are_the_same_on_a_second_read(small_corpus):
    assert _ids(small_corpus) == _ids(small_corpus)


def test_ids_are_built_from_source_name_and_relative_path(small_corpus):
    articles, _ = split(read_folder(small_corpus))
    for article in articles:
        assert article.source == "folder:news"
        assert article.doc_id == stable_id("folder", "news", article.source_ref)
        assert len(article.doc_id) == 32
        int(article.doc_id, 16)  # hex


def test_different_relative_paths_get_different_ids_even_with_equal_content(small_corpus):
    ids = _ids(small_corpus)
    assert len(set(ids.values())) == len(ids) == 3


def test_folder_copied_elsewhere_under_same_name_keeps_its_ids(small_corpus, tmp_path):
    copy = tmp_path / "other" / "place" / "news"
    shutil.copytree(small_corpus, copy)
    assert _ids(copy) == _ids(small_corpus)


def test_renamed_copy_keeps_ids_only_with_the_same_source_name(small_corpus, tmp_path):
    copy = tmp_path / "renamed"
    shutil.copytree(small_corpus, copy)
    assert _ids(copy, source_name="news") == _ids(small_corpus)
    assert set(_ids(copy).values()).isdisjoint(_ids(small_corpus).values())
    assert {a.source for a in split(read_folder(copy))[0]} == {"folder:renamed"}


def test_relative_folder_path_uses_the_real_folder_name(small_corpus, monkeypatch):
    """``read_folder(Path("."))`` must not name the source "." or change the ids."""
    expected = _ids(small_corpus)
    monkeypatch.chdir(small_corpus)
    articles, _ = split(read_folder(Path(".")))
    assert {a.source for a in articles} == {"folder:news"}
    assert {a.source_ref: a.doc_id for a in articles} == expected


# ---------------------------------------------------------------------------- decoding


def test_utf8_bom_is_not_part_of_the_text(news):
    article = read_one(news, "bom.txt", b"\xef\xbb\xbfHeadline here\n\nBody text.\n")
    assert article.title == "Headline here"
    assert article.body == "Body text."
    assert article.metadata["encoding"] == "utf-8-sig"
    assert decode_bytes(b"\xef\xbb\xbfabc") == "abc"


def test_cp1252_bytes_decode_to_the_intended_characters(news):
    data = b"caf\xe9 \x93quoted\x94"
    assert decode_bytes(data) == "caf\u00e9 \u201cquoted\u201d"
    article = read_one(news, "legacy.txt", data + b" and more.\n")
    assert article.body == "caf\u00e9 \u201cquoted\u201d and more."
    assert article.metadata["encoding"] == "cp1252"


@pytest.mark.parametrize(
    "text",
    [
        "The mayor of São Paulo resigned on Monday after a vote in the council.",
        "Rivals of the £400 Apple watch are cheaper.",
        "Zürich bank fined €2m, naïve résumé — it’s final…",
        "São Paulo",  # short strings are where detectors guess Big5 ("S緌 Paulo")
        "Café owner",
    ],
)
def test_western_legacy_text_is_read_as_cp1252_not_a_lookalike(text):
    """cp1250 would give "Săo", cp932 "｣400": English news that is not UTF-8 is cp1252."""
    assert decode_bytes(text.encode("cp1252")) == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [("東京都の人口が増えた", "shift_jis"), ("Tokyo 東京 news", "shift_jis"), ("Привет мир, это тест новостей", "cp1251")],
)
def test_non_western_legacy_text_is_left_to_detection(text, encoding):
    """The cp1252 shortcut must not capture multi-byte or Cyrillic text."""
    assert decode_bytes(text.encode(encoding)) == text


def test_plain_utf8_is_decoded_as_utf8(news):
    article = read_one(news, "u.txt", "Zürich — “quoted” 東京\n")
    assert article.body == "Zürich — “quoted” 東京"
    assert article.metadata["encoding"] == "utf-8"


def test_decode_bytes_never_raises_on_random_bytes():
    """Seeded, so a failure is reproducible; covers invalid UTF-8 of every shape."""
    rng = random.Random(20240501)
    blobs = [b"", b"\xff", b"\x81", b"\xc3", b"\xed\xa0\x80", bytes(range(256))]
    blobs += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(150)]
    for blob in blobs:
        assert isinstance(decode_bytes(blob), str), blob


def test_one_invalid_byte_in_a_file_still_gives_an_article(news):
    """A stray byte must cost at most a character, never the article."""
    article = read_one(news, "stray.txt", b"The minister spoke \x81 on Monday about the budget.\n")
    assert article.body.startswith("The minister spoke ")
    assert article.body.endswith(" on Monday about the budget.")


def test_random_byte_files_are_each_an_article_or_a_failure(news):
    rng = random.Random(7)
    names = [f"r{i:02}.txt" for i in range(30)]
    for name in names:
        write(news, name, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
    items = list(read_folder(news))
    assert sorted(item.source_ref for item in items) == names
    assert all(item.stage == "read" for item in items if isinstance(item, Failure))


# ---------------------------------------------------------------------------- markdown and HTML


def test_markdown_title_comes_from_the_heading_and_inline_markup_is_dropped(news):
    text = (
        "# Markets **rally** on rate hopes\n"
        "\n"
        "Stocks rose **sharply** after [the central bank](https://example.com/cb) spoke.\n"
        "\n"
        "![chart](chart.png)\n"
        "\n"
        "## Analysts react\n"
        "\n"
        "Bonds *fell*.\n"
    )
    article = read_one(news, "story.md", text)
    assert article.title == "Markets rally on rate hopes"
    assert article.body.split("\n\n") == [
        "Stocks rose sharply after the central bank spoke.",
        "Analysts react",
        "Bonds fell.",
    ]
    assert article.metadata["layout"] == "markdown"


def test_markdown_setext_heading_and_closing_hashes(news):
    assert read_one(news, "a.md", "Setext title\n============\n\nBody.\n").title == "Setext title"
    assert read_one(news / "x", "b.markdown", "# Closed title ##\n\nBody.\n").title == "Closed title"


def test_markdown_without_heading_has_no_title(news):
    article = read_one(news, "plain.md", "Just a paragraph.\n\nAnother one.\n")
    assert article.title is None
    assert article.body == "Just a paragraph.\n\nAnother one."


def test_markdown_heading_without_body_is_a_failure(news):
    failure = read_failure(news, "empty-body.md", "# Only a title\n")
    assert failure.source_ref == "empty-body.md"
    assert "no body text" in failure.message


def test_html_title_and_paragraphs_without_scripts_styles_or_chrome(news):
    html = """<!doctype html>
<html><head>
  <title>Site | Page title</title>
  <style>p { color: red; }</style>
  <script>var s = "<p>not an article</p>";</script>
</head><body>
  <nav><p>Home</p><p>World</p></nav>
  <h1>Markets   rally</h1>
  <p>Stocks rose &amp; bonds
     fell.</p>
  <script>track("<p>still not</p>")</script>
  <p>Second<br>line</p>
  <ul><li>One point</li></ul>
  <footer><p>Copyright</p></footer>
</body></html>"""
    raw = read_one(news, "page.html", html)
    # The source keeps the page as delivered; cleaning (the one HTML-to-text step) reads it.
    assert (raw.body, raw.title, raw.content_type, raw.encoding) == (html, None, "text/html", "utf-8")
    assert raw.metadata["layout"] == "html" and raw.metadata["html"] == "document"
    article = clean_article(raw)
    assert article.title == "Markets rally"  # <h1> wins over <title>
    assert article.body.split("\n\n") == ["Stocks rose & bonds fell.", "Second\nline", "One point"]
    for dropped in ("color", "not an article", "still not", "Home", "Copyright", "Page title"):
        assert dropped not in article.body


def test_html_without_h1_takes_the_title_element(news):
    article = clean_article(read_one(news, "page.htm", "<title>Only title</title><p>Body.</p>"))
    assert article.title == "Only title"
    assert article.body == "Body."


def test_html_without_text_fails_in_cleaning_naming_the_file(news):
    raw = read_one(news, "shell.html", "<html><body><h1>Title</h1><script>x()</script></body></html>")
    with pytest.raises(CleaningError, match="shell.html: no text left after cleaning") as caught:
        Cleaner()(raw)
    assert (caught.value.stage, caught.value.doc_id) == (Stage.CLEAN, raw.doc_id)


# ---------------------------------------------------------------------------- JSON and JSON Lines


def test_json_single_object(news):
    record = {
        "title": "  Markets   rally ",
        "body": "Stocks rose.\n\nBonds fell.",
        "url": "https://example.com/a",
        "published_at": "2024-05-01T12:00:00+02:00",
    }
    article = read_one(news, "one.json", json.dumps(record))
    assert article.source_ref == "one.json"
    assert article.doc_id == stable_id("folder", "news", "one.json")
    assert article.title == "Markets rally"
    assert article.body == "Stocks rose.\n\nBonds fell."
    assert article.url == "https://example.com/a"
    assert article.published_at == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    assert article.metadata["layout"] == "json"


def test_json_naive_date_is_utc_and_text_or_content_field_is_the_body(news):
    write(news, "a.json", json.dumps({"text": "From text.", "published_at": "2024-05-01T08:30:00"}))
    write(news, "b.json", json.dumps({"content": "From content."}))
    articles = by_ref(split(read_folder(news))[0])
    assert articles["a.json"].body == "From text."
    assert articles["a.json"].published_at == datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc)
    assert articles["a.json"].title is None
    assert articles["b.json"].body == "From content."
    assert articles["b.json"].published_at is None


def test_json_list_gives_one_article_per_item_and_a_failure_per_bad_item(news):
    items = [
        {"title": "First", "body": "One."},
        {"title": "No body"},
        {"title": "Third", "body": "Three.", "published_at": "not a date"},
        {"title": "Fourth", "body": "Four."},
    ]
    write(news, "list.json", json.dumps(items))
    articles, failures = split(read_folder(news))
    assert [(a.source_ref, a.title, a.body) for a in articles] == [
        ("list.json#1", "First", "One."),
        ("list.json#4", "Fourth", "Four."),
    ]
    assert [f.source_ref for f in failures] == ["list.json#2", "list.json#3"]
    assert "no body" in failures[0].message
    assert "ISO 8601" in failures[1].message
    assert len({a.doc_id for a in articles} | {f.doc_id for f in failures}) == 4


def test_jsonl_bad_line_is_a_failure_and_the_good_lines_and_other_files_are_read(news):
    lines = [
        json.dumps({"title": "First", "body": "One."}),
        '{"title": "broken", "body": ',
        "",
        json.dumps({"title": "Fourth", "body": "Four."}),
        json.dumps(["not", "an", "object"]),
    ]
    write(news, "feed.jsonl", "\n".join(lines) + "\n")
    write(news, "other.txt", "Unaffected article.\n")
    articles, failures = split(read_folder(news))
    assert [a.source_ref for a in articles] == ["feed.jsonl#L1", "feed.jsonl#L4", "other.txt"]
    assert [a.title for a in articles[:2]] == ["First", "Fourth"]
    assert articles[2].body == "Unaffected article."
    assert [(f.stage, f.source_ref, f.error_type) for f in failures] == [
        ("read", "feed.jsonl#L2", "ArticleReadError"),
        ("read", "feed.jsonl#L5", "ArticleReadError"),
    ]
    assert failures[0].message.startswith("invalid JSON")
    assert "expected a JSON object" in failures[1].message
    assert failures[0].doc_id == stable_id("folder", "news", "feed.jsonl#L2")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[]", "holds no articles"),
        (json.dumps({"title": "No body here"}), "no body"),
        (json.dumps({"body": "Text.", "title": 5}), "title must be a string"),
        (json.dumps({"body": ["a", "b"]}), "body must be a string"),
        (json.dumps("just a string"), "expected a JSON object"),
    ],
)
def test_unusable_json_file_is_one_failure_for_the_file(news, content, message):
    failure = read_failure(news, "bad.json", content)
    assert failure.source_ref == "bad.json"
    assert message in failure.message


# ---------------------------------------------------------------------------- unusable files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"  \n\t\r\n   \n", "file contains only whitespace"),
        (b"Text\x00with\x00NUL\x00bytes", "binary content"),
        (b"\x01\x02\x03\x04\x05\x06 ab", "undecodable content"),
    ],
)
def test_unreadable_file_is_a_read_failure_with_the_reason(news, content, message):
    failure = read_failure(news, "bad.txt", content)
    assert failure.stage == "read"
    assert failure.source_ref == "bad.txt"
    assert failure.error_type == "ArticleReadError"
    assert message in failure.message
    assert failure.doc_id == stable_id("folder", "news", "bad.txt")


def test_a_symlink_to_a_file_outside_the_folder_is_a_read_failure_and_not_ingested(news, tmp_path):
    secret = write(tmp_path, "private/secret.txt", "Private notes that must never be indexed.\n")
    (news / "leak.txt").symlink_to(secret)
    write(news, "good.txt", "A good article.\n")
    articles, failures = split(read_folder(news))
    assert [a.source_ref for a in articles] == ["good.txt"]
    [failure] = failures
    assert failure.stage == "read" and failure.source_ref == "leak.txt"
    assert failure.message == f"not read: a symbolic link to {secret.resolve()}, outside the folder"
    assert failure.doc_id == stable_id("folder", "news", "leak.txt")


def test_a_symlink_inside_the_folder_is_read_under_its_own_path(news):
    write(news, "archive/real.txt", "An article kept in the archive.\n")
    (news / "alias.txt").symlink_to(news / "archive" / "real.txt")
    articles, failures = split(read_folder(news))
    assert failures == []
    assert {a.source_ref: a.body for a in articles} == {
        "alias.txt": "An article kept in the archive.", "archive/real.txt": "An article kept in the archive."}
    assert by_ref(articles)["alias.txt"].doc_id == stable_id("folder", "news", "alias.txt")


def test_a_fifo_named_like_an_article_is_a_read_failure_and_never_blocks(news):
    os.mkfifo(news / "x.txt")  # nobody ever writes to it: reading it plainly would wait forever
    write(news, "y.txt", "The article after the pipe.\n")
    results: list = []
    reader = threading.Thread(target=lambda: results.extend(read_folder(news)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading the folder blocked on the FIFO"
    articles, failures = split(results)
    assert [a.source_ref for a in articles] == ["y.txt"]
    [failure] = failures
    assert (failure.source_ref, failure.message) == ("x.txt", "not read: a named pipe (FIFO), not a regular file")


def test_file_over_max_bytes_is_a_failure_and_a_file_at_the_limit_is_read(news):
    write(news, "at-limit.txt", "x" * 99 + "\n")
    write(news, "too-big.txt", "y" * 150)
    articles, failures = split(read_folder(news, max_bytes=100))
    assert [a.source_ref for a in articles] == ["at-limit.txt"]
    assert len(failures) == 1
    assert failures[0].source_ref == "too-big.txt"
    assert failures[0].message == "file is 150 bytes, over the 100 bytes article limit"


def test_size_limit_message_uses_readable_units(news):
    failure = read_failure(news, "big.txt", "z" * (3 * 1024 * 1024 // 2), max_bytes=1024 * 1024)
    assert failure.message == "file is 1.5 MB, over the 1 MB article limit"


def test_every_input_is_accounted_for_in_a_mixed_folder(news):
    """One bad file never stops the rest, and nothing is silently dropped."""
    write(news, "good.txt", "A good article.\n")
    write(news, "empty.txt", b"")
    write(news, "blank.txt", "   \n\n  ")
    write(news, "big.txt", "b" * 500)
    write(news, "binary.txt", b"\x00\x01\x02")
    write(news, "feed.jsonl", '{"body": "One."}\nnot json\n{"body": "Three."}\n')
    write(news, "sub/ok.md", "# Title\n\nBody.\n")
    write(news, "sub/ignored.csv", "a,b\n")
    articles, failures = split(read_folder(news, max_bytes=200))
    assert sorted(a.source_ref for a in articles) == ["feed.jsonl#L1", "feed.jsonl#L3", "good.txt", "sub/ok.md"]
    assert sorted(f.source_ref for f in failures) == [
        "big.txt",
        "binary.txt",
        "blank.txt",
        "empty.txt",
        "feed.jsonl#L2",
    ]
    files = {p.relative_to(news).as_posix() for p in iter_article_files(news)}
    seen = {item.source_ref.split("#")[0] for item in [*articles, *failures]}
    assert seen == files
    assert all(f.stage == "read" and f.doc_id for f in failures)


def test_a_parser_crash_is_a_failure_under_the_files_relative_path(news, monkeypatch):
    """A bug on one odd file must not end the run, and its dead letter must keep a stable id."""

    def crash(text):
        raise RuntimeError("parser exploded")

    monkeypatch.setitem(folder_source._PARSERS, ".html", crash)
    write(news, "a.txt", "Before.\n")
    write(news, "sub/b.html", "<p>Boom</p>")
    write(news, "c.txt", "After.\n")
    articles, failures = split(read_folder(news))
    assert [a.source_ref for a in articles] == ["a.txt", "c.txt"]
    assert [(f.stage, f.source_ref, f.error_type, f.message) for f in failures] == [
        ("read", "sub/b.html", "RuntimeError", "parser exploded"),
    ]
    assert failures[0].doc_id == stable_id("folder", "news", "sub/b.html")


def test_fetched_at_is_aware_utc_and_metadata_names_path_layout_encoding(news):
    article = read_one(news, "sub/a.txt", "Body.\n")
    assert article.fetched_at is not None and article.fetched_at.utcoffset().total_seconds() == 0
    assert article.metadata == {"path": "sub/a.txt", "layout": "seed", "encoding": "utf-8"}
    assert article.url is None and article.published_at is None


# ---------------------------------------------------------------------------- read_files and errors


def test_read_files_yields_exactly_the_chosen_files_with_read_folder_ids(news):
    write(news, "a.txt", "Article A.\n")
    write(news, "sub/b.txt", "Article B.\n")
    write(news, "c.txt", "Article C, not chosen.\n")
    whole = {a.source_ref: a for a in split(read_folder(news))[0]}
    chosen, failures = split(read_files(news, ["a.txt", "sub/b.txt"]))
    assert failures == []
    assert [a.source_ref for a in chosen] == ["a.txt", "sub/b.txt"]
    for article in chosen:
        assert article.doc_id == whole[article.source_ref].doc_id
        assert article.body == whole[article.source_ref].body
        assert article.source == "folder:news"


def test_read_files_keeps_the_given_order_and_honours_source_name(news):
    write(news, "a.txt", "Article A.\n")
    write(news, "b.txt", "Article B.\n")
    chosen, _ = split(read_files(news, ["b.txt", "a.txt"], source_name="feed"))
    assert [a.source_ref for a in chosen] == ["b.txt", "a.txt"]
    assert [a.doc_id for a in chosen] == [stable_id("folder", "feed", "b.txt"), stable_id("folder", "feed", "a.txt")]


def test_read_files_reports_missing_and_unsupported_files_as_failures(news):
    write(news, "a.txt", "Article A.\n")
    write(news, "notes.pdf", "%PDF")
    articles, failures = split(read_files(news, ["a.txt", "gone.txt", "notes.pdf"]))
    assert [a.source_ref for a in articles] == ["a.txt"]
    failed = by_ref(failures)
    assert set(failed) == {"gone.txt", "notes.pdf"}
    assert failed["gone.txt"].message.startswith("cannot read file")
    assert "unsupported file type '.pdf'" in failed["notes.pdf"].message


def test_read_files_refuses_paths_outside_the_folder(news, tmp_path):
    """A batch plan must not be able to read files beside the source folder."""
    write(tmp_path, "outside.txt", "Secret text outside the folder.\n")
    articles, failures = split(read_files(news, ["../outside.txt"]))
    assert articles == []
    assert len(failures) == 1
    assert "not inside" in failures[0].message


@pytest.mark.parametrize("reader", [read_folder, lambda f: read_files(f, ["a.txt"])])
def test_missing_folder_raises_source_error(tmp_path, reader):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(SourceError) as raised:
        list(reader(missing))
    assert raised.value.source_ref == str(missing)


def test_a_file_given_as_the_folder_raises_source_error(tmp_path):
    path = write(tmp_path, "a.txt", "Body.\n")
    with pytest.raises(SourceError):
        list(read_folder(path))


def test_read_article_file_returns_articles_and_record_errors(news):
    """The per-file API: record errors are returned beside the good articles, not raised."""
    path = write(news, "feed.jsonl", '{"body": "One."}\n{"body": ""}\n')
    articles, errors = read_article_file(path, folder=news, source_name="news")
    assert [a.source_ref for a in articles] == ["feed.jsonl#L1"]
    assert [e.source_ref for e in errors] == ["feed.jsonl#L2"]
    assert "no body" in errors[0].reason
