"""The flow cache: within `flow_cache(dir)`, `load_folder` keeps each file's outcome
under *dir*, keyed by the file's bytes (SHA-256), the connections file's bytes, the
folder and the code (every `shared` source file and the installed packages): an
unchanged file is not parsed, validated or checked again. Its problems are listed from
the cache as they were; a valid one becomes a `LoadedFlow` whose `head` is known at
once and whose `flow` is read from the bytes kept in memory on first use.

The shipped cache: `python -m shared build-cache flows` (run when the deployment package
is made) checks every file of the folder and writes `flows/.flow-cache.json` beside
them: the SHA-256 and head of each valid file, and the connections. A new instance
starts with an empty `dir`; for a file `dir` does not hold, `load_folder` takes the
shipped entry when the file's bytes and the connections file's are those it was built
from (and the shipped cache was built by this code, on this Python version), so the
first start after a deployment reads no flow either. A file changed since is read and
checked as without it; a file with problems is never shipped (read and reported at
start, naming its file as this instance sees it). The shipped cache is believed as far
as the flows folder it sits in is: whoever can write one can write the other.

A start from either cache imports neither PyYAML, pydantic nor Jinja2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .flow_file import (
    FlowHead,
    LoadedFlow,
    load_connections,
    load_flow,
    load_flow_guarded,
    read_connections,
)
from .flow_problems import UNEXPECTED, FlowFileInvalid, FlowProblem, unexpected

if TYPE_CHECKING:
    from .model import AnyConnection
    from .steps import ActionRegistry

__all__ = ["CACHE_DIR", "SHIPPED_FILE", "FolderCache", "flow_cache"]

log = logging.getLogger("shared.loader")

#: The flow cache's folder while `flow_cache` is in effect (None: no cache).
CACHE_DIR: ContextVar[Path | None] = ContextVar("kusto_flows_cache_dir", default=None)
#: Bumped when what the cache holds changes meaning.
_CACHE_FORMAT = 1
#: The shipped cache's file, in the flows folder it describes (built by
#: `python -m shared build-cache`, read by `load_folder` within `flow_cache`).
SHIPPED_FILE = ".flow-cache.json"
#: Bytes read of a file before hashing it: more than a flow file may hold (yaml_lines
#: refuses files over its MAX_FILE_BYTES with their own problem); a file this long is
#: read the ordinary way, uncached.
_READ_AT_MOST = 8 * 1024 * 1024


@contextlib.contextmanager
def flow_cache(folder: Path) -> Iterator[None]:
    """Within this block, `load_folder` keeps each file's outcome in *folder* (made when
    missing) and takes unchanged files from it. A cache that cannot be read or written
    is not used: the files are read as without it."""
    token = CACHE_DIR.set(folder)
    try:
        yield
    finally:
        CACHE_DIR.reset(token)


def _read_bytes(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(_READ_AT_MOST)


@cache
def _code_key() -> str:
    """What the outcome of reading a file depends on besides its bytes: this Python,
    every source file of `shared` (size and modification time) and the installed
    distributions (pydantic, Jinja2, PyYAML, jsonschema ... by name and version)."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\0{sys.version}\0{sys.prefix}\n".encode())
    for relative, file in _source_files():
        stat = os.stat(file)
        digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            try:
                names = sorted(n for n in os.listdir(entry) if n.endswith(".dist-info"))
            except OSError:
                continue
            digest.update(f"{entry}\0{'/'.join(names)}\n".encode())
    return digest.hexdigest()


def _python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@cache
def _code_digest() -> str:
    """The code a shipped cache was built by, the same wherever the package is unpacked:
    the contents of every source file of `shared` (not their times or place, which a
    build machine and an instance do not share)."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\n".encode())
    for relative, file in _source_files():
        with open(file, "rb") as stream:
            source = stream.read()
        digest.update(f"{relative}\0{len(source)}\n".encode())
        digest.update(source)
    return digest.hexdigest()


def _source_files() -> Iterator[tuple[str, str]]:
    """Every source file of `shared`, in a fixed order: (its path in the package, with
    `/`, and its path on this machine)."""
    package = Path(__file__).resolve().parent
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                file = os.path.join(root, name)
                yield os.path.relpath(file, package).replace(os.sep, "/"), file


def _read_shipped(folder: Path) -> dict[str, Any]:
    """The shipped cache of *folder*, or {} when there is none or it cannot be used (said
    in the log: every file it would have served is then read and checked)."""
    file = folder / SHIPPED_FILE
    try:
        with file.open("rb") as stream:
            stored = json.load(stream)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("shipped flow cache %s not read (%s): every flow file is read and "
                    "checked", file, exc)
        return {}
    why = None
    if not isinstance(stored, dict):
        stored, why = {}, "not a flow cache"
    elif stored.get("format") != _CACHE_FORMAT:
        why = "written by another version of Kusto Flows"
    elif stored.get("python") != _python():
        why = f"built with Python {stored.get('python')}, this is {_python()}"
    elif stored.get("code") != _code_digest():
        why = "built by other code (the shared package differs)"
    if why is not None:
        log.warning("shipped flow cache %s not used: %s; every flow file is read and "
                    "checked (build it again with `python -m shared build-cache`)", file, why)
        return {}
    return stored


def _problem_json(problem: FlowProblem) -> list[Any]:
    return [problem.file, problem.line, problem.message, problem.step, problem.field]


def _problem_from_json(item: Any) -> FlowProblem:
    file, line, message, step, field_name = item
    if not (isinstance(file, str) and type(line) is int and isinstance(message, str)
            and isinstance(step, str) and isinstance(field_name, str)):
        raise ValueError("not a flow problem")
    return FlowProblem(file, line, message, step, field_name)


def _plain_json(value: Any) -> bool:
    """True when *value* survives JSON unchanged (str keys, no tuples, dates or NaN)."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain_json(item) for key, item in value.items())
    return False


