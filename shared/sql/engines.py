"""One SQLAlchemy engine per SQL connection per process, and how it signs in.

* PostgreSQL (`postgresql+psycopg`): with `auth: default | managed_identity` an
  Entra access token for `https://ossrdbms-aad.database.windows.net/.default` is the
  password (Azure Database for PostgreSQL flexible server); with `auth: password`
  the app setting `password_setting` names. TLS is required unless the server is
  the loopback.
* SQL Server / Azure SQL (`mssql+mssqlpython`, Microsoft's mssql-python driver):
  with Entra auth the token for `https://database.windows.net/.default` goes to the
  driver as the pre-connect attribute SQL_COPT_SS_ACCESS_TOKEN (1256), as the
  documented structure: a 4-byte little-endian length, then the token in UTF-16-LE.
  `Encrypt=yes` unless the server is the loopback.
* SQLite (`sqlite+pysqlite`): a file; a relative path is read against STATE_DIR.
  The driver's own transaction handling is switched off and each transaction is
  opened with BEGIN, so DDL and DML of a step share one transaction.

Tokens are fetched for each new database connection (the pool recycles connections
well inside a token's hour), through azure-identity, whose credentials cache them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AuthFailed
from ..model import SqlConnection
from ..settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["POSTGRES_SCOPE", "SQL_COPT_SS_ACCESS_TOKEN", "SQL_SERVER_SCOPE", "EngineSpec",
           "SqlEngine", "access_token_struct", "engine_key", "engine_spec", "make_engine"]

POSTGRES_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
SQL_SERVER_SCOPE = "https://database.windows.net/.default"
#: msodbcsql.h: the pre-connect attribute that carries an access token.
SQL_COPT_SS_ACCESS_TOKEN = 1256
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Seconds a pooled connection is kept: well inside an access token's lifetime, and
#: below the idle time-outs of Azure's gateways.
POOL_RECYCLE = 1800
CONNECT_TIMEOUT = 15


def access_token_struct(token: str) -> bytes:
    """The value of SQL_COPT_SS_ACCESS_TOKEN: the token's UTF-16-LE bytes after their
    length as a 4-byte little-endian unsigned integer."""
    raw = token.encode("utf-16-le")
    return struct.pack(f"<I{len(raw)}s", len(raw), raw)


def sqlite_path(connection: SqlConnection, settings: Settings) -> Path:
    path = Path(connection.path or "")
    return path if path.is_absolute() else settings.state_dir / path


def engine_key(connection: SqlConnection, settings: Settings) -> tuple[Any, ...]:
    """Connections with the same key share one engine."""
    where = str(sqlite_path(connection, settings)) if connection.kind == "sqlite" else None
    return ("sql", connection.kind, connection.server, connection.port, connection.database,
            connection.user, connection.effective_auth, connection.password_setting,
            connection.client_id, where)


@dataclass
class EngineSpec:
    """What an engine is made from: its URL (no token in it), the driver's keyword
    arguments, and the token scope and credential a new connection signs in with."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)
    #: Entra auth: the scope of the access token each new connection gets.
    token_scope: str | None = None
    #: Makes the azure-identity credential (called once, on the first connection).
    credential: Callable[[], Any] | None = None

    def token_arguments(self, token: str) -> dict[str, Any]:
        """The driver arguments that carry *token*: the password for PostgreSQL, the
        access-token attribute for SQL Server."""
        if self.url.get_backend_name() == "mssql":
            return {"attrs_before": {SQL_COPT_SS_ACCESS_TOKEN: access_token_struct(token)}}
        return {"password": token}


def _credential(connection: SqlConnection, settings: Settings) -> Callable[[], Any]:
    def make() -> Any:
        from azure import identity

        if connection.effective_auth == "managed_identity":
            return identity.ManagedIdentityCredential(
                client_id=connection.client_id or settings.azure_client_id or None)
        return identity.DefaultAzureCredential(
            managed_identity_client_id=settings.azure_client_id or None)

    return make


