"""Pytest plugin: a local Kusto endpoint (`tests.kusto_server`) in a subprocess.

* `kusto_server` (session): the sample database `Samples`, started once; `.url`.
* `stopped_kusto_url`: a loopback URL on which nothing listens, for "server down".
* `start_kusto_server(bench_rows, async_polls)` / `stop_kusto_server(process)`: the
  same subprocess for benchmarks and tests that need their own server (for example
  with `Bench`, or another number of InProgress polls for async operations).

A subprocess rather than a thread: the server holds one DuckDB connection and a
lock, and a slow query in it must not share a GIL or an interpreter with the tests
that are measuring it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["KustoServer", "start_kusto_server", "stop_kusto_server"]

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Start-up budget: import + 5,000 sample rows is well under a second (measured
#: 0.7 s); a large --bench-rows table takes longer.
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class KustoServer:
    """A running endpoint: hand `url` to `KustoConnectionStringBuilder`."""

    url: str
    process: subprocess.Popen[str]


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The process's first stdout line, or "" if it died or said nothing in time."""
    line: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0].strip() if line else ""


def _wait_until_answering(url: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def start_kusto_server(
    bench_rows: int = 0, async_polls: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start `python -m tests.kusto_server --port 0` and return (process, url)
    once it answers. The caller owns the process: `stop_kusto_server` it.
    *async_polls*: InProgress polls of an async operation (None: the server's default)."""
    command = [sys.executable, "-m", "tests.kusto_server", "--port", "0"]
    if bench_rows:
        command += ["--bench-rows", str(bench_rows)]
    if async_polls is not None:
        command += ["--async-polls", str(async_polls)]
    # stderr is inherited, so a traceback lands in pytest's captured output.
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        url = _first_line(process, START_TIMEOUT)
        if not url.startswith("http://"):
            raise RuntimeError(
                f"tests.kusto_server did not start (exit code {process.poll()}, "
                f"first line {url!r}); see its stderr above"
            )
        _wait_until_answering(url, deadline)
    except BaseException:
        stop_kusto_server(process)
        raise
    return process, url


def stop_kusto_server(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if it lingers; always reaped and its pipe closed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="session")
def kusto_server() -> Iterator[KustoServer]:
    """The sample database `Samples` served for the whole session."""
    process, url = start_kusto_server()
    try:
        yield KustoServer(url=url, process=process)
    finally:
        stop_kusto_server(process)


@pytest.fixture
def stopped_kusto_url() -> Iterator[str]:
    """A loopback URL that refuses connections.

    The port is held by a socket that is bound but never listens: a connection to
    it is refused, and nothing else can take the port while the test runs.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"
