"""A local SQLite file shared by threads (and processes): the local run store's and
the local state store's.

The file is in WAL mode (readers never wait for a writer), each call opens its own
connection (`open`), commits sync at checkpoints only (`synchronous=NORMAL`: a process
that dies keeps every committed write; only the machine losing power can lose the
last ones), and one more connection stays open, idle, from the first call until
`close()`: while it holds the WAL open, a call's connection closes without
checkpointing the log into the file and deleting it (what the last connection to
close does), so a write costs about a tenth of the time (`benchmarks/bench_load.py`);
SQLite still checkpoints as the log grows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

__all__ = ["WalFile"]


class WalFile:
    """The SQLite file at *path*; *prepare* makes its tables (on first use, with its
    folder)."""

    def __init__(self, path: Path, prepare: Callable[[sqlite3.Connection], None], *,
                 timeout: float) -> None:
        self.path = path
        self._prepare = prepare
        self._timeout = timeout
        self._lock = threading.Lock()
        self._keeper: sqlite3.Connection | None = None

    @contextmanager
    def open(self, **options: Any) -> Iterator[sqlite3.Connection]:
        """A connection of its own for one call (*options*: `sqlite3.connect`'s),
        closed after it."""
        if self._keeper is None:
            self._start()
        with closing(sqlite3.connect(self.path, timeout=self._timeout, **options)) as conn:
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn

    def close(self) -> None:
        """Close the idle connection; the next call opens another."""
        with self._lock:
            keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.close()

    def _start(self) -> None:
        with self._lock:
            if self._keeper is not None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=self._timeout,
                                         isolation_level=None)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                self._prepare(conn)
            keeper = sqlite3.connect(self.path, timeout=self._timeout, check_same_thread=False)
            try:  # a read opens the WAL; the connection then keeps it open
                keeper.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except BaseException:
                keeper.close()
                raise
            self._keeper = keeper
