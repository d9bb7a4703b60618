"""The loader under thousands of broken flow files: how many were accepted, refused
with a problem of their own file, crashed (anything else) or hung (over 2 s).

Run from the repository root (not part of `make bench`: it is a count, not a timing):

    .venv/bin/python benchmarks/fuzz_flows.py [--count 6000] [--seed 1]

Each mutant is one of the example files (flows/*.yaml, the connections file too)
with 1 to 4 mutations of `tests/flow_mutations.py` drawn from a seeded `random`,
loaded by `load_folder` in a folder beside an unchanged good flow, and checked by
`flow_mutations.check` (the fuzz test's contract). A load still running after
`--stop` seconds is interrupted (SIGALRM) and counted as hung. The three slowest
loads and the first ten crashes are printed after the counts; the exit status is 1
when anything crashed or hung.
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.flow_mutations import (
    ContractBroken,
    apply,
    check,
    random_mutations,
    write_folder,
)

HUNG_AFTER = 2.0


class _Stopped(BaseException):
    """Not an Exception: `check` turns every Exception that escapes the loader into a
    crash, and a load stopped by the alarm is a hang."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stop", type=int, default=10, help="seconds before a load is "
                                                              "interrupted (counted hung)")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # the loader logs every refused file
    rng = random.Random(args.seed)
    signal.signal(signal.SIGALRM, _stop)
    counts: collections.Counter[str] = collections.Counter()
    crashes: list[str] = []
    slowest: list[tuple[float, str]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.count):
            base, mutations = random_mutations(rng)
            mutant = apply((Path("flows") / base).read_bytes(), mutations)
            folder = Path(tmp) / f"m{index}"
            path = write_folder(folder, base, mutant)
            began = time.perf_counter()
            signal.alarm(args.stop)
            try:
                outcome, seconds = check(folder, path)
            except _Stopped:
                outcome, seconds = "hung", time.perf_counter() - began
            except ContractBroken as exc:
                outcome, seconds = "crashed", time.perf_counter() - began
                crashes.append(f"{base} {mutations}: {exc}")
            finally:
                signal.alarm(0)
            if outcome in ("accepted", "refused") and seconds > HUNG_AFTER:
                outcome = "hung"
            counts[outcome] += 1
            slowest = sorted([*slowest, (seconds, f"{base} {mutations}")], reverse=True)[:3]
            for file in folder.iterdir():
                file.unlink()
            folder.rmdir()
    total = time.perf_counter() - started
    print(f"{args.count} mutants (seed {args.seed}) in {total:.0f} s: "
          f"{counts['accepted']} accepted, {counts['refused']} refused, "
          f"{counts['crashed']} crashed, {counts['hung']} hung")
    for seconds, what in slowest:
        print(f"  slowest: {seconds * 1000:.0f} ms  {what}")
    for crash in crashes[:10]:
        print(f"  crash: {crash}")
    return 1 if counts["crashed"] or counts["hung"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
