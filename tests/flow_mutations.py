"""Broken flow files on purpose: mutations of the example flows (byte flips, cuts,
spliced lines, YAML tokens, deep nesting, alias bombs, control characters, bytes
that are not UTF-8) and the loader's contract over them.

Shared by the fuzz test (`tests/test_loader_robustness.py`, through Hypothesis) and
the larger one-off count (`benchmarks/fuzz_flows.py`, through `random`): both draw
`Mutation`s and call `check`.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from shared.loader import CONNECTIONS_FILE, UNEXPECTED, find_flow, load_folder

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "flows"
#: The example files a mutant starts from (the connections file too).
BASES = tuple(sorted(p.name for p in EXAMPLES.glob("*.yaml")))
#: The flow that sits unchanged beside the mutant; it has no `trigger.after`, so no
#: mutant can make it invalid except through the connections file.
GOOD = "storm-daily-report.yaml"
#: The mutant's name: sorts after GOOD, so a clash of flow names is the mutant's.
MUTANT = "zz-mutant.yaml"


def nested_foreach(levels: int) -> str:
    """*levels* foreach steps inside each other around a condition step."""
    lines = ["steps:"]
    for level in range(levels):
        pad = "    " * level
        lines += [f"{pad}  - id: loop{level}", f"{pad}    action: foreach",
                  f"{pad}    items: '[1]'", f"{pad}    steps:"]
    pad = "    " * levels
    lines += [f"{pad}  - id: leaf", f"{pad}    action: condition", f"{pad}    if: 'true'"]
    return "\n".join(lines) + "\n"


def laughs(levels: int) -> str:
    """The "billion laughs": each level an alias list of nine of the level before."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


#: What an insertion puts in: YAML syntax, tags, templates, and bytes YAML refuses.
TOKENS: tuple[bytes, ...] = (
    b"&a ", b"*a", b"&a [*a]", b"&a {k: *a}", b"? [a]: ", b"? {a: b}\n: x\n", b"[a, b]: 1\n",
    b"{a: 1}: 2\n", b"!!python/object:os.system ", b"!!python/name:os.system ",
    b"!!python/object/apply:os.system [ls] ", b"!!binary ", b"!!set ", b"!!omap ",
    b"!!timestamp ", b"!!int ", b"!!float ", b"!!str ", b"!!map ", b"!!seq ", b"!custom ",
    b"<<: *a\n", b"<<: ", b"---\n", b"...\n", b"%YAML 1.1\n", b"%TAG !e! tag:x,2000:\n",
    b"'", b'"', b"{{ ", b" }}", b"{% if %}", b"{{ steps.", b": ", b"- ", b"#", b"|", b">-",
    b"\t", b"\n", b"\r", b"  ", b",", b"[", b"]", b"{", b"}", b"?", b"&", b"*", b"!", b"@",
    b"`", b"%", b"\x00", b"\x01", b"\x08", b"\x0b", b"\x0c", b"\x1b", b"\x7f",
    b"\xc2\x85", b"\xc2\x80", b"\xef\xbb\xbf", b"\xef\xbf\xbe", b"\xff", b"\xfe", b"\x80",
    b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x80\xa8", b"\xff\xfe",
    b"2001-13-45", b"2001-02-29 25:61:61", b"9" * 5000, b"1e999", b"-.inf", b".nan",
    b"0x_", b"0b2", b"0o9", b"1_000", b"~", b"null", b"yes", b"on", b"=", b"<<",
    b"action: foreach\n", b"action: condition\n", b"action: nope\n", b"id: x\n",
    b"then: ", b"else: ", b"steps: ", b"if: ", b"items: ", b"run_after: ",
    b"name: storm-daily-report\n", b"after: storm-daily-report\n", b"after: zz-mutant\n",
    b"schedule: '* * * * * * *'\n", b"timezone: Mars/Olympus\n", b"timezone: ../../etc\n",
    b"connection: nowhere\n", b"cluster: http://example.com\n", b"max_bytes: 1ZB\n",
    b"request_timeout: -1\n", b"concurrency: 0\n", b"[" * 60, b"[" * 400, b"{a: " * 300,
    b"- " * 300, b"{{ " + b"(" * 300 + b"1" + b")" * 300 + b" }}", b"{{ " + b"[" * 300,
    b"&a [" + b"*a, " * 2000 + b"]", laughs(7).encode(), laughs(3).encode(),
    nested_foreach(11).encode(), nested_foreach(60).encode(), nested_foreach(200).encode(),
)
KINDS = ("flip", "truncate", "delete", "insert", "insert_line", "splice", "duplicate_line",
         "drop_line", "indent", "replace_value", "prepend", "append", "replace_steps")


@dataclass(frozen=True)
class Mutation:
    kind: str
    #: Where, as a fraction of the file (0 to 65535).
    where: int
    #: What: a token, a line, a byte mask or a count, by kind.
    arg: int


def _corpus_lines() -> tuple[bytes, ...]:
    return tuple(line for name in BASES
                 for line in (EXAMPLES / name).read_bytes().splitlines(keepends=True))


CORPUS_LINES = _corpus_lines()


