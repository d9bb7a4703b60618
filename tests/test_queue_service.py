"""The queue SDK the app uses (azure-storage-queue) works against the test session's
Azurite queue service, with the message encoding and the redelivery behaviour the
queued runs rely on.

Why: every run becomes a small JSON message on the `flow-runs` queue, read by a
queue-triggered function. The Functions host expects base64 message bodies by default
(`messageEncoding` in host.json), retries a failed message once its visibility timeout
runs out and counts the attempts in `dequeue_count` (past `maxDequeueCount` it moves the
message to `flow-runs-poison`), and a delayed run is a message sent with a
`visibility_timeout`. These tests check that the emulator the queue tests stand on
behaves that way, through the real SDK, so the tests of the queued-run code can trust it.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import pytest
from azure.storage.queue import (
    QueueClient,
    QueueMessage,
    QueueServiceClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from tests.fixtures_azurite import ACCOUNT, Azurite

RUN = {"flow": "storm-daily-report", "run_id": "r-0001", "inputs": {"state": "TEXAS"}}


def _client(service: Azurite, name: str, *, encoded: bool = True) -> QueueClient:
    """A client of queue `name`; `encoded`: base64 bodies, as the Functions host expects."""
    if encoded:
        return QueueClient.from_connection_string(
            service.connection_string, name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy())
    return QueueClient.from_connection_string(service.connection_string, name)


@pytest.fixture
def queue(azurite_queue: Azurite) -> Iterator[QueueClient]:
    """A new, empty queue of its own on the session's emulator (base64 bodies)."""
    client = _client(azurite_queue, f"test-{uuid.uuid4().hex[:16]}")
    client.create_queue()
    try:
        yield client
    finally:
        client.delete_queue()
        client.close()


def _receive_within(queue: QueueClient, seconds: float,
                    visibility_timeout: int = 30) -> QueueMessage | None:
    """The first message to become visible within `seconds` (None if none did)."""
    deadline = time.monotonic() + seconds
    while True:
        message = queue.receive_message(visibility_timeout=visibility_timeout)
        if message is not None or time.monotonic() > deadline:
            return message
        time.sleep(0.1)


def test_the_connection_string_names_the_emulators_queue_endpoint(azurite_queue):
    assert azurite_queue.url == f"http://127.0.0.1:{azurite_queue.port}/{ACCOUNT}"
    assert f"QueueEndpoint={azurite_queue.url};" in azurite_queue.connection_string
    assert f"AccountName={ACCOUNT};" in azurite_queue.connection_string


def test_a_created_queue_is_listed_and_starts_empty(azurite_queue, queue):
    with QueueServiceClient.from_connection_string(azurite_queue.connection_string) as svc:
        listed = [q.name for q in svc.list_queues(name_starts_with=queue.queue_name)]
    assert listed == [queue.queue_name]
    assert queue.get_queue_properties().approximate_message_count == 0
    assert queue.peek_messages() == []


def test_a_message_sent_base64_encoded_is_read_back_as_the_same_json(queue):
    queue.send_message(json.dumps(RUN))
    message = queue.receive_message()
    assert message is not None
    assert json.loads(message.content) == RUN
    assert message.dequeue_count == 1


def test_the_stored_body_is_base64_as_the_functions_host_expects(azurite_queue, queue):
    queue.send_message(json.dumps(RUN))
    with _client(azurite_queue, queue.queue_name, encoded=False) as raw:
        stored = raw.peek_messages()
    assert len(stored) == 1
    body = stored[0].content
    assert body != json.dumps(RUN)
    assert json.loads(base64.b64decode(body, validate=True)) == RUN


def test_a_message_not_deleted_comes_back_after_its_visibility_timeout_with_a_higher_count(
        queue):
    queue.send_message(json.dumps(RUN))
    first = queue.receive_message(visibility_timeout=1)
    assert first is not None and first.dequeue_count == 1
    # Hidden while the first receiver holds it...
    assert queue.receive_message(visibility_timeout=1) is None
    # ...and delivered again once that lapses, as the host retries a failed invocation.
    second = _receive_within(queue, 5, visibility_timeout=1)
    assert second is not None
    assert second.id == first.id
    assert second.dequeue_count == 2
    assert json.loads(second.content) == RUN
    third = _receive_within(queue, 5, visibility_timeout=30)
    assert third is not None and third.dequeue_count == 3


def test_a_deleted_message_is_not_delivered_again(queue):
    queue.send_message(json.dumps(RUN))
    message = queue.receive_message(visibility_timeout=1)
    assert message is not None
    queue.delete_message(message)
    time.sleep(1.5)
    assert queue.receive_message() is None
    assert queue.get_queue_properties().approximate_message_count == 0


def test_a_message_sent_with_a_visibility_timeout_is_delivered_only_after_it(queue):
    sent_at = time.monotonic()
    queue.send_message(json.dumps(RUN), visibility_timeout=2)
    assert queue.receive_message() is None
    assert queue.peek_messages() == []  # peek does not see it either
    message = _receive_within(queue, 6)
    waited = time.monotonic() - sent_at
    assert message is not None
    assert json.loads(message.content) == RUN
    assert message.dequeue_count == 1
    # Azurite counts in whole seconds: allow for the clock tick the send fell in.
    assert waited >= 1.0, f"delivered after {waited:.2f}s, before its 2 s delay"
