"""`ResilientStore`: a run store whose writes never fail the run, and never lose it
without saying so.

Writes (`start_run`, `record_step`, `finish_run`) are tried, retried with
exponential backoff on transient errors, and if the store is still down, kept in a
spool folder (`spool.py`) and logged as a warning, never raised: a report is not
failed because its history could not be written. Every later write first replays
the spool in order, and goes to the spool too while older writes are still
waiting. `flush()` replays on demand (the cleanup timer and the API call it).

After a failure, further writes go straight to the spool for a short cool-down
(the last backoff) instead of each waiting on a store that just failed.

The spool lives on local disk (`<STATE_DIR>/spool`), and that disk can fail too
(read-only, full, a folder that cannot be created). A write is kept by the first
of these that takes it:

1. the store, with retries; while older writes wait in the spool, or the store
   failed moments ago, the spool comes first and the store gets one try after it
   (a spool on a broken disk never stops a working Table store getting the record);
2. the spool, when the store failed;
3. for a `finish_run`, which decides how the run reads back: the store once more
   (if it came first), then the place of the run's own spooled `start_run` if
   there is one (on a full disk, the start's room is what lets the finish in; left
   alone, the start would be replayed and the run read back as Running, then
   Abandoned);
4. the log: one ERROR line whose message is a JSON object (`"event":
   "run_record_not_stored"`) with the whole record as the store would have kept
   it (run id, flow, status, times, error, steps, trigger body) and why each place
   refused it, so a log search recovers the run (see `unstored_record`).

With the local SQLite store on the same broken disk, the store and the spool both
fail and every write of the run ends in the log; the run's outcome never changes.

Writing straight to the store while older writes wait in the spool could put a
`finish_run` in before its own spooled `start_run`; the replay therefore never
lets a spooled `start_run` overwrite a run the store already has as finished.

A write the store refuses as invalid (HTTP 400, 413, a bug) is not retried; it is
parked in `<spool>/failed/` with the error and logged as an error (or, if it
cannot be parked, logged as in 4).

Reads pass through (after a quiet attempt to deliver the spool, so a reader sees
its own writes) and raise `RunStoreUnavailable` if the store is down.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from shared.results import RunResult, StepResult
from shared.runs.records import encode_trigger_body, run_record, step_order, step_record
from shared.runs.spool import encode_write
from shared.runs.spool_replay import SpoolReplay
from shared.runs.store import RunPage, RunRecord, RunStore, RunStoreUnavailable, StepRecord
from shared.runs.transient import is_transient

__all__ = ["UNSTORED_EVENT", "ResilientStore", "is_transient", "unstored_record"]

logger = logging.getLogger("shared.runs")
T = TypeVar("T")

#: The `event` of the log line that carries a write nothing could keep.
UNSTORED_EVENT = "run_record_not_stored"

_CONSEQUENCE = {
    "start_run": "the run may be missing from the run history until a later write of it "
                 "is stored",
    "record_step": "this step is missing from the run's steps in the run history",
    "finish_run": "the run history keeps the run's last stored state (Running reads back "
                  "as Abandoned after the deadline) or nothing: this line holds its outcome",
}


def unstored_record(op: str, run: RunResult, step: StepResult | None,
                    reasons: list[str]) -> dict[str, Any]:
    """The log entry of a write no store or spool could keep: the record as the store
    would have kept it (texts clipped as there; the trigger body unless too large to
    keep), `op`, `reasons` and what the run history shows instead. Always `run_id`,
    `flow`, `status` (the run's status at the write: the final one for `finish_run`)
    and `steps` (every step for a start or finish; for `record_step`, that one step,
    at `position`)."""
    record = run_record(run)
    _, too_large = encode_trigger_body(run.trigger_body)
    entry: dict[str, Any] = {"event": UNSTORED_EVENT, "op": op, **record.to_dict(),
                             "trigger_body": None if too_large else run.trigger_body,
                             "trigger_body_truncated": too_large}
    if op == "record_step":
        assert step is not None
        entry["steps"] = [step_record(step).to_dict()]
        entry["position"] = step_order(run, step)
    else:
        entry["steps"] = [step_record(s).to_dict() for s in run.steps]
    entry["reasons"] = reasons
    entry["history"] = _CONSEQUENCE.get(op, "")
    return entry


class ResilientStore(SpoolReplay):
    """Wraps any `RunStore`: writes are retried, then spooled; reads pass through.
    (Replaying the spool: `SpoolReplay`.)"""

    def __init__(self, inner: RunStore, spool_dir: Path | str, retries: int = 3,
                 backoff: float = 0.2, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self._sleep = sleep
        super().__init__(inner, spool_dir, cooldown=self.backoff * (2 ** self.retries))

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
    def _write(self, op: str, run: RunResult, step: StepResult | None = None) -> None:
        what = f"{op} of run {run.run_id} ({run.flow})"
        reasons: list[str] = []
        if self._has_pending():
            self._try_flush()
        behind = self._has_pending()
        spool_first = behind or self._cooling_down()
        if spool_first:
            why = ("earlier writes are still waiting" if behind
                   else "it failed moments ago")
            problem = self._to_spool(op, run, step, what, why)
            if problem is None:
                return
            reasons.append(problem)
        try:  # no retries on a store that just failed: a run never waits on it
            self._attempt(lambda: self._apply(op, run, step), what,
                          retries=0 if spool_first else self.retries)
        except Exception as exc:
            if not is_transient(exc):
                self._park(op, run, step, what, exc, reasons)
                return
            self._mark_down()
            reasons.append(f"store: {type(exc).__name__}: {exc}")
        else:
            if reasons:
                logger.warning("run store: %s written straight to the store, as the spool "
                               "could not take it (%s)", what, reasons[0])
            return
        if not spool_first:
            problem = self._to_spool(op, run, step, what, reasons[-1])
            if problem is None:
                return
            reasons.append(problem)
            if op == "finish_run":  # the outcome: one more try before it is only logged
                try:
                    self._apply(op, run, step)
                except Exception as exc:
                    reasons.append(f"store, once more: {type(exc).__name__}: {exc}")
                else:
                    logger.warning("run store: %s written straight to the store on a second "
                                   "try, as the spool could not take it (%s)", what, problem)
                    return
        if op == "finish_run" and self._replace_spooled_start(run, what):
            return
        self._log_unstored(op, run, step, reasons)

    def _replace_spooled_start(self, run: RunResult, what: str) -> bool:
        """Put the finish in place of the run's own spooled start, if there is one:
        a finish writes the whole run row, so it stands in for the start, and on a
        full disk the start's room is what lets it in. Without this the start alone
        would be replayed, and the run read back as Running, then Abandoned."""
        try:
            with self.spool.exclusive():
                for path in self.spool.pending():
                    try:
                        data = self.spool.load(path)
                        match = (data.get("op") == "start_run"
                                 and data["run"]["run_id"] == run.run_id)
                    except Exception:
                        continue
                    if match:
                        self.spool.replace(path, encode_write("finish_run", run))
                        logger.warning("run store unavailable and the spool full: %s kept "
                                       "in the spool in place of the run's start, as %s",
                                       what, path)
                        return True
        except Exception:
            logger.debug("run store: %s could not replace its spooled start", what,
                         exc_info=True)
        return False

    def _attempt(self, call: Callable[[], None], what: str, retries: int | None = None) -> None:
        """*call*, retried with exponential backoff while it fails transiently."""
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                call()
                return
            except Exception as exc:
                if not is_transient(exc) or attempt == retries:
                    raise
                delay = self.backoff * (2 ** attempt)
                logger.info("run store: %s failed (%s), retrying in %.2fs", what, exc, delay)
                self._sleep(delay)
    def _to_spool(self, op: str, run: RunResult, step: StepResult | None, what: str,
                  reason: str) -> str | None:
        """Spool the write (None) or say why the spool could not take it."""
        try:
            path = self.spool.put(encode_write(op, run, step))
        except Exception as exc:
            logger.debug("run store: the spool %s could not take %s", self.spool.directory,
                         what, exc_info=True)
            return f"spool {self.spool.directory}: {type(exc).__name__}: {exc}"
        with self._state_lock:
            self._pending = True
        logger.warning("run store unavailable (%s): %s kept in the spool as %s; it is "
                       "written when the store is back", reason, what, path)
        return None

    def _park(self, op: str, run: RunResult, step: StepResult | None, what: str,
              exc: BaseException, reasons: list[str]) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        try:
            path = self.spool.park_payload(encode_write(op, run, step), reason)
        except Exception as park_exc:
            self._log_unstored(op, run, step, [*reasons, f"store refused it: {reason}",
                                               f"parking it failed: {type(park_exc).__name__}: "
                                               f"{park_exc}"])
            return
        logger.error("run store refused %s (%s); the write is parked in %s for a look",
                     what, reason, path)

    @staticmethod
    def _log_unstored(op: str, run: RunResult, step: StepResult | None,
                      reasons: list[str]) -> None:
        """The last resort: the whole record on one ERROR line of JSON."""
        entry = unstored_record(op, run, step, reasons)
        logger.error("%s", json.dumps(entry, ensure_ascii=False, default=str,
                                      separators=(",", ":")))
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
                  continuation: str | None = None,
                  not_after: datetime | None = None) -> RunPage:
        return self._read(lambda: self.inner.list_runs(
            flow, top=top, status=status, continuation=continuation, not_after=not_after))

    def find_run_ids(self, prefix: str) -> list[tuple[str, str]]:
        return self._read(lambda: self.inner.find_run_ids(prefix))

    def get_run(self, flow: str, run_id: str) -> tuple[RunRecord, list[StepRecord]] | None:
        return self._read(lambda: self.inner.get_run(flow, run_id))

    def last_run(self, flow: str) -> RunRecord | None:
        return self._read(lambda: self.inner.last_run(flow))

    def last_runs(self, flows: Sequence[str] | None = None) -> dict[str, RunRecord]:
        return self._read(lambda: self.inner.last_runs(flows))

    def delete_older_than(self, cutoff: datetime, *, page_size: int = 100) -> int:
        return self._read(lambda: self.inner.delete_older_than(cutoff, page_size=page_size))
