"""Sports copy: teams are organisations, athletes are people, and scores are not part of names.

The small model reads place-named clubs ("Leeds", "Essex", "PITTSBURGH") as places or people,
skips most athletes in results lists and line-ups, and glues score lines into one name
("Norwich 1 Wolverhampton 0", "Leicestershire 296"). Wire sports copy has a few fixed layouts
that say which names are teams and which are athletes, whatever they are called:

* teams: result lines ``Leeds 2 Chelsea 1``, ``Alba (Germany) 75 Red Star (Yugoslavia) 70``;
  fixtures ``Walsall v Wrexham``; standings rows ``Birmingham 2 1 1 0 5 4 4``,
  ``MINNESOTA 67 67 .500 13 1/2``; a team's score or total ``Volendam 0.``, ``Leicestershire 296``;
* athletes: ``1. Michelle Freeman (Jamaica) 12.71``, line-ups ``2 - Lilian Thuram``, scorers
  ``Cosmin Contra (31st)``, initials ``P. Simmons 4-38``, ``c Tillekeratne b Dharmasena``,
  leaderboards ``287 Ian Woosnam 70 76 71 70``, bowling figures ``Vass 7-0-29-0``.

``sports_mentions`` reads those layouts only in a document that is about sport (a sport named in
its title, or sports words with result or standings lines), so a table of share prices or a city
in ordinary news keeps its place. Country and home-nation names stay places: a national side is
named after its country, and a reader filtering by "Romania" wants the match too. A name that
is a team anywhere in the document is a team in all its mentions there ("Essex, Derbyshire and
Surrey all close"); mentions lose score digits, and split at dashes and "v".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from pipelines.extraction.entities import Mention, normalize_surface

ORG = "ORG"
_RETYPED = frozenset({"PERSON", "GPE", "LOC", "FAC", "NORP", ORG})

# A capitalised name of up to four words: "Leeds", "Queen's Park", "ST LOUIS", "Kansas City".
_WORD = r"[A-Z][A-Za-z'&.\-]*"
_NAME = rf"{_WORD}(?: {_WORD}){{0,3}}"
_COUNTRY_NOTE = r"(?: \([A-Z][A-Za-z.' ]*\))?"  # "Alba (Germany) 75"
_LINE_LABEL = r"(?:[A-Z][A-Za-z' ]{1,30}: )?"  # "Postponed: ", "Tunbridge Wells: "
_SCORERS = r"(?: \([^)\n]*\))?"  # "Vitesse Arnhem 1 (Van Wanrooy 58th) Utrecht 0"
_RESULT = re.compile(
    rf"^{_LINE_LABEL}(?P<home>{_NAME}){_COUNTRY_NOTE} \d{{1,3}}{_SCORERS},? (?P<away>{_NAME}){_COUNTRY_NOTE} \d{{1,3}}\b",
    re.MULTILINE,
)
_FIXTURE = re.compile(rf"(?:(?P<home>{_NAME}) )?(?<![\w.'])(?:v|V|vs|VS|vs\.) (?P<away>{_NAME})")
_STANDINGS = re.compile(rf"^(?P<team>{_NAME})(?: (?:\d+(?:\.\d+)?|\.\d+|\d/\d|-)){{3,}}[ \t]*$", re.MULTILINE)
# A team and its score or total opening a line or an item: "Volendam 0.", "Groningen 1 (Gorre 7th)",
# "Leicestershire 296", ", Kent 108-3.", "Surrey 310 for 5 dec and 150"; not prose ("Euro 96 absentee").
_TEAM_SCORE = re.compile(
    rf"(?:^{_LINE_LABEL}|, |\) )(?P<team>{_NAME}) \d{{1,3}}(?:-\d{{1,2}}| for \d{{1,2}})?(?: dec)?"
    r"(?=[ \t]*$|[,;.](?!\d)| \(| and \d)",  # not "About 500,000 tickets"
    re.MULTILINE,
)
# Athletes in results and line-ups: "1. Michelle Freeman (Jamaica) 12.71", "2 - Lilian Thuram", "Cosmin Contra
# (31st)", "Sanchez 27th", "P. Simmons 4-38", "287 Ian Woosnam 70 76 71 70", "c Tillekeratne b Dharmasena",
# "Bowling: Vass 7-0-29-0".
_PERSON_NAME = rf"(?:[A-Z]\. ?)?(?:(?:de|van|del|da|di|le|la) )?{_WORD}(?: (?:(?:de|van|del|da|di|le|la) )?{_WORD}){{0,3}}"
_COUNTRY_AFTER = re.compile(rf"(?<![\w.])(?P<person>{_PERSON_NAME}) \((?P<country>[A-Z][A-Za-z.' ]*)\)")
_ATHLETE = re.compile(
    rf"^\d{{1,3}}\.? (?P<ranked>{_PERSON_NAME})"
    rf"|(?:(?<![\w.])\d{{1,2}} - |(?<![\w.])(?:c|b|st|lbw) )(?P<person>{_PERSON_NAME})"
    rf"|(?<![\w.])(?P<scorer>{_PERSON_NAME}) \(?\d{{1,3}}(?:st|nd|rd|th)\b"
    rf"|(?<![\w.])(?P<initialled>[A-Z]\. ?(?:(?:de|van|del|da|di|le|la) )?[A-Z](?=[A-Za-z'\-]*[a-z])[A-Za-z'\-]+)"
    rf"|(?<![\w.])(?P<bowler>{_PERSON_NAME}) \d{{1,2}}(?:\.\d)?-\d{{1,2}}-\d{{1,3}}-\d{{1,2}}\b",
    re.MULTILINE,
)
_SLOTS = ((_RESULT, ("home", "away")), (_FIXTURE, ("home", "away")), (_STANDINGS, ("team",)), (_TEAM_SCORE, ("team",)))
# Sports words; the sport itself in the title settles it ("SOCCER - ...", "Baseball-Results of ...").
_SPORTS_WORDS = re.compile(
    r"\b(?:league|standings|innings|wickets?|halftime|half-time|scorers?|goals?|attendance|stadium|fixtures?|"
    r"championship|tournament|qualifier|striker|midfielder|goalkeeper|playoffs?|semi-?finals?|quarter-?finals?)\b",
    re.IGNORECASE,
)
_SPORTS = re.compile(
    r"\b(?:soccer|football|cricket|rugby|baseball|basketball|hockey|tennis|golf|athletics|cycling|boxing|squash|"
    r"motor racing|horse racing|swimming|skiing|volleyball|handball|nfl|nba|nhl)\b",
    re.IGNORECASE,
)
_WORDS_NEEDED = 3  # distinct sports words and sports names in the text, plus result and standings lines
# Capitalised words at the start of table lines that are not teams: months, days, table headings.
_NOT_TEAMS = frozenset(
    """
    january february march april may june july august september october november december jan feb mar apr jun jul
    aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday attendance played division
    group pool round standings results result overs extras total totals scoreboard halftime note postponed
    """.split()
)
_INITIAL = re.compile(r"^[A-Z]\.")  # "P. Johnson 84": a batsman, not a team
_NUMBER = re.compile(r"^[\d.,:/\-]*\d[\d.,:/\-]*$")
_SEPARATORS = frozenset({"v", "V", "vs", "VS", "vs.", "-", "\u2013", "\u2014"})  # "CRICKET - ENGLAND V PAKISTAN"
_PIECE = re.compile(r"[^\s]+")


def is_sports_text(text: str) -> bool:
    """Whether a document reads as sports copy: a sport named in its title, or sports words
    together with results or standings tables (tables alone could be share prices)."""
    title = text.lstrip().split("\n", 1)[0]
    if _SPORTS.search(title):
        return True
    words = {match.group().lower() for pattern in (_SPORTS_WORDS, _SPORTS) for match in pattern.finditer(text)}
    if not words or len(words) >= _WORDS_NEEDED:
        return bool(words)
    tables = sum(1 for _ in _RESULT.finditer(text)) + sum(1 for _ in _STANDINGS.finditer(text))
    return len(words) + tables >= _WORDS_NEEDED


def sports_mentions(text: str, mentions: Iterable[Mention], is_country: Callable[[str], bool]) -> list[Mention]:
    """``mentions`` with the teams of a sports document as organisations, its athletes as people
    and score digits cut off.

    Outside sports copy the mentions are returned unchanged. ``is_country`` says whether a name
    is a country or home nation (those stay places)."""
    mentions = list(mentions)
    if not is_sports_text(text):
        return mentions
    pieces = [piece for mention in mentions
              for piece in (_without_scores(text, mention) if mention.label in _RETYPED else [mention])
              if not _is_section_label(text, piece)]
    slots = list(_team_slots(text, is_country))
    slots += [person for person in _athletes(text, pieces, is_country) if not any(_overlap(person, slot) for slot in slots)]
    # A model mention over a team or athlete slot gives way to the slot.
    kept = [piece for piece in pieces if not any(_overlap(piece, slot) for slot in slots)]
    teams = {normalize_surface(slot.text).casefold() for slot in slots if slot.label == ORG}
    retyped = [_retyped(m, teams, is_country) for m in kept]
    return sorted([*retyped, *slots], key=lambda m: m.start)


def _retyped(mention: Mention, teams: set[str], is_country: Callable[[str], bool]) -> Mention:
    """A team's name is the team's in every mention; a country's stays a place (its national side)."""
    if mention.label not in _RETYPED:
        return mention
    if normalize_surface(mention.text).casefold() in teams:
        return Mention(mention.text, ORG, mention.start, mention.end)
    if mention.label in ("PERSON", ORG) and is_country(normalize_surface(mention.text)):
        return Mention(mention.text, "GPE", mention.start, mention.end)
    return mention


