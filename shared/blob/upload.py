"""Upload a file to Blob Storage and sign a read-only link to it (see `shared.blob`).

`azure-storage-blob` and `azure-identity` are imported when the first file is
uploaded, never at import time (cold start). One `_BlobStore` per process holds the
service client and its credential (`Resources.client`).
"""

from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from markupsafe import Markup

from ..errors import KustoFlowsError
from ..mail.message import Attachment
from ..settings import Settings

if TYPE_CHECKING:
    from ..resources import Resources
    from ..steps.base import StepContext

__all__ = ["DEFAULT_EXPIRES_SECONDS", "MAX_EXPIRES_SECONDS", "BlobLink", "BlobTarget",
           "BlobUploadFailed", "blob_name", "blob_target", "link_list_html", "parse_expiry",
           "sign_link", "upload_attachment"]

#: A link is valid for 7 days unless the step says otherwise.
DEFAULT_EXPIRES_SECONDS = 7 * 86400.0
#: Blob Storage signs a user-delegation SAS with a key valid at most 7 days.
MAX_EXPIRES_SECONDS = 7 * 86400.0
#: Signed links start a little in the past, for clocks that differ.
_CLOCK_SKEW = timedelta(minutes=5)

#: Azurite's well-known development account (`UseDevelopmentStorage=true`): the key is
#: public, documented by Microsoft for the emulator, and opens only a local emulator.
_DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlq"
    "UwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;")


class BlobUploadFailed(KustoFlowsError, http_status=502):
    """A file could not be uploaded to Blob Storage, or its link not signed."""


