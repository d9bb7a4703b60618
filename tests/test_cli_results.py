"""The CLI shows what a run produced: `run --show N` prints the first rows of each step,
`runs show` the trigger body, a unique run id prefix is enough, and `run --chain` runs
the flows chained after it from the same folder.

Why: a newcomer saw "13 rows" and never the rows, typed 32-character ids, and could not
tell from the CLI that chains run only in the app.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cli import main
from tests.helpers import write_flow


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "flows"
    write_flow(folder, "top", """\
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: StormEvents | summarize n = count() by State | top 3 by n | order by n desc
        """)
    write_flow(folder, "after-top", """\
        trigger: {after: top}
        steps:
          - {id: again, action: kusto.query, connection: samples, query: print done = 1}
        """)
    monkeypatch.setenv("FLOWS_DIR", str(folder))
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    return folder


def test_run_show_prints_the_first_rows_of_each_step(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "top", "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert "q: 2 of 3 rows" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["State", "n"])
    assert lines[header + 1].split()[0] == "TEXAS" and len(lines[header + 2].split()) == 2
    assert "after-top" not in out  # chains run only with --chain


def test_run_chain_runs_the_chained_flows_too(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "top", "--chain"]) == 0
    out = capsys.readouterr().out
    assert "▶ after-top" in out and "■ after-top Succeeded" in out


def test_runs_show_takes_a_unique_prefix_and_prints_the_trigger_body(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "top", "--body", '{"state": "TEXAS"}']) == 0
    run_id = capsys.readouterr().out.split("run ", 1)[1].split()[0]
    assert main(["runs", "show", run_id[:8]]) == 0
    out = capsys.readouterr().out
    assert f"run {run_id} of flow top" in out
    assert 'trigger body: {"state": "TEXAS"}' in out
    assert main(["runs", "show", run_id[:8], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trigger_body"] == {"state": "TEXAS"}
    assert main(["runs", "show", run_id[:2]]) == 1
    assert "at least 4 characters" in capsys.readouterr().err
