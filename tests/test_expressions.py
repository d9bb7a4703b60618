"""Dynamic content: sandboxed Jinja2 with strict undefined. A typo is an error that
names the field and the missing name; a single `{{ expr }}` keeps its type; HTML
fields escape values but keep HTML a step produced."""

from __future__ import annotations

import pytest

from shared.errors import TemplateError
from shared.expressions import Markup, evaluate, render_value, template_names

CONTEXT = {"steps": {"q": {"row_count": 3, "rows": [{"State": "TEXAS"}]}},
           "trigger": {"body": {"state": "<script>alert(1)</script>"}}, "vars": {"n": 2}}


def test_a_single_expression_keeps_its_native_type() -> None:
    assert render_value("{{ steps.q.rows }}", CONTEXT, field="items") == [{"State": "TEXAS"}]
    assert render_value("{{ steps.q.row_count }}", CONTEXT, field="x") == 3


def test_text_around_an_expression_makes_a_string() -> None:
    assert render_value("n={{ steps.q.row_count }}", CONTEXT, field="x") == "n=3"


def test_a_missing_name_fails_with_the_field_and_the_name() -> None:
    with pytest.raises(TemplateError) as caught:
        render_value("{{ steps.q.row_cont }}", CONTEXT, field="subject")
    assert "field 'subject'" in str(caught.value)
    assert "row_cont" in str(caught.value)


def test_bare_expressions_evaluate_to_values() -> None:
    assert evaluate("steps.q.row_count > vars.n", CONTEXT, field="if") is True


def test_the_sandbox_refuses_access_to_python_internals() -> None:
    with pytest.raises(TemplateError):
        evaluate("steps.__class__.__mro__[1].__subclasses__()", CONTEXT, field="if")


def test_html_fields_escape_untrusted_values_but_keep_step_html() -> None:
    context = {**CONTEXT, "html": Markup("<b>table</b>")}
    rendered = render_value("<p>{{ trigger.body.state }}</p>{{ html }}", context,
                            field="body", html=True)
    assert "<script>" not in rendered
    assert "&lt;script&gt;" in rendered
    assert "<b>table</b>" in rendered
    single = render_value("{{ trigger.body.state }}", context, field="body", html=True)
    assert single == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert render_value("{{ html }}", context, field="body", html=True) == "<b>table</b>"


def test_step_references_are_found_in_both_spellings() -> None:
    assert template_names("{{ steps.a.x }} {{ steps['b'].y }}") == {"a", "b"}


def test_values_in_lists_and_mappings_are_rendered() -> None:
    rendered = render_value({"a": ["{{ vars.n }}", "x"]}, CONTEXT, field="parameters")
    assert rendered == {"a": [2, "x"]}
