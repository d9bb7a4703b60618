"""`SpoolReplay`, the base of `ResilientStore` (`resilient.py`): the wrapped store,
its spool, whether writes wait there, the cool-down after a failure, and replaying
the spool in order (`flush`), so that a spooled `start_run` never overwrites a run
the store already has as finished.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from shared.results import RunResult, RunStatus, StepResult
from shared.runs.spool import Spool, decode_write
from shared.runs.store import RunStore
from shared.runs.transient import is_transient

__all__ = ["SpoolReplay"]

logger = logging.getLogger("shared.runs")

#: Stored statuses a replayed `start_run` may overwrite (Abandoned is a Running
#: record read late; Queued comes before the start).
_NOT_PAST_START = {str(RunStatus.RUNNING), str(RunStatus.ABANDONED), "Queued"}


class SpoolReplay:
    """A `RunStore` and the spool of the writes it could not take yet: replaying them."""

    def __init__(self, inner: RunStore, spool_dir: Path | str, cooldown: float) -> None:
        self.inner = inner
        self.spool = Spool(spool_dir)
        self._cooldown = cooldown
        self._retry_after = 0.0  # monotonic time before which writes go to the spool
        self._pending: bool | None = None  # None: look at the folder once
        self._state_lock = threading.Lock()

    def _apply(self, op: str, run: RunResult, step: StepResult | None) -> None:
        if op == "start_run":
            self.inner.start_run(run)
        elif op == "record_step":
            assert step is not None
            self.inner.record_step(run, step)
        else:
            self.inner.finish_run(run)

    def _has_pending(self) -> bool:
        with self._state_lock:
            if self._pending is None:
                self._pending = bool(self.spool.pending())
            return self._pending

    def _cooling_down(self) -> bool:
        return time.monotonic() < self._retry_after

    def _mark_down(self) -> None:
        with self._state_lock:
            self._retry_after = time.monotonic() + self._cooldown

    def _try_flush(self) -> None:
        """Replay the spool if the store is not cooling down; a spool that cannot be
        replayed is logged, never raised (the write goes on)."""
        try:
            self._flush(respect_cooldown=True)
        except Exception as exc:
            self._mark_down()
            logger.warning("run store: the spool %s could not be replayed (%s: %s)",
                           self.spool.directory, type(exc).__name__, exc)

    def flush(self) -> int:
        """Replay spooled writes in order now; returns how many were delivered. Stops
        at the first one the store still cannot take (it stays spooled)."""
        return self._flush(respect_cooldown=False)

    def _flush(self, *, respect_cooldown: bool) -> int:
        if respect_cooldown and self._cooling_down():
            return 0
        if not self.spool.pending():
            with self._state_lock:
                self._pending = False
            return 0
        if not self.spool.writable():
            # Delivered writes could not be removed, so each replay would send them
            # again: they wait until the folder is writable (new writes go straight
            # to the store meanwhile).
            self._mark_down()
            logger.warning("run store: the spool %s is not writable: its %d writes wait "
                           "until it is", self.spool.directory, len(self.spool.pending()))
            return 0
        delivered = 0
        try:
            with self.spool.exclusive():
                while paths := self.spool.pending():
                    for path in paths:
                        outcome = self._replay(path)
                        if outcome is None:  # the store is still down: the rest wait
                            return delivered
                        delivered += outcome
                with self._state_lock:
                    self._pending = False
                    self._retry_after = 0.0
        except OSError as exc:  # the spool's own disk (removing or parking a file)
            self._mark_down()
            logger.warning("run store: replaying the spool %s stopped after %d writes (%s: "
                           "%s); the rest wait", self.spool.directory, delivered,
                           type(exc).__name__, exc)
            return delivered
        if delivered:
            logger.info("run store: delivered %d spooled writes", delivered)
        return delivered

    def _replay(self, path: Path) -> int | None:
        """Deliver one spooled write: 1 when delivered, 0 when it is gone otherwise
        (delivered by another process, skipped, parked), None when the store is still
        down (it stays). OSError when the spool's own disk fails."""
        if not path.exists():  # another process delivered it meanwhile
            return 0
        try:
            op, run, step = decode_write(self.spool.load(path))
        except Exception as exc:
            target = self.spool.park(path, f"unreadable spool file: {exc}")
            logger.error("run store: unreadable spool file parked as %s (%s)", target, exc)
            return 0
        what = f"spooled {op} of run {run.run_id} ({run.flow})"
        skip = False
        try:
            skip = op == "start_run" and self._finished_in_store(run)
            if not skip:
                self._apply(op, run, step)
        except Exception as exc:
            if is_transient(exc):
                self._mark_down()
                logger.warning("run store still unavailable (%s): %d writes stay spooled",
                               exc, len(self.spool.pending()))
                return None
            target = self.spool.park(path, f"{type(exc).__name__}: {exc}")
            logger.error("run store refused %s (%s); parked as %s", what, exc, target)
            return 0
        self.spool.done(path)
        if skip:
            logger.info("run store: %s skipped: the store already has the run finished", what)
            return 0
        return 1

    def _finished_in_store(self, run: RunResult) -> bool:
        """Whether the store has *run* past its start (finished): a write that skipped
        the spool (it could not take it) got there before this spooled start."""
        found = self.inner.get_run(run.flow, run.run_id)
        return found is not None and str(found[0].status) not in _NOT_PAST_START
