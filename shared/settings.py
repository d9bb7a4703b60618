"""App settings, read once from the environment (app settings in Azure,
`local.settings.json` under `func start`, plain variables locally).

Every setting the code reads is named here, so `infra/` can be checked against it
(tests/test_infra.py). Nothing deep in the code reads `os.environ` itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import KustoFlowsError

__all__ = ["SETTING_NAMES", "SettingInvalid", "Settings", "schedule_override_setting"]


class SettingInvalid(KustoFlowsError, http_status=500):
    """An app setting the code reads has a value it cannot use."""

#: Every environment variable the code reads, with what it does. Names ending in
#: `__` are prefixes (one setting per flow).
SETTING_NAMES: dict[str, str] = {
    "FLOWS_DIR": "folder holding the flow files and connections.yaml (default: flows; "
                 "relative to the app's folder in the Functions app)",
    "OUTBOX_DIR": "folder the local outbox writes .eml files to (default: outbox)",
    "STATE_DIR": "folder for local state: the SQLite run store (default: .state)",
    "RUN_DEADLINE_SECONDS": "whole-run deadline; sits below host.json functionTimeout",
    "KUSTO_CLIENT_GRACE_SECONDS": "how long after servertimeout the client gives up",
    "ACS_CONNECTION_STRING": "Azure Communication Services connection string (key auth)",
    "ACS_ENDPOINT": "Azure Communication Services endpoint (managed identity auth)",
    "EMAIL_SENDER": "sender address, e.g. DoNotReply@<domain>",
    "EMAIL_DRY_RUN": "true: always write mail to the outbox, even with ACS configured",
    "EMAIL_ALLOWED_DOMAINS": "comma-separated recipient domains mail may go to (empty: any); "
                             "recommended for webhook flows",
    "EMAIL_POLL_SECONDS": "how often to poll an ACS send operation (SDK default: 30 s)",
    "EMAIL_SEND_TIMEOUT_SECONDS": "how long to wait for ACS to accept a message",
    "AZURE_CLIENT_ID": "client id of the user-assigned managed identity",
    "RUNS_TABLE_CONNECTION_STRING": "Table Storage connection string for run records",
    "RUNS_TABLE_ENDPOINT": "Table Storage endpoint for run records (managed identity)",
    "RUNS_RETENTION_DAYS": "run records older than this are deleted by the cleanup",
    "WEBHOOK_MAX_BODY_BYTES": "largest webhook body accepted (413 above)",
    "FLOW_SCHEDULE__": "FLOW_SCHEDULE__<flow_name>: overrides that flow's schedule",
    "WEBSITE_HOSTNAME": "the app's host name, set by Azure App Service: `run.url` links "
                        "to the run's page there",
    "OPERATION_POLL_SECONDS": "first wait between looks at an async Kusto operation "
                              "(default 5; doubles up to 60)",
    "AzureWebJobsStorage": "the Functions host's storage (a connection string; Azurite "
                           "locally): runs are queued on its `flow-runs` queue",
    "AzureWebJobsStorage__queueServiceUri": "the host's queue endpoint with managed "
                                            "identity (Azure): runs are queued there",
    "AzureWebJobsStorage__blobServiceUri": "the host's blob endpoint with managed identity "
                                           "(Azure): blob.upload and e-mail attachments over "
                                           "the mail limit go there, shared by "
                                           "user-delegation SAS links",
    "RESULTS_CONTAINER": "blob container for uploaded results (default: flow-results)",
}


def schedule_override_setting(flow_name: str) -> str:
    """The app setting that overrides a flow's schedule.

    App setting names may not hold '-' on Linux plans, so dashes become underscores:
    `storm-daily-report` -> `FLOW_SCHEDULE__storm_daily_report`.
    """
    return "FLOW_SCHEDULE__" + flow_name.replace("-", "_")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingInvalid(f"app setting {name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    flows_dir: Path = Path("flows")
    outbox_dir: Path = Path("outbox")
    state_dir: Path = Path(".state")
    run_deadline_seconds: float = 540.0
    kusto_client_grace_seconds: float = 5.0
    acs_connection_string: str = field(default="", repr=False)
    acs_endpoint: str = ""
    email_sender: str = "DoNotReply@kusto-flows.local"
    email_dry_run: bool = False
    #: Lower-case domains recipients must be in; empty allows any.
    email_allowed_domains: tuple[str, ...] = ()
    email_poll_seconds: float = 1.0
    email_send_timeout_seconds: float = 60.0
    azure_client_id: str = ""
    runs_table_connection_string: str = field(default="", repr=False)
    runs_table_endpoint: str = ""
    runs_retention_days: float = 30.0
    webhook_max_body_bytes: int = 1_048_576
    operation_poll_seconds: float = 5.0
    #: The app's host name (Azure sets WEBSITE_HOSTNAME): where run pages are.
    site_hostname: str = ""
    #: The host storage the run queue lives in (connection string, or queue endpoint
    #: with managed identity). Only the Functions app queues runs; the CLI runs inline.
    storage_connection_string: str = field(default="", repr=False)
    storage_queue_uri: str = ""
    #: Where large results are uploaded (`shared.blob`): the host storage's blob
    #: service (its connection string above, or this endpoint with managed identity).
    storage_blob_uri: str = ""
    results_container: str = "flow-results"
    schedule_overrides: dict[str, str] = field(default_factory=dict)
    #: Every app setting, for the secrets a connection names by setting
    #: (`client_secret_setting`); read through `secret()`, never shown.
    app_settings: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def run_page_url(self, flow: str, run_id: str) -> str:
        """The run's page in the deployed app ("" without a host name: locally, see
        `python -m shared runs show RUN_ID`). Opening it needs the host key."""
        if not self.site_hostname:
            return ""
        from urllib.parse import quote

        local = self.site_hostname.startswith(("localhost", "127.0.0.1"))
        scheme = "http" if local else "https"
        return (f"{scheme}://{self.site_hostname}/api/pages/runs/{quote(flow, safe='')}/"
                f"{run_id}")

    def secret(self, name: str) -> str:
        """The value of the app setting *name* (a Key Vault reference in Azure), or ""."""
        return self.app_settings.get(name, "") if name else ""

    @property
    def acs_configured(self) -> bool:
        return bool(self.acs_connection_string or self.acs_endpoint)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 base_dir: Path | None = None) -> Settings:
        """The settings of *env* (default: the process environment). Relative folders
        are read against *base_dir* when given (the Functions app passes its own
        folder: the worker's current directory is not promised), else the current
        directory."""
        env = os.environ if env is None else env

        def folder(name: str, default: str) -> Path:
            path = Path(env.get(name) or default)
            return base_dir / path if base_dir is not None and not path.is_absolute() else path

        return cls(
            flows_dir=folder("FLOWS_DIR", "flows"),
            outbox_dir=folder("OUTBOX_DIR", "outbox"),
            state_dir=folder("STATE_DIR", ".state"),
            run_deadline_seconds=_number(env, "RUN_DEADLINE_SECONDS", 540.0),
            kusto_client_grace_seconds=_number(env, "KUSTO_CLIENT_GRACE_SECONDS", 5.0),
            acs_connection_string=env.get("ACS_CONNECTION_STRING", ""),
            acs_endpoint=env.get("ACS_ENDPOINT", ""),
            email_sender=env.get("EMAIL_SENDER") or "DoNotReply@kusto-flows.local",
            email_dry_run=_flag(env.get("EMAIL_DRY_RUN")),
            email_allowed_domains=tuple(
                d.strip().lower().lstrip("@") for d in env.get("EMAIL_ALLOWED_DOMAINS", "")
                .split(",") if d.strip()),
            email_poll_seconds=_number(env, "EMAIL_POLL_SECONDS", 1.0),
            email_send_timeout_seconds=_number(env, "EMAIL_SEND_TIMEOUT_SECONDS", 60.0),
            azure_client_id=env.get("AZURE_CLIENT_ID", ""),
            runs_table_connection_string=env.get("RUNS_TABLE_CONNECTION_STRING", ""),
            runs_table_endpoint=env.get("RUNS_TABLE_ENDPOINT", ""),
            runs_retention_days=_number(env, "RUNS_RETENTION_DAYS", 30.0),
            webhook_max_body_bytes=int(_number(env, "WEBHOOK_MAX_BODY_BYTES", 1_048_576)),
            operation_poll_seconds=_number(env, "OPERATION_POLL_SECONDS", 5.0),
            site_hostname=env.get("WEBSITE_HOSTNAME", ""),
            storage_connection_string=env.get("AzureWebJobsStorage", ""),
            storage_queue_uri=env.get("AzureWebJobsStorage__queueServiceUri", ""),
            storage_blob_uri=env.get("AzureWebJobsStorage__blobServiceUri", ""),
            results_container=env.get("RESULTS_CONTAINER") or "flow-results",
            schedule_overrides={
                key[len("FLOW_SCHEDULE__"):]: value
                for key, value in env.items()
                if key.startswith("FLOW_SCHEDULE__") and value.strip()
            },
            app_settings=dict(env),
        )
