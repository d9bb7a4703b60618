"""The places the synthetic sample data is set in: the 50 US states, each with a
relative share of storm events, a rounded 2007-era population, whether it has a sea
coast, and a few towns with approximate coordinates. Event coordinates are drawn
within `spread` degrees of a town that lies well inside the state, so every
latitude/longitude falls inside the state it is reported for.

Reference values for generating data, not a gazetteer: populations are rounded and
coordinates are to about a kilometre. Nothing here is read from the public table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATES", "State", "Town"]


@dataclass(frozen=True)
class Town:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class State:
    name: str
    share: float          # relative number of storm events
    population: int
    region: str           # plains, south, northeast, midwest, west, mountain, pacific
    coastal: bool         # on the Gulf or the Atlantic (tropical storms, rip currents)
    spread: float         # degrees of jitter around a town that stay inside the state
    towns: tuple[Town, ...]


def _s(name: str, share: float, population: int, region: str, coastal: bool, spread: float,
       *towns: tuple[str, float, float]) -> State:
    return State(name, share, population, region, coastal, spread,
                 tuple(Town(t, lat, lon) for t, lat, lon in towns))


STATES: tuple[State, ...] = (
    _s("TEXAS", 9.0, 23_900_000, "plains", True, 0.3,
       ("DALLAS", 32.78, -96.80), ("AUSTIN", 30.27, -97.74), ("LUBBOCK", 33.58, -101.86),
       ("SAN ANGELO", 31.46, -100.44), ("WACO", 31.55, -97.15), ("ABILENE", 32.45, -99.73),
       ("HOUSTON", 29.76, -95.37), ("AMARILLO", 35.22, -101.83)),
    _s("KANSAS", 6.0, 2_780_000, "plains", False, 0.25,
       ("WICHITA", 37.69, -97.34), ("TOPEKA", 39.05, -95.68), ("SALINA", 38.84, -97.61),
       ("DODGE CITY", 37.75, -100.02), ("HAYS", 38.88, -99.33)),
    _s("IOWA", 4.5, 2_990_000, "midwest", False, 0.25,
       ("DES MOINES", 41.59, -93.62), ("CEDAR RAPIDS", 41.98, -91.67), ("AMES", 42.03, -93.62),
       ("FORT DODGE", 42.50, -94.17)),
    _s("ILLINOIS", 4.1, 12_800_000, "midwest", False, 0.25,
       ("SPRINGFIELD", 39.78, -89.65), ("PEORIA", 40.69, -89.59),
       ("CHAMPAIGN", 40.12, -88.24), ("ROCKFORD", 42.27, -89.09)),
    _s("MISSOURI", 4.0, 5_880_000, "midwest", False, 0.25,
       ("COLUMBIA", 38.95, -92.33), ("JEFFERSON CITY", 38.58, -92.17),
       ("SEDALIA", 38.70, -93.23), ("SPRINGFIELD", 37.21, -93.29)),
    _s("GEORGIA", 3.3, 9_530_000, "south", True, 0.25,
       ("ATLANTA", 33.75, -84.39), ("MACON", 32.84, -83.63), ("ALBANY", 31.58, -84.16),
       ("ATHENS", 33.96, -83.38)),
    _s("MINNESOTA", 3.3, 5_190_000, "midwest", False, 0.3,
       ("MINNEAPOLIS", 44.98, -93.27), ("ST. CLOUD", 45.56, -94.16),
       ("ROCHESTER", 44.02, -92.47), ("BEMIDJI", 47.47, -94.88)),
    _s("WISCONSIN", 3.2, 5_600_000, "midwest", False, 0.25,
       ("MADISON", 43.07, -89.40), ("WAUSAU", 44.96, -89.63), ("EAU CLAIRE", 44.81, -91.50),
       ("GREEN BAY", 44.51, -88.01)),
    _s("NEBRASKA", 3.2, 1_770_000, "plains", False, 0.25,
       ("LINCOLN", 40.81, -96.68), ("GRAND ISLAND", 40.93, -98.34),
       ("NORTH PLATTE", 41.12, -100.77), ("KEARNEY", 40.70, -99.08)),
    _s("NEW YORK", 3.2, 19_300_000, "northeast", True, 0.2,
       ("ALBANY", 42.65, -73.76), ("SYRACUSE", 43.05, -76.15), ("UTICA", 43.10, -75.23),
       ("ROCHESTER", 43.10, -77.61)),
    _s("NORTH CAROLINA", 2.9, 9_060_000, "south", True, 0.25,
       ("RALEIGH", 35.78, -78.64), ("GREENSBORO", 36.07, -79.79),
       ("HICKORY", 35.73, -81.34), ("FAYETTEVILLE", 35.05, -78.88)),
    _s("PENNSYLVANIA", 2.9, 12_400_000, "northeast", False, 0.25,
       ("HARRISBURG", 40.27, -76.88), ("STATE COLLEGE", 40.79, -77.86),
       ("WILLIAMSPORT", 41.24, -77.00), ("PITTSBURGH", 40.44, -80.00)),
    _s("OKLAHOMA", 2.9, 3_620_000, "plains", False, 0.25,
       ("OKLAHOMA CITY", 35.47, -97.52), ("TULSA", 36.15, -95.99), ("LAWTON", 34.60, -98.39),
       ("ENID", 36.40, -97.88)),
    _s("FLORIDA", 2.8, 18_300_000, "south", True, 0.2,
       ("ORLANDO", 28.54, -81.38), ("TAMPA", 27.95, -82.40), ("TALLAHASSEE", 30.44, -84.28),
       ("GAINESVILLE", 29.65, -82.32)),
    _s("MISSISSIPPI", 2.2, 2_920_000, "south", True, 0.25,
       ("JACKSON", 32.30, -90.18), ("HATTIESBURG", 31.33, -89.29), ("TUPELO", 34.26, -88.70)),
    _s("SOUTH DAKOTA", 2.2, 800_000, "plains", False, 0.3,
       ("PIERRE", 44.37, -100.35), ("RAPID CITY", 44.08, -103.23),
       ("SIOUX FALLS", 43.54, -96.78), ("ABERDEEN", 45.46, -98.49)),
    _s("VIRGINIA", 2.2, 7_710_000, "south", True, 0.2,
       ("RICHMOND", 37.54, -77.44), ("ROANOKE", 37.27, -79.94),
       ("CHARLOTTESVILLE", 38.03, -78.48), ("LYNCHBURG", 37.41, -79.14)),
    _s("KENTUCKY", 2.1, 4_240_000, "south", False, 0.25,
       ("LEXINGTON", 38.04, -84.50), ("BOWLING GREEN", 36.99, -86.44),
       ("FRANKFORT", 38.20, -84.87)),
    _s("OHIO", 2.1, 11_500_000, "midwest", False, 0.25,
       ("COLUMBUS", 39.96, -83.00), ("DAYTON", 39.76, -84.19), ("MANSFIELD", 40.76, -82.52),
       ("CANTON", 40.80, -81.38)),
    _s("ALABAMA", 2.0, 4_630_000, "south", True, 0.25,
       ("BIRMINGHAM", 33.52, -86.80), ("MONTGOMERY", 32.37, -86.30),
       ("TUSCALOOSA", 33.21, -87.57), ("HUNTSVILLE", 34.73, -86.59)),
    _s("TENNESSEE", 2.0, 6_160_000, "south", False, 0.2,
       ("NASHVILLE", 36.16, -86.78), ("KNOXVILLE", 35.96, -83.92), ("JACKSON", 35.61, -88.81)),
    _s("COLORADO", 2.0, 4_860_000, "mountain", False, 0.3,
       ("DENVER", 39.74, -104.99), ("COLORADO SPRINGS", 38.83, -104.82),
       ("PUEBLO", 38.25, -104.61), ("GRAND JUNCTION", 39.06, -108.55)),
    _s("ARKANSAS", 1.9, 2_830_000, "south", False, 0.25,
       ("LITTLE ROCK", 34.75, -92.29), ("FAYETTEVILLE", 36.06, -94.10),
       ("JONESBORO", 35.84, -90.70)),
    _s("NORTH DAKOTA", 1.8, 640_000, "plains", False, 0.3,
       ("BISMARCK", 46.81, -100.78), ("MINOT", 48.23, -101.30), ("JAMESTOWN", 46.91, -98.71)),
    _s("LOUISIANA", 1.8, 4_290_000, "south", True, 0.2,
       ("BATON ROUGE", 30.45, -91.15), ("LAFAYETTE", 30.22, -92.02),
       ("ALEXANDRIA", 31.31, -92.45)),
    _s("INDIANA", 1.8, 6_350_000, "midwest", False, 0.25,
       ("INDIANAPOLIS", 39.77, -86.16), ("FORT WAYNE", 41.08, -85.14),
       ("BLOOMINGTON", 39.17, -86.53)),
    _s("MICHIGAN", 1.8, 10_000_000, "midwest", False, 0.25,
       ("LANSING", 42.73, -84.56), ("GRAND RAPIDS", 42.96, -85.67),
       ("TRAVERSE CITY", 44.76, -85.62), ("SAGINAW", 43.42, -83.95)),
    _s("SOUTH CAROLINA", 1.6, 4_410_000, "south", True, 0.2,
       ("COLUMBIA", 34.00, -81.03), ("FLORENCE", 34.20, -79.76), ("GREENVILLE", 34.85, -82.40)),
    _s("MONTANA", 1.5, 960_000, "mountain", False, 0.3,
       ("BILLINGS", 45.78, -108.50), ("GREAT FALLS", 47.50, -111.30),
       ("MISSOULA", 46.87, -113.99)),
    _s("CALIFORNIA", 1.5, 36_400_000, "pacific", False, 0.3,
       ("SACRAMENTO", 38.58, -121.49), ("FRESNO", 36.74, -119.79),
       ("BAKERSFIELD", 35.37, -119.02), ("REDDING", 40.59, -122.39)),
    _s("WEST VIRGINIA", 1.4, 1_810_000, "northeast", False, 0.15,
       ("CHARLESTON", 38.35, -81.63), ("BECKLEY", 37.78, -81.19), ("ELKINS", 38.93, -79.85)),
    _s("NEW MEXICO", 1.3, 1_970_000, "mountain", False, 0.3,
       ("ALBUQUERQUE", 35.08, -106.65), ("ROSWELL", 33.39, -104.52), ("SANTA FE", 35.69, -105.94)),
    _s("MARYLAND", 1.2, 5_620_000, "northeast", True, 0.08,
       ("BALTIMORE", 39.29, -76.61), ("FREDERICK", 39.41, -77.41), ("SALISBURY", 38.36, -75.60)),
    _s("ARIZONA", 1.2, 6_340_000, "mountain", False, 0.3,
       ("PHOENIX", 33.45, -112.07), ("TUCSON", 32.22, -110.97), ("FLAGSTAFF", 35.20, -111.65)),
    _s("WYOMING", 1.0, 520_000, "mountain", False, 0.3,
       ("CASPER", 42.87, -106.31), ("RIVERTON", 43.02, -108.38), ("RAWLINS", 41.79, -107.24)),
    _s("OREGON", 1.0, 3_750_000, "pacific", False, 0.25,
       ("SALEM", 44.94, -123.04), ("EUGENE", 44.05, -123.09), ("BEND", 44.06, -121.31)),
    _s("WASHINGTON", 1.0, 6_470_000, "pacific", False, 0.25,
       ("SPOKANE", 47.66, -117.60), ("YAKIMA", 46.60, -120.51), ("WENATCHEE", 47.42, -120.31)),
    _s("IDAHO", 0.9, 1_500_000, "mountain", False, 0.25,
       ("BOISE", 43.62, -116.20), ("POCATELLO", 42.87, -112.45), ("TWIN FALLS", 42.56, -114.46)),
    _s("UTAH", 0.9, 2_600_000, "mountain", False, 0.3,
       ("SALT LAKE CITY", 40.76, -111.89), ("PROVO", 40.23, -111.66),
       ("CEDAR CITY", 37.68, -113.06)),
    _s("NEW JERSEY", 0.9, 8_690_000, "northeast", True, 0.1,
       ("NEW BRUNSWICK", 40.49, -74.45), ("TOMS RIVER", 39.95, -74.20),
       ("MORRISTOWN", 40.80, -74.48)),
    _s("MAINE", 0.8, 1_320_000, "northeast", True, 0.25,
       ("BANGOR", 44.80, -68.77), ("AUGUSTA", 44.31, -69.78), ("MILLINOCKET", 45.66, -68.71)),
    _s("NEVADA", 0.6, 2_570_000, "mountain", False, 0.3,
       ("LAS VEGAS", 36.17, -115.14), ("ELKO", 40.83, -115.76), ("ELY", 39.25, -114.89)),
    _s("MASSACHUSETTS", 0.7, 6_450_000, "northeast", True, 0.08,
       ("WORCESTER", 42.26, -71.80), ("FRAMINGHAM", 42.28, -71.42), ("PITTSFIELD", 42.45, -73.25)),
    _s("CONNECTICUT", 0.6, 3_500_000, "northeast", True, 0.08,
       ("HARTFORD", 41.76, -72.68), ("NEW HAVEN", 41.33, -72.92), ("WATERBURY", 41.56, -73.05)),
    _s("NEW HAMPSHIRE", 0.6, 1_310_000, "northeast", False, 0.1,
       ("CONCORD", 43.21, -71.54), ("MANCHESTER", 42.99, -71.46), ("BERLIN", 44.47, -71.19)),
    _s("VERMONT", 0.6, 620_000, "northeast", False, 0.1,
       ("MONTPELIER", 44.26, -72.58), ("RUTLAND", 43.61, -72.97), ("RANDOLPH", 43.92, -72.67)),
    _s("ALASKA", 0.6, 680_000, "pacific", False, 0.3,
       ("ANCHORAGE", 61.22, -149.90), ("FAIRBANKS", 64.84, -147.72), ("BETHEL", 60.79, -161.76)),
    _s("DELAWARE", 0.3, 860_000, "northeast", True, 0.05,
       ("DOVER", 39.16, -75.52), ("GEORGETOWN", 38.69, -75.39), ("MILFORD", 38.91, -75.43)),
    _s("HAWAII", 0.3, 1_280_000, "pacific", False, 0.04,
       ("HONOLULU", 21.31, -157.86), ("HILO", 19.72, -155.08), ("KAHULUI", 20.89, -156.47)),
    _s("RHODE ISLAND", 0.3, 1_060_000, "northeast", True, 0.04,
       ("PROVIDENCE", 41.82, -71.41), ("WARWICK", 41.70, -71.42), ("KINGSTON", 41.48, -71.52)),
)
