"""What the chart tests read off a drawn figure."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

__all__ = ["bars", "legend_texts"]


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def bars(ax: Axes) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]
