"""Outgoing HTTP for the actions that call webhooks (`http.request`, `teams.post`).

`target` reads the URL from the app setting a step names and keeps it out of
everything shown; `client` is the process-wide urllib3 pool; `retries` says which
failures may be sent again; `delivery` sends until answered; `signing` is the
`X-Hub-Signature-256` scheme. Importing this package imports no HTTP library: the
client is made on first use.
"""

from __future__ import annotations

from .client import Answer, HttpSender
from .delivery import Delivered, Outgoing, body_excerpt, deliver
from .errors import HttpRequestFailed
from .signing import SIGNATURE_HEADER, signature
from .target import REDACTED, SETTING_NAME, Target, target_from_setting

__all__ = [
    "REDACTED",
    "SETTING_NAME",
    "SIGNATURE_HEADER",
    "Answer",
    "Delivered",
    "HttpRequestFailed",
    "HttpSender",
    "Outgoing",
    "Target",
    "body_excerpt",
    "deliver",
    "signature",
    "target_from_setting",
]
