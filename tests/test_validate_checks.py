"""`validate` catches before any run what a flow file alone can tell: a template written
into KQL text (sent as written, it silently matches nothing), parameters the query does
not declare or declares without a default and does not get, a static e-mail address that
is not one, and a bad time zone on the `timezone:` line.

Why: each of these passed `validate` and surfaced only at run time, or never (0 rows).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.loader import FlowFileInvalid, FlowProblem, load_flow
from tests.helpers import write_flow


def problems(path: Path) -> list[FlowProblem]:
    with pytest.raises(FlowFileInvalid) as refused:
        load_flow(path)
    return refused.value.problems


def test_a_template_inside_query_text_is_refused_with_the_parameter_way_to_do_it(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: StormEvents | where State == "{{ trigger.body.state }}"
        """)
    [problem] = problems(path)
    assert (problem.step, problem.field, problem.line) == ("q", "query", 5)
    assert "not expanded in KQL text" in problem.message
    assert "declare query_parameters" in problem.message


def test_undeclared_and_missing_parameters_are_refused_on_their_lines(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: q
            action: kusto.visualize
            connection: samples
            query: |
              declare query_parameters(state:string, since:timespan = 1d);
              StormEvents | where State == state
            parameters:
              stat: "{{ trigger.body.state }}"
        """)
    found = {(p.field, p.line): p.message for p in problems(path)}
    assert "parameter 'stat' is not declared by the query (declared: state, since)" in \
        found[("parameters.stat", 9)]
    assert "declares parameter 'state' without a default" in found[("parameters", 8)]


def test_a_static_address_that_is_not_one_is_refused_a_templated_one_is_left_to_run_time(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: mail
            action: email.send
            to: [ops@contoso.com, "not an address"]
            cc: "{{ vars.cc }}"
            subject: s
            body: b
        vars: {cc: "x"}
        """)
    [problem] = problems(path)
    assert (problem.step, problem.field, problem.line) == ("mail", "to", 4)
    assert "'not an address' is not a valid e-mail address" in problem.message


def test_a_bad_time_zone_is_reported_on_the_timezone_line(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        trigger:
          schedule: "0 0 7 * * *"
          timezone: Mars/Olympus
        steps:
          - {id: q, action: kusto.query, connection: samples, query: print x = 1}
        """)
    [problem] = problems(path)
    assert (problem.field, problem.line) == ("trigger.timezone", 3)


def test_an_unknown_connection_names_the_connections_file_the_loader_read(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path / "elsewhere", "f", """\
        steps:
          - {id: q, action: kusto.query, connection: nope, query: print x = 1}
        """)
    from shared.loader import load_connections

    connections, _ = load_connections(path.parent / "connections.yaml")
    with pytest.raises(FlowFileInvalid) as refused:
        load_flow(path, connections)
    [problem] = refused.value.problems
    assert str(tmp_path / "elsewhere" / "connections.yaml") in problem.message
