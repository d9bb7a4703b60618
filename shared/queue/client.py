"""Sending run messages to the `flow-runs` queue with the real azure-storage-queue
SDK: the account of `AzureWebJobsStorage` (a connection string locally, Azurite's
included) or, identity-based in Azure, `AzureWebJobsStorage__queueServiceUri` with
the app's managed identity. Messages are base64 text, as the Functions host reads
them by default."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from shared.queue.message import RunMessage
from shared.settings import Settings

__all__ = ["POISON_QUEUE", "RUN_QUEUE", "RunQueue", "StorageRunQueue", "queue_for"]

RUN_QUEUE = "flow-runs"
#: Where the host moves a message that failed maxDequeueCount times (host.json).
POISON_QUEUE = f"{RUN_QUEUE}-poison"


class RunQueue(Protocol):
    def send(self, message: RunMessage, *, delay_seconds: float = 0) -> None:
        """Enqueue *message*, visible after *delay_seconds*."""

    def close(self) -> None: ...


class StorageRunQueue:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._created = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, name: str = RUN_QUEUE) -> StorageRunQueue:
        from azure.storage.queue import QueueClient, TextBase64EncodePolicy

        encode = TextBase64EncodePolicy()
        if settings.storage_connection_string:
            return cls(QueueClient.from_connection_string(
                settings.storage_connection_string, name, message_encode_policy=encode))
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        credential = (ManagedIdentityCredential(client_id=settings.azure_client_id)
                      if settings.azure_client_id else DefaultAzureCredential())
        return cls(QueueClient(settings.storage_queue_uri, name, credential=credential,
                               message_encode_policy=encode))

    def send(self, message: RunMessage, *, delay_seconds: float = 0) -> None:
        from azure.core.exceptions import ResourceExistsError

        with self._lock:
            if not self._created:
                try:
                    self._client.create_queue()
                except ResourceExistsError:
                    pass
                self._created = True
        self._client.send_message(message.to_json(),
                                  visibility_timeout=max(0, round(delay_seconds)) or None)

    def close(self) -> None:
        self._client.close()


def queue_for(settings: Settings) -> RunQueue | None:
    """The run queue of *settings*, or None when no storage is configured (the
    embedded default: runs are inline)."""
    if settings.storage_connection_string or settings.storage_queue_uri:
        return StorageRunQueue.from_settings(settings)
    return None
