"""Send one request to a `Target` until it is answered, as far as it is safe to
repeat (`shared.http.retries`), within the time the run has left; fail with
`HttpRequestFailed` saying what happened, showing only the URL's origin."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from .client import Answer, HttpSender
from .errors import HttpRequestFailed
from .retries import (
    Failure,
    backoff,
    classify,
    failure_for_status,
    may_resend,
    retry_after,
)
from .target import Target

__all__ = ["Delivered", "Outgoing", "body_excerpt", "deliver"]

log = logging.getLogger(__name__)

_EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Outgoing:
    method: str
    target: Target
    body: bytes | None
    headers: dict[str, str]
    #: Seconds one attempt may wait for the answer.
    timeout: float
    #: Sends after the first, for failures that are safe to repeat.
    retries: int
    #: True when the receiver copes with a repeat: 5xx, time-outs and broken
    #: connections are then sent again too.
    idempotent: bool
    max_response_bytes: int


@dataclass(frozen=True)
class Delivered:
    answer: Answer
    attempts: int


def body_excerpt(answer: Answer, target: Target) -> str:
    """The start of *answer*'s body on one line, the URL's secret parts blanked."""
    text = re.sub(r"\s+", " ", answer.body[:4 * _EXCERPT_CHARS].decode("utf-8", "replace"))
    text = target.redact(text.strip())
    return text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else "")


def _cause(exc: BaseException, failure: Failure | None, timeout: float) -> str:
    if failure is Failure.NO_ANSWER:
        return f"no answer within {timeout:g} s"
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else (seen.__cause__ or
                                                                  seen.__context__)
    return failure.value if failure is not None else type(exc).__name__


def deliver(sender: HttpSender, request: Outgoing, remaining: Callable[[], float], *,
            sleep: Callable[[float], None] = time.sleep) -> Delivered:
    """Send *request* until a 2xx answer, sending it again only as the table in
    `shared.http.retries` allows and while *remaining()* (seconds left in the run;
    it raises once none are) leaves room for the wait."""
    target, method = request.target, request.method
    where = f"{method} {target.origin}"
    repeat_hint = ("if the receiver drops repeats (every send carries the same "
                   "Idempotency-Key) or the call is safe to repeat, set idempotent: true")
    attempt = 0
    while True:
        attempt += 1
        timeout = min(request.timeout, remaining())
        try:
            answer = sender.send(method, target.url, body=request.body,
                                 headers=request.headers, timeout=timeout,
                                 max_bytes=request.max_response_bytes)
        except Exception as exc:  # urllib3 and socket errors: classified, never re-raised
            failure = classify(exc)
            cause = target.redact(_cause(exc, failure, timeout))
            if failure is None:
                raise HttpRequestFailed(
                    f"{where} failed: {cause}", attempts=attempt,
                    hint=f"check the URL in app setting {target.setting}") from None
            if not may_resend(failure, idempotent=request.idempotent):
                raise HttpRequestFailed(
                    f"{where}: {failure.value} ({cause}); the request may have been "
                    f"processed, so it was not sent again", attempts=attempt,
                    hint=repeat_hint + (", or raise timeout" if failure is Failure.NO_ANSWER
                                        else "")) from None
            if attempt > request.retries:
                raise HttpRequestFailed(
                    f"{where}: {failure.value} ({cause}) on each of {attempt} attempts",
                    attempts=attempt,
                    hint=f"check that the receiver is up and the URL in app setting "
                         f"{target.setting}") from None
            wait = backoff(attempt)
            log.info("%s: %s (%s), attempt %d; sending again in %.1f s", where,
                     failure.value, cause, attempt, wait)
        else:
            if 200 <= answer.status <= 299:
                log.info("%s answered %d (attempt %d)", where, answer.status, attempt)
                return Delivered(answer, attempt)
            failure = failure_for_status(answer.status)
            answered = f"{where} answered {answer.status} {answer.reason}".rstrip()
            excerpt = body_excerpt(answer, target)
            said = f": {excerpt}" if excerpt else ""
            if failure is None:
                raise HttpRequestFailed(f"{answered}{said}", status=answer.status,
                                        attempts=attempt, hint=_status_hint(answer.status,
                                                                            target))
            if not may_resend(failure, idempotent=request.idempotent):
                raise HttpRequestFailed(
                    f"{answered}{said}; the request may have been processed, so it was not "
                    f"sent again", status=answer.status, attempts=attempt, hint=repeat_hint)
            if attempt > request.retries:
                raise HttpRequestFailed(f"{answered}{said} (after {attempt} attempts)",
                                        status=answer.status, attempts=attempt,
                                        hint="the receiver kept refusing: try again later")
            asked = retry_after(answer.headers.get("retry-after"))
            wait = backoff(attempt) if asked is None else asked
            left = remaining()
            if wait >= left:
                raise HttpRequestFailed(
                    f"{answered}{said}; it asked to wait {wait:.0f} s, more than the "
                    f"{left:.0f} s the run has left", status=answer.status,
                    attempts=attempt, hint="run the flow again later")
            log.info("%s answered %d, attempt %d; sending again in %.1f s", where,
                     answer.status, attempt, wait)
        if wait >= remaining():
            raise HttpRequestFailed(f"{where}: no time left in the run to send again",
                                    attempts=attempt, hint="run the flow again later")
        sleep(wait)


def _status_hint(status: int, target: Target) -> str:
    if 300 <= status <= 399:
        return (f"redirects are not followed (the signed body would go elsewhere): set "
                f"{target.setting} to the final URL")
    if status in (401, 403, 404):
        return (f"check the URL in app setting {target.setting} (a webhook URL stops working "
                f"when its workflow is deleted or its signature changes) and any "
                f"credentials the step sends")
    if status == 413:
        return "the body is too large for the receiver: send less"
    return "the receiver refused the request: check the body and headers the step sends"
