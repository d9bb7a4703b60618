"""Files a run writes while it runs, removed when it ends.

A large result's CSV (`kusto.visualize`, `kusto.command`) is not kept in memory as
bytes: `RunFiles.spool()` gives a `SpooledFile` that holds what is written in memory
up to `SPOOL_THRESHOLD` (1 MiB) and past it moves to a file of the run, and
`SpooledFile.attachment()` gives an `Attachment` of either kind (in memory, or
`Attachment.from_file`). Consumers read a file-backed attachment only when they need
its bytes, streaming where they can (blob upload, zip, base64).

`RunFiles` is one run's folder, made on first use under the system's temporary
directory (`TMPDIR`, `/tmp` on Linux) as `kusto-flows-<run id>-*`; the runner removes
it with everything in it when the run ends, however it ends (succeeded, failed, timed
out, waiting: a resumed run reads its results again). A file-backed attachment kept
after its run still knows its name, type and size; reading it raises `AttachmentGone`.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .errors import KustoFlowsError
from .mail.message import Attachment

__all__ = ["SPOOL_THRESHOLD", "RunFileFailed", "RunFiles", "SpooledFile"]

#: Bytes a spooled file keeps in memory before it moves to a file of the run.
SPOOL_THRESHOLD = 1 << 20

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class RunFileFailed(KustoFlowsError, http_status=507):
    """A run's temporary file could not be made or written (the disk is full, the
    temporary folder is not writable)."""

    def __init__(self, name: str, error: OSError) -> None:
        super().__init__(
            f"the run's temporary file for {name} could not be written in "
            f"{tempfile.gettempdir()}: {error.strerror or error}",
            hint="free space in the temporary folder (TMPDIR), or make the query return "
                 "less: project fewer columns, aggregate, filter by time")


class RunFiles:
    """The temporary files of one run: a folder made on first use, removed (with
    everything in it) by `remove()`. Safe to use from concurrent steps."""

    def __init__(self, run_id: str = "") -> None:
        self._label = _UNSAFE.sub("-", run_id)[:16] or "run"
        self._lock = threading.Lock()
        self._folder: Path | None = None

    @property
    def folder(self) -> Path | None:
        """The run's folder, None until a file is made in it (or after `remove()`)."""
        return self._folder

    def new_file(self, name: str) -> tuple[Path, BinaryIO]:
        """A new, empty file of the run whose name ends with *name*, open for writing."""
        try:
            with self._lock:
                if self._folder is None:
                    self._folder = Path(tempfile.mkdtemp(prefix=f"kusto-flows-{self._label}-"))
                descriptor, path = tempfile.mkstemp(dir=self._folder,
                                                    suffix="-" + _UNSAFE.sub("_", name)[-60:])
        except OSError as exc:
            raise RunFileFailed(name, exc) from exc
        return Path(path), os.fdopen(descriptor, "wb")

    def spool(self, name: str, content_type: str,
              threshold: int = SPOOL_THRESHOLD) -> SpooledFile:
        """A `SpooledFile` for the attachment *name* of *content_type*."""
        return SpooledFile(self, name, content_type, threshold)

    def remove(self) -> None:
        """Remove the run's folder and its files (nothing to do if none was made)."""
        with self._lock:
            folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


class SpooledFile:
    """The bytes of the attachment *name*, written a piece at a time: in memory up to
    *threshold*, then in a new file of *files*. Use it as a context manager: leaving it
    closes the file, and removes it when an exception leaves it; `attachment()` ends
    the writing."""

    def __init__(self, files: RunFiles, name: str, content_type: str,
                 threshold: int = SPOOL_THRESHOLD) -> None:
        self._files = files
        self.name = name
        self.content_type = content_type
        self._threshold = threshold
        self._memory: io.BytesIO | None = io.BytesIO()
        self._path: Path | None = None
        self._file: BinaryIO | None = None
        self.size = 0

    def write(self, data: bytes) -> None:
        """Add *data*; `RunFileFailed` when the file cannot be written."""
        self.size += len(data)
        try:
            if self._file is not None:
                self._file.write(data)
                return
            if self._memory is None:
                raise ValueError("write to a spooled file after it ended")
            self._memory.write(data)
            if self._memory.tell() > self._threshold:
                self._path, self._file = self._files.new_file(self.name)
                self._file.write(self._memory.getbuffer())
                self._memory = None
        except OSError as exc:
            raise RunFileFailed(self.name, exc) from exc

    def attachment(self) -> Attachment:
        """What was written: in memory, or backed by the file. Ends the writing."""
        if self._memory is not None:
            data, self._memory = self._memory.getvalue(), None
            return Attachment(self.name, self.content_type, data)
        if self._file is None or self._path is None:
            raise ValueError("a spooled file's attachment is taken once")
        try:
            self._file.close()
        except OSError as exc:
            raise RunFileFailed(self.name, exc) from exc
        path, self._file, self._path = self._path, None, None  # the run's now
        return Attachment.from_file(self.name, self.content_type, path)

    def discard(self) -> None:
        """End the writing and remove what was written."""
        self._memory = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None

    def __enter__(self) -> SpooledFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if error is not None:
            self.discard()
        elif self._file is not None:
            self._file.close()
            self._file = None
