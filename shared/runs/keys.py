"""Key layout shared by both stores, and the opaque continuation token.

Runs (table `FlowRuns`):
    PartitionKey = escaped flow name
    RowKey       = f"{MAX_TICKS - start_ticks:019d}_{escaped run id}"
The row key inverts the start time in .NET ticks (100 ns since 0001-01-01), so a
partition read in key order returns the newest run first, and "started before T"
is a row-key range: no scan, no sort.

Run index (same table, its own partitions, one tiny row per run):
    PartitionKey = f"id:{escaped run id}", RowKey = escaped flow name
It maps a run id to its run row key, so `get_run` is two point reads. Escaped keys
never hold ':', so an index partition can never be a flow's partition.

Latest-run index (same table, one partition of its own, one row per flow):
    PartitionKey = "latest:", RowKey = escaped flow name
It holds the summary of the flow's newest run (by start), kept by every run write,
so "the last run of every flow" is one partition query, not one query per flow.
A row `RowKey = ":complete"` in that partition says every run of the table is in the
index (written when the store creates the table, or after a one-time backfill of a
table written before the index existed); escaped keys never hold ':', so it is
never a flow's row.

Steps (table `FlowRunSteps`):
    PartitionKey = escaped run id
    RowKey       = f"{execution order:06d}_{escaped step path}"

Table Storage forbids `/ \\ # ?` and control characters in keys; `escape_key`
percent-encodes them (and `%`, `:` so the encoding is reversible and unambiguous).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import InvalidQuery

__all__ = [
    "LATEST_COMPLETE",
    "LATEST_PARTITION",
    "MAX_TICKS",
    "at_or_before_row_key",
    "decode_token",
    "encode_token",
    "escape_key",
    "from_ticks",
    "flow_partition_key",
    "index_partition_key",
    "latest_row_key",
    "newer_or_same",
    "older_than_row_key",
    "prefix_end",
    "run_row_key",
    "step_partition_key",
    "step_row_key",
    "ticks",
    "unescape_key",
]

#: `DateTime.MaxValue.Ticks` in .NET: 9999-12-31T23:59:59.9999999.
MAX_TICKS = 3_155_378_975_999_999_999
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
#: A key may hold 1 KiB (512 UTF-16 units); paths longer than this are shortened
#: with a hash so the key stays unique.
_MAX_KEY_PART = 400
_ALWAYS_ESCAPED = frozenset("/\\#?%:")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ticks(moment: datetime) -> int:
    """*moment* in .NET ticks (naive datetimes are taken as UTC)."""
    delta = _aware(moment) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def from_ticks(value: int) -> datetime:
    """The UTC moment of .NET ticks *value*, rounded down to the microsecond: the
    inverse of `ticks`."""
    return _EPOCH + timedelta(microseconds=value // 10)


def _forbidden(char: str) -> bool:
    code = ord(char)
    return char in _ALWAYS_ESCAPED or code < 0x20 or 0x7F <= code <= 0x9F


def escape_key(text: str) -> str:
    """*text* with every character Table Storage forbids in keys percent-encoded."""
    if not any(_forbidden(c) for c in text):
        return text
    return "".join(f"%{ord(c):02X}" if _forbidden(c) else c for c in text)


def unescape_key(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "%" and _is_hex(text[i + 1:i + 3]):
            out.append(chr(int(text[i + 1:i + 3], 16)))
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _is_hex(pair: str) -> bool:
    return len(pair) == 2 and all(c in "0123456789ABCDEFabcdef" for c in pair)


def _bounded(text: str) -> str:
    escaped = escape_key(text)
    if len(escaped) <= _MAX_KEY_PART:
        return escaped
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{escaped[:_MAX_KEY_PART - 17]}~{digest}"


def flow_partition_key(flow: str) -> str:
    return _bounded(flow)


def run_row_key(started_at: datetime, run_id: str) -> str:
    return f"{MAX_TICKS - ticks(started_at):019d}_{_bounded(run_id)}"


def older_than_row_key(moment: datetime) -> str:
    """The smallest run row key of a run started strictly before *moment*: runs
    started earlier have row keys >= this, runs started at or after it have smaller."""
    return f"{MAX_TICKS - ticks(moment) + 1:019d}"


def at_or_before_row_key(moment: datetime) -> str:
    """The smallest run row key of a run started at or before *moment*: such runs have
    row keys >= this (it is their inverted-ticks part), runs started after it smaller."""
    return f"{MAX_TICKS - ticks(moment):019d}"


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string that starts with *prefix* (in code point
    order, which is also UTF-8 byte order), so a prefix is the key range
    [prefix, prefix_end); None when there is no such string to write."""
    for cut in range(len(prefix) - 1, -1, -1):
        following = ord(prefix[cut]) + 1
        if following <= 0x10FFFF:
            if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters: skip them
                following = 0xE000
            return prefix[:cut] + chr(following)
    return None


def index_partition_key(run_id: str) -> str:
    return f"id:{_bounded(run_id)}"


#: The latest-run index's partition: holds ':' so it is never a flow's partition, and
#: does not start with "id:" so it is never a run id's index partition.
LATEST_PARTITION = "latest:"
#: The row saying the index is complete (holds ':': never a flow's row key).
LATEST_COMPLETE = ":complete"


def latest_row_key(flow: str) -> str:
    return _bounded(flow)


def newer_or_same(run_key: str, than: str | None) -> bool:
    """Whether the run with row key *run_key* replaces the one with row key *than* as
    its flow's newest run: it started later (a smaller inverted-ticks key), or it is
    the same run (a finish after its start). Always True when there is none yet."""
    return than is None or run_key <= than


def step_partition_key(run_id: str) -> str:
    return _bounded(run_id)


def step_row_key(order: int, path: str) -> str:
    return f"{order:06d}_{_bounded(path)}"


# Continuation tokens: URL-safe base64 of a small JSON object that also names the
# flow and filter it was issued for, so a token is not silently applied elsewhere.

def encode_token(flow: str, status: str | None, position: Any) -> str | None:
    if position is None:
        return None
    raw = json.dumps({"f": flow, "s": status, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_token(token: str, flow: str, status: str | None) -> Any:
    """The position inside *token*; InvalidQuery if it is malformed or was issued for
    another flow or status filter."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidQuery("invalid continuation token") from exc
    if not isinstance(data, dict) or "p" not in data:
        raise InvalidQuery("invalid continuation token")
    if data.get("f") != flow or data.get("s") != status:
        raise InvalidQuery("continuation token was issued for another flow or status filter")
    return data["p"]
