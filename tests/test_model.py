"""The flow file model and loader: every bad input is reported with the file, the
line, the step id and the field, in words a user can act on; a folder reports
every bad file, not just the first."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.cli import main
from shared.loader import FlowFileInvalid, load_connections, load_flow, load_folder
from shared.timers import timer_function_name
from tests.helpers import write_flow

GOOD = """\
description: ok
steps:
  - id: q
    action: kusto.query
    connection: samples
    query: StormEvents | count
"""


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write_flow(tmp_path, "flow", text)
    connections, _ = load_connections(tmp_path / "connections.yaml")
    with pytest.raises(FlowFileInvalid) as caught:
        load_flow(path, connections)
    return [str(p) for p in caught.value.problems]


def test_a_valid_flow_loads_with_its_name_taken_from_the_file(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "my-report", GOOD)
    connections, _ = load_connections(tmp_path / "connections.yaml")
    loaded = load_flow(path, connections)
    assert loaded.name == "my-report"
    assert loaded.flow.limits.max_records == 500_000
    assert loaded.flow.limits.request_timeout == 90


def test_an_unknown_key_names_file_line_step_and_field(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + "    colour: red\n")
    assert found == [f"{tmp_path / 'flow.yaml'}:7: step 'q', field 'colour': unknown key "
                     "(check its spelling; see `python -m shared schema`)"]


def test_an_unknown_action_lists_the_known_ones(tmp_path: Path) -> None:
    found = problems_of(tmp_path, """\
        steps:
          - id: v
            action: kusto.visualise
        """)
    assert len(found) == 1
    assert ":3: step 'v', field 'action': unknown action 'kusto.visualise'" in found[0]
    assert "kusto.visualize" in found[0]


def test_duplicate_step_ids_are_refused_with_the_first_line(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + """\
  - id: q
    action: kusto.query
    connection: samples
    query: StormEvents | count
""")
    assert len(found) == 1
    assert ":7: step 'q', field 'id': duplicate step id 'q' (first used on line 3)" in found[0]


def test_a_bad_schedule_names_the_field_and_the_problem(tmp_path: Path) -> None:
    found = problems_of(tmp_path, 'trigger:\n  schedule: "0 0 25 * * *"\n' + GOOD)
    assert len(found) == 1
    assert ":2: field 'trigger.schedule':" in found[0]
    assert "hour" in found[0]


def test_an_unknown_connection_says_where_connections_are_defined(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("connection: samples", "connection: prod"))
    assert len(found) == 1
    assert ":5: step 'q', field 'connection': unknown connection 'prod' (known: samples)" \
        in found[0]
    assert "connections.yaml" in found[0]


def test_a_reference_to_a_later_step_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, """\
        steps:
          - id: mail
            action: email.send
            to: a@contoso.com
            subject: "{{ steps.q.row_count }} rows"
            body: x
          - id: q
            action: kusto.query
            connection: samples
            query: StormEvents | count
        """)
    assert len(found) == 1
    assert ":5: step 'mail', field 'subject': refers to steps.q, which comes later" in found[0]


def test_a_reference_to_a_step_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + """\
  - id: mail
    action: email.send
    to: a@contoso.com
    subject: x
    body: "{{ steps.qq.body_html }}"
""")
    assert "step 'mail', field 'body': refers to steps.qq, which does not exist" in found[0]


def test_a_query_starting_with_a_dot_points_to_kusto_command(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("StormEvents | count", ".show tables"))
    assert "step 'q', field 'query':" in found[0]
    assert "use the kusto.command action" in found[0]


def test_a_command_that_is_not_a_control_command_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, """\
        steps:
          - id: c
            action: kusto.command
            connection: samples
            command: StormEvents | count
        """)
    assert "step 'c', field 'command': a control command starts with '.'" in found[0]


def test_a_template_syntax_error_is_found_at_load_time(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + """\
  - id: mail
    action: email.send
    to: a@contoso.com
    subject: "{{ steps.q.row_count }"
    body: x