def _is_section_label(text: str, piece: Mention) -> bool:
    """The sport named before a dash heading the story ("CRICKET - ENGLAND V PAKISTAN"), not a name."""
    return bool(_SPORTS.fullmatch(piece.text)) and text[piece.end:piece.end + 2].strip()[:1] in ("-", "\u2013", "\u2014")


def _overlap(a: Mention, b: Mention) -> bool:
    return a.start < b.end and b.start < a.end


def _team_slots(text: str, is_country: Callable[[str], bool]) -> Iterator[Mention]:
    """Names in the team positions of result, fixture, standings and innings lines; not countries
    (a national side keeps its place name), table headings, months, initials ("P. Johnson 84"),
    nor a name in brackets (the scorers or batsmen after a team's score: "Kent 255 (M. Walker 54)")."""
    seen: set[int] = set()
    for pattern, groups in _SLOTS:
        for match in pattern.finditer(text):
            for group in groups:
                name, start = match.group(group), match.start(group)
                if not name or start in seen:
                    continue
                seen.add(start)
                words = name.split()
                if (_INITIAL.match(name) or words[0].lower() in _NOT_TEAMS
                        or any(is_country(" ".join(words[:n])) for n in range(len(words), 0, -1))):
                    continue
                line = text[text.rfind("\n", 0, start) + 1:start]
                if line.count("(") <= line.count(")"):
                    yield Mention(name, ORG, start, match.end(group))


