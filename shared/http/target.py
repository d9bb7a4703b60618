"""Where an outgoing request goes: a URL read from an app setting the step names.

Webhook URLs carry their credential: a Teams Workflows or Logic Apps URL has a
`sig=` in its query, a Slack URL has its token in the path. So a flow file names
the *setting* (`url_setting: OPS_WEBHOOK_URL`), and the URL is read when the step
runs. Outside the request itself only `Target.origin` (scheme, host and port)
is ever shown: in outputs, summaries, errors and logs. Text that came back from
the server goes through `Target.redact` before it is kept, in case it echoes the
URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from ..errors import StepInputError
from ..settings import Settings

__all__ = ["REDACTED", "SETTING_NAME", "Target", "target_from_setting"]

#: What an app setting's name may be (letters, digits, underscores).
SETTING_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
REDACTED = "[redacted]"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Parts of a URL shorter than this are not secrets worth blanking (`/`, `v1`, `json`).
_MIN_SECRET = 8


@dataclass(frozen=True)
class Target:
    """A request's URL (never shown) and what may be shown of it."""

    url: str = field(repr=False)
    #: `https://host` or `http://127.0.0.1:8080`: what outputs, errors and logs show.
    origin: str
    #: The app setting the URL was read from.
    setting: str

    def redact(self, text: str) -> str:
        """*text* with the URL, its path, its query and every longer part of them
        replaced by `[redacted]`."""
        for secret in _secret_parts(self.url):
            text = text.replace(secret, REDACTED)
        return text


def _secret_parts(url: str) -> list[str]:
    parts = urlsplit(url)
    found = {url, url.split("://", 1)[-1], parts.path, parts.query,
             f"{parts.path}?{parts.query}"}
    found.update(value for _, value in parse_qsl(parts.query, keep_blank_values=True))
    found.update(segment for segment in parts.path.split("/"))
    # Longest first, so a part inside a longer one is not replaced before it.
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


def target_from_setting(settings: Settings, name: str, *, field: str = "url_setting"
                        ) -> Target:
    """The URL in app setting *name*, checked: `https://`, or `http://` to the
    loopback only (a local receiver), no user name or password in it. Problems raise
    `StepInputError` naming the setting, never showing its value."""
    if not re.fullmatch(SETTING_NAME, name or ""):
        raise StepInputError(f"field '{field}': {name!r} is not an app setting name",
                             hint="name the app setting that holds the URL, e.g. "
                                  "OPS_WEBHOOK_URL; the URL itself never goes in the flow")
    value = settings.secret(name).strip()
    if not value:
        raise StepInputError(
            f"field '{field}': the app setting {name} is not set, so there is no URL to "
            f"send to; nothing was sent",
            hint=f"set {name} to the webhook URL in the app settings (local.settings.json "
                 f"locally, a Key Vault reference in Azure)")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise StepInputError(
            f"field '{field}': the app setting {name} does not hold an http(s) URL",
            hint=f"set {name} to the whole URL, starting with https://")
    if parts.username is not None or parts.password is not None:
        raise StepInputError(
            f"field '{field}': the URL in app setting {name} holds a user name or password",
            hint="send credentials in a header (headers: {Authorization: ...}) instead")
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise StepInputError(
            f"field '{field}': the URL in app setting {name} is http:// to {host}; http is "
            f"allowed only to 127.0.0.1 or localhost",
            hint="use the https:// URL")
    netloc = parts.netloc.rpartition("@")[2]
    url = parts._replace(fragment="").geturl()
    return Target(url=url, origin=f"{parts.scheme}://{netloc}", setting=name)
