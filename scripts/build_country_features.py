"""Build ``pipelines/data/country_features.tsv``: notable places inside countries that are no town.

Islands, rivers, lakes, mountains, glaciers, regions, stadiums, airports, racecourses and
third-level subdivisions (a London borough) are in no package the gazetteer reads: GeoNames keeps
them in its per-country dumps (https://download.geonames.org/export/dump/XX.zip, CC BY 4.0). This
keeps the rows of those feature codes (below) that GeoNames gives three alternate names or more, a
sign of a place people write about (Lord's Cricket Ground has 27, a nameless skerry none), with
their GeoNames ids, coordinates, population and alternate names written in Latin letters; the
pipeline reads the result, never the network.

Usage::

    python scripts/build_country_features.py path/to/GB.txt [path/to/IE.txt ...] > pipelines/data/country_features.tsv
"""

from __future__ import annotations

import csv
import sys

from build_world_places import MIN_NAME_CHARS, latin  # the same Latin-letter alternate names as the seas'

KINDS = {"ISL": "island", "ISLS": "island", "STM": "river", "LK": "lake", "MT": "mountain", "MTS": "mountain",
         "PK": "mountain", "GLCR": "glacier", "RGN": "region", "STDM": "stadium", "AIRP": "airport",
         "RCTR": "racecourse", "ADM3": "district"}
MIN_ALTERNATE_NAMES = 3


def main(paths: list[str]) -> int:
    writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    countries = ", ".join(sorted(path.rsplit("/", 1)[-1].removesuffix(".txt") for path in paths))
    print(f"# GeoNames (https://www.geonames.org, CC BY 4.0) country dumps ({countries}): islands, rivers, lakes,"
          f" mountains, glaciers, regions, stadiums, airports, racecourses and third-level subdivisions with"
          f" {MIN_ALTERNATE_NAMES} alternate names or more. Built by scripts/build_country_features.py.")
    writer.writerow(["geonameid", "name", "kind", "country", "admin1", "population", "latitude", "longitude",
                     "alternate_count", "alternate_names"])
    for path in paths:
        with open(path, encoding="utf-8") as dump:
            for row in csv.reader(dump, delimiter="\t", quoting=csv.QUOTE_NONE):
                geonameid, name, _, alternates, lat, lon, _, code, country, _, admin1 = row[:11]
                everything = [alternate for alternate in alternates.split(",") if alternate]
                if code not in KINDS or len(everything) < MIN_ALTERNATE_NAMES:
                    continue
                names = sorted({alt for alt in everything if alt != name and len(alt) >= MIN_NAME_CHARS and latin(alt)})
                writer.writerow([geonameid, name, KINDS[code], country, admin1, row[14] or 0, lat, lon,
                                 len(everything), "|".join(names)])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
