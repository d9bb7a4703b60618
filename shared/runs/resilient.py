"""`ResilientStore`: a run store whose writes never fail the run.

Writes (`start_run`, `record_step`, `finish_run`) are tried, retried with
exponential backoff on transient errors, and if the store is still down, kept in a
spool folder (`spool.py`) and logged as a warning, never raised: a report is not
failed because its history could not be written. Every later write first replays
the spool in order, and goes to the spool too while older writes are still
waiting, so a replayed `start_run` can never overwrite a newer `finish_run`.
`flush()` replays on demand (the cleanup timer and the API call it).

After a failure, further writes go straight to the spool for a short cool-down
(the last backoff) instead of each waiting on a store that just failed.

A write the store refuses as invalid (HTTP 400, 413, a bug) is not retried; it is
parked in `<spool>/failed/` with the error and logged as an error.

Reads pass through (after a quiet attempt to deliver the spool, so a reader sees
its own writes) and raise `RunStoreUnavailable` if the store is down.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from shared.results import RunResult, StepResult
from shared.runs.spool import Spool, decode_write, encode_write
from shared.runs.store import RunPage, RunRecord, RunStore, RunStoreUnavailable, StepRecord

__all__ = ["ResilientStore", "is_transient"]

logger = logging.getLogger("shared.runs")
T = TypeVar("T")

_TRANSIENT_STATUS = {401, 403, 408, 429}  # auth may be fixed (RBAC propagating)
_TRANSIENT_NAMES = {"ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
                    "ServiceResponseTimeoutError", "IncompleteReadError"}


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed: the store unreachable, overloaded,
    failing on its side or refusing our credentials for now. A request it rejects
    as invalid (other 4xx) or a bug (TypeError, ValueError, ...) is not."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status >= 500 or status in _TRANSIENT_STATUS
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    if type(exc).__name__ == "HttpResponseError":  # no status: no response at all
        return True
    return isinstance(exc, OSError | TimeoutError | sqlite3.OperationalError)


class ResilientStore:
    """Wraps any `RunStore`: writes are retried, then spooled; reads pass through."""

    def __init__(self, inner: RunStore, spool_dir: Path | str, retries: int = 3,
                 backoff: float = 0.2, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.inner = inner
        self.spool = Spool(spool_dir)
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self._sleep = sleep
        self._cooldown = self.backoff * (2 ** self.retries)
        self._retry_after = 0.0  # monotonic time before which writes go to the spool
        self._pending: bool | None = None  # None: look at the folder once
        self._state_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ResilientStore({self.inner!r}, spool={str(self.spool.directory)!r})"

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> ResilientStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pending(self) -> int:
        """How many writes wait in the spool."""
        return len(self.spool)

    # -- writes ----------------------------------------------------------------

    def start_run(self, run: RunResult) -> None:
        self._write("start_run", run)

    def record_step(self, run: RunResult, step: StepResult) -> None:
        self._write("record_step", run, step)

    def finish_run(self, run: RunResult) -> None:
        self._write("finish_run", run)

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

    def _write(self, op: str, run: RunResult, step: StepResult | None = None) -> None:
        what = f"{op} of run {run.run_id} ({run.flow})"
        try:
            if self._has_pending():
                self._flush(respect_cooldown=True)
                if self._has_pending():
                    self._to_spool(op, run, step, what, "earlier writes are still waiting")
                    return
            self._attempt(lambda: self._apply(op, run, step), what)
        except Exception as exc:
            if is_transient(exc):
                self._mark_down()
                self._to_spool(op, run, step, what, f"{type(exc).__name__}: {exc}")
            else:
                self._park(op, run, step, what, exc)

    def _attempt(self, call: Callable[[], None], what: str) -> None:
        """*call*, retried with exponential backoff while it fails transiently."""
        for attempt in range(self.retries + 1):
            try:
                call()
                return
            except Exception as exc:
                if not is_transient(exc) or attempt == self.retries:
                    raise
                delay = self.backoff * (2 ** attempt)
                logger.info("run store: %s failed (%s), retrying in %.2fs", what, exc, delay)
                self._sleep(delay)

    def _mark_down(self) -> None:
        with self._state_lock:
            self._retry_after = time.monotonic() + self._cooldown

    def _to_spool(self, op: str, run: RunResult, step: StepResult | None, what: str,
                  reason: str) -> None:
        try:
            path = self.spool.put(encode_write(op, run, step))
        except Exception:
            logger.exception("run store: %s could neither be written (%s) nor spooled to "
                             "%s: this record is lost", what, reason, self.spool.directory)
            return
        with self._state_lock:
            self._pending = True
        logger.warning("run store unavailable (%s): %s kept in the spool as %s; it is "
                       "written when the store is back", reason, what, path)

    def _park(self, op: str, run: RunResult, step: StepResult | None, what: str,
              exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        try:
            path = self.spool.park_payload(encode_write(op, run, step), reason)
        except Exception:
            logger.exception("run store refused %s (%s) and it could not be parked: this "
                             "record is lost", what, reason)
            return
        logger.error("run store refused %s (%s); the write is parked in %s for a look",
                     what, reason, path)

    def flush(self) -> int:
        """Replay spooled writes in order now; returns how many were delivered. Stops
        at the first one the store still cannot take (it stays spooled)."""
        return self._flush(respect_cooldown=False)

    def _flush(self, *, respect_cooldown: bool) -> int:
        if respect_cooldown and time.monotonic() < self._retry_after:
            return 0
        if not self.spool.pending():
            with self._state_lock:
                self._pending = False
            return 0
        delivered = 0
        with self.spool.exclusive():
            while True:
                paths = self.spool.pending()
                if not paths:
                    break
                for path in paths:
                    if not path.exists():  # another process delivered it meanwhile
                        continue
                    try:
                        op, run, step = decode_write(self.spool.load(path))
                    except Exception as exc:
                        target = self.spool.park(path, f"unreadable spool file: {exc}")
                        logger.error("run store: unreadable spool file parked as %s (%s)",
                                     target, exc)
                        continue
                    what = f"spooled {op} of run {run.run_id} ({run.flow})"
                    try:
                        self._apply(op, run, step)
                    except Exception as exc:
                        if is_transient(exc):
                            self._mark_down()
                            logger.warning("run store still unavailable (%s): %d writes "
                                           "stay spooled", exc, len(self.spool.pending()))
                            return delivered
                        target = self.spool.park(path, f"{type(exc).__name__}: {exc}")
                        logger.error("run store refused %s (%s); parked as %s", what, exc,
                                     target)
                        continue
                    self.spool.done(path)
                    delivered += 1
            with self._state_lock:
                self._pending = False
                self._retry_after = 0.0
        if delivered:
            logger.info("run store: delivered %d spooled writes", delivered)
        return delivered

    # -- reads -----------------------------------------------------------------

    def _read(self, call: Callable[[], T]) -> T:
        if self._has_pending():
            try:
                self._flush(respect_cooldown=True)
            except Exception:
                logger.debug("run store: flush before read failed", exc_info=True)
        try:
            return call()
        except Exception as exc:
            if is_transient(exc):
                raise RunStoreUnavailable(
                    f"the run history is unavailable right now ({type(exc).__name__}: "
                    f"{exc}); try again shortly") from exc
            raise

    def list_runs(self, flow: str, *, top: int = 50, status: str | None = None,
                  continuation: str | None = None) -> RunPage:
        return self._read(lambda: self.inner.list_runs(
            flow, top=top, status=status, continuation=continuation))

    def get_run(self, flow: str, run_id: str) -> tuple[RunRecord, list[StepRecord]] | None:
        return self._read(lambda: self.inner.get_run(flow, run_id))

    def last_run(self, flow: str) -> RunRecord | None:
        return self._read(lambda: self.inner.last_run(flow))

    def delete_older_than(self, cutoff: datetime, *, page_size: int = 100) -> int:
        return self._read(lambda: self.inner.delete_older_than(cutoff, page_size=page_size))