def apply(data: bytes, mutations: list[Mutation]) -> bytes:
    for mutation in mutations:
        data = _apply(data, mutation)
    return data


def _apply(data: bytes, m: Mutation) -> bytes:
    at = m.where * (len(data) + 1) // 65536
    lines = data.splitlines(keepends=True) or [b""]
    row = m.where * len(lines) // 65536
    if m.kind == "flip":
        if not data:
            return data
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ (m.arg % 255 + 1)]) + data[at + 1:]
    if m.kind == "truncate":
        return data[:at]
    if m.kind == "delete":
        return data[:at] + data[at + 1 + m.arg % 64:]
    if m.kind == "insert":
        return data[:at] + TOKENS[m.arg % len(TOKENS)] + data[at:]
    if m.kind == "insert_line":
        token = TOKENS[m.arg % len(TOKENS)]
        return b"".join(lines[:row]) + token.rstrip(b"\n") + b"\n" + b"".join(lines[row:])
    if m.kind == "splice":
        line = CORPUS_LINES[m.arg % len(CORPUS_LINES)]
        return b"".join(lines[:row]) + line + b"".join(lines[row:])
    if m.kind == "duplicate_line":
        return b"".join(lines[:row] + [lines[row]] * (2 + m.arg % 3) + lines[row + 1:])
    if m.kind == "drop_line":
        return b"".join(lines[:row] + lines[row + 1:])
    if m.kind == "indent":
        line = lines[row]
        changed = b" " * (m.arg % 5) + line.lstrip(b" ") if m.arg % 2 else line[1 + m.arg % 3:]
        return b"".join([*lines[:row], changed, *lines[row + 1:]])
    if m.kind in ("prepend", "append", "replace_steps"):
        # Whole YAML blocks (an alias bomb, deep steps) where they parse: at the top
        # level, or instead of the file's steps.
        token = TOKENS[m.arg % len(TOKENS)].rstrip(b"\n") + b"\n"
        if m.kind == "prepend":
            return token + data
        if m.kind == "append":
            return data + (b"" if data.endswith(b"\n") else b"\n") + token
        cut = data.find(b"\nsteps:")
        return data[:cut + 1] + token if cut >= 0 else data + token
    if m.kind == "replace_value":
        line = lines[row]
        colon = line.find(b": ")
        if colon < 0:
            return data
        token = TOKENS[m.arg % len(TOKENS)]
        return b"".join([*lines[:row], line[:colon + 2] + token + b"\n", *lines[row + 1:]])
    raise ValueError(f"unknown mutation {m.kind}")


def random_mutations(rng: random.Random) -> tuple[str, list[Mutation]]:
    """A base file and 1 to 4 mutations of it, drawn from *rng*."""
    base = rng.choice(BASES)
    count = rng.choice((1, 1, 1, 2, 2, 3, 4))
    return base, [Mutation(rng.choice(KINDS), rng.randrange(65536), rng.randrange(10_000))
                  for _ in range(count)]


# ----------------------------------------------------------------------- contract

class ContractBroken(AssertionError):
    """The loader let something other than a FlowProblem of the mutant's file out."""


def write_folder(folder: Path, base: str, mutant: bytes) -> Path:
    """A flows folder: the connections file, GOOD, and the mutant (which replaces the
    connections file when it is one). The mutant's path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / CONNECTIONS_FILE, folder / CONNECTIONS_FILE)
    shutil.copy(EXAMPLES / GOOD, folder / GOOD)
    path = folder / (CONNECTIONS_FILE if base == CONNECTIONS_FILE else MUTANT)
    path.write_bytes(mutant)
    return path


def check(folder: Path, mutant: Path) -> tuple[str, float]:
    """Load *folder*; ("accepted" | "refused", seconds), or ContractBroken when
    anything escaped, a problem names another file, the good flow did not load (its
    connections intact) or a problem is the loader's own bug net."""
    started = time.perf_counter()
    try:
        result = load_folder(folder)
        try:
            find_flow("no-such-flow", folder)
        except FileNotFoundError:
            pass
    except Exception as exc:
        raise ContractBroken(f"{type(exc).__name__} escaped: {exc}") from exc
    seconds = time.perf_counter() - started
    problems = result.problems.get(str(mutant), [])
    for file, listed in result.problems.items():
        for problem in listed:
            if problem.file != file or not problem.message:
                raise ContractBroken(f"problem filed under {file}: {problem}")
            if UNEXPECTED in problem.message:
                raise ContractBroken(f"the loader's bug net caught it: {problem}")
    if mutant.name != CONNECTIONS_FILE:
        good = str(folder / GOOD)
        if good in result.problems or "storm-daily-report" not in result.flows:
            raise ContractBroken(f"the good flow beside the mutant did not load: "
                                 f"{result.problems.get(good)}")
        others = set(result.problems) - {str(mutant)}
        if others:
            raise ContractBroken(f"problems filed for other files: {sorted(others)}")
    if problems:
        return "refused", seconds
    loaded = any(f.path == mutant for f in result.flows.values())
    if mutant.name != CONNECTIONS_FILE and not loaded:
        raise ContractBroken("the mutant neither loaded nor got a problem")
    return "accepted", seconds