class FolderCache:
    """The cached outcome of each file of one flows folder: one JSON file in the cache
    folder, named after the flows folder, written again when anything changed. A file
    it does not hold is looked up in the folder's shipped cache, if any, before it is
    read (`shipped_from`).

    `for_shipping` makes the writer of a shipped cache instead: nothing is looked up,
    every file is read and checked, and `save` writes the valid files' entries."""

    def __init__(self, file: Path, key: str, stored: dict[str, Any], *,
                 shipped_from: Path | None = None, shipping: bool = False) -> None:
        self.file = file
        self.key = key
        self.stored = stored
        connections = stored.get("connections")
        self.old_connections: dict[str, Any] = connections if isinstance(
            connections, dict) else {}
        flows = stored.get("flows")
        self.old_flows: dict[str, Any] = flows if isinstance(flows, dict) else {}
        self.new_connections: dict[str, Any] = {}
        self.new_flows: dict[str, Any] = {}
        self.shipped_from = shipped_from
        self.shipping = shipping
        self._shipped: dict[str, Any] | None = None
        #: How this load got each file: from this cache, the shipped one, or read.
        self.counts = {"cached": 0, "shipped": 0, "read": 0}

    @classmethod
    def open(cls, cache_dir: Path, folder: Path) -> FolderCache:
        try:
            where = f"{folder}\0{folder.resolve()}"
        except (OSError, RuntimeError):
            where = f"{folder}\0{folder.absolute()}"
        name = hashlib.sha256(where.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        key = hashlib.sha256(f"{_code_key()}\0{where}".encode(
            "utf-8", "surrogatepass")).hexdigest()
        file = cache_dir / f"flows-{name}.json"
        stored: Any = {}
        try:
            with file.open("rb") as stream:
                # Only a cache this user wrote: what it says is believed without checks.
                if not hasattr(os, "getuid") or os.fstat(stream.fileno()).st_uid == os.getuid():
                    stored = json.load(stream)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.info("flow cache %s not read: %s", file, exc)
        if not isinstance(stored, dict) or stored.get("key") != key:
            stored = {}
        return cls(file, key, stored, shipped_from=folder)

    @classmethod
    def for_shipping(cls, folder: Path) -> FolderCache:
        """The writer of *folder*'s shipped cache (`save` writes it)."""
        return cls(folder / SHIPPED_FILE, _code_digest(), {}, shipping=True)

    def _shipped_part(self, part: str) -> dict[str, Any]:
        """The shipped cache's `connections` or `flows`, read when first needed (a start
        that finds every file in this cache never reads it)."""
        if self._shipped is None:
            self._shipped = (_read_shipped(self.shipped_from)
                             if self.shipped_from is not None else {})
        value = self._shipped.get(part)
        return value if isinstance(value, dict) else {}

    def _connections_entries(self) -> Iterator[dict[str, Any]]:
        """This cache's connections entry, then the shipped cache's: a generator, so the
        shipped cache is read only when this cache's entry did not serve."""
        yield self.old_connections
        yield self._shipped_part("connections")

    def connections(self, path: Path,
                    ) -> tuple[Mapping[str, AnyConnection], list[FlowProblem]]:
        """The connections file, from its cached data when its bytes are unchanged and
        it had no problems (no YAML read); otherwise read and, when clean, cached."""
        try:
            raw = _read_bytes(path)
        except OSError:  # missing or unreadable: worded by load_connections
            self.new_connections = {"sha": None}
            return load_connections(path)
        sha = hashlib.sha256(raw).hexdigest()
        self.new_connections = {"sha": sha}
        for cached in self._connections_entries():
            data = cached.get("data")
            if (cached.get("sha") == sha and isinstance(data, dict)
                    and all(isinstance(spec, dict) for spec in data.values())):
                self.new_connections = {"sha": sha, "data": data}
                return _CachedConnections(data), []
        if len(raw) >= _READ_AT_MOST:
            return load_connections(path)
        try:
            connections, problems = read_connections(path, raw)
        except Exception as exc:  # a bug: still this file's problem, never the app's end
            return {}, [unexpected(str(path), exc)]
        if not problems:
            data = {name: connection.model_dump(mode="json", exclude_unset=True, by_alias=True)
                    for name, connection in connections.items()}
            if _plain_json(data) and _same_connections(data, connections):
                self.new_connections = {"sha": sha, "data": data}
        return connections, problems

    def _entry(self, name: str, sha: str) -> tuple[dict[str, Any] | None, str]:
        """The cached entry of the file *name* with bytes *sha* (checked with the
        connections file as it is now), and where it came from."""
        connections = self.new_connections.get("sha")
        if self.old_connections.get("sha") == connections:
            cached = self.old_flows.get(name)
            if isinstance(cached, dict) and cached.get("sha") == sha:
                return cached, "cached"
        if self.shipping:
            return None, "read"
        if self._shipped_part("connections").get("sha") == connections:
            # Only valid files are shipped: a problem names its file, which is another
            # path on the machine that built the cache.
            shipped = self._shipped_part("flows").get(name)
            if isinstance(shipped, dict) and shipped.get("sha") == sha and "head" in shipped:
                return shipped, "shipped"
        return None, "read"

    def flow(self, path: Path, connections: Mapping[str, AnyConnection],
             registry: ActionRegistry) -> LoadedFlow:
        """The flow file *path*: from the cache when its bytes (and the connections
        file's) are those it was checked with, else read, checked and cached."""
        try:
            raw = _read_bytes(path)
        except OSError:  # worded by load_flow
            self.counts["read"] += 1
            return load_flow(path, connections, registry=registry)
        if len(raw) >= _READ_AT_MOST:
            self.counts["read"] += 1
            return load_flow(path, connections, registry=registry)
        sha = hashlib.sha256(raw).hexdigest()
        cached, source = self._entry(path.name, sha)
        if cached is not None:
            try:
                if "problems" in cached:
                    problems = [_problem_from_json(item) for item in cached["problems"]]
                    head = None
                else:
                    head = FlowHead.from_json(cached["head"])
            except (KeyError, TypeError, ValueError):
                pass  # not a cache entry this code wrote: read the file
            else:
                self.new_flows[path.name] = cached
                self.counts[source] += 1
                if head is None:
                    raise FlowFileInvalid(problems, capped=True)
                return LoadedFlow(None, path, head=head, raw=raw, registry=registry)
        self.counts["read"] += 1
        try:
            loaded = load_flow_guarded(path, connections, registry, raw)
        except FlowFileInvalid as exc:
            # A bug's problem is not kept: it is logged (with its trace) at every load.
            if not any(p.message.startswith(UNEXPECTED) for p in exc.problems):
                self.new_flows[path.name] = {
                    "sha": sha, "problems": [_problem_json(p) for p in exc.problems]}
            raise
        self.new_flows[path.name] = {"sha": sha, "head": loaded.head.to_json()}
        return loaded

    def save(self) -> None:
        """Write the cache again when this load found anything it did not hold. A shipped
        cache is always written, with the valid files only; OSError when it cannot be."""
        if self.shipping:
            self._write({"format": _CACHE_FORMAT, "python": _python(), "code": self.key,
                         "connections": self.new_connections,
                         "flows": {name: entry for name, entry in self.new_flows.items()
                                   if "head" in entry}})
            return
        if self.counts["shipped"] or self.counts["read"]:
            log.info("flows %s: %d from the flow cache, %d from the shipped cache, %d read "
                     "and checked", self.shipped_from, self.counts["cached"],
                     self.counts["shipped"], self.counts["read"])
        if (self.stored.get("connections") == self.new_connections
                and self.stored.get("flows") == self.new_flows):
            return
        try:
            self._write({"format": _CACHE_FORMAT, "key": self.key,
                         "connections": self.new_connections, "flows": self.new_flows})
        except OSError as exc:
            log.info("flow cache %s not written: %s", self.file, exc)

    def _write(self, data: dict[str, Any]) -> None:
        partial = self.file.with_name(
            f".{self.file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
            os.replace(partial, self.file)
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise


class _CachedConnections(Mapping[str, "AnyConnection"]):
    """The connections of an unchanged connections file, from the data cached when it
    was read (and checked to parse back to the same connections): parsed on first use,
    so a start from the cache needs pydantic for them only when something reads one."""

    def __init__(self, specs: dict[str, dict[str, Any]]) -> None:
        self._specs = specs
        self._parsed: dict[str, AnyConnection] | None = None
        self._lock = threading.Lock()

    def _all(self) -> dict[str, AnyConnection]:
        with self._lock:
            if self._parsed is None:
                from .model import parse_connection

                self._parsed = {name: parse_connection(spec)
                                for name, spec in self._specs.items()}
            return self._parsed

    def __getitem__(self, name: str) -> AnyConnection:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __repr__(self) -> str:
        return f"<connections {', '.join(self._specs)} (from the flow cache)>"


def _same_connections(data: dict[str, Any], connections: dict[str, AnyConnection]) -> bool:
    """True when parsing *data* again gives *connections* (what the cache relies on)."""
    from .model import parse_connection

    try:
        return {name: parse_connection(spec) for name, spec in data.items()} == connections
    except Exception:  # then the file is read each time
        return False
