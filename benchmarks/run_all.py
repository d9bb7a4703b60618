"""Run every `benchmarks/bench_*.py` and print what each prints (`make bench`).

Each script runs in its own interpreter, one after the other, so one script's
imports, caches and peak RSS never count against another (the benches that
measure memory start their own worker processes on top of that). The output of
each is streamed as it comes, under a header with the script's name, followed by
its wall time.

A missed target is a number to read, not a failure: the exit status is 0 when
every script ran to the end, and 1 only when one of them crashed (its traceback is
in the output above the summary).

    .venv/bin/python benchmarks/run_all.py [name-substring ...]

With arguments, only the scripts whose file name contains one of them run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def scripts(filters: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if filters:
        found = [path for path in found if any(f in path.name for f in filters)]
    return found


def run(path: Path) -> tuple[int, float]:
    print(f"== {path.name} ==", flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(path)], cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    status = "" if done.returncode == 0 else f", FAILED with exit code {done.returncode}"
    print(f"-- {path.name}: {seconds:.0f} s{status}\n", flush=True)
    return done.returncode, seconds


def main(argv: list[str]) -> int:
    found = scripts(argv)
    if not found:
        print(f"no benchmarks/bench_*.py matches {argv}", file=sys.stderr)
        return 1
    failed = []
    total = 0.0
    for path in found:
        code, seconds = run(path)
        total += seconds
        if code != 0:
            failed.append(path.name)
    print(f"{len(found)} benchmarks in {total:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
