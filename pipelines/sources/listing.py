"""Versioned lists of polled sources (``feeds.yaml``, ``sitemaps.yaml``): loading and validation.

Every entry is checked field by field, and an error names the file (or "run conf") and the
entry: unknown keys, duplicate names, non-HTTP(S) URLs, wrong types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from pipelines.errors import FeedConfigError

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LANGUAGE = re.compile(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})?")


class Named(Protocol):
    name: str
    enabled: bool


T = TypeVar("T", bound=Named)


class EntryReader:
    """Typed reads of one list entry; errors name the entry."""

    def __init__(self, entry: object, where: str, allowed: set[str]) -> None:
        if not isinstance(entry, Mapping):
            raise FeedConfigError(f"an entry must be a mapping with name and url, got {type(entry).__name__}", source_ref=where)
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise FeedConfigError(f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}",
                                  source_ref=where)
        self.entry, self.where = entry, where
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise FeedConfigError(f"name must match {NAME_PATTERN.pattern} (lowercase, digits, - and _), got {name!r}",
                                  source_ref=where)
        self.name = name
        self.where = f"{where} ({name})"

    def fail(self, message: str) -> FeedConfigError:
        return FeedConfigError(message, source_ref=self.where)

    def url(self, key: str = "url") -> str:
        url = self.entry.get(key)
        if not isinstance(url, str) or urlsplit(url.strip()).scheme.lower() not in ("http", "https") or not urlsplit(url.strip()).hostname:
            raise self.fail(f"{key} must be an absolute http(s) URL, got {url!r}")
        return url.strip()

    def tags(self) -> tuple[str, ...]:
        tags = self.entry.get("tags") or []
        if isinstance(tags, str) or not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise self.fail(f"tags must be a list of non-empty strings, got {tags!r}")
        return tuple(t.strip() for t in tags)

    def language(self) -> str | None:
        language = self.entry.get("language")
        if language is not None and (not isinstance(language, str) or not _LANGUAGE.fullmatch(language)):
            raise self.fail(f"language must be a language code such as 'en' or 'pt-BR', got {language!r}")
        return language

    def flag(self, key: str, default: bool) -> bool:
        value = self.entry.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key} must be true or false, got {value!r}")
        return value

    def count(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"{key} must be a whole number ≥ {minimum}, got {value!r}")
        return value


def entries_from_data(data: object, *, key: str, origin: str, make: Callable[[object, str], T]) -> list[T]:
    """Validate a list: ``{"version": 1, key: [...]}`` (the file's shape) or a bare list (a run's override)."""
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - {"version", key})
        if unknown:
            raise FeedConfigError(f"unknown top-level key(s) {', '.join(map(repr, unknown))}; expected version and {key}",
                                  source_ref=origin)
        if data.get("version", 1) != 1:
            raise FeedConfigError(f"unsupported version {data.get('version')!r} (this newsflow reads version 1)", source_ref=origin)
        data = data.get(key)
    if not isinstance(data, list) or not data:
        raise FeedConfigError(f"expected a non-empty list of {key}", source_ref=origin)
    entries = [make(entry, f"{origin}: {key}[{index}]") for index, entry in enumerate(data)]
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise FeedConfigError(f"name {entry.name!r} is used twice", source_ref=origin)
        seen.add(entry.name)
    return entries


def load_entries(path: Path, *, key: str, make: Callable[[object, str], T]) -> list[T]:
    """The entries of a YAML list file; raises FeedConfigError with the file and entry."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise FeedConfigError(f"cannot read the {key} list: {error.strerror or error}", source_ref=str(path)) from error
    except yaml.YAMLError as error:
        raise FeedConfigError(f"not valid YAML: {error}", source_ref=str(path)) from error
    return entries_from_data(data, key=key, origin=str(path), make=make)


def select_entries(entries: list[T], names: list[str] | None, *, what: str = "entry") -> list[T]:
    """Enabled entries, or exactly the named ones (enabled or not); unknown names are an error."""
    if not names:
        return [entry for entry in entries if entry.enabled]
    by_name = {entry.name: entry for entry in entries}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise FeedConfigError(f"no {what} named {', '.join(map(repr, missing))}; known: {', '.join(sorted(by_name))}",
                              source_ref="selection")
    return [by_name[name] for name in names]


def planned_entries(
    settings_path: Path, *, key: str, make: Callable[[object, str], T], override: list[dict[str, Any]] | None,
    only: list[str] | None,
) -> list[T]:
    """The entries of a run: the run's override list, else the file; then the selection."""
    if override:
        entries = entries_from_data(list(override), key=key, origin=f"run conf '{key}'", make=make)
    else:
        entries = load_entries(settings_path, key=key, make=make)
    return select_entries(entries, list(only or []), what=key.removesuffix("s"))
