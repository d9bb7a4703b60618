"""The run history commands of `python -m shared`: `runs`, `runs show` and `resubmit`.

They are how people find out why a report did not arrive and send it again, so each
test runs real flows on the embedded Kusto default through `main([...])`, with the
flows folder, run store and outbox in a temp folder (set through the environment,
as `Settings.from_env` reads it), and checks what is printed and what the run store
then holds.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from shared.cli import main
from shared.results import RunStatus
from shared.runs import open_run_store
from shared.settings import Settings
from tests.helpers import write_flow

#: Fails with InvalidInput when trigger.body.n is not a number, naming the value.
COUNT_FLOW = """\
    steps:
      - id: q
        action: kusto.query
        connection: samples
        query: |
          declare query_parameters(n:long);
          StormEvents | where InjuriesDirect > n | count
        parameters: {n: "{{ trigger.body.n }}"}
    """
PRINT_FLOW = """\
    steps:
      - {id: q, action: kusto.query, connection: samples, query: print x = 1}
    """
RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "flows"
    write_flow(folder, "count", COUNT_FLOW)
    write_flow(folder, "hello", PRINT_FLOW)
    monkeypatch.setenv("FLOWS_DIR", str(folder))
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    return folder


def run(capsys: pytest.CaptureFixture[str], flow: str, body: str | None = None) -> str:
    """Runs *flow* with `python -m shared run`; its run id."""
    code = main(["run", flow, *(["--body", body] if body else [])])
    started = re.search(r"▶ \S+  run ([0-9a-f]{32})", capsys.readouterr().out)
    assert started, "run prints the run id"
    assert code == (0 if body != '{"n": "lots"}' else 1)
    return started.group(1)


def listed_ids(text: str) -> list[str]:
    return RUN_ID.findall(text)


def stored(run_id: str, flow: str = "count") -> Any:
    with open_run_store(Settings.from_env()) as store:
        found = store.get_run(flow, run_id)
    assert found is not None
    return found[0]


def test_runs_lists_the_runs_of_every_flow_merged_newest_first(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [run(capsys, "count", '{"n": 5}'), run(capsys, "hello"),
           run(capsys, "count", '{"n": "lots"}'), run(capsys, "hello")]
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert listed_ids(out) == ids[::-1]
    header, *rows = out.splitlines()
    assert header.split() == ["FLOW", "START", "(UTC)", "DURATION", "STATUS", "TRIGGER",
                              "FAILING", "STEP", "RUN", "ID"]
    assert [row.split()[0] for row in rows] == ["hello", "count", "hello", "count"]
    assert "Failed" in rows[1] and "q (InvalidInput)" in rows[1]
    assert "Succeeded" in rows[0] and "manual" in rows[0]


def test_runs_of_one_flow_lists_only_that_flow_newest_first(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run(capsys, "count", '{"n": 5}')
    run(capsys, "hello")
    second = run(capsys, "count", '{"n": 3}')
    assert main(["runs", "count"]) == 0
    out = capsys.readouterr().out
    assert listed_ids(out) == [second, first]
    assert "FLOW" not in out.splitlines()[0]


def test_status_failed_lists_only_the_failed_runs(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "count", '{"n": 5}')
    failed = run(capsys, "count", '{"n": "lots"}')
    run(capsys, "hello")
    assert main(["runs", "--status", "failed"]) == 0
    assert listed_ids(capsys.readouterr().out) == [failed]
    assert main(["runs", "hello", "--status", "failed"]) == 0
    assert capsys.readouterr().out.strip() == "no failed runs of flow 'hello'"


def test_an_unknown_status_is_refused_naming_the_ones_there_are(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--status", "broken"])
    assert exited.value.code == 2
    assert "'broken' is not a run status" in capsys.readouterr().err


def test_following_the_printed_next_page_commands_lists_every_run_once_in_order(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [run(capsys, "count", '{"n": 5}'), run(capsys, "hello"), run(capsys, "hello"),
           run(capsys, "count", '{"n": 2}'), run(capsys, "hello")]
    for target in ([], ["hello"]):
        expected = [i for i in ids[::-1] if target == [] or i in (ids[1], ids[2], ids[4])]
        seen: list[str] = []
        argv = ["runs", *target, "--top", "2"]
        for _ in range(10):
            assert main(argv) == 0
            out = capsys.readouterr().out
            page = listed_ids(out)
            assert len(page) <= 2
            seen += page
            following = [line for line in out.splitlines() if line.startswith("next page: ")]
            if not following:
                break
            argv = shlex.split(following[0].removeprefix("next page: "))[3:]
        assert seen == expected


def test_a_token_for_one_flow_is_refused_for_all_flows_with_a_clear_message(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "hello")
    run(capsys, "hello")
    assert main(["runs", "hello", "--top", "1"]) == 0
    token = capsys.readouterr().out.split("--continuation ")[1].strip()
    assert main(["runs", "--continuation", token]) == 2
    assert "pages the runs of one flow, 'hello'" in capsys.readouterr().err


def test_runs_show_gives_the_run_and_the_failing_steps_error_code_message_and_hint(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failed = run(capsys, "count", '{"n": "lots"}')
    assert main(["runs", "show", failed]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run {failed} of flow count\n")
    assert re.search(r"status:\s+✖ Failed", out)
    assert re.search(r"trigger:\s+manual", out)
    assert re.search(r"failing step:\s+q", out)
    assert "✖ q [kusto.query] Failed in" in out
    assert "InvalidInput: parameter 'n' is declared long, but the value is 'lots'" in out
    assert "hint: fix the value" in out
    assert "resubmitted from" not in out


def test_runs_show_accepts_flow_slash_run_id(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = run(capsys, "hello")
    assert main(["runs", "show", f"hello/{ok}"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"status:\s+✔ Succeeded", out)
    assert "✔ q [kusto.query] Succeeded in" in out
    assert main(["runs", "show", f"count/{ok}"]) == 1
    assert f"no run '{ok}' in the run history of flow 'count'" in capsys.readouterr().err


def test_an_unknown_run_id_exits_1_with_a_clear_message(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "hello")
    for command in (["runs", "show"], ["resubmit"]):
        assert main([*command, "0" * 32]) == 1
        captured = capsys.readouterr()
        assert f"no run '{'0' * 32}' in the run history of any of the 2 flow(s)" in \
            captured.err
        assert captured.out == ""


def test_resubmit_runs_the_flow_again_with_the_same_body_linked_to_the_old_run(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = run(capsys, "count", '{"n": "lots"}')
    assert main(["resubmit", old]) == 1  # the same body fails the same way
    out = capsys.readouterr().out
    new = re.search(r"▶ count  run ([0-9a-f]{32})  \(resubmit\)", out)
    assert new and new.group(1) != old
    assert "InvalidInput: parameter 'n' is declared long, but the value is 'lots'" in out
    record = stored(new.group(1))
    assert record.resubmitted_from == old
    assert record.trigger_body == {"n": "lots"}
    assert record.trigger == "resubmit"
    assert record.status == RunStatus.FAILED
    assert main(["runs", "show", new.group(1)]) == 0
    assert re.search(rf"resubmitted from:\s+{old}", capsys.readouterr().out)


def test_resubmitting_a_run_that_succeeds_exits_0(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = run(capsys, "count", '{"n": 5}')
    assert main(["resubmit", f"count/{old}"]) == 0
    out = capsys.readouterr().out
    assert "■ count Succeeded" in out
    assert main(["runs", "count"]) == 0
    ids = listed_ids(capsys.readouterr().out)
    assert len(ids) == 2 and ids[1] == old
    assert stored(ids[0]).trigger_body == {"n": 5}


def test_resubmit_refuses_a_run_whose_body_was_too_large_to_keep(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = run(capsys, "count", '{"n": 1, "pad": "' + "x" * 400_000 + '"}')
    assert main(["resubmit", big]) == 1
    captured = capsys.readouterr()
    assert "cannot be resubmitted: its trigger body was too large to keep" in captured.err
    assert "▶" not in captured.out
    assert main(["runs", "count"]) == 0
    assert listed_ids(capsys.readouterr().out) == [big]


def test_runs_of_a_flow_that_is_not_there_and_has_no_history_exits_1(
        flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "nosuch"]) == 1
    assert "no flow named 'nosuch'" in capsys.readouterr().err
