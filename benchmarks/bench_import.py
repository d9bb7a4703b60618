"""Cold-start import cost: `import function_app` against the libraries it cannot avoid.

Run from the repository root: `.venv/bin/python benchmarks/bench_import.py`.
Every import runs in a fresh interpreter (`python -c`, working directory the
repository root, default app settings, so `function_app` loads `flows/`), timed
with `time.perf_counter()` around the import statement alone (interpreter start-up
is not counted); `STATE_DIR` and `OUTBOX_DIR` point at a temporary folder. One
untimed run first (bytecode caches, OS file cache), then the median of 7. The
baseline imports `azure.functions` and `azure.kusto.data`, which the app needs
anyway; `azure.functions` alone is timed too, since the app leaves
azure-kusto-data to the first query.

When `function_app.py` is missing (it is being written), the bench imports
`shared.runner` and `shared.api` instead and says so.

It also reports whether matplotlib, pandas or duckdb ended up in `sys.modules`
after the import (none may: they are imported only when a step needs them), and
the heaviest packages by `-X importtime`.

`main()` returns the numbers as a dict (milliseconds) for a runner to record.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["main"]

REPEATS = 7
BASELINE = "import azure.functions, azure.kusto.data"
#: The floor under the app when it leaves azure.kusto.data to the first query.
FUNCTIONS_ONLY = "import azure.functions"
APP = "import function_app"
FALLBACK = "import shared.runner, shared.api"
#: Must not be imported by the app at start-up.
HEAVY = ("matplotlib", "pandas", "duckdb")
#: Worth knowing about, not forbidden.
NOTED = ("azure.kusto.data", "numpy", "duckdb_kql", "azure.identity", "azure.data.tables",
         "azure.communication.email", "jinja2", "pydantic")

_PROBE = """
import json, sys, time
started = time.perf_counter()
{statement}
seconds = time.perf_counter() - started
names = {names!r}
loaded = {{n: any(m == n or m.startswith(n + ".") for m in sys.modules) for n in names}}
print(json.dumps({{"seconds": seconds, "modules": len(sys.modules), "loaded": loaded}}))
"""


def _probe(statement: str, importtime: bool = False) -> tuple[dict[str, Any], str]:
    """One fresh interpreter running *statement*: its report, and its stderr.
    Local state (the SQLite run store the app opens at import) goes to a temporary
    folder, not the repository's `.state/`."""
    code = _PROBE.format(statement=statement, names=HEAVY + NOTED)
    command = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", code]
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "STATE_DIR": str(Path(scratch) / "state"),
               "OUTBOX_DIR": str(Path(scratch) / "outbox")}
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{statement}` failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _median_ms(statement: str) -> tuple[float, dict[str, Any]]:
    _probe(statement)  # warm-up: .pyc files, OS file cache
    reports = [_probe(statement)[0] for _ in range(REPEATS)]
    return statistics.median(r["seconds"] for r in reports) * 1000, reports[-1]


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s*\|\s*(\d+)\s*\|(\s*)(\S+)")


def _heaviest(statement: str, count: int = 6) -> list[tuple[str, float]]:
    """Top-level packages (first name component) by summed self time, in ms."""
    _, stderr = _probe(statement, importtime=True)
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            name = match.group(4)
            top = ".".join(name.split(".")[:2]) if name.startswith("azure.") else (
                name.split(".")[0])
            totals[top] = totals.get(top, 0.0) + int(match.group(1)) / 1000
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)[:count]


def main() -> dict[str, Any]:
    has_app = (ROOT / "function_app.py").exists()
    statement = APP if has_app else FALLBACK
    if not has_app:
        print("(c) function_app.py is missing: measuring `import shared.runner, shared.api` "
              "instead", flush=True)
    app_ms, report = _median_ms(statement)
    base_ms, base_report = _median_ms(BASELINE)
    label = "function_app.py" if has_app else "shared.runner + shared.api"
    print(f"(c) import {label}: {app_ms:.0f} ms vs azure-functions + azure-kusto-data alone "
          f"{base_ms:.0f} ms -> {app_ms / base_ms:.2f}x, +{app_ms - base_ms:.0f} ms "
          f"({report['modules']} modules loaded vs {base_report['modules']}; median of {REPEATS} "
          f"fresh interpreters)", flush=True)
    functions_ms, _ = _median_ms(FUNCTIONS_ONLY)
    print(f"    azure-functions alone {functions_ms:.0f} ms: the app adds "
          f"+{app_ms - functions_ms:.0f} ms to it"
          + ("" if report["loaded"]["azure.kusto.data"] else
             " (azure.kusto.data is not imported until the first query)"), flush=True)
    heavy = [name for name in HEAVY if report["loaded"][name]]
    print(f"    after `{statement}`: "
          + (f"HEAVY MODULES LOADED: {', '.join(heavy)}" if heavy else
             f"none of {', '.join(HEAVY)} in sys.modules (ok)"), flush=True)
    noted = [name for name in NOTED if report["loaded"][name]]
    print(f"    of {', '.join(NOTED)}: loaded {', '.join(noted) or 'none'}", flush=True)
    heaviest = _heaviest(statement)
    print("    heaviest (-X importtime self time by package; a module's own line includes "
          "its body, e.g. function_app loading flows/): "
          + ", ".join(f"{name} {ms:.0f} ms" for name, ms in heaviest), flush=True)
    return {
        "statement": statement,
        "app_ms": round(app_ms, 1),
        "baseline_ms": round(base_ms, 1),
        "functions_only_ms": round(functions_ms, 1),
        "ratio": round(app_ms / base_ms, 3),
        "modules": report["modules"],
        "baseline_modules": base_report["modules"],
        "heavy_loaded": heavy,
        "also_loaded": noted,
        "heaviest_ms": {name: round(ms, 1) for name, ms in heaviest},
    }


if __name__ == "__main__":
    main()
