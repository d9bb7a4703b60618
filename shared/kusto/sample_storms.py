"""How the synthetic storm events are made: weather systems (episodes) in a state and
season, each producing a few events of related types, with damage, casualties,
sources and narratives drawn per type. Everything comes from one `random.Random`, so
the same seed always gives the same rows; `sample_data` turns them into tables.

The shapes follow what the public sample table is known for (hail and thunderstorm
wind are the most common events, winter storms in winter, convective storms in late
spring; most events cause no damage while a few cost millions; zone-wide events such
as drought carry no location) but every number and sentence is generated here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .sample_places import STATES, State
from .sample_text import EPISODE_STORIES, EVENT_STORIES, HAZARDS, fill

__all__ = ["generate"]

_YEAR = 2007
_MAX_PROPERTY = 1_500_000_000      # DamageProperty is a Kusto int: keep sums of two in range
_MAX_CROPS = 500_000_000
_LAST_START = datetime(_YEAR, 12, 31, 22, 0)


@dataclass(frozen=True)
class EventKind:
    """One EventType: whether it has a place, how long it lasts, what it costs."""

    located: bool                          # a point event (town, lat/lon) or a zone event
    minutes: tuple[int, int]               # duration range
    damage: tuple[float, float, float]     # property: probability, median, log spread
    crops: tuple[float, float, float] = (0.0, 0.0, 0.0)
    injuries: tuple[float, float] = (0.0, 1.0)   # direct: probability, mean count
    deaths: tuple[float, float] = (0.0, 1.0)
    indirect: float = 0.0                  # probability of an indirect injury (deaths: /3)
    sources: str = "weather"
    only: frozenset[str] = frozenset()     # the states it happens in (empty: any)


_LAKES = frozenset({"NEW YORK", "PENNSYLVANIA", "OHIO", "MICHIGAN"})
_DESERT = frozenset({"ARIZONA", "NEW MEXICO", "TEXAS", "NEVADA", "CALIFORNIA", "COLORADO"})
_GULF = frozenset({"TEXAS", "LOUISIANA", "MISSISSIPPI", "ALABAMA", "FLORIDA", "GEORGIA",
                   "SOUTH CAROLINA", "NORTH CAROLINA"})
_ICY = frozenset(s.name for s in STATES if s.region not in ("mountain", "pacific"))
_OPEN = frozenset({"KANSAS", "NEBRASKA", "SOUTH DAKOTA", "NORTH DAKOTA", "MINNESOTA",
                   "IOWA", "WYOMING", "MONTANA", "COLORADO", "TEXAS", "OKLAHOMA"})

KINDS: dict[str, EventKind] = {
    "Thunderstorm Wind": EventKind(True, (0, 20), (0.45, 8_000, 1.5), (0.03, 5_000, 1.5),
                                   (0.01, 1.5), (0.003, 1.0), sources="storm"),
    "Hail": EventKind(True, (0, 15), (0.10, 10_000, 2.0), (0.06, 30_000, 1.8),
                      (0.004, 1.0), sources="hail"),
    "Tornado": EventKind(True, (1, 25), (0.75, 80_000, 2.0), (0.10, 10_000, 1.5),
                         (0.15, 5.0), (0.04, 1.5), 0.05, sources="tornado"),
    "Funnel Cloud": EventKind(True, (0, 5), (0.0, 0, 0), sources="hail"),
    "Lightning": EventKind(True, (0, 0), (0.6, 20_000, 1.5), injuries=(0.3, 1.5),
                           deaths=(0.1, 1.0), sources="lightning"),
    "Heavy Rain": EventKind(True, (60, 360), (0.10, 5_000, 1.5), sources="water"),
    "Flash Flood": EventKind(True, (60, 480), (0.5, 25_000, 2.0), (0.08, 20_000, 2.0),
                             (0.02, 1.5), (0.03, 1.3), 0.02, sources="water"),
    "Flood": EventKind(True, (360, 4320), (0.45, 40_000, 2.2), (0.2, 50_000, 2.0),
                       deaths=(0.01, 1.0), sources="water"),
    "Winter Weather": EventKind(False, (240, 1440), (0.05, 5_000, 1.5), indirect=0.04),
    "Winter Storm": EventKind(False, (480, 2160), (0.15, 20_000, 2.0), indirect=0.06),
    "Heavy Snow": EventKind(False, (360, 1440), (0.12, 15_000, 1.8), indirect=0.04),
    "Blizzard": EventKind(False, (180, 1080), (0.2, 30_000, 2.0), indirect=0.08, only=_OPEN),
    "Ice Storm": EventKind(False, (360, 1800), (0.65, 300_000, 2.0), (0.05, 50_000, 1.5),
                           (0.05, 2.0), (0.05, 1.3), 0.1, only=_ICY),
    "Lake-Effect Snow": EventKind(False, (360, 2160), (0.1, 10_000, 1.5), indirect=0.05,
                                  only=_LAKES),
    "Extreme Cold/Wind Chill": EventKind(False, (180, 720), (0.02, 5_000, 1.0),
                                         (0.1, 100_000, 2.0), deaths=(0.08, 1.0)),
    "Cold/Wind Chill": EventKind(False, (180, 720), (0.0, 0, 0), deaths=(0.02, 1.0)),
    "High Wind": EventKind(False, (120, 900), (0.3, 10_000, 1.8), injuries=(0.03, 1.5),
                           deaths=(0.01, 1.0), sources="station"),
    "Strong Wind": EventKind(False, (60, 600), (0.3, 5_000, 1.5), sources="station"),
    "Dust Storm": EventKind(False, (30, 180), (0.1, 5_000, 1.5), indirect=0.1,
                            sources="station", only=_DESERT),
    "Drought": EventKind(False, (0, 0), (0.01, 10_000, 1.5), (0.15, 2_000_000, 1.8),
                         sources="drought"),
    "Excessive Heat": EventKind(False, (1440, 4320), (0.0, 0, 0), (0.05, 500_000, 2.0),
                                (0.2, 8.0), (0.2, 2.0), sources="station"),
    "Heat": EventKind(False, (480, 2880), (0.0, 0, 0), injuries=(0.1, 3.0),
                      deaths=(0.05, 1.0), sources="station"),
    "Frost/Freeze": EventKind(False, (240, 720), (0.0, 0, 0), (0.25, 1_000_000, 2.0),
                              sources="station"),
    "Dense Fog": EventKind(False, (120, 600), (0.02, 5_000, 1.0), indirect=0.1,
                           sources="station"),
    "Wildfire": EventKind(False, (720, 10080), (0.4, 100_000, 2.5), injuries=(0.1, 2.0),
                          deaths=(0.02, 1.0), sources="fire"),
    "Tropical Storm": EventKind(False, (360, 1440), (0.8, 500_000, 2.0), (0.3, 200_000, 2.0),
                                (0.05, 2.0), (0.02, 1.0), 0.1, sources="coast"),
    "Hurricane (Typhoon)": EventKind(False, (360, 1440), (0.95, 60_000_000, 1.5),
                                     (0.5, 2_000_000, 2.0), (0.3, 5.0), (0.2, 2.0), 0.3,
                                     sources="coast", only=_GULF),
    "Storm Surge/Tide": EventKind(False, (180, 720), (0.8, 1_000_000, 2.0), sources="coast"),
    "Rip Current": EventKind(False, (0, 60), (0.0, 0, 0), (0.0, 0, 0), (0.3, 1.0), (0.6, 1.0),
                             sources="surf"),
    "Coastal Flood": EventKind(False, (120, 480), (0.5, 50_000, 1.8), sources="coast"),
}

SOURCES: dict[str, tuple[str, ...]] = {
    "storm": ("Trained Spotter", "Law Enforcement", "Public", "Emergency Manager",
              "Mesonet", "ASOS", "Broadcast Media"),
    "hail": ("Trained Spotter", "Public", "Law Enforcement", "Storm Chaser",
             "Amateur Radio", "Emergency Manager"),
    "tornado": ("NWS Storm Survey", "Emergency Manager", "Law Enforcement", "Storm Chaser",
                "Trained Spotter"),
    "lightning": ("Newspaper", "Fire Department/Rescue", "Public", "Broadcast Media"),
    "water": ("Emergency Manager", "Law Enforcement", "COOP Observer", "Public",
              "Department of Highways", "Trained Spotter"),
    "weather": ("COOP Observer", "Trained Spotter", "Public", "Emergency Manager",
                "Department of Highways", "Official NWS Observations"),
    "station": ("ASOS", "AWOS", "Mesonet", "Official NWS Observations", "COOP Observer",
                "Newspaper"),
    "drought": ("Drought Monitor",),
    "fire": ("Park/Forest Service", "Fire Department/Rescue", "Emergency Manager", "Newspaper"),
    "coast": ("Emergency Manager", "Official NWS Observations", "Broadcast Media", "Newspaper"),
    "surf": ("Lifeguard", "Law Enforcement", "Public"),
}


@dataclass(frozen=True)
class System:
    """A kind of weather episode: when and where it happens and what it produces."""

    events: int                            # target number of events in the sample year
    per_episode: float                     # mean events per episode
    hours: float                           # how long its events keep starting
    months: tuple[int, ...]                # relative weight of Jan..Dec
    regions: dict[str, float]              # region -> weight multiplier (missing: 1)
    kinds: dict[str, float]                # EventType -> relative weight
    coastal: bool = False


SYSTEMS: dict[str, System] = {
    "convective": System(2900, 4.0, 10, (1, 1, 3, 6, 9, 10, 8, 6, 3, 2, 1, 1),
                         {"plains": 1.4, "midwest": 1.2, "northeast": 0.6, "mountain": 0.4,
                          "pacific": 0.1},
                         {"Thunderstorm Wind": 40, "Hail": 39, "Tornado": 5, "Flash Flood": 7,
                          "Heavy Rain": 2, "Lightning": 1.5, "Funnel Cloud": 1}),
    "winter": System(1000, 4.0, 36, (10, 9, 6, 2, 0, 0, 0, 0, 0, 1, 4, 9),
                     {"midwest": 1.4, "northeast": 1.6, "mountain": 1.4, "pacific": 0.6,
                      "south": 0.25},
                     {"Winter Weather": 28, "Winter Storm": 27, "Heavy Snow": 26,
                      "Blizzard": 3.5, "Ice Storm": 2.5, "Extreme Cold/Wind Chill": 5,
                      "Cold/Wind Chill": 4, "Lake-Effect Snow": 4}),
    "wind": System(290, 2.5, 24, (5, 5, 6, 5, 3, 2, 1, 1, 2, 3, 5, 6),
                   {"mountain": 1.6, "plains": 1.2, "pacific": 1.2, "northeast": 0.8,
                    "midwest": 0.8, "south": 0.4},
                   {"High Wind": 75, "Strong Wind": 21, "Dust Storm": 4}),
    "flood": System(260, 3.0, 72, (2, 2, 3, 4, 5, 4, 3, 3, 3, 2, 2, 2),
                    {"south": 1.2, "midwest": 1.2, "mountain": 0.3, "pacific": 0.4},
                    {"Flood": 60, "Flash Flood": 42, "Heavy Rain": 16}),
    "drought": System(306, 3.0, 0, (2, 2, 2, 3, 3, 4, 5, 5, 5, 4, 3, 2),
                      {"south": 1.5, "plains": 0.8, "midwest": 0.4, "northeast": 0.2},
                      {"Drought": 1}),
    "heat": System(90, 2.5, 72, (0, 0, 0, 0, 1, 4, 7, 8, 2, 0, 0, 0),
                   {"south": 1.3, "plains": 1.2, "northeast": 0.8, "mountain": 0.3,
                    "pacific": 0.3},
                   {"Excessive Heat": 2, "Heat": 1}),
    "frost": System(152, 2.5, 12, (2, 2, 5, 6, 2, 0, 0, 0, 2, 6, 5, 2),
                    {"south": 1.3, "northeast": 0.8, "pacific": 0.8},
                    {"Frost/Freeze": 1}),
    "fog": System(35, 2.0, 6, (4, 3, 2, 1, 1, 1, 1, 1, 2, 3, 4, 4),
                  {"south": 1.2, "pacific": 1.2, "plains": 0.8, "mountain": 0.4},
                  {"Dense Fog": 1}),
    "fire": System(35, 1.5, 96, (1, 1, 2, 3, 2, 3, 4, 4, 3, 3, 2, 1),
                   {"mountain": 1.5, "pacific": 1.5, "plains": 0.8, "south": 0.8,
                    "midwest": 0.1, "northeast": 0.1},
                   {"Wildfire": 1}),
    "tropical": System(30, 4.0, 48, (0, 0, 0, 0, 0, 1, 1, 4, 5, 2, 0, 0),
                       {"south": 1.5, "northeast": 0.5},
                       {"Tropical Storm": 10, "Hurricane (Typhoon)": 4, "Storm Surge/Tide": 4,
                        "Rip Current": 5, "Coastal Flood": 7, "Flash Flood": 3, "Tornado": 2},
                       coastal=True),
}

#: The year's few disasters, each a multi-day episode in several states whose every day
#: costs far more than a usual one, as the costliest events of a year are: (system,
#: first day, days, states, severity, event types). Placed on these dates for this
#: synthetic year.
_ICE = {"Ice Storm": 5.0, "Winter Storm": 3.0, "Winter Weather": 2.0}
_SNOW = {"Blizzard": 4.0, "Heavy Snow": 3.0, "Winter Storm": 3.0}
_OUTBREAK = {"Tornado": 5.0, "Thunderstorm Wind": 4.0, "Hail": 2.0}
NOTABLE: tuple[tuple[str, datetime, int, tuple[str, ...], float, dict[str, float]], ...] = (
    ("winter", datetime(_YEAR, 1, 12), 5, ("OKLAHOMA", "MISSOURI", "TEXAS"), 4.0, _ICE),
    ("winter", datetime(_YEAR, 2, 13), 3, ("NEW YORK", "PENNSYLVANIA", "VERMONT"), 6.0, _SNOW),
    ("winter", datetime(_YEAR, 2, 23), 4, ("IOWA", "NEBRASKA", "KANSAS"), 8.0, _SNOW),
    ("convective", datetime(_YEAR, 3, 1), 1, ("ALABAMA", "GEORGIA"), 10.0, _OUTBREAK),
    ("convective", datetime(_YEAR, 5, 4), 3, ("KANSAS",), 15.0, _OUTBREAK),
    ("flood", datetime(_YEAR, 6, 26), 8, ("TEXAS", "KANSAS", "OKLAHOMA"), 6.0,
     SYSTEMS["flood"].kinds),
    ("flood", datetime(_YEAR, 8, 18), 4, ("MINNESOTA", "WISCONSIN"), 6.0,
     SYSTEMS["flood"].kinds),
    ("tropical", datetime(_YEAR, 9, 13), 2, ("TEXAS", "LOUISIANA"), 3.0,
     SYSTEMS["tropical"].kinds),
    ("wind", datetime(_YEAR, 12, 2), 3, ("OREGON", "WASHINGTON"), 10.0,
     {"High Wind": 5.0, "Strong Wind": 2.0}),
    ("winter", datetime(_YEAR, 12, 9), 4, ("OKLAHOMA", "KANSAS", "MISSOURI"), 4.0, _ICE),
)

_DIRECTIONS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
_PARTS = ("northern", "southern", "eastern", "western", "central", "northeastern",
          "northwestern", "southeastern", "southwestern")


def _money(rng: random.Random, spec: tuple[float, float, float], scale: float,
           cap: int, floor: float = 0.0) -> int:
    """0 most of the time, else a lognormal amount rounded to two significant digits
    (as damage is reported: 25K, 1.5M), at most *cap*. *floor*: the least chance of
    damage for a type that does any (a disaster damages more often)."""
    chance, median, spread = spec
    chance = max(chance, floor) if chance > 0 else 0.0
    if chance <= 0 or rng.random() >= chance:
        return 0
    amount = median * scale * math.exp(rng.gauss(0.0, spread))
    if amount < 100:
        return 100
    step = 10 ** (int(math.log10(amount)) - 1)
    return min(int(round(amount / step) * step), cap)


def _people(rng: random.Random, spec: tuple[float, float]) -> int:
    chance, mean = spec
    if chance <= 0 or rng.random() >= chance:
        return 0
    return 1 + int(rng.expovariate(1.0 / (mean - 1))) if mean > 1 else 1


def _start(rng: random.Random, system: System, name: str) -> datetime:
    month = rng.choices(range(1, 13), system.months)[0]
    days = (datetime(_YEAR + (month == 12), month % 12 + 1, 1) - datetime(_YEAR, month, 1)).days
    day = datetime(_YEAR, month, 1 + rng.randrange(days))
    if name == "drought":
        return day.replace(day=1)
    if name == "convective":   # afternoon and evening storms
        return day + timedelta(minutes=int(rng.triangular(10 * 60, 30 * 60, 18 * 60)))
    return day + timedelta(minutes=rng.randrange(24 * 60))


def _place(rng: random.Random, state: State) -> tuple[str, float, float, float, float]:
    """A town, its begin point and end point, all within the state's spread of the town."""
    town = rng.choice(state.towns)
    reach = state.spread * 0.75
    lat = town.lat + rng.uniform(-reach, reach)
    lon = town.lon + rng.uniform(-reach, reach)
    drift = state.spread * 0.25
    return (town.name, round(lat, 4), round(lon, 4),
            round(lat + rng.uniform(-drift, drift), 4), round(lon + rng.uniform(0, drift), 4))


