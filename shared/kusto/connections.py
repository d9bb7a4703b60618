"""Connection name -> backend, one per connection per process (reused across runs,
so a warm Functions instance keeps its HTTP session and token cache)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import AuthFailed
from ..model import Connection
from ..settings import Settings
from .backend import KustoBackend

__all__ = ["backend_for", "clear_backends"]

_backends: dict[tuple[Any, ...], KustoBackend] = {}
_lock = threading.Lock()


def backend_for(connection: Connection, settings: Settings,
                env: Mapping[str, str] | None = None) -> KustoBackend:
    key = (connection.cluster, connection.database, connection.auth, connection.client_id,
           connection.tenant_id, connection.client_secret_setting)
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _build(connection, settings, os.environ if env is None else env)
            _backends[key] = backend
        return backend


def clear_backends() -> None:
    with _lock:
        _backends.clear()


def _build(connection: Connection, settings: Settings, env: Mapping[str, str]) -> KustoBackend:
    if connection.kind == "embedded":
        from .embedded import EmbeddedBackend

        return EmbeddedBackend(connection.database or "Samples")
    from .azure_backend import AzureKustoBackend

    factory = None if connection.kind == "local" else _credential_factory(connection, settings,
                                                                          env)
    return AzureKustoBackend(connection.cluster, credential_factory=factory,
                             client_grace_seconds=settings.kusto_client_grace_seconds)


def _credential_factory(connection: Connection, settings: Settings,
                        env: Mapping[str, str]) -> Callable[[], Any]:
    auth = connection.auth or "default"

    def make() -> Any:
        from azure import identity

        if auth == "managed_identity":
            return identity.ManagedIdentityCredential(
                client_id=connection.client_id or settings.azure_client_id or None)
        if auth == "service_principal":
            setting = connection.client_secret_setting or ""
            secret = env.get(setting, "")
            if not secret:
                raise AuthFailed(f"app setting {setting} (the client secret) is not set",
                                 hint="add it to the app settings (a Key Vault reference in "
                                      "Azure), never to the flow files")
            return identity.ClientSecretCredential(connection.tenant_id, connection.client_id,
                                                   secret)
        return identity.DefaultAzureCredential(
            managed_identity_client_id=settings.azure_client_id or None)

    return make
