"""``newsflow search``."""

from __future__ import annotations

import argparse
import json

from pipelines.settings import Settings

FACET_OPTIONS = {
    "person": "persons", "org": "organizations", "location": "locations", "source": "source", "lang": "language",
    "author": "authors", "category": "categories", "tag": "tags", "domain": "source_domain",
    "mentioned": "mentioned_dates",  # a day (2026-01-05) or month (2026-01) the text mentions
    "country": "countries",  # ISO 3166-1 alpha-2 code of a resolved place (GB, US)
}


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.search import search
    from pipelines.store import IndexNames
    from pipelines.store.client import connect

    filters = {field: getattr(args, option) for option, field in FACET_OPTIONS.items() if getattr(args, option)}
    result = search(
        connect(settings), IndexNames(settings.index_prefix), args.query, filters=filters, size=args.size,
        published_from=getattr(args, "date_from", None), published_to=getattr(args, "date_to", None),
        near=getattr(args, "near", None), about=getattr(args, "about", False),
    )
    if args.json:
        print(json.dumps({
            "total": result.total,
            "hits": [{"id": h.doc_id, "score": h.score, "title": h.title, "source_ref": h.source_ref,
                      "published_at": h.document.get("published_at"), "highlights": h.highlights} for h in result.hits],
            "facets": {name: [{"value": v, "count": c} for v, c in values] for name, values in result.facets.items()},
            "per_day": [{"date": day, "count": count} for day, count in result.per_day],
            "undated": result.undated,
            "about": list(result.about),
        }, indent=2, ensure_ascii=False))
        return 0
    print(f"{result.total} article(s) match {args.query!r}")
    for rank, hit in enumerate(result.hits, 1):
        print(f"\n{rank}. {hit.title}  [{hit.source_ref}]  score {hit.score:.2f}")
        for fragment in hit.highlights:
            print(f"   … {' '.join(fragment.split())} …")
    print("\nFacets")
    for name, values in result.facets.items():
        if values:
            print(f"  {name:<16} " + ", ".join(f"{value} ({count})" for value, count in values))
    if result.per_day:
        print("\nPer day (published)")
        widest = max(count for _, count in result.per_day)
        for day, count in result.per_day[-31:]:
            print(f"  {day}  {'█' * max(1, round(20 * count / widest))} {count}")
    if result.undated:
        print(f"  ({result.undated} without a publication date)")
    if result.about:
        print("\nWhat these articles are about: " + ", ".join(result.about))
    return 0
