"""Articles from a folder of files: plain text, Markdown, HTML, JSON and JSON Lines.

A source is a plain generator (dlt style): ``read_folder`` yields one ``RawArticle`` per article
and one ``Failure`` per file or record it could not read, so every file is accounted for and one
bad file never stops the rest. Ids are built from the source name and each file's path relative
to the folder, so they are the same on every run and machine and every downstream write is an
upsert. ``FolderSource`` puts it behind the source interface: units are batches of files.

Only regular files whose resolved path lies inside the folder are read: a symbolic link out of
the folder, a FIFO or a device named ``*.txt`` is a read Failure, never read (and never waited on).

HTML files are kept as delivered (``text/html``): turning them into a title and text is
cleaning's job, so a better HTML parser can be replayed from the raw store.

Plain ``.txt`` files come in two layouts:

* **title-first** — a headline, a blank line, then paragraphs separated by blank lines;
* **seed** — no title, one paragraph per line (what the upstream scraper delivers).

See ``looks_like_title`` for how the two are told apart.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import charset_normalizer

from pipelines.errors import ArticleReadError, SourceError
from pipelines.models import Failure, RawArticle, stable_id
from pipelines.sources.base import SOURCES, Acquisition, Source, SourceContext

if TYPE_CHECKING:
    from pipelines.store import StateStore

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_TITLE_CHARS = 200
# Above this share of control or replacement characters, decoding produced noise, not text.
_MAX_GARBAGE_SHARE = 0.05
_GARBAGE_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")

# ---------------------------------------------------------------------------- files and bytes


def iter_article_files(folder: Path) -> Iterator[Path]:
    """Supported, non-hidden files under ``folder``, recursively, sorted by relative path.

    Sorting makes runs reproducible; hidden files and folders (``.git``, ``.DS_Store``, editor
    swap files) are never articles.
    """
    found: list[tuple[tuple[str, ...], Path]] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(root, name)
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            found.append((path.relative_to(folder).parts, path))
    for _, path in sorted(found):
        yield path


def decode_bytes(data: bytes) -> str:
    """Text from bytes of unknown encoding; never raises (undecodable bytes become U+FFFD)."""
    return _decode(data)[0]


def _decode(data: bytes) -> tuple[str, str]:
    """The decoded text and the name of the encoding used.

    UTF-8 is tried strictly first because almost every file is UTF-8 and a strict decode of
    anything else fails fast. Otherwise charset_normalizer decides, except that cp1252 wins
    whenever it is among the plausible decodings: on short Western text charset_normalizer
    often prefers lookalikes (cp1250 turns "São" into "Săo", cp932 turns "£" into "｣"), and
    English news that is not UTF-8 is almost always cp1252 or Latin-1.
    """
    try:
        encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
        return data.decode(encoding), encoding
    except UnicodeDecodeError:
        pass
    if _mostly_ascii(data):
        # Western text with a few accented bytes: multi-byte CJK encodings produce mostly
        # non-ASCII bytes, so cp1252 is the safe reading ("S\xe3o Paulo" is not Chinese).
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("cp1252"), "cp1252"
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is not None and not any("cp1252" in m.could_be_from_charset for m in matches):
        return str(best), best.encoding
    return data.decode("cp1252", errors="replace"), "cp1252"


def _mostly_ascii(data: bytes) -> bool:
    """ASCII text with isolated high bytes, the shape of accented Western text.

    Multi-byte encodings (Shift-JIS, GBK, Big5) and Cyrillic or Greek code pages put high
    bytes next to each other; Western accents (é, ã, “ ”) stand alone between letters.
    """
    high = [index for index, byte in enumerate(data) if byte >= 0x80]
    if not high or len(high) > 0.3 * len(data):
        return False
    adjacent = sum(1 for before, after in zip(high, high[1:]) if after == before + 1)
    return adjacent <= 0.2 * len(high)


def _human_size(size: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
)


def _read_bytes(path: Path, folder: Path, ref: str, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file whose resolved path lies inside ``folder``.

    A symbolic link leading out of the folder would ingest whatever it points at; a FIFO or a
    device would block the run or never end. The file is opened without blocking and without
    following a last link, and checked on the open descriptor, so what is checked is what is read.
    """
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise ArticleReadError(f"not read: a symbolic link to {resolved}, outside the folder", source_ref=ref)
    descriptor = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a regular file")
            raise ArticleReadError(f"not read: {kind}, not a regular file", source_ref=ref)
        if info.st_size > max_bytes:
            raise ArticleReadError(
                f"file is {_human_size(info.st_size)}, over the {_human_size(max_bytes)} article limit",
                source_ref=ref,
            )
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the check
        raise ArticleReadError(f"file grew over the {_human_size(max_bytes)} article limit while read", source_ref=ref)
    return data


