"""http.request: call a webhook or an HTTP API whose URL is in an app setting.

The flow names the setting (`url_setting`), never the URL: webhook URLs carry
their credential, and only the URL's scheme and host appear in outputs, summaries,
errors, logs and pages (`shared.http.target`). A `json` body is a YAML structure
whose values are rendered one by one and then encoded as JSON, so a value holding
quotes or braces stays a string; there is no way to splice text into raw JSON.
With `secret_setting` the body is signed as GitHub signs its webhooks
(`X-Hub-Signature-256: sha256=<hex>`, `shared.http.signing`). Every send carries
`Idempotency-Key: <run id>:<step path>`; what is sent again after a failure is
decided in `shared.http.retries`.

`send_from_step` is the same sending for other actions (teams.post)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import StepInputError
from ..model import Static, StepModel, parse_bytes, parse_duration
from ..outputs import json_safe
from .base import StepContext, StepOutcome
from .registry import Action

__all__ = ["ACTION", "HttpRequestStep", "HttpSendFields", "encode_json", "send_from_step"]

_SETTING_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: An HTTP header name (RFC 9110 token characters).
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: Set by the client for every request; a step cannot override them.
_FIXED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection",
                            "te", "trailer", "upgrade", "keep-alive", "expect"})
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _setting_name(value: Any) -> Any:
    """The name of an app setting; the value is not repeated in the error (a URL or a
    secret written here by mistake should not travel into logs and pages)."""
    if value is not None and not (isinstance(value, str) and re.fullmatch(_SETTING_NAME, value)):
        raise ValueError("this is not an app setting name (letters, digits, _): put the URL "
                         "or secret in an app setting and write that setting's name here")
    return value


class HttpSendFields(StepModel):
    """What every action that sends through `send_from_step` has."""

    url_setting: Annotated[str, Static, Field(
        description="the NAME of the app setting holding the URL (never the URL itself)",
        json_schema_extra={"pattern": _SETTING_NAME})]
    timeout: Annotated[float, Static, Field(
        30.0, description="how long one attempt waits for the answer: 30s, 2m ...")]
    retries: Annotated[int, Static, Field(
        3, ge=0, le=10, description="sends after the first, for failures safe to repeat")]
    idempotent: Annotated[bool, Static, Field(
        False, description="true: the receiver copes with a repeat, so 5xx answers, "
                           "time-outs and broken connections are sent again too")]

    _names = field_validator("url_setting", mode="before")(_setting_name)
    _timeout = field_validator("timeout", mode="before")(lambda v: parse_duration(v))


class HttpRequestStep(HttpSendFields):
    """Send an HTTP request."""

    action: Literal["http.request"]
    method: Annotated[Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], Static] = "POST"
    headers: dict[str, Any] = Field(
        default_factory=dict, description="header name -> value (values templated)")
    json_body: Any = Field(None, alias="json", description=(
        "a YAML structure sent as JSON; each value is rendered, then encoded"))
    text: str | None = Field(None, description="a text body (text/plain unless a "
                                               "Content-Type header says otherwise)")
    secret_setting: Annotated[str | None, Static, Field(
        None, description="the NAME of the app setting holding the HMAC-SHA256 secret the "
                          "body is signed with", json_schema_extra={"pattern": _SETTING_NAME})]
    signature_header: Annotated[str, Static, Field(
        "X-Hub-Signature-256", description="the header the signature goes in")]
    max_response_bytes: Annotated[int, Static, Field(
        256 * 1024, description="the most of the answer's body kept: 256KB ...")]

    _secret = field_validator("secret_setting", mode="before")(_setting_name)
    _size = field_validator("max_response_bytes", mode="before")(lambda v: parse_bytes(v))

    @field_validator("headers", mode="after")
    @classmethod
    def _header_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if name.lower() in _FIXED_HEADERS:
                raise ValueError(f"the header {name} is set by the client, not by the step")
        return value

    @field_validator("signature_header", mode="after")
    @classmethod
    def _signature_header_name(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestStep:
        if self.json_body is not None and self.text is not None:
            raise ValueError("give either json or text as the body, not both")
        if self.method in ("GET", "HEAD") and (self.json_body is not None
                                               or self.text is not None):
            raise ValueError(f"a {self.method} request sends no body: drop json/text, or "
                             f"use POST")
        return self


def encode_json(value: Any, field: str = "json") -> bytes:
    """*value* (a rendered structure) as compact UTF-8 JSON; files become their name,
    type and size, datetimes ISO 8601. NaN and infinities are refused, not sent as
    the invalid JSON `NaN`."""
    safe = json_safe(value)
    try:
        return json.dumps(safe, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")
    except ValueError:
        bad = _first_non_finite(safe, field) or field
        raise StepInputError(f"field '{bad}': NaN or an infinity is not a JSON number",
                             hint="turn it into null or a string in the template, e.g. "
                                  "iff(isnan(x), real(null), x) in the query") from None


def _first_non_finite(value: Any, path: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        sub = f"{path}.{key}" if isinstance(value, dict) else f"{path}[{key}]"
        found = _first_non_finite(item, sub)
        if found:
            return found
    return ""


def _header_value(name: str, value: Any) -> str:
    text = json.dumps(json_safe(value)) if isinstance(value, dict | list) else (
        "" if value is None else str(value))
    if any(c in text for c in "\r\n\0"):
        raise StepInputError(f"field 'headers.{name}': the value holds a line break",
                             hint="a header value is one line: values from a webhook body "
                                  "or a query cannot add headers")
    return text


def send_from_step(ctx: StepContext, fields: HttpSendFields, *, method: str,
                   body: bytes | None, headers: Mapping[str, str],
                   max_response_bytes: int = 256 * 1024) -> Any:
    """Send *body* to the URL in the step's `url_setting` with the step's time-out,
    retries and idempotency; `Idempotency-Key` is added unless *headers* have one.
    Returns `shared.http.Delivered`; raises `HttpRequestFailed` or `StepInputError`."""
    from ..http import HttpSender, Outgoing, deliver, target_from_setting

    target = target_from_setting(ctx.settings, fields.url_setting)
    sent = {"User-Agent": "kusto-flows", **headers}
    if not any(name.lower() == IDEMPOTENCY_HEADER.lower() for name in sent):
        sent[IDEMPOTENCY_HEADER] = f"{ctx.run_id}:{ctx.step_path or fields.id}"
    sender = ctx.resources.client(("shared.http", "sender"), HttpSender)
    request = Outgoing(method=method, target=target, body=body, headers=sent,
                       timeout=fields.timeout, retries=fields.retries,
                       idempotent=fields.idempotent, max_response_bytes=max_response_bytes)
    return deliver(sender, request, ctx.remaining)


def run_request(step: HttpRequestStep, inputs: Mapping[str, Any], ctx: StepContext
                ) -> StepOutcome:
    from ..http import SIGNATURE_HEADER, signature, target_from_setting

    target = target_from_setting(ctx.settings, step.url_setting)
    headers = {name: _header_value(name, value)
               for name, value in (inputs.get("headers") or {}).items()}
    names = {name.lower() for name in headers}
    body: bytes | None = None
    if step.json_body is not None:
        body = encode_json(inputs.get("json_body"))
        if "content-type" not in names:
            headers["Content-Type"] = "application/json; charset=utf-8"
    elif step.text is not None:
        text = inputs.get("text")
        body = ("" if text is None else str(text)).encode("utf-8")
        if "content-type" not in names:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    if step.secret_setting:
        secret = ctx.settings.secret(step.secret_setting)
        if not secret:
            raise StepInputError(
                f"field 'secret_setting': the app setting {step.secret_setting} is not set, "
                f"so the body cannot be signed; nothing was sent",
                hint=f"set {step.secret_setting} to the secret the receiver checks the "
                     f"signature with")
        if step.signature_header.lower() in names:
            raise StepInputError(
                f"field 'headers': {step.signature_header} is where the signature goes",
                hint="drop that header, or name another with signature_header")
        headers[step.signature_header or SIGNATURE_HEADER] = signature(secret, body or b"")
    delivered = send_from_step(ctx, step, method=step.method, body=body, headers=headers,
                               max_response_bytes=step.max_response_bytes)
    answer = delivered.answer
    outputs = {
        "status": answer.status,
        "headers": {name: target.redact(value) for name, value in answer.headers.items()
                    if name != "set-cookie"},
        "body": _answer_body(answer, target),
        "body_truncated": answer.truncated,
        "url_host": target.origin,
        "attempts": delivered.attempts,
    }
    again = f" after {delivered.attempts} attempts" if delivered.attempts > 1 else ""
    return StepOutcome(outputs, f"{step.method} {target.origin}: {answer.status}{again}")


def _answer_body(answer: Any, target: Any) -> Any:
    """JSON when the answer says it is JSON and all of it came; text otherwise."""
    charset = "utf-8"
    content_type = answer.headers.get("content-type", "")
    match = re.search(r"charset=\"?([\w.:-]+)", content_type, re.IGNORECASE)
    if match:
        charset = match.group(1)
    try:
        text = answer.body.decode(charset, "replace")
    except LookupError:
        text = answer.body.decode("utf-8", "replace")
    text = target.redact(text)
    media = content_type.split(";")[0].strip().lower()
    if not answer.truncated and (media == "application/json" or media.endswith("+json")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


ACTION = Action(
    HttpRequestStep, run_request, title="HTTP", writes=True,
    fields_doc="`method` (`POST` by default), `url_setting` (the name of the app setting "
               "holding the URL), `headers`, `json` (a structure; values rendered, then "
               "encoded) or `text`, `secret_setting` (signs the body: "
               "`X-Hub-Signature-256: sha256=<hex>`, header named by `signature_header`), "
               "`timeout` (30s), `retries` (3), `idempotent` (false), `max_response_bytes` "
               "(256KB)",
    outputs_doc="`status`, `headers`, `body` (parsed when JSON), `body_truncated`, "
                "`url_host` (scheme and host only), `attempts`",
)
