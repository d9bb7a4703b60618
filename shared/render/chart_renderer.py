"""The Agg renderer charts are drawn with: matplotlib's own, less the work of
shaping the same text and rasterising the same glyph again and again.

matplotlib (3.11) draws a text by shaping it (`FT2Font._layout`, ~0.2 ms a text)
and then rasterising each glyph through FreeType at its exact sub-pixel position,
one Python round trip a glyph. A report draws the same tick numbers, category
names, axis names and title run after run, so `ChartRenderer` keeps:

- each text's shaping, by (font, size, text, features, language): the glyphs and
  their offsets from the text's origin;
- each glyph's bitmap, by (font file and face, size, glyph, angle, the position's
  fraction of a pixel in 1/64ths, hinting, antialiasing), with its offset from the
  position's whole pixel. FreeType's output moves by whole pixels with its origin,
  so a glyph drawn again at the same fraction is the same bitmap, one pixel grid
  further: the pixels are exactly matplotlib's (`tests/test_chart_renderer.py`).

Both are bounded (emptied when they pass `MAX_TEXTS` / `MAX_GLYPHS`). Charts are
drawn one at a time (`chart_figure._DRAWING`), so the caches need no lock of their
own. Shaping is kept per font object (matplotlib gives each thread its own), so no
FreeType face is used by two threads; bitmaps are plain arrays, shared.

Where the installed matplotlib draws text another way (before 3.11), the renderer
is matplotlib's, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag

try:
    from matplotlib.ft2font import FT2Font, RenderMode
except ImportError:  # matplotlib before 3.10: no RenderMode, text drawn as before
    FT2Font = RenderMode = None  # type: ignore[assignment,misc]

__all__ = ["MAX_GLYPHS", "MAX_TEXTS", "ChartRenderer", "caches_text"]

#: Texts whose shaping is kept, and glyph bitmaps kept: about 0.9 KB a glyph with
#: its share of the texts, so at most about 9 MB (400 charts of other data and
#: categories kept 23,000 glyphs).
MAX_TEXTS = 2_000
MAX_GLYPHS = 10_000

#: (glyph's font, size, glyph index, slant, extend, x, y) as matplotlib passes them.
_Glyph = tuple[Any, float, int, float, float, float, float]

_SHAPED: dict[tuple[Any, ...], list[_Glyph]] = {}
_BITMAPS: dict[tuple[Any, ...], tuple[np.ndarray, int, int]] = {}


def caches_text() -> bool:
    """Whether this matplotlib draws text the way `ChartRenderer` keeps it."""
    return (RenderMode is not None and hasattr(FT2Font, "_layout")
            and hasattr(FT2Font, "_render_glyph") and hasattr(FT2Font, "_set_transform")
            and hasattr(RendererAgg, "_draw_text_glyphs_and_boxes"))


_CACHES_TEXT = caches_text()


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list | tuple) else value


class ChartRenderer(RendererAgg):
    """`RendererAgg` keeping text shaping and glyph bitmaps between draws."""

    def __init__(self, width: int, height: int, dpi: float) -> None:
        super().__init__(width, height, dpi)  # type: ignore[no-untyped-call]

    def draw_text(self, gc: Any, x: float, y: float, s: str, prop: Any, angle: float,
                  ismath: Any = False, mtext: Any = None) -> None:
        if ismath or not _CACHES_TEXT:
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)  # type: ignore[no-untyped-call]
            return
        font = self._prepare_font(prop)  # type: ignore[no-untyped-call]
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        flags = get_hinting_flag()  # type: ignore[no-untyped-call]
        key = (font, size, self.dpi, s, _hashable(features), _hashable(language), flags)
        glyphs = _SHAPED.get(key)
        if glyphs is None:
            if len(_SHAPED) >= MAX_TEXTS:
                _SHAPED.clear()
            glyphs = _SHAPED[key] = [
                (item.ft_object, size, item.glyph_index, 0.0, 1.0, item.x, item.y)
                for item in font._layout(s, flags=flags, features=features,
                                         language=language)]
        self._draw_text_glyphs_and_boxes(gc, x, y, angle, glyphs, [])

    def _draw_text_glyphs_and_boxes(self, gc: Any, x: float, y: float, angle: float,
                                    glyphs: Iterable[_Glyph], boxes: Any) -> None:
        """matplotlib's, but each glyph's bitmap taken from `_BITMAPS` when it was
        drawn before at the same fraction of a pixel."""
        if not _CACHES_TEXT or boxes:  # mathtext rules and TeX boxes: matplotlib's own
            super()._draw_text_glyphs_and_boxes(  # type: ignore[no-untyped-call]
                gc, x, y, angle, glyphs, boxes)
            return
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        flags = get_hinting_flag()  # type: ignore[no-untyped-call]
        # A font's hinting factor is fixed when matplotlib opens it, from this setting.
        hinting = mpl.rcParams["text.hinting_factor"]
        antialiased = bool(gc.get_antialiased())
        height = self.height
        for font, size, index, slant, extend, dx, dy in glyphs:  # dy is upwards
            # Where FreeType puts the glyph's origin, in 1/64 pixel (its y upwards).
            ox = round(0x40 * (x + dx * cos - dy * sin))
            oy = round(0x40 * (height - y + dx * sin + dy * cos))
            key = (font.fname, font.style_name, size, self.dpi, index, slant, extend, angle,
                   ox & 63, oy & 63, flags, hinting, antialiased)
            kept = _BITMAPS.get(key)
            if kept is None:
                font.set_size(size, self.dpi)
                font._set_transform(
                    (0x10000 * np.array([[cos, -sin], [sin, cos]])
                     @ [[extend, extend * slant], [0, 1]]).round().astype(int), [ox, oy])
                bitmap = font._render_glyph(
                    index, flags, RenderMode.NORMAL if antialiased else RenderMode.MONO)
                buffer = np.array(bitmap.buffer)  # a copy: the font reuses its own
                if not antialiased:
                    buffer *= 0xff
                if len(_BITMAPS) >= MAX_GLYPHS:
                    _BITMAPS.clear()
                kept = _BITMAPS[key] = (buffer, bitmap.left - (ox >> 6),
                                        bitmap.top - (oy >> 6))
            buffer, left, top = kept
            # draw_text_image's y is downwards, and the bitmap's bottom side.
            self._renderer.draw_text_image(
                buffer, left + (ox >> 6), int(height) - (top + (oy >> 6)) + buffer.shape[0],
                0, gc)
