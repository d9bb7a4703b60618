"""A step's transaction on a SQL engine: bounded by the step's time-out, with the
database's errors turned into the product's (`SqlUnavailable`, `AuthFailed`,
`RequestTimeout`, `SqlQueryError`). A driver's message is kept (its first 500
characters), the statement's parameters never: SQLAlchemy's own message lists them,
and they are the data being written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import AuthFailed, KustoFlowsError, RequestTimeout
from .engines import SqlEngine
from .errors import SqlQueryError, SqlUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["transaction"]

_MESSAGE_CHARS = 500
_AUTH_WORDS = ("authentication", "login failed", "password", "no pg_hba.conf entry",
               "access token")


def _driver_message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text[:_MESSAGE_CHARS] + ("..." if len(text) > _MESSAGE_CHARS else "")


def _timed_out(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "57014":  # PostgreSQL query_canceled
        return True
    text = str(orig or exc).lower()
    return "interrupted" in text or "hyt00" in text or "query timeout expired" in text


def _timeout(seconds: float) -> RequestTimeout:
    return RequestTimeout(f"the statement ran longer than its {seconds:g} s time-out; "
                          f"nothing of the step was kept",
                          hint="write fewer rows per run, or raise limits.request_timeout")


@contextmanager
def _bounded(conn: Connection, dialect: str, seconds: float) -> Iterator[None]:
    """Statements of this transaction stop after *seconds*."""
    from sqlalchemy import text

    raw: Any = conn.connection.dbapi_connection
    if dialect == "postgresql":
        conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                     {"ms": str(max(int(seconds * 1000), 1))})
        yield
    elif dialect == "sqlite":
        deadline = time.monotonic() + seconds
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)
    else:
        # mssql-python: the query time-out of the connection's statements, in seconds.
        previous = getattr(raw, "timeout", 0)
        raw.timeout = max(int(seconds), 1)
        try:
            yield
        finally:
            raw.timeout = previous


@contextmanager
def transaction(engine: SqlEngine, seconds: float, *, what: str,
                read_only: bool = False) -> Iterator[Connection]:
    """One transaction on *engine*: committed when the block ends normally (rolled
    back instead when *read_only*), rolled back on any error."""
    from sqlalchemy import exc as sa_exc
    from sqlalchemy import text

    try:
        conn = engine.engine.connect()
    except KustoFlowsError:
        raise
    except sa_exc.DBAPIError as exc:
        message = _driver_message(exc)
        if any(word in message.lower() for word in _AUTH_WORDS):
            raise AuthFailed(f"the {engine.kind} database refused the sign-in: {message}",
                             hint="check the connection's user and auth, and the password "
                                  "setting or the identity's access") from None
        raise SqlUnavailable(f"the {engine.kind} database could not be reached: {message}",
                             hint="check server, port and database in connections.yaml and "
                                  "the server's firewall") from None
    try:
        with conn:
            conn.begin()
            if read_only and engine.dialect == "postgresql":
                conn.execute(text("SET TRANSACTION READ ONLY"))
            with _bounded(conn, engine.dialect, seconds):
                yield conn
            if read_only:
                conn.rollback()
            else:
                conn.commit()
    except KustoFlowsError:
        raise
    except sa_exc.DBAPIError as exc:
        if _timed_out(exc):
            raise _timeout(seconds) from None
        raise SqlQueryError(f"{what} failed: {_driver_message(exc)}",
                            hint="fix the statement, the table or the rows; the step's "
                                 "transaction was rolled back") from None
