"""Bounds on the embedded engine (duckdb-kql over duckdb, in the app's own process).

A query there shares the process with the Functions host, so a runaway one must end
as a step error, never as an out-of-memory kill that leaves the run `Running`:

* `EngineLimits`: duckdb's `memory_limit` (1 GiB, or a quarter of the memory the
  process may use if that is less), `threads` (at most 2, what a serverless instance
  has) and no spilling to disk (`temp_directory` off: an in-memory database would
  otherwise write its overflow into the app's folder), and no progress bar (duckdb
  prints one to stdout for a query over 2 s). An operator that needs more
  (sort, join, aggregate, collect) fails with duckdb's OutOfMemoryException.
* `streaming_ranges`: duckdb-kql translates `range x from A to B step S` to
  `SELECT UNNEST(generate_series(A, B, S))`, which builds the whole sequence as ONE
  list value before the first row comes out: `range x from 1 to 100000000 step 1`
  took 7 GB, and neither `memory_limit` (a scalar's result is not counted) nor
  `interrupt()` (checked between chunks, not inside one function call) reaches it.
  The same range read from the `generate_series` *table* function streams 2,048
  rows at a time, so the request time-out and `max_records` stop it at once.

Not bounded here: other scalar functions that build one huge value (e.g. `strrep`
with a count in the millions) allocate outside duckdb's memory limit too; only a
separate process could bound those.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_MEMORY_CAP", "DEFAULT_THREADS_CAP", "EngineLimits", "streaming_ranges"]

#: The embedded engine's memory limit, unless the machine has less than 4x this.
DEFAULT_MEMORY_CAP = 1024**3
#: duckdb's worker threads, unless the machine has fewer cores.
DEFAULT_THREADS_CAP = 2


def _memory_available() -> int | None:
    """What this process may use: the cgroup (container) limit, else physical memory."""
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        if text.isdigit():
            return int(text)
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class EngineLimits:
    #: bytes duckdb may hold for one connection (tables, hash tables, sorts).
    memory_limit: int
    threads: int

    @classmethod
    def default(cls) -> EngineLimits:
        available = _memory_available()
        memory = DEFAULT_MEMORY_CAP if available is None else min(DEFAULT_MEMORY_CAP,
                                                                  available // 4)
        threads = min(DEFAULT_THREADS_CAP, os.cpu_count() or 1)
        return cls(memory_limit=max(memory, 64 * 1024**2), threads=max(threads, 1))

    def apply(self, con: Any) -> None:
        """Set the limits on a duckdb connection (before any data is loaded)."""
        con.execute(f"SET memory_limit = '{int(self.memory_limit)}B'")
        con.execute(f"SET threads = {int(self.threads)}")
        con.execute("SET temp_directory = ''")
        con.execute("SET enable_progress_bar = false")  # it writes to the host's stdout

    def describe(self) -> str:
        return f"{self.memory_limit / 1024**2:,.0f} MB"


_RANGE = re.compile(r"SELECT\s+UNNEST\(generate_series\(", re.IGNORECASE)
_ALIAS = re.compile(r'\)\)\s+AS\s+("(?:[^"]|"")*")(?=\s*(?:\)|$))')


def _arguments(sql: str, start: int) -> tuple[list[str], int] | None:
    """The top-level comma-separated arguments from *start* to the closing `)` (not
    included), and that parenthesis's index; quotes are skipped. None if unbalanced."""
    depth, args, begin, i = 0, [], start, start
    while i < len(sql):
        char = sql[i]
        if char in "'\"":
            end = sql.find(char, i + 1)
            while end != -1 and sql[end + 1:end + 2] == char:  # '' or "" escapes
                end = sql.find(char, end + 2)
            if end == -1:
                return None
            i = end
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                args.append(sql[begin:i].strip())
                return args, i
            depth -= 1
        elif char == "," and depth == 0:
            args.append(sql[begin:i].strip())
            begin = i + 1
        i += 1
    return None


def streaming_ranges(sql: str) -> str:
    """*sql* with each `SELECT UNNEST(generate_series(A, B, S)) AS "x"` that has no
    FROM (what duckdb-kql makes of `range`) read from the table function instead:
    `SELECT "generate_series" AS "x" FROM generate_series(A, B, NULLIF(S, (S) * 0))`.

    Same rows, same order, same type; a zero step still gives no rows (the table
    function refuses it, the scalar gives an empty list). Any other shape is left
    exactly as it was."""
    out: list[str] = []
    position = 0
    for match in _RANGE.finditer(sql):
        if match.start() < position:
            continue
        parsed = _arguments(sql, match.end())
        if parsed is None or len(parsed[0]) != 3:
            continue
        (low, high, step), close = parsed
        alias = _ALIAS.match(sql, close)
        if alias is None:
            continue
        out.append(sql[position:match.start()])
        out.append(f'SELECT "generate_series" AS {alias.group(1)} FROM generate_series('
                   f"{low}, {high}, NULLIF({step}, ({step}) * 0))")
        position = alias.end()
    out.append(sql[position:])
    return "".join(out)