def _password(connection: SqlConnection, settings: Settings) -> str | None:
    if connection.effective_auth != "password":
        return None
    setting = connection.password_setting or ""
    secret = settings.secret(setting)
    if not secret:
        raise AuthFailed(f"app setting {setting} (the password of the {connection.kind} "
                         f"connection) is not set",
                         hint="add it to the app settings (a Key Vault reference in Azure), "
                              "never to connections.yaml")
    return secret


def engine_spec(connection: SqlConnection, settings: Settings) -> EngineSpec:
    """The engine's URL and driver arguments (no network, no driver import)."""
    from sqlalchemy.engine import URL

    if connection.kind == "sqlite":
        return EngineSpec(URL.create("sqlite+pysqlite",
                                     database=str(sqlite_path(connection, settings))),
                          {"timeout": 30})
    auth = connection.effective_auth
    entra = auth in ("default", "managed_identity")
    local = connection.server in _LOOPBACK
    password = _password(connection, settings)
    if connection.kind == "postgresql":
        args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT,
                                "application_name": "kusto-flows"}
        if not local:
            args["sslmode"] = "require"
        url = URL.create("postgresql+psycopg", username=connection.user, password=password,
                         host=connection.server, port=connection.port or 5432,
                         database=connection.database)
        scope = POSTGRES_SCOPE
    else:
        query = {"Encrypt": "yes", "TrustServerCertificate": "no"} if not local else {
            "Encrypt": "optional"}
        url = URL.create("mssql+mssqlpython",
                         username=connection.user if auth == "password" else None,
                         password=password, host=connection.server,
                         port=connection.port or 1433, database=connection.database,
                         query=query)
        args = {"timeout": CONNECT_TIMEOUT}
        scope = SQL_SERVER_SCOPE
    if not entra:
        return EngineSpec(url, args)
    return EngineSpec(url, args, token_scope=scope,
                      credential=_credential(connection, settings))


class SqlEngine:
    """An engine and what it needs to sign in; `close()` disposes of its pool and
    closes its credential (the resources' `close()` calls it)."""

    def __init__(self, engine: Engine, kind: str, credentials: list[Any] | None = None
                 ) -> None:
        self.engine = engine
        self.kind = kind
        #: The azure-identity credential, once the first connection made it.
        self.credentials = credentials if credentials is not None else []

    @property
    def dialect(self) -> str:
        """postgresql, mssql or sqlite."""
        return str(self.engine.dialect.name)

    def close(self) -> None:
        self.engine.dispose()
        for credential in self.credentials:
            close = getattr(credential, "close", None)
            if callable(close):
                close()


def make_engine(connection: SqlConnection, settings: Settings) -> SqlEngine:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    spec = engine_spec(connection, settings)
    if connection.kind == "sqlite":
        # Opening a SQLite file is cheap: no pool, so no connection outlives its step.
        sqlite_path(connection, settings).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(spec.url, connect_args=spec.connect_args, poolclass=NullPool)
        _sqlite_transactions(engine)
        return SqlEngine(engine, connection.kind)
    engine = create_engine(spec.url, connect_args=spec.connect_args, pool_pre_ping=True,
                           pool_recycle=POOL_RECYCLE)
    credentials: list[Any] = []
    if spec.token_scope is not None and spec.credential is not None:
        _sign_in_with_tokens(engine, spec, credentials)
    return SqlEngine(engine, connection.kind, credentials)


def _sign_in_with_tokens(engine: Engine, spec: EngineSpec, made: list[Any]) -> None:
    from sqlalchemy import event

    scope = spec.token_scope or ""

    @event.listens_for(engine, "do_connect")
    def _token(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        try:
            if not made and spec.credential is not None:
                made.append(spec.credential())
            token = made[0].get_token(scope).token
        except Exception as exc:  # azure-identity's errors: no token, no sign-in
            raise AuthFailed(f"no Entra access token for {scope}: {exc}",
                             hint="check the connection's auth, the managed identity and "
                                  "that it is a user of the database") from exc
        cparams.update(spec.token_arguments(token))


def _sqlite_transactions(engine: Engine) -> None:
    """SQLAlchemy's recipe for pysqlite: the driver issues no BEGIN/COMMIT of its own,
    so a transaction spans DDL too and is opened here."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")
