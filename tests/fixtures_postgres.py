"""PostgreSQL for the SQL tests (a pytest plugin, loaded by the root conftest), and the
helper the memory benchmark reuses to start its own.

`postgres` (session scope): one server for the whole session, from Debian's packages
(`make postgres`, run by `make test`, installs them), in a temporary data directory
made by `initdb`, listening on a free 127.0.0.1 port only (the superuser `postgres`
trusted, other roles by password: `create_role`),
and stopped (fast shutdown) and deleted after. initdb and the server refuse to run as
root, so as root they run as the `postgres` user the package creates (`runuser`).

`postgres_db` (function scope): a database of its own for one test, dropped after, so
tests never see each other's tables. `.url` is its SQLAlchemy URL;
`.connections_yaml(name)` the `connections.yaml` entry of a flow that writes to it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresDatabase", "PostgresServer", "find_postgres_bin", "start_postgres"]

#: The superuser initdb creates; trust authentication on 127.0.0.1, so no password.
SUPERUSER = "postgres"


def find_postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: Debian keeps them out of PATH, under
    /usr/lib/postgresql/<version>/bin (the newest wins)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    bin_dir: Path
    data_dir: Path
    port: int
    #: The OS user the server runs as (None: the current one).
    run_as: str | None

    def _command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def execute(self, statement: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as con:
            con.execute(statement)  # type: ignore[arg-type]

    def create_role(self, name: str, password: str, database: str) -> None:
        """A login role that signs in with *password* and owns nothing but may use
        *database*'s public schema."""
        import psycopg
        from psycopg import sql

        self.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)).as_string())
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname=database, autocommit=True) as con:
            con.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(
                sql.Identifier(name)))

    def stop(self) -> None:
        subprocess.run(self._command(str(self.bin_dir / "pg_ctl"), "stop", "-D",
                                     str(self.data_dir), "-m", "fast", "-w"),
                       check=False, capture_output=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """initdb a temporary data directory and start a server on a free loopback port;
    the caller owns it: `stop()` it. FileNotFoundError when PostgreSQL is missing."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed: run `make postgres` (as root it "
                                "installs Debian's postgresql package)")
    run_as = None
    data_dir = Path(tempfile.mkdtemp(prefix="kusto-flows-pg-"))
    if os.geteuid() == 0:
        run_as = "postgres"
        user = pwd.getpwnam(run_as)
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    os.chmod(data_dir, 0o700)
    server = PostgresServer(bin_dir, data_dir, _free_port(), run_as)
    try:
        subprocess.run(server._command(
            str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync"), check=True, capture_output=True)
        # The superuser without a password; any other role signs in with its password
        # (scram), so the password and the Entra-token paths are really checked.
        hba = data_dir / "pg_hba.conf"
        hba.write_text(f"local all all trust\nhost all {SUPERUSER} 127.0.0.1/32 trust\n"
                       "host all all 127.0.0.1/32 scram-sha-256\n", encoding="utf-8")
        if run_as:
            user = pwd.getpwnam(run_as)
            os.chown(hba, user.pw_uid, user.pw_gid)
        options = (f"-p {server.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={data_dir} -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off")
        subprocess.run(server._command(
            str(bin_dir / "pg_ctl"), "start", "-D", str(data_dir), "-w", "-t", "60",
            "-l", str(data_dir / "server.log"), "-o", options),
            check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        log = ""
        with contextlib.suppress(OSError):
            log = (data_dir / "server.log").read_text(errors="replace")[-2000:]
        server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}\n{log}") from exc
    return server


@dataclass(frozen=True)
class PostgresDatabase:
    server: PostgresServer
    name: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    @property
    def port(self) -> int:
        return self.server.port

    def connections_yaml(self, name: str = "warehouse", *, cluster: str = "embedded") -> str:
        """A connections.yaml with `samples` on *cluster* (the embedded engine unless
        told) and this database as *name*."""
        return (f"samples: {{cluster: {cluster}, database: Samples}}\n"
                f"{name}: {{kind: postgresql, server: 127.0.0.1, port: {self.port}, "
                f"database: {self.name}, user: {SUPERUSER}, auth: none}}\n")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server."""
    try:
        server = start_postgres()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres: PostgresServer) -> Iterator[PostgresDatabase]:
    """A fresh database on the session's server for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PostgresDatabase(postgres, name)
    finally:
        postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
