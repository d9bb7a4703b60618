"""The run history's small chart: one bar per run, its height the run's duration and
its colour the run's status, drawn as inline SVG (no chart library, no script).
Each bar links to its run and says what it is on hover (an SVG <title>)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup

from ..runs.store import RunRecord
from .pages_layout import fmt_duration, join, status_class, status_label

__all__ = ["LEGEND", "axis_label", "duration_chart", "nice_ceiling"]

WIDTH, HEIGHT = 1000, 150
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 10, 16
#: Fewer runs than this keep slim bars, drawn from the left.
MIN_SLOTS = 30


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above *value* (> 0)."""
    if value <= 0:
        return 1.0
    # An int for powers >= 0, a float below (int ** negative int): typed as float.
    power: float = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def axis_label(ms: float) -> str:
    """`0`, `250 ms`, `2.5 s`, `10 min`: a round value of the chart's axis."""
    if ms <= 0:
        return "0"
    if ms >= 60_000:
        return f"{ms / 60_000:g} min"
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def duration_chart(runs: Sequence[RunRecord], link: Callable[[RunRecord], str]) -> Markup:
    """Bars for *runs* (given newest first, drawn oldest to newest, left to right)."""
    ordered = list(reversed(runs))
    top = nice_ceiling(max((r.duration_ms for r in ordered), default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(ordered), MIN_SLOTS)
    bar_w = max(2.0, min(slot * 0.72, 26.0))
    grid = []
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        grid.append(Markup(
            '<line class="grid" x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}"/>'
            '<text class="axis" x="{tx}" y="{ty:.1f}" text-anchor="end">{label}</text>').format(
            x0=LEFT, x1=WIDTH - RIGHT, y=y, tx=LEFT - 8, ty=y + 4,
            label=axis_label(top * fraction)))
    bars = []
    for index, run in enumerate(ordered):
        height = max(3.0, plot_h * min(run.duration_ms, top) / top)
        x = LEFT + slot * index + (slot - bar_w) / 2
        tip = (f"{status_label(run.status)} · {fmt_duration(run.duration_ms)} · "
               f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC")
        bars.append(Markup(
            '<a href="{href}"><rect class="bar s-{cls}" x="{x:.1f}" y="{y:.1f}" '
            'width="{w:.1f}" height="{h:.1f}" rx="2" data-duration-ms="{ms:.0f}">'
            '<title>{tip}</title></rect><rect class="tick s-{cls}" x="{x:.1f}" y="{sy:.1f}" '
            'width="{w:.1f}" height="4" rx="1"><title>{tip}</title></rect></a>').format(
            href=link(run), cls=status_class(run.status), x=x, y=TOP + plot_h - height,
            w=bar_w, h=height, ms=run.duration_ms, tip=tip, sy=HEIGHT - BOTTOM + 8))
    return Markup(
        '<svg viewBox="0 0 {w} {h}" role="img" aria-label="Duration of the last {n} runs, '
        'oldest on the left">{grid}{bars}</svg>').format(
        w=WIDTH, h=HEIGHT, n=len(ordered), grid=join(grid), bars=join(bars))


LEGEND = Markup(
    '<div class="legend" aria-hidden="true"><span><i '
    'style="background:#3a9e3a"></i>Succeeded</span><span><i style="background:#c50f1f"></i>'
    'Failed</span><span><i style="background:#e08a1e"></i>Timed out</span><span>'
    '<i style="background:#0f6cbd"></i>Running</span><span><i style="background:#a7aeb8">'
    '</i>Abandoned</span></div>')