def _kinds_in(wanted: dict[str, float], state: State) -> tuple[list[str], list[float]]:
    """The event types that happen in the state, and their weights."""
    kinds = [k for k in wanted if not KINDS[k].only or state.name in KINDS[k].only]
    return kinds, [wanted[k] for k in kinds]


@dataclass(frozen=True)
class Episode:
    """Where and when one episode happens, how many events it has and how bad it is."""

    name: str                              # its System
    state: State
    begin: datetime
    hours: float                           # its events start within this many hours
    size: int
    severity: float                        # multiplies every damage amount
    kinds: dict[str, float]
    floor: float = 0.0                     # least chance of property damage per event


def _episode(rng: random.Random, spec: Episode, episode: int) -> list[dict[str, Any]]:
    name, state, begin = spec.name, spec.state, spec.begin
    severity = spec.severity
    part = rng.choice(_PARTS)
    events: list[dict[str, Any]] = []
    kinds, weights = _kinds_in(spec.kinds, state)
    for kind_name in rng.choices(kinds, weights, k=spec.size):
        kind = KINDS[kind_name]
        if name == "drought":
            start = begin
            month_end = (begin.replace(day=28) + timedelta(days=4)).replace(day=1)
            end = month_end - timedelta(minutes=1)
        else:
            start = min(begin + timedelta(minutes=rng.randrange(int(spec.hours * 60) + 1)),
                        _LAST_START)  # the sample year is 2007
            end = start + timedelta(minutes=rng.randint(*kind.minutes))
        town, lat, lon, end_lat, end_lon = _place(rng, state)
        property_damage = _money(rng, kind.damage, severity, _MAX_PROPERTY, spec.floor)
        crops = _money(rng, kind.crops, severity, _MAX_CROPS)
        values = _story_values(rng, town, state, part)
        events.append({
            "StartTime": start, "EndTime": end, "episode": episode, "State": state.name,
            "EventType": kind_name,
            "InjuriesDirect": _people(rng, kind.injuries),
            "InjuriesIndirect": _people(rng, (kind.indirect, 1.5)),
            "DeathsDirect": _people(rng, kind.deaths),
            "DeathsIndirect": _people(rng, (kind.indirect / 3, 1.0)),
            "DamageProperty": property_damage, "DamageCrops": crops,
            "Source": rng.choice(SOURCES[kind.sources]),
            "BeginLocation": town if kind.located else "",
            "EndLocation": town if kind.located else "",
            "BeginLat": lat if kind.located else None, "BeginLon": lon if kind.located else None,
            "EndLat": end_lat if kind.located else None,
            "EndLon": end_lon if kind.located else None,
            "EventNarrative": fill(rng, rng.choice(EVENT_STORIES[kind_name]), values),
            "Description": (f"{kind_name} near {town.title()}" if kind.located
                            else f"{kind_name} across {part} {state.name.title()}"),
        })
    hazards = sorted({HAZARDS[e["EventType"]] for e in events})
    listed = hazards[0] if len(hazards) == 1 else ", ".join(hazards[:-1]) + " and " + hazards[-1]
    story = fill(rng, rng.choice(EPISODE_STORIES[name]),
                 {"part": part, "state": state.name.title(), "hazards": listed})
    for event in events:
        event["EpisodeNarrative"] = story
    return events


