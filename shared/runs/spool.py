"""The spool: run-store writes that could not be delivered yet, kept as JSON files.

One file per write, named so that sorting the names gives the order they were
made in (nanosecond clock, kept monotonic within the process, then a counter).
Each file is written to a hidden temporary name, fsynced and renamed into place,
so a crash never leaves half a record. A write that can never succeed (the store
refused it as invalid) is parked in `failed/` beside the spool, with the error, and
logged: nothing is dropped silently.

The folder may itself be unusable (read-only, full, or a path that cannot be
created): `put` then raises and leaves no temporary file behind, `pending` reads
a folder it cannot list as empty, `writable` tells whether delivered writes could
be removed, and `exclusive` still works on a read-only folder. What happens to a
write the spool cannot take is `resilient.py`'s business.

Files hold what the write needs to be replayed: the run (as `RunResult.to_dict`
plus the trigger body) and, for a step, the step and its position in `run.steps`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from shared.results import RunResult, RunStatus, StepError, StepResult, StepStatus
from shared.runs.records import step_order

__all__ = ["Spool", "decode_write", "encode_write"]

_FORMAT = 1


def _step_to_json(step: StepResult) -> dict[str, Any]:
    return step.to_dict()


def _step_from_json(data: dict[str, Any]) -> StepResult:
    return StepResult(
        path=str(data["path"]),
        action=str(data.get("action", "")),
        status=StepStatus(data["status"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        duration_ms=float(data.get("duration_ms", 0.0)),
        summary=str(data.get("summary", "")),
        error=StepError.from_dict(data["error"]) if data.get("error") else None,
    )


def _run_to_json(run: RunResult, steps: list[StepResult]) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "flow": run.flow,
        "trigger_kind": run.trigger_kind,
        "started_at": run.started_at.isoformat(),
        "status": str(run.status),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "steps": [_step_to_json(s) for s in steps],
        "trigger_body": run.trigger_body,
        "resubmitted_from": run.resubmitted_from,
    }


def _run_from_json(data: dict[str, Any]) -> RunResult:
    return RunResult(
        run_id=str(data["run_id"]),
        flow=str(data["flow"]),
        trigger_kind=str(data.get("trigger_kind", "")),
        started_at=datetime.fromisoformat(data["started_at"]),
        status=RunStatus(data["status"]),
        ended_at=datetime.fromisoformat(data["ended_at"]) if data.get("ended_at") else None,
        steps=[_step_from_json(s) for s in data.get("steps", [])],
        trigger_body=data.get("trigger_body"),
        resubmitted_from=str(data.get("resubmitted_from", "")),
    )


def encode_write(op: str, run: RunResult, step: StepResult | None = None) -> dict[str, Any]:
    """A write as JSON-able data. A step write keeps only the step and its position:
    the run's other steps do not matter to it, and copying them into every spooled
    step would grow the spool with the square of a foreach's size."""
    if op != "record_step":
        return {"format": _FORMAT, "op": op, "run": _run_to_json(run, run.steps)}
    assert step is not None
    position = step_order(run, step)
    return {"format": _FORMAT, "op": op, "run": _run_to_json(run, []),
            "step": _step_to_json(step), "position": position}


def decode_write(data: dict[str, Any]) -> tuple[str, RunResult, StepResult | None]:
    """(op, run, step) from `encode_write`'s data. For a step, the run's step list is
    rebuilt so that the step sits at its original position (earlier places hold
    stand-ins: nothing but the position is read from them)."""
    op = str(data["op"])
    if op not in ("start_run", "record_step", "finish_run"):
        raise ValueError(f"unknown spooled write {op!r}")
    run = _run_from_json(data["run"])
    if op != "record_step":
        return op, run, None
    step = _step_from_json(data["step"])
    position = int(data["position"])
    run.steps = [StepResult(path=f"<earlier step {i}>", action="", status=StepStatus.SKIPPED,
                            started_at=run.started_at) for i in range(position)] + [step]
    return op, run, step


class Spool:
    """A folder of pending writes (created on first use)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.failed_directory = self.directory / "failed"
        self._lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._last_ns = 0
        self._counter = 0

    def _name(self) -> str:
        with self._lock:
            now = max(time.time_ns(), self._last_ns + 1)
            self._last_ns = now
            self._counter += 1
            return f"{now:020d}-{os.getpid()}-{self._counter:06d}.json"

    @staticmethod
    def _write_atomic(path: Path, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        Spool._write_bytes(path, data)

    @staticmethod
    def _write_bytes(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            # A full disk fails mid-write: a half file must not keep the space.
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def put(self, payload: dict[str, Any]) -> Path:
        path = self.directory / self._name()
        self._write_atomic(path, payload)
        return path

    def replace(self, path: Path, payload: dict[str, Any]) -> None:
        """Put *payload* in *path*'s place in the order (the same name). On a full
        disk the old file's room is what lets the new one in, so the old file goes
        first; if the new one still does not fit, the old one is put back and the
        error raised."""
        old = path.read_bytes()
        path.unlink()
        try:
            self._write_atomic(path, payload)
        except BaseException:
            with contextlib.suppress(OSError):
                self._write_bytes(path, old)
            raise

    def pending(self) -> list[Path]:
        """Spooled writes, oldest first (none when the folder is missing or cannot be
        listed: not there, under a file, no permission)."""
        try:
            names = sorted(e.name for e in os.scandir(self.directory)
                           if e.is_file() and e.name.endswith(".json")
                           and not e.name.startswith("."))
        except OSError:
            return []
        return [self.directory / name for name in names]

    def writable(self) -> bool:
        """Whether files can be removed from (and added to) the folder: False on a
        read-only file system or without permission. A full disk still says True:
        removing a delivered write works there, adding one fails in `put`."""
        return os.access(self.directory, os.W_OK | os.X_OK)

    def __len__(self) -> int:
        return len(self.pending())

    @staticmethod
    def load(path: Path) -> dict[str, Any]:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict):
            raise ValueError("not a spooled write")
        return data

    @staticmethod
    def done(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def park(self, path: Path, reason: str) -> Path:
        """Move a spooled write that can never succeed to `failed/`, with *reason*."""
        target = self.failed_directory / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        target.with_suffix(".error.txt").write_text(reason + "\n", encoding="utf-8")
        return target

    def park_payload(self, payload: dict[str, Any], reason: str) -> Path:
        target = self.failed_directory / self._name()
        self._write_atomic(target, {**payload, "error": reason})
        return target

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held while replaying, so two processes sharing the folder never replay
        the same writes out of order (POSIX file lock; a thread lock elsewhere)."""
        with self._replay_lock:
            try:
                import fcntl
            except ImportError:  # Windows: one process per spool folder
                yield
                return
            handle: BinaryIO | None = None
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                handle = open(self.directory / ".lock", "a+b")
            except OSError:  # a read-only folder: an existing lock file still locks
                with contextlib.suppress(OSError):
                    handle = open(self.directory / ".lock", "rb")
            if handle is None:  # no lock file and none can be made: this process only
                yield
                return
            with handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
