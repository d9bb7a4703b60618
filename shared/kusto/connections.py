"""A connection's backend: the embedded engine, or the azure-kusto-data client with
the credential its `auth` asks for. `shared.resources.Resources` keeps one per
connection per process, so a warm Functions instance keeps its session and tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import AuthFailed
from ..model import Connection
from ..settings import Settings
from .backend import KustoBackend

__all__ = ["build_backend", "connection_key"]


def connection_key(connection: Connection) -> tuple[Any, ...]:
    """Connections with the same key share one backend."""
    return (connection.cluster, connection.database, connection.auth, connection.client_id,
            connection.tenant_id, connection.client_secret_setting)


def build_backend(connection: Connection, settings: Settings) -> KustoBackend:
    if connection.kind == "embedded":
        from .embedded import EmbeddedBackend

        return EmbeddedBackend(connection.database or "Samples")
    from .azure_backend import AzureKustoBackend

    factory = None if connection.kind == "local" else _credential_factory(connection, settings)
    return AzureKustoBackend(connection.cluster, credential_factory=factory,
                             client_grace_seconds=settings.kusto_client_grace_seconds)


def _credential_factory(connection: Connection, settings: Settings) -> Callable[[], Any]:
    auth = connection.auth or "default"

    def make() -> Any:
        from azure import identity

        if auth == "managed_identity":
            return identity.ManagedIdentityCredential(
                client_id=connection.client_id or settings.azure_client_id or None)
        if auth == "service_principal":
            setting = connection.client_secret_setting or ""
            secret = settings.secret(setting)
            if not secret:
                raise AuthFailed(f"app setting {setting} (the client secret) is not set",
                                 hint="add it to the app settings (a Key Vault reference in "
                                      "Azure), never to the flow files")
            # The model requires both for service_principal.
            return identity.ClientSecretCredential(connection.tenant_id or "",
                                                   connection.client_id or "", secret)
        return identity.DefaultAzureCredential(
            managed_identity_client_id=settings.azure_client_id or None)

    return make
