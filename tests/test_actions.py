"""Actions are one module each, joined by one registry: an action defined here, in the
tests, is read, checked, rendered and run by the unchanged loader and runner once it
is registered, and nowhere else.

Why: the product grows by actions (HTTP, Teams, SQL, ingest, alerts). If adding one
needs edits to the model, the loader and the runner, their lists drift apart (a field
refused at load that the runner never templates); one registry keeps them one list.
"""

from __future__ import annotations

import email
from collections.abc import Mapping
from email import policy
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from shared.loader import FlowFileInvalid, load_flow
from shared.model import Static, StepModel
from shared.results import RunStatus
from shared.steps import REGISTRY, Action, StepContext, StepOutcome
from tests.helpers import run_flow_file, settings_for, write_flow


class StampStep(StepModel):
    """A test action: stamps a label, upper-cased or as is."""

    action: Literal["test.stamp"]
    label: str
    mode: Annotated[Literal["upper", "keep"] | str, Static] = "upper"


def run_stamp(step: StampStep, inputs: Mapping[str, Any], ctx: StepContext) -> StepOutcome:
    label = str(inputs["label"])
    text = label.upper() if step.mode == "upper" else f"{step.mode}:{label}"
    return StepOutcome({"text": text, "path": ctx.step_path}, f"stamped {text}")


STAMP = Action(StampStep, run_stamp, title="Stamp a label", fields_doc="`label`, `mode`",
               outputs_doc="`text`, `path`")
WITH_STAMP = REGISTRY.with_actions(STAMP)

FLOW = """\
    steps:
      - {id: first, action: test.stamp, label: "{{ vars.name }}"}
      - id: each
        action: foreach
        items: "[1, 2]"
        steps:
          - id: inner
            action: condition
            if: item == 2
            then:
              - {id: deep, action: test.stamp, label: "n{{ item }}", mode: "{{ State"}
      - id: mail
        action: email.send
        to: a@contoso.com
        subject: "{{ steps.first.text }}"
        body: "{{ steps.each.iterations[1].deep.text }}"
    vars: {name: storm}
    """


def test_an_action_defined_in_the_tests_runs_at_the_top_and_inside_foreach_and_condition(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path, "stamped", FLOW)
    run = run_flow_file(path, settings_for(tmp_path), registry=WITH_STAMP)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    outputs = {step.path: step.outputs for step in run.steps}
    assert outputs["first"] == {"text": "STORM", "path": "first"}
    # A static field is used as written: "{{ State" is text, not a template.
    assert outputs["each[1].inner.then.deep"]["text"] == "{{ State:n2"
    [eml] = (tmp_path / "outbox").glob("*.eml")
    mail = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert mail["Subject"] == "STORM"
    assert "{{ State:n2" in mail.get_body(("html",)).get_content()


def test_the_products_registry_is_left_unchanged_and_refuses_the_test_action(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path, "stamped", FLOW)
    with pytest.raises(FlowFileInvalid) as refused:
        load_flow(path)
    problem = refused.value.problems[0]
    assert (problem.step, problem.field) == ("first", "action")
    assert "unknown action 'test.stamp'; known actions: kusto.query" in problem.message
    assert "test.stamp" not in REGISTRY.names and "test.stamp" in WITH_STAMP.names


def test_the_loader_checks_the_templated_fields_of_a_new_action_and_skips_its_static_ones(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path, "bad", """\
        steps:
          - {id: a, action: test.stamp, label: "{{ steps.b.text }}", mode: "{{ ignored"}
          - {id: b, action: test.stamp, label: "{{ oops", extra: 1}
        """)
    with pytest.raises(FlowFileInvalid) as refused:
        load_flow(path, registry=WITH_STAMP)
    found = sorted((p.step, p.field, p.line) for p in refused.value.problems)
    assert found == [("b", "extra", 3)]
    path.write_text(path.read_text().replace(", extra: 1", ""))
    with pytest.raises(FlowFileInvalid) as refused:
        load_flow(path, registry=WITH_STAMP)
    messages = {(p.step, p.field): p.message for p in refused.value.problems}
    assert set(messages) == {("a", "label"), ("b", "label")}
    assert "refers to steps.b, which comes later" in messages[("a", "label")]
    assert "syntax error" in messages[("b", "label")]


def test_the_schema_and_the_action_table_come_from_the_registry() -> None:
    schema = WITH_STAMP.json_schema()
    assert "StampStep" in schema["$defs"]
    mapping = schema["$defs"]["ForeachStep"]["properties"]["steps"]["items"]
    assert "test.stamp" in mapping["discriminator"]["mapping"]
    assert "| `test.stamp` | `label`, `mode` | `text`, `path` |" in WITH_STAMP.markdown_table()
    assert "StampStep" not in REGISTRY.json_schema()["$defs"]


def test_an_action_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'test.stamp' is registered twice"):
        WITH_STAMP.with_actions(STAMP)


def test_a_static_field_of_a_product_action_is_not_checked_as_a_template(
        tmp_path: Path) -> None:
    """`x` names a column and is never templated, so "{{ State" is a (strange) column
    name, not a template error: the loader and the runner agree on which fields are
    templates because both read them from the step model."""
    path = write_flow(tmp_path, "static", """\
        steps:
          - id: chart
            action: kusto.visualize
            connection: samples
            query: print a = 1
            x: "{{ State"
        """)
    assert load_flow(path).flow.steps[0].x == "{{ State"  # type: ignore[attr-defined]
