"""A small stand-in for the Functions host's queue listener, for tests: it takes
messages off Azurite's `flow-runs` queue with the real azure-storage-queue SDK and
calls the app's queue-triggered function with the `QueueMessage` the Python worker
builds (`azure.functions.queue`: id, body, dequeue count). A message whose invocation
raised becomes visible again at once (the host waits host.json's visibilityTimeout);
past maxDequeueCount it is moved to `flow-runs-poison`, whose function is then called,
as the host does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from shared.queue import POISON_QUEUE, RUN_QUEUE

ROOT = Path(__file__).resolve().parents[1]
MAX_DEQUEUE_COUNT = int(json.loads((ROOT / "host.json").read_text("utf-8"))
                        ["extensions"]["queues"]["maxDequeueCount"])


def queue_client(connection_string: str, name: str) -> QueueClient:
    return QueueClient.from_connection_string(
        connection_string, name, message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy())


@dataclass
class Pump:
    connection_string: str
    functions: dict[str, Any]
    #: What each invocation did: (function name, dequeue count, error or "").
    invocations: list[tuple[str, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.runs = queue_client(self.connection_string, RUN_QUEUE)
        self.poison = queue_client(self.connection_string, POISON_QUEUE)
        for client in (self.runs, self.poison):
            try:
                client.create_queue()
            except Exception:  # exists already: empty it instead
                client.clear_messages()

    def pending(self) -> int:
        return int(self.runs.get_queue_properties().approximate_message_count)

    def step(self) -> bool:
        """Deliver one visible message, if any; True when one was delivered."""
        for client, name in ((self.runs, "run_queued_flow"),
                             (self.poison, "record_poisoned_run")):
            received = next(iter(client.receive_messages(messages_per_page=1,
                                                         visibility_timeout=60)), None)
            if received is not None:
                self._deliver(client, name, received)
                return True
        return False

    def drain(self, limit: int = 50) -> int:
        """Deliver messages until none is visible (at most *limit*)."""
        delivered = 0
        while delivered < limit and self.step():
            delivered += 1
        return delivered

    def _deliver(self, client: QueueClient, name: str, received: Any) -> None:
        message = QueueMessage(id=received.id, body=received.content.encode("utf-8"),
                                    dequeue_count=received.dequeue_count,
                                    pop_receipt=received.pop_receipt)
        try:
            self.functions[name].get_user_function()(message)
        except Exception as exc:
            self.invocations.append((name, received.dequeue_count, repr(exc)))
            if received.dequeue_count >= MAX_DEQUEUE_COUNT and name == "run_queued_flow":
                self.poison.send_message(received.content)
                client.delete_message(received)
            else:  # visible again now (the host would wait visibilityTimeout)
                client.update_message(received, visibility_timeout=0)
            return
        self.invocations.append((name, received.dequeue_count, ""))
        client.delete_message(received)
