"""How charts look and how much they show: PNG size, colours, and the limits on
legend entries, pie slices, bar categories and value labels.

Plain constants, no imports, so every chart module can share them.
"""

from __future__ import annotations

__all__ = [
    "DPI",
    "GRID_COLOUR",
    "HEIGHT_PX",
    "MAX_CATEGORIES",
    "MAX_LEGEND_ENTRIES",
    "MAX_VALUE_LABELS",
    "MUTED_COLOUR",
    "OTHER_COLOUR",
    "OTHER_LABEL",
    "PALETTE",
    "PIE_MAX_SLICES",
    "PIE_MIN_SHARE",
    "SPINE_COLOUR",
    "TEXT_COLOUR",
    "WIDTH_PX",
]

#: Output size: fits a mail body on a laptop without scaling, small to attach.
WIDTH_PX, HEIGHT_PX, DPI = 800, 450, 100

#: Most legend entries drawn; beyond that the smallest series fold into "Other".
MAX_LEGEND_ENTRIES = 12
#: Pie slices: at most this many named slices, each at least this share of the total.
PIE_MAX_SLICES = 9
PIE_MIN_SHARE = 0.03
#: Bar and column charts draw at most this many categories (the first ones, in
#: result order); a note under the chart says how many were left out.
MAX_CATEGORIES = 100
#: Up to this many bars get their value written next to them.
MAX_VALUE_LABELS = 24

#: Okabe & Ito's colour-blind-safe palette (yellow and black last: weakest on
#: white, heaviest), then three of Paul Tol's muted colours for series 9 to 11.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7",
    "#F0E442", "#000000", "#882255", "#44AA99", "#999933",
)
OTHER_COLOUR = "#B0B0B0"
OTHER_LABEL = "Other"

TEXT_COLOUR = "#222222"
MUTED_COLOUR = "#555555"
GRID_COLOUR = "#E6E6E6"
SPINE_COLOUR = "#9A9A9A"
