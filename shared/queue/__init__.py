"""Queued runs: every run a small JSON message on the Storage queue `flow-runs`,
executed by the queue-triggered function `run_queued_flow`; the Functions host does
the leases, visibility time-outs, retries and the poison queue.

Modules: `message` (what a message holds), `client` (sending to the queue).
"""

from shared.queue.client import POISON_QUEUE, RUN_QUEUE, RunQueue, StorageRunQueue, queue_for
from shared.queue.message import RunMessage

__all__ = ["POISON_QUEUE", "RUN_QUEUE", "RunMessage", "RunQueue", "StorageRunQueue",
           "queue_for"]
