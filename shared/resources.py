"""The process-wide clients a run uses, owned by the service and handed to steps
through their context: a Kusto backend per connection, the mail sender with its
credential, and the run store. Nothing below the service reads the environment:
what these need comes from `Settings` (secrets by app-setting name included).

Each is made on first use and reused across runs, so a warm Functions instance keeps
its HTTP sessions and token caches; `close()` releases them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from .errors import FlowInvalid
from .settings import Settings

if TYPE_CHECKING:
    from .kusto.backend import KustoBackend
    from .mail.sender import MailSender
    from .model import AnyConnection, Connection, SqlConnection
    from .queue import RunQueue
    from .runs import RunStore
    from .state import StateStore

__all__ = ["Resources"]

T = TypeVar("T")


class Resources:
    def __init__(self, settings: Settings, connections: Mapping[str, AnyConnection],
                 store: RunStore | None = None, queue: RunQueue | None = None) -> None:
        self.settings = settings
        # A dict is copied; the loader's connections from the flow cache (parsed on
        # first use) are kept as they are.
        self.connections = dict(connections) if isinstance(connections, dict) else connections
        self.store = store
        #: The run queue: runs are queued when there is one (the Functions app with
        #: storage), inline otherwise (the CLI, the embedded default).
        self.queue = queue
        self._backends: dict[tuple[Any, ...], KustoBackend] = {}
        self._mail: MailSender | None = None
        self._state: StateStore | None = None
        self._clients: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    @overload
    def connection(self, name: str) -> AnyConnection: ...

    @overload
    def connection(self, name: str, family: Literal["kusto"]) -> Connection: ...

    @overload
    def connection(self, name: str, family: Literal["sql"]) -> SqlConnection: ...

    def connection(self, name: str, family: str | None = None) -> AnyConnection:
        """The connection *name* (a Kusto or a SQL one); with *family*, refused unless
        it is of that family ("kusto" or "sql")."""
        try:
            found = self.connections[name]
        except KeyError:
            raise FlowInvalid(f"unknown connection '{name}'",
                              hint="add it to flows/connections.yaml") from None
        from .model import wrong_connection

        refusal = wrong_connection(name, found, family) if family else None
        if refusal:
            raise FlowInvalid(refusal, hint="name another connection in the step, or add "
                                            "one to flows/connections.yaml")
        return found

    def kusto(self, connection: Connection) -> KustoBackend:
        from .kusto.connections import build_backend, connection_key

        key = connection_key(connection)
        with self._lock:
            backend = self._backends.get(key)
            if backend is None:
                backend = self._backends[key] = build_backend(connection, self.settings)
            return backend

    def mail_sender(self) -> MailSender:
        with self._lock:
            if self._mail is None:
                from .mail.sender import mail_sender_for

                self._mail = mail_sender_for(self.settings)
            return self._mail

    def client(self, key: Hashable, make: Callable[[], T]) -> T:
        """The process-wide client under *key*, made by *make* on first use (an HTTP
        session, a SQL engine, a blob service client): what an action needs that is
        not built in here. A client with a `close()` is closed by `close()`."""
        with self._lock:
            if key not in self._clients:
                self._clients[key] = make()
            return cast(T, self._clients[key])

    def state(self) -> StateStore:
        """The state store (step journal, leases), opened on first use."""
        with self._lock:
            if self._state is None:
                from .state import open_state_store

                self._state = open_state_store(self.settings)
            return self._state

    def close(self) -> None:
        """Release the clients and close the stores and the queue."""
        with self._lock:
            mail, self._mail = self._mail, None
            state, self._state = self._state, None
            clients, self._clients = list(self._clients.values()), {}
            self._backends.clear()
        for closable in (mail, state, self.store, self.queue, *clients):
            close = getattr(closable, "close", None)
            if callable(close):
                close()
