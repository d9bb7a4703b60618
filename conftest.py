"""Test session plugins: each local service is started once per session, on a free
127.0.0.1 port, and stopped after."""

import os
import sys

import pytest

pytest_plugins = [
    "tests.fixtures_kusto",
    "tests.fixtures_azurite",
    "tests.fixtures_postgres",
    "tests.queued_app",
    "tests.webhook_receiver",
]

_exit_status: list[int] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave with the session's own exit status, without Python's finalization: a
    daemon thread of a test server still inside duckdb when the interpreter finalizes
    is unwound by force, which duckdb's C++ does not allow ("terminate called ...
    exception not rethrown") and which would turn a green run into an abort. Every
    report has been written by now; nothing the tests need runs at exit."""
    if _exit_status and os.environ.get("KUSTO_FLOWS_NORMAL_EXIT") != "1":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])
