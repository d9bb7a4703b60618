"""`python -m shared backtest`: a flow's schedule replayed over past windows on the
embedded engine with nothing sent or written. The example alert over two months of
sample data gives the expected timeline (asserted on `--json`), the same changes its
real runs mail over the same windows, and totals; steps that write are skipped and
counted; failed windows are listed; a flow that cannot be replayed says why.

Why: a backtest is how a threshold is chosen before on-call gets the mail; one that
sent mail, wrote state or disagreed with the real runs would be worse than none.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.alerts.backtest import backtest
from shared.cli import main
from shared.service import FlowService
from tests.helpers import settings_for, write_flow
from tests.test_alerts import EXAMPLE, EXPECTED_MAIL

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str,
        flows: Path = ROOT / "flows") -> tuple[int, str, str]:
    monkeypatch.setenv("FLOWS_DIR", str(flows))
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def changes(timeline: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(day, change, key) of every change, in time order."""
    return sorted((c["at"][:10], c["change"], entry["label"])
                  for entry in timeline for c in entry["changes"])


def test_the_example_alert_over_two_months_gives_the_expected_timeline_and_writes_nothing(
        capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "backtest", EXAMPLE,
                       "--from", "2007-01-01", "--to", "2007-03-01", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["totals"] == {"windows": 59, "failed_windows": 0, "fired": 8,
                                "repeated": 7, "resolved": 7, "notifications": 22,
                                "skipped_steps": {"email.send": 22}}
    assert result["failures"] == []
    assert [(e["label"], [(c["at"][:10], c["change"]) for c in e["changes"]])
            for e in result["timeline"]] == [
        ("TEXAS", [("2007-01-15", "fired"), ("2007-01-17", "repeated"),
                   ("2007-01-19", "resolved")]),
        ("OKLAHOMA", [("2007-01-16", "fired"), ("2007-01-18", "resolved")]),
        ("MISSOURI", [("2007-01-17", "fired"), ("2007-01-19", "repeated"),
                      ("2007-01-20", "resolved")]),
        ("NEW YORK", [("2007-02-16", "fired"), ("2007-02-18", "repeated"),
                      ("2007-02-19", "resolved")]),
        ("PENNSYLVANIA", [("2007-02-16", "fired"), ("2007-02-18", "repeated"),
                          ("2007-02-19", "resolved")]),
        ("IOWA", [("2007-02-26", "fired"), ("2007-02-28", "repeated"),
                  ("2007-03-01", "resolved")]),
        ("KANSAS", [("2007-02-26", "fired"), ("2007-02-28", "repeated"),
                    ("2007-03-01", "resolved")]),
        ("NEBRASKA", [("2007-02-26", "fired"), ("2007-02-28", "repeated")]),
    ]
    nebraska = result["timeline"][-1]
    assert nebraska["step"] == "breach" and nebraska["key"] == {"State": "NEBRASKA"}
    fired = nebraska["changes"][0]
    assert fired["since"] == "2007-02-24T00:00:00+00:00" and fired["evaluations"] == 3
    assert fired["row"]["State"] == "NEBRASKA" and fired["row"]["Damage"] >= 250000
    # Nothing sent, no alert state, no run recorded.
    assert not (tmp_path / "outbox").exists()
    assert cli(capsys, monkeypatch, tmp_path, "alerts", "--json")[1].strip() == \
        '{\n  "alerts": []\n}'
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "runs", EXAMPLE)
    assert code == 0 and "no runs" in out


def test_the_backtest_finds_the_changes_the_real_runs_mail(
        capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The windows the real runs of tests/test_alerts.py cover: ending 01-10 .. 02-01.
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "backtest", EXAMPLE,
                       "--from", "2007-01-09", "--to", "2007-02-01", "--json")
    assert code == 0
    mailed = sorted((when, *subject.split(": storm damage in "))
                    for when, subjects in EXPECTED_MAIL.items() for subject in subjects)
    assert changes(json.loads(out)["timeline"]) == [
        (when, kind.lower(), key) for when, kind, key in mailed]