def _story_values(rng: random.Random, town: str, state: State, part: str) -> dict[str, str]:
    return {"town": town.title(), "state": state.name.title(), "part": part,
            "dir": rng.choice(_DIRECTIONS), "dist": str(rng.randint(1, 12))}


def generate(count: int, seed: int) -> list[dict[str, Any]]:
    """*count* events sorted by StartTime (unique to the minute), ids assigned."""
    rng = random.Random(seed)
    names = list(SYSTEMS)
    episode_weights = [s.events / s.per_episode for s in SYSTEMS.values()]
    events: list[dict[str, Any]] = []
    by_name = {s.name: s for s in STATES}
    for name, first, days, states, severity, kinds in NOTABLE:
        for state_name in states:
            size = min(days * 4, count - len(events))
            if size <= 0:
                break
            spec = Episode(name, by_name[state_name], first + timedelta(hours=6), days * 24 - 8,
                           size, severity * math.exp(rng.gauss(0.0, 0.3)), kinds, 0.6)
            events += _episode(rng, spec, len(events))
    while len(events) < count:
        name = rng.choices(names, episode_weights)[0]
        system = SYSTEMS[name]
        where = [s for s in STATES if s.coastal or not system.coastal]
        state = rng.choices(where, [s.share * system.regions.get(s.region, 1.0)
                                    for s in where])[0]
        size = min(1 + int(rng.expovariate(1.0 / (system.per_episode - 1))), 25,
                   count - len(events))
        spec = Episode(name, state, _start(rng, system, name), system.hours, size,
                       math.exp(rng.gauss(0.0, 0.7)), system.kinds)
        events += _episode(rng, spec, len(events))
    used: set[datetime] = set()
    for event in events:  # unique start times: `top`/`take` after a sort see no ties
        while event["StartTime"] in used:
            event["StartTime"] += timedelta(minutes=1)
            event["EndTime"] += timedelta(minutes=1)
        used.add(event["StartTime"])
    events.sort(key=lambda e: e["StartTime"])
    episode_ids: dict[int, int] = {}
    next_episode = 1000
    for index, event in enumerate(events):
        if event["episode"] not in episode_ids:
            next_episode += rng.randint(1, 4)
            episode_ids[event["episode"]] = next_episode
        event["EpisodeId"] = episode_ids[event.pop("episode")]
        event["EventId"] = 10_000 + index
    return events
