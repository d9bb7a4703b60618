"""The connections file's entries (pydantic): a Kusto `Connection` (no `kind`, or
`kind: kusto`), a `SqlConnection` (`kind: postgresql | sqlserver | sqlite`), reading
one (`parse_connection`) and why one cannot serve a step (`wrong_connection`).

Re-exported by `shared.model`, which holds the flow file's own models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "AnyConnection",
    "Connection",
    "SqlConnection",
    "parse_connection",
    "wrong_connection",
]


class _Strict(BaseModel):  # (as shared.model's)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Connection(_Strict):
    """A Kusto connection: no `kind` (or `kind: kusto`) in connections.yaml."""

    cluster: str = Field(description="embedded, http://127.0.0.1:PORT or https://<cluster>")
    database: str | None = None
    auth: Literal["none", "default", "managed_identity", "service_principal"] | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_setting: str | None = Field(
        None, description="name of the app setting holding the secret (never the secret)"
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_kusto(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "kusto":
            return {key: value for key, value in data.items() if key != "kind"}
        return data

    @property
    def family(self) -> Literal["kusto"]:
        return "kusto"

    @model_validator(mode="after")
    def _auth_fits_cluster(self) -> Connection:
        from urllib.parse import urlparse

        if self.cluster == "embedded":
            return self
        url = urlparse(self.cluster)
        if url.scheme == "http":
            if url.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(
                    f"http is allowed only for a local emulator on 127.0.0.1 or localhost, "
                    f"not {url.hostname}; use https for a real cluster"
                )
            if self.auth not in (None, "none"):
                raise ValueError("a local http cluster takes no auth")
        elif url.scheme == "https":
            if not url.hostname:
                raise ValueError(f"'{self.cluster}' is not a cluster URL")
            if self.auth == "none":
                raise ValueError("an https cluster needs auth: default, managed_identity "
                                 "or service_principal")
            if self.auth == "service_principal" and not (
                self.tenant_id and self.client_id and self.client_secret_setting
            ):
                raise ValueError("service_principal needs tenant_id, client_id and "
                                 "client_secret_setting")
        else:
            raise ValueError(f"cluster must be 'embedded', http://127.0.0.1:PORT or "
                             f"https://..., got '{self.cluster}'")
        return self

    @property
    def kind(self) -> str:
        if self.cluster == "embedded":
            return "embedded"
        return "local" if self.cluster.startswith("http://") else "azure"


_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SQL_KINDS = ("postgresql", "sqlserver", "sqlite")


def _sql_kind(value: Any) -> Any:
    if value not in _SQL_KINDS:
        raise ValueError(f"kind is kusto (the default: leave it out), postgresql, sqlserver "
                         f"or sqlite, not {value!r}")
    return value


class SqlConnection(_Strict):
    """A SQL database (`shared.sql`): `kind: postgresql | sqlserver | sqlite`."""

    kind: Annotated[Literal["postgresql", "sqlserver", "sqlite"], BeforeValidator(_sql_kind),
                    Field(description="postgresql (Azure Database for PostgreSQL), sqlserver "
                                      "(Azure SQL) or sqlite (a file)")]
    server: str | None = Field(None, description="host: <name>.postgres.database.azure.com, "
                                                 "<name>.database.windows.net, 127.0.0.1")
    port: int | None = Field(None, ge=1, le=65535, description="default 5432 / 1433")
    database: str | None = None
    user: str | None = Field(None, description="the login; with Entra auth on PostgreSQL the "
                                               "Entra user, group or managed identity name")
    auth: Literal["none", "default", "managed_identity", "password"] | None = Field(
        None, description="default: password when password_setting is given, else default "
                          "(DefaultAzureCredential); none: a local server only")
    password_setting: str | None = Field(
        None, description="name of the app setting holding the password (never the password)")
    client_id: str | None = Field(
        None, description="managed_identity: the user-assigned identity (default: "
                          "AZURE_CLIENT_ID)")
    path: str | None = Field(None, description="sqlite: the database file; a relative path is "
                                               "read against STATE_DIR")

    @property
    def family(self) -> Literal["sql"]:
        return "sql"

    @property
    def effective_auth(self) -> str:
        if self.auth:
            return self.auth
        return "password" if self.password_setting else "default"

    @model_validator(mode="after")
    def _fits_kind(self) -> SqlConnection:
        if self.kind == "sqlite":
            extra = [name for name in ("server", "port", "database", "user", "auth",
                                       "password_setting", "client_id")
                     if getattr(self, name) is not None]
            if not self.path:
                raise ValueError("a sqlite connection needs path: the database file (a "
                                 "relative path is read against STATE_DIR)")
            if extra:
                raise ValueError(f"a sqlite connection takes only path; remove "
                                 f"{', '.join(extra)}")
            return self
        if self.path is not None:
            raise ValueError("path is for kind: sqlite; a server database takes server and "
                             "database")
        if not self.server or not self.database:
            raise ValueError(f"a {self.kind} connection needs server and database")
        auth = self.effective_auth
        if auth == "none" and self.server not in _LOOPBACK:
            raise ValueError("auth: none is allowed only for a local server on 127.0.0.1 or "
                             "localhost; use default, managed_identity or password")
        if auth == "password" and not (self.user and self.password_setting):
            raise ValueError("auth: password needs user and password_setting (the name of "
                             "the app setting holding the password)")
        if auth != "password" and self.password_setting:
            raise ValueError("password_setting is read only with auth: password")
        if self.client_id and auth != "managed_identity":
            raise ValueError("client_id is read only with auth: managed_identity")
        if self.kind == "postgresql" and not self.user:
            raise ValueError("a postgresql connection needs user (with Entra auth: the name "
                             "of the Entra user, group or managed identity)")
        if self.kind == "sqlserver" and auth in ("default", "managed_identity") and self.user:
            raise ValueError("with Entra auth the access token names the identity: remove "
                             "user (or use auth: password)")
        return self


#: An entry of connections.yaml.
AnyConnection = Connection | SqlConnection


def parse_connection(spec: Any) -> AnyConnection:
    """A connections.yaml entry: Kusto without `kind` (or `kind: kusto`), SQL with
    `kind: postgresql | sqlserver | sqlite`. Raises pydantic's ValidationError."""
    if isinstance(spec, dict) and spec.get("kind") not in (None, "kusto"):
        return SqlConnection.model_validate(spec)
    return Connection.model_validate(spec)


def wrong_connection(name: str, connection: AnyConnection, wanted: str) -> str | None:
    """Why connection *name* cannot serve a step that needs a *wanted* ("kusto" or
    "sql") connection, or None when it can."""
    if connection.family == wanted:
        return None
    if isinstance(connection, SqlConnection):
        return (f"connection '{name}' is a SQL database (kind: {connection.kind}), not a "
                f"Kusto cluster; Kusto steps need a connection with cluster:")
    return (f"connection '{name}' is a Kusto cluster, not a SQL database; sql steps need a "
            f"connection with kind: postgresql, sqlserver or sqlite")
