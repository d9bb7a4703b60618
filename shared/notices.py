"""When a flow's failure notice (`on_failure`) runs: at the first failure, then at most
once per grace period while the flow keeps failing, and once more ("recovered") at the
first success after a notice. The flow's notice state lives in the state store, written
only if nobody wrote in between, so two runs ending at once send one notice."""

from __future__ import annotations

import logging
from datetime import datetime

from .state import StateStore, StateStoreUnavailable

__all__ = ["NOTICE_SCOPE", "notice_due"]

log = logging.getLogger(__name__)

NOTICE_SCOPE = "failure-notice"


def notice_due(store: StateStore, flow: str, *, failed: bool, grace_seconds: float,
               now: datetime) -> bool | None:
    """None: no notice now; False: a failure notice; True: a recovered notice."""
    try:
        current = store.read(NOTICE_SCOPE, flow)
        state = dict(current.value) if current else {}
        last = state.get("last_notice")
        if failed:
            due = last is None or (now - datetime.fromisoformat(last)).total_seconds() \
                >= grace_seconds
            changed = {"failing": True, "last_notice": now.isoformat() if due else last}
            written = store.write(NOTICE_SCOPE, flow, changed,
                                  version=current.version if current else None)
            return False if due and written else None
        if not state.get("failing"):
            return None
        written = store.write(NOTICE_SCOPE, flow, {"failing": False, "last_notice": None},
                              version=current.version if current else None)
        return True if written and last is not None else None
    except StateStoreUnavailable as exc:
        # Better a notice too many than a failure nobody hears of.
        log.warning("flow %s: the failure-notice state cannot be read or written (%s)",
                    flow, exc)
        return False if failed else None
