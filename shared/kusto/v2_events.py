"""The rows of a v2 answer's `Rows` array read from the ijson `parse` events under the
SDK's reader, nested values built by ijson's ObjectBuilder: the reader `v2_rows` falls
back to when its fast one cannot go on (as rows were read before it existed). An error
object in place of a row raises `KustoMultiApiError`, as the SDK does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["event_rows"]

_SCALARS = frozenset(("string", "number", "integer", "double", "boolean", "null"))


def event_rows(events: Iterator[tuple[str, str, Any]]) -> Iterator[list[Any]]:
    """Each row of a `Rows` array, from the ijson `parse` events that follow its
    key; stops right after the array's end, where the SDK's row iterator stops."""
    from azure.kusto.data.exceptions import KustoMultiApiError, KustoTokenParsingError
    from ijson import IncompleteJSONError

    scalars = _SCALARS
    try:
        _, event, _ = next(events, (None, None, None))
        if event != "start_array":
            raise KustoTokenParsingError(f"Expected the rows array, got {event}")
        for _, event, value in events:
            if event == "start_array":
                row: list[Any] = []
                append = row.append
                for _, event, value in events:
                    if event in scalars:
                        append(value)
                    elif event == "end_array":
                        break
                    else:
                        append(_nested(events, event))
                else:
                    break
                yield row
            elif event == "end_array":
                return
            elif event == "start_map":  # an error in place of a row, as the SDK raises it
                raise KustoMultiApiError([_nested(events, event)])
            else:
                raise KustoTokenParsingError(f"Unexpected {event} in the rows array")
    except IncompleteJSONError:
        pass
    raise KustoTokenParsingError("Unexpected end of stream")


def _nested(events: Iterator[tuple[str, str, Any]], first: str) -> Any:
    """The object or array whose start event was `first`, as plain dicts and lists."""
    from azure.kusto.data.exceptions import KustoTokenParsingError
    from ijson.common import ObjectBuilder

    builder = ObjectBuilder()
    builder.event(first, None)
    depth = 1
    for _, event, value in events:
        builder.event(event, value)
        if event == "start_map" or event == "start_array":
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1
            if depth == 0:
                return builder.value
    raise KustoTokenParsingError("Unexpected end of stream")
