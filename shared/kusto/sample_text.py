"""The words of the synthetic sample data: narrative templates per event type and per
kind of episode, and the values their slots are filled with. Written for this
project; `fill` draws each slot from the same seeded generator as the rows."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

__all__ = ["EPISODE_STORIES", "EVENT_STORIES", "HAZARDS", "fill"]

_SLOT = re.compile(r"\{(\w+)\}")

_WIND_DAMAGE = ("blew down several large trees", "snapped power poles along a county road",
                "tore part of the roof off a barn", "rolled a mobile home off its blocks",
                "brought down power lines across two streets", "broke large limbs in town")
_FLOOD_EFFECT = ("several cars stalled and had to be towed",
                 "two people were rescued from a stranded vehicle",
                 "a county road was washed out", "basements flooded in low neighborhoods",
                 "a low-water crossing was closed for the night")
_TORNADO_DAMAGE = ("destroying two outbuildings", "damaging several homes and uprooting trees",
                   "flattening a machine shed", "crossing open country without damage",
                   "snapping dozens of trees along its path")
_LIGHTNING = ("a house, starting a fire in the attic", "a tree next to a ball field",
              "a substation, cutting power to hundreds of customers",
              "a church steeple", "a barn, which burned to the ground")
_DROUGHT = ("stock ponds drying up", "hay running short", "burn bans in several counties",
            "crops stressed by the lack of rain", "rivers at record low levels")
_HAIL_DAMAGE = ("", ", denting cars and breaking windows", ", shredding crops in nearby fields",
                ", damaging roofs and siding")
_HAIL_SIZES = ("0.75", "0.88", "1.00", "1.00", "1.25", "1.75", "1.75", "2.50", "2.75")
_FRONTS = ("cold front", "dryline", "stationary front", "warm front", "outflow boundary")
_TIMES = ("Afternoon", "Evening", "Overnight", "Late morning")

_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "mph": lambda r: str(r.choice(range(50, 85, 5))),
    "gust": lambda r: str(r.choice(range(55, 95, 5))),
    "hail": lambda r: r.choice(_HAIL_SIZES),
    "hail_damage": lambda r: r.choice(_HAIL_DAMAGE),
    "wind_damage": lambda r: r.choice(_WIND_DAMAGE),
    "flood_effect": lambda r: r.choice(_FLOOD_EFFECT),
    "tornado_damage": lambda r: r.choice(_TORNADO_DAMAGE),
    "lightning": lambda r: r.choice(_LIGHTNING),
    "drought": lambda r: r.choice(_DROUGHT),
    "path": lambda r: f"{r.uniform(0.2, 12):.1f}",
    "rain": lambda r: f"{r.uniform(1.5, 7):.1f}",
    "depth": lambda r: str(r.choice(range(6, 37, 3))),
    "days": lambda r: str(r.randint(2, 6)),
    "snow": lambda r: str(r.randint(4, 14)),
    "more": lambda r: str(r.randint(15, 30)),
    "ice": lambda r: r.choice(("a quarter", "a third", "half", "three quarters")),
    "chill": lambda r: str(r.randint(20, 45)),
    "heat": lambda r: str(r.randint(105, 118)),
    "frost": lambda r: str(r.randint(22, 31)),
    "acres": lambda r: f"{r.choice((40, 120, 350, 800, 2500, 9000)):,}",
    "front": lambda r: r.choice(_FRONTS),
    "when": lambda r: r.choice(_TIMES),
    "move": lambda r: r.choice(("east", "northeast", "southeast", "north")),
}

EVENT_STORIES: dict[str, tuple[str, ...]] = {
    "Thunderstorm Wind": (
        "Thunderstorm winds estimated at {mph} mph {wind_damage} near {town}.",
        "A {gust} mph gust was measured {dist} miles {dir} of {town}; the wind {wind_damage}.",
        "Damaging winds from a passing storm {wind_damage} in {town}."),
    "Hail": (
        "Hail up to {hail} inches across fell {dist} miles {dir} of {town}{hail_damage}.",
        "A spotter near {town} measured {hail} inch hail{hail_damage}.",
        "Hail of {hail} inches covered the ground in {town} for several minutes."),
    "Tornado": (
        "A tornado touched down {dist} miles {dir} of {town} and stayed on the ground for "
        "{path} miles, {tornado_damage}.",
        "A brief tornado was seen near {town}, {tornado_damage}."),
    "Funnel Cloud": ("A funnel cloud was seen {dist} miles {dir} of {town}; it never reached "
                     "the ground.",),
    "Lightning": ("Lightning struck {lightning} in {town}.",),
    "Heavy Rain": ("{rain} inches of rain fell in a few hours near {town}.",
                   "A gauge {dist} miles {dir} of {town} caught {rain} inches of rain."),
    "Flash Flood": (
        "Water {depth} inches deep ran over roads in {town}; {flood_effect}.",
        "A creek left its banks near {town} after {rain} inches of rain, and {flood_effect}."),
    "Flood": ("The river near {town} rose above flood stage and covered farmland and low roads.",
              "High water closed several roads around {town} for {days} days."),
    "Winter Weather": ("Light snow and freezing drizzle made roads slick; about {snow} inches "
                       "fell near {town}.",
                       "A light glaze of ice and a dusting of snow led to many minor accidents."),
    "Winter Storm": ("{snow} inches of snow fell across the county, with {ice} of an inch of ice "
                     "near {town}.",
                     "Snow and sleet piled up to {snow} inches; schools closed for the day."),
    "Heavy Snow": ("Snow totals of {snow} to {more} inches were reported, the most near {town}.",
                   "Heavy snow fell through the night, reaching {more} inches in {town}."),
    "Blizzard": ("Winds gusting to {gust} mph with falling snow cut visibility to near zero, "
                 "and highways were closed.",),
    "Ice Storm": ("Freezing rain built up {ice} of an inch of ice on trees and lines, and "
                  "thousands of customers lost power.",),
    "Lake-Effect Snow": ("Bands of lake-effect snow dropped {more} inches in a day near {town}.",),
    "Extreme Cold/Wind Chill": ("Wind chills fell to {chill} below zero overnight.",),
    "Cold/Wind Chill": ("Wind chills near {chill} below zero were reported early in the day.",),
    "High Wind": ("Non-thunderstorm winds gusted to {gust} mph and {wind_damage}.",
                  "A gust of {gust} mph was recorded at the {town} airport."),
    "Strong Wind": ("Gradient winds of {mph} mph {wind_damage}.",),
    "Dust Storm": ("Blowing dust cut visibility to near zero on the highway near {town}.",),
    "Drought": ("Severe drought went on, with rainfall well below normal and {drought}.",
                "Extreme drought deepened across the area, with {drought}."),
    "Excessive Heat": ("Afternoon heat index values reached {heat} degrees for {days} days.",),
    "Heat": ("The heat index rose to {heat} degrees in {town}.",),
    "Frost/Freeze": ("Temperatures fell to {frost} degrees overnight, damaging tender crops.",),
    "Dense Fog": ("Dense fog cut visibility to a quarter mile or less for several hours.",),
    "Wildfire": ("A wildfire burned {acres} acres {dist} miles {dir} of {town}.",),
    "Tropical Storm": ("Tropical storm force winds and {rain} inches of rain reached {town}.",),
    "Hurricane (Typhoon)": ("Hurricane force winds struck the coast, tearing off roofs and "
                            "leaving many without power.",),
    "Storm Surge/Tide": ("Storm tide flooded coastal roads and low-lying homes.",),
    "Rip Current": ("A swimmer was caught in a rip current and had to be pulled from the surf.",),
    "Coastal Flood": ("Onshore winds pushed water into low coastal streets at high tide.",),
}

EPISODE_STORIES: dict[str, tuple[str, ...]] = {
    "convective": (
        "{when} thunderstorms formed along a {front} over {part} {state} and moved {move}, "
        "bringing {hazards}.",
        "A line of severe storms crossed {part} {state} ahead of a {front}, with {hazards}."),
    "winter": ("A winter storm moved across {part} {state}, bringing {hazards}.",
               "Arctic air and a passing low brought {hazards} to {part} {state}."),
    "wind": ("A tight pressure gradient behind a deep low brought {hazards} to {part} {state}.",),
    "flood": ("Repeated rounds of heavy rain over {part} {state} led to {hazards}.",),
    "drought": ("Dry weather persisted across {part} {state}, and the drought deepened.",),
    "heat": ("A ridge of high pressure brought hot, humid days to {part} {state}.",),
    "frost": ("Clear skies and calm winds let temperatures drop below freezing over {part} "
              "{state}.",),
    "fog": ("Moist air over cool ground formed dense fog over {part} {state}.",),
    "fire": ("Dry fuels and gusty winds fed wildfires in {part} {state}.",),
    "tropical": ("A tropical system brought wind, heavy rain and rough surf to {part} {state}.",),
}

#: How an episode's narrative names each of its event types.
HAZARDS: dict[str, str] = {
    "Thunderstorm Wind": "damaging winds", "Hail": "large hail", "Tornado": "tornadoes",
    "Funnel Cloud": "funnel clouds", "Lightning": "lightning", "Heavy Rain": "heavy rain",
    "Flash Flood": "flash flooding", "Flood": "river flooding", "Winter Weather": "slick roads",
    "Winter Storm": "snow and ice", "Heavy Snow": "heavy snow", "Blizzard": "blizzard conditions",
    "Ice Storm": "freezing rain", "Lake-Effect Snow": "lake-effect snow",
    "Extreme Cold/Wind Chill": "dangerous wind chills", "Cold/Wind Chill": "bitter cold",
    "High Wind": "high winds", "Strong Wind": "strong winds", "Dust Storm": "blowing dust",
    "Drought": "drought", "Excessive Heat": "excessive heat", "Heat": "heat",
    "Frost/Freeze": "a hard freeze", "Dense Fog": "dense fog", "Wildfire": "wildfires",
    "Tropical Storm": "tropical storm winds", "Hurricane (Typhoon)": "hurricane winds",
    "Storm Surge/Tide": "storm surge", "Rip Current": "rip currents",
    "Coastal Flood": "coastal flooding",
}


def fill(rng: random.Random, template: str, values: dict[str, str]) -> str:
    """*template* with each `{slot}` taken from *values* or drawn from `_SLOTS`."""
    text = _SLOT.sub(lambda m: values[m.group(1)] if m.group(1) in values
                     else _SLOTS[m.group(1)](rng), template)
    return text[0].upper() + text[1:]
