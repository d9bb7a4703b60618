"""The signature `http.request` puts on a body, as GitHub does on its webhooks:

    X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed
                                 with the secret's UTF-8 bytes>

A receiver computes the same HMAC over the raw body it read (before any JSON
parsing) with the shared secret and compares the two in constant time
(`hmac.compare_digest`). The secret is an app setting the step names
(`secret_setting`), never written in a flow file.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "signature"]

#: The header GitHub signs its webhook deliveries with; a step may name another.
SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: the HMAC-SHA256 of *body* keyed with *secret* (UTF-8)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
