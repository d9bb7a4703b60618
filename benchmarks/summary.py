"""The combined table `make bench` prints at the end: one row per figure that matters.

How a bench hands its rows to the runner (`benchmarks/run_all.py`):

* each `bench_*.py` defines `summary_rows(result) -> list[Row]`, which turns the dict
  its `main()` returns into rows (what, ours, reference, ratio and, where there is
  one, the target and whether it is met); the numbers are formatted there, next to
  the code that measured them;
* its `if __name__ == "__main__":` block calls `run_bench(main, summary_rows)`.
  Run as before, the bench prints its own report and nothing else changes. Run with
  `--summary FILE` (the runner passes a temporary file per script), it also writes
  its rows to FILE as JSON: a list of objects with the keys what, ours, reference,
  ratio (text), target (text, "" when none) and met (true, false, or null when there
  is no target). The option is taken out of the arguments before `main()` sees them,
  and it is never passed to a bench's own worker processes;
* the runner reads every file and prints `markdown_table(rows)`.

The table is always a markdown pipe table with padded columns: it reads as an aligned
plain-text table in a terminal and pastes as it is into the README's "Benchmarks"
section, so one format serves both and there is no option to choose.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["OPTION", "Row", "Target", "at_least", "at_most", "markdown_table", "read_rows",
           "run_bench", "times", "write_rows"]

#: The command-line option that asks a bench for its rows.
OPTION = "--summary"
HEADER = ("what", "ours", "reference", "ratio")


@dataclass(frozen=True)
class Target:
    """A target as the table shows it ("<= 1.5x") and whether this run met it."""

    text: str
    met: bool


@dataclass(frozen=True)
class Row:
    """One line of the table. The cells are text, formatted by the bench (units,
    digits); `ratio` is "" where no ratio makes sense."""

    what: str
    ours: str
    reference: str = ""
    ratio: str = ""
    target: Target | None = None

    def ratio_cell(self) -> str:
        """The ratio with its target and verdict: "0.79x (target <= 1.5x: met)"."""
        if self.target is None:
            return self.ratio
        verdict = "met" if self.target.met else "MISSED"
        return " ".join(filter(None, (self.ratio, f"(target {self.target.text}: {verdict})")))

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "ours": self.ours, "reference": self.reference,
                "ratio": self.ratio, "target": self.target.text if self.target else "",
                "met": self.target.met if self.target else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        target = Target(str(data["target"]), bool(data["met"])) if data.get("target") else None
        return cls(str(data["what"]), str(data["ours"]), str(data.get("reference", "")),
                   str(data.get("ratio", "")), target)


# ---------------------------------------------------------------- for the benches

def times(value: float, digits: int = 2) -> str:
    """A ratio as the table writes it: "0.79x"."""
    return f"{value:.{digits}f}x"


def at_most(value: float, limit: float, unit: str = "x") -> Target:
    return Target(f"<= {limit:,g}{unit}", value <= limit)


def at_least(value: float, limit: float, unit: str = "x") -> Target:
    return Target(f">= {limit:,g}{unit}", value >= limit)


def write_rows(path: Path, rows: Iterable[Row]) -> None:
    text = json.dumps([row.to_json() for row in rows], indent=1, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def read_rows(path: Path) -> list[Row]:
    return [Row.from_json(item) for item in json.loads(path.read_text(encoding="utf-8"))]


def take_option(argv: list[str]) -> tuple[list[str], Path | None]:
    """*argv* without `--summary FILE` (or `--summary=FILE`), and FILE."""
    rest: list[str] = []
    path: Path | None = None
    items = iter(argv)
    for item in items:
        if item == OPTION:
            value = next(items, None)
            if value is None:
                raise SystemExit(f"{OPTION} needs a file name")
            path = Path(value)
        elif item.startswith(OPTION + "="):
            path = Path(item.split("=", 1)[1])
        else:
            rest.append(item)
    return rest, path


def run_bench(main: Callable[..., dict[str, Any]],
              summary_rows: Callable[[dict[str, Any]], list[Row]],
              argv: list[str] | None = None) -> None:
    """A bench script's entry point: `main()` (given the other arguments, if there
    are any), then, when `--summary FILE` was given, its rows written to FILE."""
    rest, path = take_option(sys.argv[1:] if argv is None else argv)
    # A main that takes arguments gets the rest, even none: left to itself, argparse
    # would read sys.argv, --summary included.
    takes_arguments = bool(inspect.signature(main).parameters)
    result = main(rest) if takes_arguments or rest else main()
    if path is not None:
        write_rows(path, summary_rows(result))


# ---------------------------------------------------------------- for the runner

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Iterable[Row]) -> str:
    """The rows as a markdown table, every column padded to its widest cell."""
    lines = [HEADER] + [(r.what, r.ours, r.reference, r.ratio_cell()) for r in rows]
    cells = [[_cell(text) for text in line] for line in lines]
    widths = [max(3, *(len(line[i]) for line in cells)) for i in range(len(HEADER))]

    def render(line: list[str]) -> str:
        return "| " + " | ".join(text.ljust(w) for text, w in zip(line, widths,
                                                                    strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([render(cells[0]), rule] + [render(line) for line in cells[1:]])
