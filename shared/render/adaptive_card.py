"""Adaptive Cards (schema 1.5) for Teams messages: a title, text, facts, the first
rows of a result as a Table, a chart image and link buttons, fitted under Teams'
message size limit.

Every text that can hold a value from outside (a query's rows, a webhook body)
goes into a TextBlock or Fact `text`/`value`, which Teams renders as a Markdown
subset (bold, italics, lists, links). `escape_markdown` puts a backslash before
every character that could start such markup, so a value shows as written and
cannot add a link or reformat the card; Teams' own linking of a bare URL stays
(its text is the URL itself). Button URLs must be http(s).

The whole message (`message_payload`: the card in Teams' `attachments` envelope) is
measured before it is sent. The table's rows are a preview: as many as fit are
kept, and the card says "showing N of M rows". The chart goes in as a data URI only
when the card stays under the limit with it (unless it is required, then rows make
room for it). What cannot be cut (title, text, facts, buttons) over the limit is a
`CardTooLarge` error, before anything is sent. A PNG chart is re-encoded with a
256-colour palette first (`compact_png`): charts have few colours, so it looks the
same at a third of the bytes, and a typical bar chart then fits beside the table.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import KustoFlowsError
from ..kusto.types import Column

__all__ = [
    "CARD_VERSION",
    "TEAMS_MESSAGE_LIMIT",
    "CardContent",
    "CardTooLarge",
    "FittedCard",
    "compact_png",
    "escape_markdown",
    "fit_card",
    "message_payload",
]

CARD_VERSION = "1.5"
#: Teams' message size limit, in bytes of the UTF-8 JSON payload. Microsoft Learn,
#: "Create Incoming Webhooks": "The message size limit is 28 KB. When the size
#: exceeds 28 KB, you receive an error." The Teams connector's card actions, which a
#: Workflows webhook runs, say the same ("approximately 28 KB", images included).
#: Read as 28,000 bytes, the stricter reading of KB.
TEAMS_MESSAGE_LIMIT = 28_000
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

#: Characters that start Markdown the Adaptive Card hosts render (emphasis, links,
#: code, autolinks, tables, strike-through) and the escape character itself.
_INLINE = re.compile(r"([\\`*_\[\]<>~|])")
#: At the start of a line: a list item, a heading or a numbered item.
_LINE_START = re.compile(r"(?m)^([ \t]*)([-+#=]|(\d+)([.)]))")


class CardTooLarge(KustoFlowsError, http_status=422):
    """The Teams card would be over the message size limit even with no table rows
    (and without the chart, unless it is required): nothing was sent."""


def escape_markdown(text: str) -> str:
    """*text* shown as written by a Markdown-rendering TextBlock: markup characters
    backslash-escaped, each line its own paragraph (Markdown joins single lines)."""
    text = _INLINE.sub(r"\\\1", text.replace("\r\n", "\n").replace("\r", "\n"))

    def line_start(match: re.Match[str]) -> str:
        indent, marker, number, dot = match.groups()
        return f"{indent}{number}\\{dot}" if number else f"{indent}\\{marker}"

    return _LINE_START.sub(line_start, text).replace("\n", "\n\n")


def compact_png(data: bytes) -> bytes:
    """*data* (a PNG) re-encoded with a 256-colour palette (no dithering), on white,
    when that is smaller; *data* itself otherwise, or when it is not a PNG Pillow
    (matplotlib's own dependency) can read."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                return data
            rgba = image.convert("RGBA")
        flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
        palette = flat.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                dither=Image.Dither.NONE)
        out = io.BytesIO()
        palette.save(out, format="PNG", optimize=True)
    except Exception:  # not an image Pillow reads: sent as it is
        return data
    return out.getvalue() if len(out.getvalue()) < len(data) else data


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": escape_markdown(text), "wrap": True, **style}


