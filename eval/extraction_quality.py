"""Extraction quality on the seed article(s) in ``../shared/seeds``: run by ``.ci/run`` after the tests.

Each seed is read by the folder source, cleaned with ``clean_article`` and enriched by the
production ``Extractor``; its persons, organizations and locations are printed and checked
against what a careful reader lists for the Shoigu/Assad seed: one value per person (full
name, no title), no place or possessive as a person, no "Syrias"-style artifacts.

Usage: ``.venv/bin/python eval/extraction_quality.py [--shared ../shared]``; exit 0 when all hold.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

EXPECTED_PERSONS = {"Sergey Shoigu", "Bashar al-Assad", "Vladimir Putin", "Igor Konashenkov", "Staffan de Mistura"}
EXPECTED_LOCATIONS = {"Damascus", "Latakia", "Syria", "Russia", "Khmeimim", "Moscow", "Tartus"}
PLACES = {"Russia", "Russias", "Syria", "Syrias", "Khmeimim", "Damascus", "Latakia", "Moscow", "Tartus"}
ARTIFACT = re.compile(r"\b(?:Russias|Syrias|Ministrys)\b|['\u2019]s\b")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=PROJECT_ROOT.parent / "shared")
    args = parser.parse_args()
    seeds = args.shared / "seeds"
    if not seeds.is_dir():
        print(f"no seeds at {seeds}", file=sys.stderr)
        return 2

    from pipelines.models import RawArticle
    from pipelines.pipeline import Pipeline
    from pipelines.settings import Settings
    from pipelines.sources.folder import read_folder

    raws = [item for item in read_folder(seeds) if isinstance(item, RawArticle)]
    failed: list[str] = []
    # Cleaned and extracted exactly as in production (settings included), nothing stored.
    enriched, failures = Pipeline.from_settings(Settings.from_env()).apply(raws, until="extract")
    failed += [f"{failure.source_ref}: {failure.stage} failed: {failure.message}" for failure in failures]
    for article in enriched:
        facets = article.facets
        print(f"\n{article.clean.raw.source_ref}  ({article.model}, language {article.language})")
        for facet in ("persons", "organizations", "locations"):
            print(f"  {facet:<14} {', '.join(facets[facet])}")
        print(f"  {'keywords':<14} {', '.join(article.keywords)}")
        print(f"  {'dates':<14} {', '.join(article.dates_mentioned)}")

        values = [value for facet in ("persons", "organizations", "locations") for value in facets[facet]]
        checks = {
            "no possessive or stripped-apostrophe artifacts": not [v for v in values if ARTIFACT.search(v)],
            "no place as a person": not (set(facets["persons"]) & PLACES),
            "one value per person (no surname beside its full name)": not [
                p for p in facets["persons"] if any(other != p and other.endswith(" " + p) for other in facets["persons"])
            ],
        }
        if "Shoigu" in article.clean.body:
            checks["persons are exactly the five people named"] = set(facets["persons"]) == EXPECTED_PERSONS
            checks["locations include every place named"] = EXPECTED_LOCATIONS <= set(facets["locations"])
        for what, ok in checks.items():
            print(f"  [{'ok' if ok else 'FAIL'}] {what}")
            if not ok:
                failed.append(f"{article.clean.raw.source_ref}: {what}")

    print(f"\n{'PASS' if not failed else 'FAIL'}: {len(failed)} check(s) failed {failed or ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
