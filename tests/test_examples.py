"""Every example flow in flows/ runs end to end, on the embedded default and through
the real azure-kusto-data client against `duckdb-kql serve` on 127.0.0.1, and both
paths give the same result."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

from shared.loader import load_folder
from shared.model import Connection
from shared.results import RunStatus
from shared.runner import Trigger
from tests.helpers import runner_for, settings_for
from tests.webhook_receiver import WebhookReceiver

FLOWS = load_folder(Path("flows"))
BODIES: dict[str, Any] = {"storm-state-report": {"state": "TEXAS", "min_events": 2}}


def connections_for(path_kind: str, server_url: str) -> dict[str, Any]:
    """The examples' connections; on the server path, each Kusto one points at the test
    server (SQL ones stay as they are: `warehouse` is a SQLite file under STATE_DIR)."""
    if path_kind == "embedded":
        return FLOWS.connections
    return {name: Connection(cluster=server_url, database=c.database)
            if isinstance(c, Connection) else c for name, c in FLOWS.connections.items()}


@pytest.fixture(params=["embedded", "server"])
def path_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("name", sorted(FLOWS.flows))
def test_each_example_flow_runs_and_mails_or_posts(name: str, path_kind: str, tmp_path: Path,
                                                   kusto_server: Any,
                                                   webhook_receiver: WebhookReceiver) -> None:
    # The Teams and webhook examples post to the local receiver through the URL
    # settings they name (with none set they fail, naming the setting).
    teams, signed = webhook_receiver.hook(), webhook_receiver.hook(secret="example-secret")
    settings = settings_for(tmp_path, app_settings={
        "STORM_TEAMS_WEBHOOK_URL": teams.url, "STORM_WEBHOOK_URL": signed.url,
        "STORM_WEBHOOK_SECRET": "example-secret"})
    runner = runner_for(settings, connections_for(path_kind, kusto_server.url))
    run = runner.run(FLOWS.flows[name].flow, Trigger(kind="manual", body=BODIES.get(name)))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    messages = sorted((tmp_path / "outbox").glob("*.eml"))
    posted = teams.requests + signed.requests
    assert messages or posted, "every example mails or posts something"
    assert all(request.answered == 200 for request in posted)
    for path in messages:
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        html = parsed.get_body(("html",)).get_content()
        for cid in {part["Content-ID"].strip("<>") for part in parsed.walk()
                    if part["Content-ID"]}:
            assert f"cid:{cid}" in html


def test_both_paths_give_the_same_csv_for_the_daily_report(tmp_path: Path,
                                                           kusto_server: Any) -> None:
    csvs = []
    for kind in ("embedded", "server"):
        runner = runner_for(settings_for(tmp_path / kind), connections_for(kind, kusto_server.url))
        run = runner.run(FLOWS.flows["storm-daily-report"].flow)
        csvs.append(run.steps[0].outputs["csv"].data)
    assert csvs[0] == csvs[1]
    assert csvs[0].startswith(b"State,Events,Injuries\r\nTEXAS,")


def test_the_alert_mails_each_offending_row_to_its_owner(tmp_path: Path) -> None:
    runner = runner_for(settings_for(tmp_path), FLOWS.connections)
    run = runner.run(FLOWS.flows["storm-alert"].flow)
    rows = run.steps[0].outputs["rows"]
    assert rows, "the sample data has deadly events"
    owners = {"TEXAS": "texas-oncall@contoso.com", "KANSAS": "plains-oncall@contoso.com"}
    expected = sorted(owners.get(r["State"], "storm-oncall@contoso.com") for r in rows)
    sent = []
    for path in (tmp_path / "outbox").glob("*.eml"):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        sent.append(str(parsed["To"]))
        assert parsed["Importance"] == "High"
    assert sorted(sent) == expected


def test_the_daily_report_mails_the_bar_chart_inline_the_table_and_the_csv(
        tmp_path: Path) -> None:
    runner = runner_for(settings_for(tmp_path), FLOWS.connections)
    run = runner.run(FLOWS.flows["storm-daily-report"].flow)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert run.steps[0].summary.endswith("bar")
    [path] = (tmp_path / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    html = parsed.get_body(("html",)).get_content()
    [image] = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert image.get_content_disposition() == "inline"
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    assert image.get_content().startswith(b"\x89PNG")
    assert "<table" in html and ">TEXAS</td>" in html and "data:" not in html
    [csv_part] = list(parsed.iter_attachments())
    assert csv_part.get_filename() == "by_state.csv"
    assert csv_part.get_content().startswith("State,Events,Injuries")
    preview = next((tmp_path / "outbox").glob("*.html")).read_text(encoding="utf-8")
    assert "cid:" not in preview