def _read_text(path: Path, folder: Path, ref: str, max_bytes: int) -> tuple[str, str]:
    """The file's text with ``\\n`` line endings, and its encoding; raises on unusable files."""
    try:
        data = _read_bytes(path, folder, ref, max_bytes)
    except OSError as error:
        raise ArticleReadError(f"cannot read file: {error.strerror or error}", source_ref=ref) from error
    if not data:
        raise ArticleReadError("empty file", source_ref=ref)
    text, encoding = _decode(data)
    if "\x00" in text:
        raise ArticleReadError("binary content: the file contains NUL bytes", source_ref=ref)
    garbage = len(_GARBAGE_CHARS.findall(text))
    if garbage > _MAX_GARBAGE_SHARE * len(text):
        raise ArticleReadError(
            f"undecodable content: {garbage / len(text):.0%} control or replacement characters",
            source_ref=ref,
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if not text.strip():
        raise ArticleReadError("file contains only whitespace", source_ref=ref)
    return text, encoding


# ---------------------------------------------------------------------------- text layouts


def looks_like_title(line: str) -> bool:
    """Whether a line, already known to be followed by a blank line, reads as a headline.

    A headline is at most ``MAX_TITLE_CHARS`` long, has a letter, is not markup (a leading
    ``[`` or ``<``, e.g. a WordPress shortcode) and is not a sentence: after trailing quotes
    and brackets are set aside, it must not end in ``.``, ``,``, ``;`` or ``:`` — except an
    ellipsis ("Rivals of the £400 Apple..."). Headlines ending in ``?``, ``!`` or a quote
    pass. The first paragraph of a seed article is a full sentence, so it never passes.
    """
    if len(line) > MAX_TITLE_CHARS or line.startswith(("[", "<")):
        return False
    if not any(c.isalpha() for c in line):
        return False
    core = line.rstrip("'\"’”)]")
    return core.endswith(("...", "…")) or not core.endswith((".", ",", ";", ":"))


def _paragraphs(lines: list[str]) -> list[str]:
    """Paragraphs of plain text.

    Where blank lines separate blocks, each block is a paragraph and its lines are unwrapped
    (hard-wrapped text); with no blank line at all, every line is a paragraph (seed layout).
    """
    stripped = [line.strip() for line in lines]
    if "" not in _trim_blank(stripped):
        return [line for line in stripped if line]
    paragraphs: list[str] = []
    block: list[str] = []
    for line in [*stripped, ""]:
        if line:
            block.append(line)
        elif block:
            paragraphs.append(" ".join(block))
            block = []
    return paragraphs


def _trim_blank(lines: list[str]) -> list[str]:
    """``lines`` without leading and trailing blank (or whitespace-only) lines."""
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    end = next((i for i in range(len(lines), 0, -1) if lines[i - 1].strip()), 0)
    return lines[start:end]


def _parse_txt(text: str) -> tuple[str | None, list[str], str]:
    lines = _trim_blank(text.split("\n"))
    head, rest = lines[0].strip(), lines[1:]
    if rest and not rest[0].strip() and looks_like_title(head):
        return head, _paragraphs(rest), "title-first"
    return None, _paragraphs(lines), "seed"


_MD_H1 = re.compile(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")
_MD_SETEXT_H1 = re.compile(r"=+[ \t]*")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^#{1,6}[ \t]+")


def _strip_markdown(text: str) -> str:
    """Drop the common inline markup (headings, images, links, ``*`` emphasis) and nothing more."""
    text = _MD_HEADING.sub("", text)
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    return _MD_EMPHASIS.sub(r"\2", text).strip()


def _parse_markdown(text: str) -> tuple[str | None, list[str], str]:
    lines = _trim_blank(text.split("\n"))
    head = lines[0].strip()
    if match := _MD_H1.fullmatch(head):
        title, rest = match.group(1), lines[1:]
    elif len(lines) > 1 and _MD_SETEXT_H1.fullmatch(lines[1].strip()):
        title, rest = head, lines[2:]
    else:
        title, rest = None, lines
    paragraphs = [p for p in map(_strip_markdown, _paragraphs(rest)) if p]
    return (_strip_markdown(title) if title else None), paragraphs, "markdown"


def _keep_html(text: str) -> tuple[str | None, list[str], str]:
    return None, [text.strip()], "html"


_PARSERS: dict[str, Callable[[str], tuple[str | None, list[str], str]]] = {
    ".txt": _parse_txt,
    ".md": _parse_markdown,
    ".markdown": _parse_markdown,
    ".html": _keep_html,
    ".htm": _keep_html,
}

# ---------------------------------------------------------------------------- JSON records

_BODY_FIELDS = ("body", "text", "content")


def _parse_published_at(value: object) -> datetime | None:
    """ISO 8601 as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"published_at must be an ISO 8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"published_at is not an ISO 8601 date: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _optional_str(record: dict[str, object], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    return " ".join(value.split()) or None


def _json_fields(record: object) -> tuple[str | None, list[str], str | None, datetime | None]:
    """Title, paragraphs, url and published_at of one JSON record; ValueError says what is wrong."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    body = next((record[key] for key in _BODY_FIELDS if record.get(key)), None)
    if body is None:
        raise ValueError(f"no body: none of {', '.join(_BODY_FIELDS)} is set")
    if not isinstance(body, str):
        raise ValueError(f"body must be a string, got {type(body).__name__}")
    paragraphs = _paragraphs(body.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return (
        _optional_str(record, "title"),
        paragraphs,
        _optional_str(record, "url"),
        _parse_published_at(record.get("published_at")),
    )


_TOO_DEEP = "invalid JSON: nested deeper than the JSON parser allows (no article is shaped like that)"


def _json_records(text: str, suffix: str, ref: str) -> Iterator[tuple[str, object]]:
    """(source_ref, parsed record or the ValueError that stopped it) for each record in the file."""
    if suffix == ".jsonl":
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                yield f"{ref}#L{number}", json.loads(line)
            except json.JSONDecodeError as error:
                yield f"{ref}#L{number}", ValueError(f"invalid JSON: {error.msg} at column {error.colno}")
            except RecursionError:
                yield f"{ref}#L{number}", ValueError(_TOO_DEEP)
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ArticleReadError(
            f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}", source_ref=ref
        ) from None
    except RecursionError:
        raise ArticleReadError(_TOO_DEEP, source_ref=ref) from None
    if not isinstance(document, list):
        yield ref, document
        return
    if not document:
        raise ArticleReadError("JSON list holds no articles", source_ref=ref)
    for index, item in enumerate(document, start=1):
        yield f"{ref}#{index}", item


# ---------------------------------------------------------------------------- articles


def _relative_ref(path: Path, folder: Path) -> str:
    relative = Path(os.path.relpath(path.absolute(), folder.absolute()))
    if relative.parts[:1] == ("..",):
        raise ValueError(f"{path} is not inside {folder}")
    return relative.as_posix()


def _doc_id(source_name: str, source_ref: str) -> str:
    return stable_id("folder", source_name, source_ref)


def read_article_file(
    path: Path,
    *,
    folder: Path,
    source_name: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[list[RawArticle], list[ArticleReadError]]:
    """The articles in one file, and one error per record that could not be read.

    Most files hold one article. A ``.jsonl`` file or a JSON list holds many, and one bad
    record must not cost the others, so record errors are returned beside the good articles
    (their ``source_ref`` is ``file.jsonl#L3`` or ``file.json#2``). When the file as a whole
    is unusable (empty, too large, undecodable, no body, invalid JSON) this raises
    ``ArticleReadError`` with the reason.
    """
    ref = _relative_ref(path, folder)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ArticleReadError(f"unsupported file type {suffix or '(none)'!r}", source_ref=ref)
    text, encoding = _read_text(path, folder, ref, max_bytes)
    fetched_at = datetime.now(timezone.utc)

    def article(
        source_ref: str,
        title: str | None,
        paragraphs: list[str],
        layout: str,
        url: str | None = None,
        published_at: datetime | None = None,
    ) -> RawArticle:
        if not paragraphs or not any(paragraphs):
            raise ValueError("no body text" + (" after the title" if title else ""))
        html = layout == "html"
        return RawArticle(
            doc_id=_doc_id(source_name, source_ref),
            source=f"folder:{source_name}",
            source_ref=source_ref,
            body="\n\n".join(paragraphs),
            title=title,
            content_type="text/html" if html else "text/plain",
            encoding=encoding,
            published_at=published_at,
            fetched_at=fetched_at,
            url=url,
            metadata={"path": ref, "layout": layout, "encoding": encoding, **({"html": "document"} if html else {})},
        )

    if suffix in (".json", ".jsonl"):
        articles: list[RawArticle] = []
        errors: list[ArticleReadError] = []
        for record_ref, record in _json_records(text, suffix, ref):
            try:
                if isinstance(record, ValueError):
                    raise record
                title, paragraphs, url, published_at = _json_fields(record)
                articles.append(article(record_ref, title, paragraphs, "json", url, published_at))
            except ValueError as error:
                if record_ref == ref:  # a single-object .json file: the record is the file
                    raise ArticleReadError(str(error), source_ref=ref) from None
                errors.append(ArticleReadError(str(error), source_ref=record_ref))
        return articles, errors

    title, paragraphs, layout = _PARSERS[suffix](text)
    try:
        return [article(ref, title, paragraphs, layout)], []
    except ValueError as error:
        raise ArticleReadError(str(error), source_ref=ref) from None


def _failure(error: Exception, source_ref: str, source_name: str) -> Failure:
    return Failure.from_error(error, source=f"folder:{source_name}", source_ref=source_ref,
                              doc_id=_doc_id(source_name, source_ref))


def read_folder(
    folder: Path,
    *,
    source_name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[RawArticle | Failure]:
    """Every article under ``folder``, and a ``Failure(stage="read")`` for each one that could not be read.

    ``source_name`` (default: the folder's own name) goes into every id, so a folder copied
    elsewhere under the same name yields the same ids. Only a missing folder raises
    (``SourceError``): a single bad file, even one that trips a parser bug, becomes a
    Failure and the walk goes on.
    """
    folder = _existing_folder(folder)
    yield from _read_paths(folder, iter_article_files(folder), source_name or folder.resolve().name, max_bytes)


def read_files(
    folder: Path,
    relative_paths: Iterable[str],
    *,
    source_name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[RawArticle | Failure]:
    """Like ``read_folder``, for a chosen batch of files given by their paths relative to ``folder``.

    Batched runs (one Airflow task per batch) plan with ``iter_article_files`` and read here, so
    ids and failures are exactly those a whole-folder read would produce.
    """
    folder = _existing_folder(folder)
    paths = (folder / relative for relative in relative_paths)
    yield from _read_paths(folder, paths, source_name or folder.resolve().name, max_bytes)


def _existing_folder(folder: Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError("not a folder, or it does not exist", source_ref=str(folder))
    return folder


def _read_paths(
    folder: Path, paths: Iterable[Path], source_name: str, max_bytes: int
) -> Iterator[RawArticle | Failure]:
    for path in paths:
        try:
            articles, errors = read_article_file(path, folder=folder, source_name=source_name, max_bytes=max_bytes)
        except ArticleReadError as error:
            yield _failure(error, error.source_ref, source_name)
            continue
        except Exception as error:  # noqa: BLE001 — a bug on one odd file must not end the run
            try:  # the relative ref, like every other failure, so its ids survive moving the folder
                ref = _relative_ref(path, folder)
            except ValueError:  # the path is outside the folder: that is the error itself
                ref = path.as_posix()
            yield _failure(error, ref, source_name)
            continue
        yield from articles
        for error in errors:
            yield _failure(error, error.source_ref, source_name)


DEFAULT_FILES_PER_BATCH = 200
FOLDER_STATE_KIND = "folder"


def folder_source_name(folder: Path, configured: str | None, state: StateStore) -> str:
    """The name a folder's documents are recorded under, and part of each of their ids.

    A configured name is used as given. Otherwise it is the folder's own name, claimed in the
    state store by the folder's resolved path on first use: the first folder keeps ids exactly
    as they always were, and another folder with the same name elsewhere (``/a/articles`` after
    ``/b/articles``) gets ``articles-<digest of its path>``, so the two never overwrite each
    other's documents. Ingest and requeue both resolve names here.
    """
    if configured:
        return configured
    resolved = _existing_folder(folder).resolve()
    claim = state.load(FOLDER_STATE_KIND, resolved.name)
    if claim is None:
        state.save(FOLDER_STATE_KIND, resolved.name, {"path": str(resolved)})
        return resolved.name
    if claim.get("path") == str(resolved):
        return resolved.name
    return f"{resolved.name}-{stable_id('folder', str(resolved))[:8]}"


@SOURCES.register("folder")
class FolderSource(Source):
    """A folder of article files. Options: ``folder``, ``source_name`` (default: see ``folder_source_name``),
    ``files`` (paths relative to the folder; default: every article file), ``files_per_batch``."""

    kind = "folder"

    @property
    def folder(self) -> Path:
        return Path(self.options["folder"])

    def files(self) -> list[str]:
        folder = _existing_folder(self.folder)
        if self.options.get("files") is not None:
            return list(self.options["files"])
        return [path.relative_to(folder).as_posix() for path in iter_article_files(folder)]

    def units(self) -> list[dict[str, Any]]:
        files = self.files()
        per_batch = int(self.options.get("files_per_batch") or DEFAULT_FILES_PER_BATCH)
        return [
            {"label": f"files {start + 1}-{start + len(chunk)} of {len(files)}", "files": chunk}
            for start in range(0, len(files), per_batch)
            if (chunk := files[start : start + per_batch])
        ]

    def acquire(self, unit: dict[str, Any], context: SourceContext) -> Acquisition:
        name = folder_source_name(self.folder, self.options.get("source_name"), context.store.state)
        return Acquisition(read_files(self.folder, unit["files"], source_name=name), label=unit["label"])