@dataclass(frozen=True)
class CardContent:
    title: str = ""
    text: str = ""
    facts: Sequence[tuple[str, str]] = ()
    columns: Sequence[Column] = ()
    #: The table's rows as display text, in column order.
    rows: Sequence[Sequence[str]] = ()
    #: Rows in the whole result (for "showing N of M"); at least len(rows).
    total_rows: int = 0
    #: A `data:` or https URL.
    image_url: str = ""
    image_alt: str = ""
    require_image: bool = False
    #: (title, url) of each Action.OpenUrl button.
    buttons: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class FittedCard:
    card: dict[str, Any]
    #: The bytes to send: the card in Teams' message envelope, UTF-8 JSON.
    payload: bytes = field(repr=False)
    rows_shown: int
    image_included: bool
    #: Why the chart was left out ("" when it was not).
    image_omitted: str


def _table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> dict[str, Any]:
    def row(cells: Sequence[str], header: bool = False) -> dict[str, Any]:
        style = {"weight": "Bolder"} if header else {}
        return {"type": "TableRow", "cells": [
            {"type": "TableCell", "items": [_text(cell, **style)]} for cell in cells]}

    return {
        "type": "Table",
        "gridStyle": "accent",
        "firstRowAsHeader": True,
        "columns": [{"width": 1, **({"horizontalCellContentAlignment": "Right"}
                                    if column.is_numeric else {})} for column in columns],
        "rows": [row([c.name for c in columns], header=True), *(row(r) for r in rows)],
    }


def _card(content: CardContent, rows: int, image: bool, image_note: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = []
    if content.title:
        body.append(_text(content.title, size="Large", weight="Bolder", style="heading"))
    if content.text:
        body.append(_text(content.text))
    if content.facts:
        body.append({"type": "FactSet", "facts": [
            {"title": escape_markdown(title), "value": escape_markdown(value)}
            for title, value in content.facts]})
    if image:
        body.append({"type": "Image", "url": content.image_url, "size": "Stretch",
                     "altText": content.image_alt or content.title or "chart"})
    elif image_note:
        body.append(_text(image_note, isSubtle=True, size="Small"))
    if content.columns:
        body.append(_table(content.columns, content.rows[:rows]))
        total = max(content.total_rows, len(content.rows))
        if rows < total:
            body.append(_text(f"Showing {rows:,} of {total:,} rows.", isSubtle=True,
                              size="Small", spacing="Small"))
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if content.buttons:
        card["actions"] = [{"type": "Action.OpenUrl", "title": title, "url": url}
                           for title, url in content.buttons]
    return card


def message_payload(card: dict[str, Any]) -> bytes:
    """*card* in the envelope a Teams Workflows webhook takes, as UTF-8 JSON."""
    message = {"type": "message", "attachments": [
        {"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}]}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fit_card(content: CardContent, limit: int = TEAMS_MESSAGE_LIMIT) -> FittedCard:
    """The card for *content* whose message is at most *limit* bytes: as many table
    rows as fit, the chart when it fits too (or rows make room for a required one).
    Raises `CardTooLarge` when even no rows (and no optional chart) is over."""
    has_image = bool(content.image_url)
    image_first = has_image and content.require_image
    left_out = (f"The chart was left out: with it the card would be over Teams' "
                f"{limit:,}-byte message limit." if has_image and not image_first else "")

    def size(rows: int, image: bool, note: str = "") -> int:
        return len(message_payload(_card(content, rows, image, note)))

    fixed = size(0, image_first, left_out)
    if fixed > limit:
        what = ("with the chart it requires (require_image)" if image_first
                else "with no table rows")
        raise CardTooLarge(
            f"the Teams card is {fixed:,} bytes {what}, over Teams' {limit:,}-byte message "
            f"limit; nothing was sent",
            hint="shorten the title, text or facts" + (
                ", draw a smaller chart, or drop require_image" if image_first else ""))
    rows = _most_that_fit(len(content.rows),
                          lambda n: size(n, image_first, left_out) <= limit)
    image, note = image_first, left_out
    if has_image and not image_first and size(rows, True) <= limit:
        image, note = True, ""
    card = _card(content, rows, image, note)
    payload = message_payload(card)
    omitted = "" if image or not has_image else (
        f"with the chart the card would be over Teams' {limit:,}-byte message limit")
    return FittedCard(card, payload, rows, image, omitted)


def _most_that_fit(count: int, fits: Callable[[int], bool]) -> int:
    """The largest n in 0..count with fits(n), given fits(0) and that fits only gets
    false as n grows."""
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
