"""Article revisions: every distinct version of an article, and what changed between them.

A version is the article's *content*: its title and cleaned body (``EnrichedArticle.content_hash``),
so a feed that re-serves an entry with a new date, a page whose markup or ads change, or a cleaner
upgrade that re-cleans the same delivery, makes no revision. A URL whose content returns to an
earlier version makes none either: that version is only seen again. Versions live beside the raw
store (``Store.versions``), one record per (article id, content hash), with when each was first
and last seen (the raw article's ``fetched_at``, so replays and backfills date them correctly).

``Revisions.annotate`` runs on each batch just before the sink writes it; ``word_diff`` renders
two versions for ``newsflow revisions ID``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipelines.models import EnrichedArticle, Revision, RunInfo

if TYPE_CHECKING:
    from pipelines.store.base import Versions


def entity_names(article: EnrichedArticle) -> list[str]:
    return sorted({entity.text for entity in article.entities})


def version_record(article: EnrichedArticle, seen_at: datetime, run: RunInfo) -> dict[str, Any]:
    return {
        "doc_id": article.raw.doc_id,
        "source": article.raw.source,
        "content_hash": article.content_hash,
        "raw_content_hash": article.raw.content_hash,
        "title": article.title,
        "body": article.clean.body,
        "entities": entity_names(article),
        "first_seen_at": seen_at.isoformat(),
        "last_seen_at": seen_at.isoformat(),
        "run_id": run.run_id,
    }


def revision_of(versions: Sequence[dict[str, Any]]) -> Revision:
    """The history indexed with an article, from its versions (oldest first)."""
    first_seen = datetime.fromisoformat(versions[0]["first_seen_at"])
    if len(versions) < 2:
        return Revision(revision_count=0, first_seen_at=first_seen)
    previous, latest = versions[-2], versions[-1]
    before, after = set(previous["entities"]), set(latest["entities"])
    return Revision(
        revision_count=len(versions) - 1,
        first_seen_at=first_seen,
        last_changed_at=datetime.fromisoformat(latest["first_seen_at"]),
        headline_changed=len({version["title"] for version in versions}) > 1,
        title_changed=previous["title"] != latest["title"],
        body_changed=previous["body"] != latest["body"],
        entities_added=tuple(sorted(after - before)),
        entities_removed=tuple(sorted(before - after)),
    )


def _seen_at(article: EnrichedArticle) -> datetime:
    seen = article.raw.fetched_at or datetime.now(UTC)
    return seen if seen.tzinfo else seen.replace(tzinfo=UTC)


class Revisions:
    def __init__(self, versions: Versions) -> None:
        self.versions = versions

    def annotate(self, articles: Sequence[EnrichedArticle], run: RunInfo) -> list[EnrichedArticle]:
        """Record each article's version (new, or seen again) and return the articles with their history."""
        known = self.versions.of([article.raw.doc_id for article in articles])
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        annotated = []
        for article in articles:
            history = known.setdefault(article.raw.doc_id, [])
            seen_at = _seen_at(article)
            same = next((v for v in history if v["content_hash"] == article.content_hash
                         or v["raw_content_hash"] == article.raw.content_hash), None)
            if same is None:
                same = version_record(article, seen_at, run)
                history.append(same)
                history.sort(key=lambda v: (v["first_seen_at"], v["content_hash"]))
                changed[(same["doc_id"], same["content_hash"])] = same
            elif datetime.fromisoformat(same["last_seen_at"]) < seen_at:
                same["last_seen_at"] = seen_at.isoformat()
                changed[(same["doc_id"], same["content_hash"])] = same
            annotated.append(replace(article, revision=revision_of(history)))
        self.versions.save(list(changed.values()))
        return annotated


def word_diff(before: str, after: str, *, context: int = 8) -> str:
    """A word-level diff a person can read: ``[-removed-]`` and ``{+added+}`` inline, with up to
    ``context`` unchanged words either side of each change (longer unchanged runs become "…")."""
    old, new = before.split(), after.split()
    if old == new:
        return "(unchanged)"
    opcodes = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    parts = []
    for number, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            words = old[i1:i2]
            head = words[:context] if number > 0 else []
            tail = words[-context:] if number < len(opcodes) - 1 else []
            if len(words) > len(head) + len(tail):
                words = [*head, "…", *tail]
            parts.append(" ".join(words))
            continue
        if tag in ("delete", "replace"):
            parts.append("[-" + " ".join(old[i1:i2]) + "-]")
        if tag in ("insert", "replace"):
            parts.append("{+" + " ".join(new[j1:j2]) + "+}")
    return " ".join(parts)