""")
    assert ":10: step 'mail', field 'subject': template syntax error" in found[0]


def test_nested_steps_are_located_inside_their_container(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + """\
  - id: each
    action: foreach
    items: steps.q.rows
    steps:
      - id: inner
        action: email.send
        to: a@contoso.com
        subject: x
""")
    assert found == [f"{tmp_path / 'flow.yaml'}:11: step 'inner', field 'body': "
                     "required field is missing"]


def test_duplicate_yaml_keys_are_an_error_not_a_silent_override(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "description: a\ndescription: b\n" + GOOD)
    assert found == [f"{tmp_path / 'flow.yaml'}:2: duplicate key 'description' "
                     "(first defined on line 1)"]


def test_a_flow_name_too_long_for_its_timer_function_is_refused(tmp_path: Path) -> None:
    # The host refuses function names over 128 characters; the timer is flow_<name>.
    longest = "r" * 123
    path = write_flow(tmp_path, longest, GOOD)
    connections, _ = load_connections(tmp_path / "connections.yaml")
    assert load_flow(path, connections).name == longest
    assert len(timer_function_name(longest)) == 128
    found = problems_of(tmp_path, f"name: {longest}x\n" + GOOD)
    assert found == [f"{tmp_path / 'flow.yaml'}:1: field 'name': a flow name is at most 123 "
                     "characters, this one has 124: its timer function is flow_<name>, and "
                     "Azure Functions refuses function names over 128 characters"]


def test_a_non_loopback_http_cluster_is_refused(tmp_path: Path) -> None:
    (tmp_path / "connections.yaml").write_text(
        'bad: {cluster: "http://10.1.2.3:8080"}\nok: {cluster: "http://127.0.0.1:1"}\n')
    connections, problems = load_connections(tmp_path / "connections.yaml")
    assert list(connections) == ["ok"]
    assert len(problems) == 1
    assert "connections.yaml:1: field 'bad': http is allowed only for a local emulator" \
        in str(problems[0])


def test_a_service_principal_needs_its_secret_setting_named(tmp_path: Path) -> None:
    (tmp_path / "connections.yaml").write_text(
        'sp: {cluster: "https://x.kusto.windows.net", auth: service_principal, '
        'tenant_id: t, client_id: c}\n')
    _, problems = load_connections(tmp_path / "connections.yaml")
    assert "client_secret_setting" in str(problems[0])


def test_loading_a_folder_reports_every_bad_file_and_keeps_the_good(tmp_path: Path) -> None:
    write_flow(tmp_path, "good", GOOD)
    write_flow(tmp_path, "bad-one", GOOD + "    colour: red\n")
    write_flow(tmp_path, "bad-two", "steps: []\n")
    result = load_folder(tmp_path)
    assert list(result.flows) == ["good"]
    assert sorted(Path(f).name for f in result.problems) == ["bad-one.yaml", "bad-two.yaml"]


def test_chained_flows_must_not_form_a_cycle(tmp_path: Path) -> None:
    write_flow(tmp_path, "a", "trigger: {after: b}\n" + GOOD)
    write_flow(tmp_path, "b", "trigger: {after: {flow: a, status: [failed]}}\n" + GOOD)
    result = load_folder(tmp_path)
    messages = [str(p) for p in result.all_problems]
    assert any("trigger.after makes a cycle: a -> b -> a" in m for m in messages)
    assert result.flows == {}


def test_validate_exits_1_on_any_error_and_0_when_clean(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    write_flow(tmp_path, "good", GOOD)
    assert main(["validate", str(tmp_path)]) == 0
    write_flow(tmp_path, "bad", GOOD + "    colour: red\n")
    assert main(["validate", str(tmp_path)]) == 1
    assert "field 'colour'" in capsys.readouterr().err


def test_the_schema_command_prints_a_json_schema_with_every_action(
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    text = json.dumps(schema)
    for action in ("kusto.query", "kusto.visualize", "kusto.command", "email.send",
                   "condition", "foreach"):
        assert action in text
    assert schema["additionalProperties"] is False


def test_every_example_flow_is_valid() -> None:
    result = load_folder(Path("flows"))
    assert result.ok, [str(p) for p in result.all_problems]
    assert len(result.flows) >= 6