def _athletes(text: str, pieces: list[Mention], is_country: Callable[[str], bool]) -> Iterator[Mention]:
    """People in the athlete positions of results, line-ups and score cards (not countries, months
    or headings). A name with a country or a rank could also be a club ("Alba (Germany)", "6. Ligier
    14"): there the model must not have read an organisation, and a single word must be its person."""
    for match in _COUNTRY_AFTER.finditer(text):
        if is_country(match["country"]) or match["country"] in ("U.S.", "USA"):
            yield from _person(match, "person", is_country, pieces)
    for match in _ATHLETE.finditer(text):
        group = next(name for name in ("ranked", "person", "scorer", "initialled", "bowler") if match[name])
        yield from _person(match, group, is_country, pieces if group == "ranked" else None)


def _person(match: re.Match[str], group: str, is_country: Callable[[str], bool],
            model: list[Mention] | None) -> Iterator[Mention]:
    name = match[group]
    words = name.split()
    if is_country(name) or words[0].lower() in _NOT_TEAMS or words[-1].lower() in _NOT_TEAMS:
        return
    person = Mention(name, "PERSON", match.start(group), match.end(group))
    if model is not None:
        read_as = {piece.label for piece in model if _overlap(piece, person)}
        if len(words) == 1 and "PERSON" not in read_as:
            return
    yield person


def _without_scores(text: str, mention: Mention) -> list[Mention]:
    """The mention split at numbers, dashes and "v" ("Norwich 1 Wolverhampton 0" → Norwich, Wolverhampton; "Lotte 6" → Lotte)."""
    pieces: list[Mention] = []
    run: list[re.Match[str]] = []
    for word in [*_PIECE.finditer(text, mention.start, mention.end), None]:
        if word is not None and not _NUMBER.match(word.group()) and word.group() not in _SEPARATORS:
            run.append(word)
            continue
        if run:
            pieces.append(Mention(text[run[0].start():run[-1].end()], mention.label, run[0].start(), run[-1].end()))
        run = []
    return pieces
