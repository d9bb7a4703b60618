"""teams.post: an Adaptive Card in a Teams channel or chat, through a Workflows
webhook ("When a Teams webhook request is received", the successor of the retired
Office 365 connectors) whose URL is in an app setting.

The card (`shared.render.adaptive_card`): a title, text, facts, the first rows of a
result as a table, a chart when the card stays under Teams' 28 KB message limit
with it, and link buttons (the query in Azure Data Explorer, the run's page).
Values are shown as written: Markdown in them is escaped. It is sent as
`http.request` sends (`send_from_step`): retries, the Idempotency-Key, the URL
never shown."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from ..errors import StepInputError
from ..kusto.types import Column
from ..mail.message import Attachment
from ..model import Static
from ..render.adaptive_card import CardContent, compact_png, fit_card
from ..render.table import display_text
from .base import StepContext, StepOutcome
from .http_request import HttpSendFields, send_from_step
from .registry import Action

__all__ = ["ACTION", "TeamsPostStep", "card_content"]

_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")


class TeamsPostStep(HttpSendFields):
    """Post an Adaptive Card to Teams."""

    action: Literal["teams.post"]
    title: str = ""
    text: str = ""
    facts: dict[str, Any] | list[Any] | str = Field(
        default_factory=dict, description="label -> value, or a list of {title, value}")
    rows: list[Any] | str | None = Field(
        None, description="rows shown as a table, e.g. {{ steps.q.rows }}")
    columns: list[Any] | str | None = Field(
        None, description="the table's columns: {{ steps.q.columns }} or a list of names")
    row_count: int | str | None = Field(
        None, description="rows in the whole result, for 'showing N of M'")
    max_rows: Annotated[int, Static, Field(10, ge=1, le=100,
                                           description="table rows shown at most")]
    image: Any = Field(None, description="a PNG/JPEG step output, e.g. {{ steps.x.chart }}")
    image_alt: str = ""
    require_image: Annotated[bool, Static, Field(
        False, description="true: fail when the chart does not fit in the card, rather "
                           "than leave it out")]
    buttons: list[Any] | str = Field(
        default_factory=list, description="a list of {title, url}; an empty url is left out")


def _facts(value: Any) -> list[tuple[str, str]]:
    if value in (None, "", [], {}):
        return []
    if isinstance(value, Mapping):
        return [(str(k), display_text(v, Column(str(k), "string"))) for k, v in value.items()]
    if isinstance(value, list):
        found = []
        for index, item in enumerate(value):
            if isinstance(item, Mapping) and "title" in item:
                found.append((str(item["title"]), display_text(item.get("value"),
                                                               Column("", "string"))))
            elif isinstance(item, list | tuple) and len(item) == 2:
                found.append((str(item[0]), display_text(item[1], Column("", "string"))))
            else:
                raise StepInputError(f"field 'facts[{index}]' is not a {{title, value}} "
                                     f"pair", hint="write facts as label: value")
        return found
    raise StepInputError(f"field 'facts' is {type(value).__name__}, not a mapping",
                         hint="write facts as label: value lines")


def _columns(value: Any, rows: Sequence[Any]) -> list[Column]:
    if value in (None, "", []):
        first = rows[0] if rows else None
        if isinstance(first, Mapping):
            return [Column(str(name), "string") for name in first]
        if first is not None:
            raise StepInputError("field 'columns' is needed: the rows are lists, not "
                                 "named", hint="add columns: \"{{ steps.<id>.columns }}\"")
        return []
    if not isinstance(value, list):
        raise StepInputError(f"field 'columns' is {type(value).__name__}, not a list",
                             hint="use {{ steps.<id>.columns }} or a list of column names")
    found = []
    for item in value:
        if isinstance(item, Mapping) and "name" in item:
            found.append(Column(str(item["name"]), str(item.get("type") or "string")))
        else:
            found.append(Column(str(item), "string"))
    return found


def _table(columns: Sequence[Column], rows: Sequence[Any]) -> list[list[str]]:
    names = {column.name for column in columns}
    table = []
    for index, row in enumerate(rows):
        if isinstance(row, Mapping):
            missing = names - set(row)
            if missing:
                raise StepInputError(f"field 'rows[{index}]' has no column "
                                     f"{sorted(missing)[0]!r}",
                                     hint="name columns the rows have")
            table.append([display_text(row[c.name], c) for c in columns])
        elif isinstance(row, list | tuple):
            table.append([display_text(v, c) for v, c in zip(row, columns, strict=False)])
        else:
            raise StepInputError(f"field 'rows[{index}]' is {type(row).__name__}, not a row",
                                 hint="use {{ steps.<id>.rows }} of a query step")
    return table


def _image_url(value: Any) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, Attachment):
        if value.content_type not in _IMAGE_TYPES:
            raise StepInputError(f"field 'image': {value.name} is {value.content_type}, not "
                                 f"an image", hint="use a chart output: {{ steps.<id>.chart }}")
        data = value.read_bytes()
        data = compact_png(data) if value.content_type == "image/png" else data
        return f"data:{value.content_type};base64,{base64.b64encode(data).decode()}"
    if isinstance(value, str) and urlsplit(value).scheme == "https":
        return value
    raise StepInputError("field 'image' is neither an image file nor an https URL",
                         hint="use a chart output: {{ steps.<id>.chart }}")


def _buttons(value: Any) -> list[tuple[str, str]]:
    if value in (None, ""):
        return []
    found = []
    for index, item in enumerate(value if isinstance(value, list) else [value]):
        if not isinstance(item, Mapping):
            raise StepInputError(f"field 'buttons[{index}]' is not a {{title, url}} mapping",
                                 hint="write each button as {title: ..., url: ...}")
        url = str(item.get("url") or "").strip()
        if not url:
            continue  # e.g. a deep link, which only https clusters have
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise StepInputError(f"field 'buttons[{index}].url' is not an http(s) URL",
                                 hint="a button opens a web page: https://...")
        found.append((str(item.get("title") or "Open").strip() or "Open", url))
    return found


def card_content(inputs: Mapping[str, Any], max_rows: int, require_image: bool
                 ) -> CardContent:
    """The card's content from a teams.post step's rendered inputs."""
    rows = inputs.get("rows")
    if rows in (None, ""):
        rows = []
    if not isinstance(rows, list):
        raise StepInputError(f"field 'rows' is {type(rows).__name__}, not a list of rows",
                             hint="use {{ steps.<id>.rows }}")
    columns = _columns(inputs.get("columns"), rows)
    count = inputs.get("row_count")
    try:
        total = int(count) if count not in (None, "") else len(rows)
    except (TypeError, ValueError):
        raise StepInputError(f"field 'row_count' is {count!r}, not a number",
                             hint="use {{ steps.<id>.row_count }}") from None
    return CardContent(
        title=str(inputs.get("title") or ""),
        text=str(inputs.get("text") or ""),
        facts=_facts(inputs.get("facts")),
        columns=columns,
        rows=_table(columns, rows[:max_rows]) if columns else [],
        total_rows=max(total, len(rows)),
        image_url=_image_url(inputs.get("image")),
        image_alt=str(inputs.get("image_alt") or ""),
        require_image=require_image,
        buttons=_buttons(inputs.get("buttons")),
    )


def post_card(step: TeamsPostStep, inputs: Mapping[str, Any], ctx: StepContext
              ) -> StepOutcome:
    from ..http import target_from_setting

    target = target_from_setting(ctx.settings, step.url_setting)
    if step.require_image and inputs.get("image") in (None, ""):
        raise StepInputError("field 'image' is empty, and require_image is true",
                             hint="give the chart ({{ steps.<id>.chart }}), or drop "
                                  "require_image")
    fitted = fit_card(card_content(inputs, step.max_rows, step.require_image))
    delivered = send_from_step(ctx, step, method="POST", body=fitted.payload,
                               headers={"Content-Type": "application/json; charset=utf-8"},
                               max_response_bytes=16 * 1024)
    outputs = {
        "status": delivered.answer.status,
        "url_host": target.origin,
        "attempts": delivered.attempts,
        "card_bytes": len(fitted.payload),
        "rows_shown": fitted.rows_shown,
        "image_included": fitted.image_included,
        "image_omitted": fitted.image_omitted,
    }
    notes = [f"{fitted.rows_shown} rows"] if fitted.card.get("body") and any(
        part.get("type") == "Table" for part in fitted.card["body"]) else []
    if fitted.image_omitted:
        notes.append("chart left out: over the card limit")
    elif fitted.image_included:
        notes.append("chart")
    detail = f" ({', '.join(notes)})" if notes else ""
    return StepOutcome(outputs, f"card posted to {target.origin}: "
                                f"{delivered.answer.status}{detail}")


ACTION = Action(
    TeamsPostStep, post_card, title="Post card in a chat or channel", writes=True,
    fields_doc="`url_setting` (the name of the app setting holding the Workflows webhook "
               "URL), `title`, `text`, `facts` (label: value), `rows` and `columns` (a "
               "result shown as a table), `row_count`, `max_rows` (10), `image` (a chart, "
               "left out when the card would pass Teams' 28 KB limit), `image_alt`, "
               "`require_image` (false), `buttons` (`{title, url}` list), `timeout`, "
               "`retries`, `idempotent` as for `http.request`",
    outputs_doc="`status`, `url_host`, `attempts`, `card_bytes`, `rows_shown`, "
                "`image_included`, `image_omitted` (why the chart was left out)",
)
