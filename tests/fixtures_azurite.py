"""Azurite's table and queue services for the tests (a pytest plugin, loaded by the
root conftest), and the helper the benchmark reuses to start its own.

`azurite` (session scope): one table emulator for the whole session, from
`node_modules/.bin/azurite-table` (installed by `make test`, which runs npm
install), on a free 127.0.0.1 port, data in memory. Tests share it: give each test
its own table prefix rather than cleaning up.

`azurite_queue` (session scope): the same for the queue service, from
`node_modules/.bin/azurite-queue` (`.connection_string` has a QueueEndpoint). Tests
share it: give each test its own queue name.

`azurite_blob` (session scope): the same for the blob service, from
`node_modules/.bin/azurite-blob` (`.connection_string` has a BlobEndpoint). Tests
share it: give each test its own container or blob names.

`fresh_azurite` (function scope): a private instance for a test that stops and
starts the emulator (a restart loses the in-memory data, which would pull the rug
from under anyone else sharing it).

Azurite 3.x refuses `--location` together with `--inMemoryPersistence`, so the
workspace is given as the working directory instead: a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

__all__ = ["AZURITE_BLOB", "AZURITE_QUEUE", "AZURITE_TABLE", "Azurite", "AzuriteBlob",
           "AzuriteQueue", "free_port"]

ROOT = Path(__file__).resolve().parents[1]
AZURITE_TABLE = ROOT / "node_modules" / ".bin" / "azurite-table"
AZURITE_QUEUE = ROOT / "node_modules" / ".bin" / "azurite-queue"
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"

#: Azurite's well-known development account; the key is public (documented by
#: Microsoft for the emulator) and opens nothing but a local emulator.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Azurite:
    """One Azurite table service process; `stop()` and `start()` keep its port."""

    #: Which Azurite service: names its --<service>Host/--<service>Port options.
    service = "table"
    #: The connection-string key of that service's endpoint.
    endpoint_key = "TableEndpoint"
    default_binary = AZURITE_TABLE

    def __init__(self, workdir: Path, port: int | None = None,
                 binary: Path | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.binary = Path(binary or self.default_binary)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};"
                f"AccountKey={ACCOUNT_KEY};{self.endpoint_key}={self.url};")

    @property
    def pid(self) -> int | None:
        """The service's process (it leads a group of its own), while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "azurite.log").read_text(errors="replace")[-2000:]
        return ""

    def start(self, timeout: float = 60.0) -> Azurite:
        """Start the service (again) on `self.port` and wait until it answers."""
        if self.running:
            return self
        if not os.access(self.binary, os.X_OK):
            raise FileNotFoundError(
                f"{self.binary} is missing: run `make test` (it runs npm install, which "
                "installs Azurite for the run-store and queue tests)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.workdir / "azurite.log", "ab")  # closed in stop()
        self._process = subprocess.Popen(
            [str(self.binary), f"--{self.service}Host", "127.0.0.1",
             f"--{self.service}Port", str(self.port),
             "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck",
             "--loose", "--silent"],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise RuntimeError(f"{self.binary.name} exited ({code}) on port {self.port}:\n"
                                   f"{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self.binary.name} did not answer on port {self.port} "
                                   f"within {timeout:.0f}s:\n{self._log_tail()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the service (its in-memory data is gone) and wait until it is down."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)  # the group it leads
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AzuriteQueue(Azurite):
    """One Azurite queue service process (`.connection_string` has a QueueEndpoint)."""

    service = "queue"
    endpoint_key = "QueueEndpoint"
    default_binary = AZURITE_QUEUE


class AzuriteBlob(Azurite):
    """One Azurite blob service process (`.connection_string` has a BlobEndpoint)."""

    service = "blob"
    endpoint_key = "BlobEndpoint"
    default_binary = AZURITE_BLOB


def _started(workdir: Path, kind: type[Azurite] = Azurite) -> Azurite:
    try:
        return kind(workdir).start()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """The session's Azurite table service (`.connection_string`)."""
    service = _started(tmp_path_factory.mktemp("azurite"))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def azurite_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """The session's Azurite queue service (`.connection_string`, `.url`)."""
    service = _started(tmp_path_factory.mktemp("azurite-queue"), AzuriteQueue)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def azurite_blob(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """The session's Azurite blob service (`.connection_string`, `.url`)."""
    service = _started(tmp_path_factory.mktemp("azurite-blob"), AzuriteBlob)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def fresh_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A private Azurite for one test, free to `stop()` and `start()`."""
    service = _started(tmp_path_factory.mktemp("azurite-private"))
    try:
        yield service
    finally:
        service.stop()