def parse_expiry(value: Any) -> float:
    """`7d`, `12h`, `30m`, `90s` or a number of seconds: how long a link stays valid;
    at most 7 days."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 7d, 12h or 30m")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*", str(value))
        if not match:
            raise ValueError(f"'{value}' is not a duration such as 7d, 12h or 30m")
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400,
                                           None: 1}[match.group(2)]
    if seconds <= 0:
        raise ValueError("a link must stay valid for some time")
    if seconds > MAX_EXPIRES_SECONDS:
        raise ValueError("a link is valid at most 7 days (Blob Storage signs a user-delegation "
                         "SAS with a key valid at most 7 days)")
    return seconds


@dataclass(frozen=True)
class BlobTarget:
    """Where files go: a connection string (signed with its account key) or a blob
    endpoint (the managed identity, user-delegation SAS), and the container."""

    container: str
    connection_string: str = ""
    endpoint: str = ""
    client_id: str = ""

    @property
    def key(self) -> tuple[str, ...]:
        return ("blob", self.container, self.connection_string, self.endpoint, self.client_id)


def _parts(connection_string: str) -> dict[str, str]:
    parts = {}
    for item in connection_string.split(";"):
        name, sep, value = item.partition("=")
        if sep and name.strip():
            parts[name.strip()] = value.strip()
    return parts


def blob_target(settings: Settings) -> BlobTarget | None:
    """The blob storage files go to, or None (then they are written locally).

    The host storage's connection string serves when it reaches a blob service: it
    names a `BlobEndpoint`, is `UseDevelopmentStorage=true` (Azurite), or names no
    endpoint at all (the blob endpoint follows from its account and suffix); one that
    lists only other services (a queue-only Azurite) does not."""
    text = settings.storage_connection_string.strip()
    if text:
        parts = _parts(text)
        if parts.get("UseDevelopmentStorage", "").lower() == "true":
            return BlobTarget(settings.results_container, connection_string=_DEVELOPMENT_STORAGE)
        endpoints = [name for name in parts if name.endswith("Endpoint")]
        if "BlobEndpoint" in parts or (not endpoints and "AccountName" in parts):
            return BlobTarget(settings.results_container, connection_string=text)
    if settings.storage_blob_uri:
        return BlobTarget(settings.results_container, endpoint=settings.storage_blob_uri,
                          client_id=settings.azure_client_id)
    return None


@dataclass(frozen=True)
class BlobLink:
    """Where an uploaded file can be read, and until when."""

    url: str
    name: str
    size: int
    content_type: str
    #: "blob" (Blob Storage, a signed link) or "local" (a file:// URL on this machine).
    storage: Literal["blob", "local"]
    #: The blob (`container/name`) or the local path: never the signature.
    location: str
    expires_at: datetime | None = None

    @property
    def size_text(self) -> str:
        size = float(self.size)
        for unit in ("bytes", "KB", "MB", "GB"):
            if size < 1024 or unit == "GB":
                return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
            size /= 1024
        return f"{self.size} bytes"

    @property
    def note(self) -> str:
        """What the reader should know about the link: until when it works."""
        if self.storage == "local" or self.expires_at is None:
            return "local file on the machine that ran the flow: blob storage is not configured"
        return f"link valid until {self.expires_at:%Y-%m-%d %H:%M} UTC"

    def html(self) -> Markup:
        return Markup('<a href="{}">{}</a> ({}; {})').format(
            self.url, self.name, self.size_text, self.note)

    def text(self) -> str:
        return f"{self.name} ({self.size_text}; {self.note}): {self.url}"

    def to_outputs(self) -> dict[str, Any]:
        return {"url": self.url, "name": self.name, "size": self.size,
                "content_type": self.content_type, "storage": self.storage,
                "location": self.location,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "link_html": self.html()}


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _segment(text: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("-", text).strip(".-")[:120]
    return cleaned or fallback


def blob_name(flow: str, run_id: str, step_path: str, file_name: str) -> str:
    """`<flow>/<run id>/<step>/<file>`: the same for the same step of the same run, so
    an upload done again replaces its blob instead of adding one."""
    return "/".join([_segment(flow, "flow"), _segment(run_id, "run"),
                     _segment(step_path, "step"), _segment(file_name, "file")])


class _BlobStore:
    """The blob service client of one target, made on first use."""

    def __init__(self, target: BlobTarget) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._service: Any = None
        self._credential: Any = None
        self._created = False

    def _client(self) -> Any:
        with self._lock:
            if self._service is None:
                from azure.storage.blob import BlobServiceClient

                if self.target.connection_string:
                    self._service = BlobServiceClient.from_connection_string(
                        self.target.connection_string)
                else:
                    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

                    self._credential = (
                        ManagedIdentityCredential(client_id=self.target.client_id)
                        if self.target.client_id else DefaultAzureCredential())
                    self._service = BlobServiceClient(self.target.endpoint,
                                                      credential=self._credential)
            return self._service

    def upload(self, name: str, attachment: Attachment) -> Any:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        from azure.storage.blob import ContentSettings

        service = self._client()
        blob = service.get_blob_client(self.target.container, name)
        settings = ContentSettings(
            content_type=attachment.content_type,
            content_disposition=f'attachment; filename="{_segment(attachment.name, "file")}"')
        try:
            self._put(blob, attachment, settings)
        except ResourceNotFoundError:
            # The container is made by the deployment; Azurite starts without it.
            try:
                service.create_container(self.target.container)
            except ResourceExistsError:
                pass
            self._put(blob, attachment, settings)
        return blob

    @staticmethod
    def _put(blob: Any, attachment: Attachment, settings: Any) -> None:
        """Upload *attachment* streamed from its file (the SDK sends it in blocks)."""
        with attachment.open() as source:
            blob.upload_blob(source, length=attachment.size, overwrite=True,
                             content_settings=settings)

    def sign(self, blob: Any, expires_at: datetime) -> str:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        start = datetime.now(UTC) - _CLOCK_SKEW
        common: dict[str, Any] = {
            "account_name": blob.account_name, "container_name": blob.container_name,
            "blob_name": blob.blob_name, "permission": BlobSasPermissions(read=True),
            "expiry": expires_at, "start": start}
        if self.target.connection_string:
            key = blob.credential.account_key if blob.credential is not None else None
            if not key:
                raise BlobUploadFailed(
                    "the storage connection string has no account key to sign a link with",
                    hint="use a connection string with AccountKey, or the managed identity "
                         "(AzureWebJobsStorage__blobServiceUri)")
            return str(generate_blob_sas(account_key=key, **common))
        delegation = self._client().get_user_delegation_key(start, expires_at)
        return str(generate_blob_sas(user_delegation_key=delegation, protocol="https",
                                     **common))

    def close(self) -> None:
        with self._lock:
            service, credential = self._service, self._credential
            self._service = self._credential = None
        for closable in (service, credential):
            if closable is not None:
                closable.close()


def sign_link(resources: Resources, location: str, expires_at: datetime) -> str:
    """A new read-only link to the uploaded blob *location* (`container/name`), valid
    until *expires_at* (which may be in the past: then the link is refused at once)."""
    target = blob_target(resources.settings)
    if target is None:
        raise BlobUploadFailed("blob storage is not configured")
    store = resources.client(target.key, lambda: _BlobStore(target))
    container, _, name = location.partition("/")
    blob = store._client().get_blob_client(container, name)
    return f"{blob.url}?{store.sign(blob, expires_at)}"


def _write_local(settings: Settings, name: str, attachment: Attachment) -> Path:
    path = Path(settings.outbox_dir) / "links" / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with attachment.open() as source, path.open("wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
    except OSError as exc:
        raise BlobUploadFailed(f"cannot write {attachment.name} under {settings.outbox_dir}: "
                               f"{exc.strerror or exc}",
                               hint="check that OUTBOX_DIR can be written, or configure blob "
                                    "storage (AzureWebJobsStorage)") from exc
    return path.resolve()


def upload_attachment(ctx: StepContext, attachment: Attachment, *,
                      expires_seconds: float = DEFAULT_EXPIRES_SECONDS,
                      name: str | None = None) -> BlobLink:
    """Upload *attachment* and return a read-only link to it valid *expires_seconds*
    (at most 7 days). Without blob storage the file is written under the outbox
    folder and the link is a `file://` URL (`storage` "local")."""
    expires_seconds = min(float(expires_seconds), MAX_EXPIRES_SECONDS)
    file_name = name or attachment.name
    key = blob_name(ctx.flow.name, ctx.run_id, ctx.step_path or "step", file_name)
    target = blob_target(ctx.settings)
    if target is None:
        path = _write_local(ctx.settings, key, attachment)
        return BlobLink(url=path.as_uri(), name=file_name, size=attachment.size,
                        content_type=attachment.content_type, storage="local",
                        location=str(path))
    expires_at = (datetime.now(UTC) + timedelta(seconds=expires_seconds)).replace(microsecond=0)
    store = ctx.resources.client(target.key, lambda: _BlobStore(target))
    try:
        blob = store.upload(key, attachment)
        signature = store.sign(blob, expires_at)
    except KustoFlowsError:
        raise
    except Exception as exc:
        raise BlobUploadFailed(
            f"uploading {file_name} to container {target.container} failed: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
            hint="check that the app's identity has Storage Blob Data Contributor (or Owner) "
                 "on the storage account and that the storage account is reachable") from exc
    return BlobLink(url=f"{blob.url}?{signature}", name=file_name, size=attachment.size,
                    content_type=attachment.content_type, storage="blob",
                    location=f"{target.container}/{key}", expires_at=expires_at)


def link_list_html(links: list[BlobLink]) -> Markup:
    items = Markup("").join(Markup("<li>{}</li>").format(link.html()) for link in links)
    return Markup("<ul>{}</ul>").format(items)

