"""Build ``pipelines/data/world_places.tsv``: seas, oceans and world regions for the gazetteer.

They are in no country, so no package of per-country places carries them: GeoNames keeps them in
``no-country.txt`` (https://download.geonames.org/export/dump/no-country.zip, CC BY 4.0). This
keeps its oceans, seas, gulfs, bays, straits, channels and regions (feature codes below) with
their GeoNames ids, coordinates, population and alternate names written in Latin letters; the
pipeline reads the result, never the network.

Usage::

    python scripts/build_world_places.py path/to/no-country.txt > pipelines/data/world_places.tsv
"""

from __future__ import annotations

import csv
import sys
import unicodedata

KINDS = {"OCN": "sea", "SEA": "sea", "GULF": "sea", "BAY": "sea", "STRT": "sea", "CHNM": "sea", "RGN": "region"}
MIN_NAME_CHARS = 4  # shorter alternate names are codes ("PG" for the Persian Gulf)


def latin(name: str) -> bool:
    return all(char.isascii() or unicodedata.combining(char) for char in unicodedata.normalize("NFKD", name))


def main(path: str) -> int:
    writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    print("# GeoNames (https://www.geonames.org, CC BY 4.0) no-country.txt: seas and world regions."
          " Built by scripts/build_world_places.py.")
    writer.writerow(["geonameid", "name", "kind", "population", "latitude", "longitude", "alternate_names"])
    with open(path, encoding="utf-8") as dump:
        for row in csv.reader(dump, delimiter="\t", quoting=csv.QUOTE_NONE):
            geonameid, name, _, alternates, lat, lon, feature_class, code = row[:8]
            kind = KINDS.get(code) if feature_class in ("H", "L") else None
            if kind is None:
                continue
            names = sorted({alt for alt in alternates.split(",") if alt != name and len(alt) >= MIN_NAME_CHARS and latin(alt)})
            writer.writerow([geonameid, name, kind, row[14] or 0, lat, lon, "|".join(names)])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
