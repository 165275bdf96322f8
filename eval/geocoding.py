"""Geocoding quality on a hand-labelled sample of location facet values (issue #15, part 3).

``eval/data/geocoding_labels.tsv`` holds location values (no article text), the article's other
location values as context, and the GeoNames place each names: one or more ids, ``missing`` (a
real place the gazetteer lacks: provinces, seas, venues) or ``none`` (not a place: a model error).
Each value is resolved by ``pipelines.extraction.geocoding`` in its context, as extraction does.

Printed, overall and per source: the share of values resolved (of all values, and of those that
are places), the share of resolved values that are right (a ``missing`` or ``none`` value that
resolves is wrong), and the ambiguity rate (values that several places share) with the share of
those resolved right.

Usage::

    PYTHONPATH=. .venv/bin/python eval/geocoding.py [--labels eval/data/geocoding_labels.tsv] [--errors]
        [--floor-resolved 0.90] [--floor-right 0.95]

With floors it exits 1 when the sample falls below them (``tests/test_geocoding.py`` holds the
issue's targets this way).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
LABELS = PROJECT_ROOT / "eval" / "data" / "geocoding_labels.tsv"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%} ({part}/{whole})" if whole else "n/a"


def main() -> int:
    from pipelines.extraction.geocoding import load_gazetteer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--errors", action="store_true", help="also list every wrong or unresolved place")
    parser.add_argument("--floor-resolved", type=float, default=0.0,
                        help="exit 1 when fewer of all places resolve (a share, e.g. 0.90)")
    parser.add_argument("--floor-right", type=float, default=0.0,
                        help="exit 1 when fewer of all resolved values are right (a share, e.g. 0.95)")
    args = parser.parse_args()
    with args.labels.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"))
    gazetteer = load_gazetteer()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    errors = []
    for row in rows:
        context = [value for value in row["context"].split("|") if value]
        (geocoded,) = gazetteer.geocode([row["value"], *context])[:1]
        expected = row["expected"]
        is_place = expected != "none"
        right = geocoded.place is not None and str(geocoded.place.geonameid) in expected.split(",")
        for scope in ("all", row["source"]):
            tally = counts[scope]
            tally["values"] += 1
            tally["places"] += is_place
            tally["resolved"] += geocoded.place is not None
            tally["places_resolved"] += is_place and geocoded.place is not None
            tally["right"] += right
            tally["ambiguous"] += geocoded.ambiguous
            tally["ambiguous_right"] += geocoded.ambiguous and right
        if (geocoded.place is not None and not right) or (geocoded.place is None and expected[0].isdigit()):
            found = f"{geocoded.place.geonameid} {geocoded.place.name} ({geocoded.place.country})" if geocoded.place else "-"
            errors.append(f"{row['source']}: {row['value']!r} → {found}; expected {expected}")
    print(f"{'scope':<10} {'values':>6}  {'resolved (all values)':<22} {'resolved (places)':<22} "
          f"{'right (of resolved)':<22} {'ambiguous':<20} {'ambiguous right':<20}")
    for scope in ("all", *sorted(scope for scope in counts if scope != "all")):
        tally = counts[scope]
        print(f"{scope:<10} {tally['values']:>6}  {_share(tally['resolved'], tally['values']):<22} "
              f"{_share(tally['places_resolved'], tally['places']):<22} {_share(tally['right'], tally['resolved']):<22} "
              f"{_share(tally['ambiguous'], tally['values']):<20} {_share(tally['ambiguous_right'], tally['ambiguous']):<20}")
    if args.errors:
        print("\n".join(["", f"{len(errors)} wrong or unresolved places:", *errors]))
    overall = counts["all"]
    below = [f"{what} {share:.1%} < floor {floor:.1%}" for what, share, floor in (
        ("places resolved", overall["places_resolved"] / max(1, overall["places"]), args.floor_resolved),
        ("resolved right", overall["right"] / max(1, overall["resolved"]), args.floor_right)) if share < floor]
    if below:
        print("below the floor: " + "; ".join(below), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