def test_the_text_timeline_lists_each_key_then_the_totals(
        capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "backtest", EXAMPLE,
                       "--from", "2007-02-20", "--to", "2007-03-01")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"Backtest of {EXAMPLE}: 9 windows of its schedule (every day "
                               "at 00:00), 2007-02-20 00:00 to 2007-03-01 00:00 UTC")
    assert "IOWA  (breach)" in lines
    assert "  2007-02-26 00:00  fired     breaching since 2007-02-24 00:00" in lines
    assert "  2007-03-01 00:00  resolved  after 6 evaluation(s)" in lines
    assert lines[-1] == ("Totals: 3 fired, 3 repeated, 2 resolved; 8 step(s) that send or "
                         "write would have run (email.send ×8).")


APPENDER = """\
    trigger: {schedule: "0 0 * * * *"}
    steps:
      - id: append
        action: kusto.command
        connection: samples
        command: ".set-or-append JobLog <| print Timestamp = now(), Job = 'x', RowCount = 1"
      - {id: count, action: kusto.query, connection: samples, query: "JobLog | count"}
      - {id: mail, action: email.send, to: a@contoso.com, subject: "s", body: "b"}
    """


def test_steps_that_write_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "appender", APPENDER)
    with FlowService.load(settings_for(tmp_path, flows_dir=folder)) as service:
        result = backtest(service, "appender", datetime(2024, 1, 1, tzinfo=UTC),
                          datetime(2024, 1, 1, 3, tzinfo=UTC))
    assert len(result.windows) == 3
    counts = {window.run.steps[1].outputs["rows"][0]["Count"] for window in result.windows}
    assert len(counts) == 1  # JobLog never grew: the command never ran
    for window in result.windows:
        append, _, mail = window.run.steps
        assert append.summary == mail.summary == "skipped in backtest"
    assert result.totals()["skipped_steps"] == {"kusto.command": 3, "email.send": 3}
    assert [w.run.steps[0].outputs for w in result.windows] == [{}, {}, {}]
    assert not (tmp_path / "outbox").exists()


def test_windows_that_fail_are_listed_and_the_backtest_still_exits_0(
        capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "typo", """\
        trigger: {schedule: "0 0 * * * *"}
        steps: [{id: q, action: kusto.query, connection: samples, query: "StormEvnts | count"}]
        """)
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "backtest", "typo", "--from",
                       "2024-01-01T00:00", "--to", "2024-01-01T02:00", "--json", flows=folder)
    assert code == 0
    result = json.loads(out)
    assert result["totals"]["failed_windows"] == 2
    assert [(f["end"], f["step"], f["code"]) for f in result["failures"]] == [
        ("2024-01-01T01:00:00+00:00", "q", "KustoQueryError"),
        ("2024-01-01T02:00:00+00:00", "q", "KustoQueryError")]


@pytest.mark.parametrize("flow_text, args, code, words", [
    ("steps: [{id: q, action: kusto.query, connection: samples, query: print x = 1}]\n",
     ["--from", "2024-01-01", "--to", "2024-01-02"], 1, "has no schedule"),
    ('trigger: {schedule: "0 0 0 * * *"}\n'
     "steps: [{id: q, action: kusto.query, connection: samples, query: print x = 1}]\n",
     ["--from", "2024-01-02", "--to", "2024-01-01"], 1, "--to must be after --from"),
    ('trigger: {schedule: "0 0 0 1 * *"}\n'
     "steps: [{id: q, action: kusto.query, connection: samples, query: print x = 1}]\n",
     ["--from", "2024-01-02", "--to", "2024-01-20"], 1, "no whole window"),
    ('trigger: {schedule: "* * * * * *"}\n'
     "steps: [{id: q, action: kusto.query, connection: samples, query: print x = 1}]\n",
     ["--from", "2024-01-01", "--to", "2024-01-02"], 1, "more than 10,000"),
    ('trigger: {schedule: "0 0 0 * * *"}\n'
     "steps: [{id: q, action: kusto.query, connection: samples, query: print x = 1}]\n",
     ["--from", "yesterday"], 2, "not a date"),
])
def test_a_flow_or_range_that_cannot_be_replayed_says_why(
        capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flow_text: str,
        args: list[str], code: int, words: str) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "f", flow_text)
    try:
        got, _, err = cli(capsys, monkeypatch, tmp_path, "backtest", "f", *args, flows=folder)
    except SystemExit as exit_:  # argparse refuses the arguments
        got, err = int(exit_.code or 0), capsys.readouterr().err
    assert got == code and words in err, err
    if code == 1:
        assert cli(capsys, monkeypatch, tmp_path, "backtest", "nope", "--from", "2024-01-01",
                   flows=folder)[0] == 1
