"""Dynamic content: sandboxed Jinja2 with strict undefined.

- A string may hold `{{ ... }}` templates; a string that is exactly one
  `{{ expr }}` keeps the expression's native type (list, number, attachment).
- `if` and `items` are bare expressions (no braces).
- HTML fields render with autoescape: a value from a webhook body or a query
  result is escaped; trusted HTML a step produced (`body_html`) is `Markup` and
  passes through unchanged.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from .errors import TemplateError
from .mail.message import Attachment, HtmlWithParts

__all__ = ["Markup", "evaluate", "has_template", "render_value", "template_names", "validate"]

_STEP_REFERENCE = re.compile(r"steps\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime | date):
        return value.strftime(fmt)
    raise TypeError(f"date filter needs a datetime, got {type(value).__name__}")


def _datetime(value: Any, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return _date(value, fmt)


#: The inline parts of the step HTML a template is rendering (see `_render_string`).
_parts_seen: ContextVar[list[Attachment] | None] = ContextVar("parts_seen", default=None)


def _note_parts(value: Any) -> Any:
    """Every value a template prints passes here: step HTML with inline parts (a
    report's chart) hands its parts on to the rendered result."""
    seen = _parts_seen.get()
    if seen is not None and isinstance(value, HtmlWithParts):
        seen.extend(value.parts)
    return value


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=autoescape,
                               keep_trailing_newline=True, finalize=_note_parts)
    env.filters["date"] = _date
    env.filters["datetime"] = _datetime
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def has_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@lru_cache(maxsize=1024)
def _compile_template(text: str, html: bool) -> jinja2.Template:
    return (_HTML if html else _TEXT).from_string(text)


@lru_cache(maxsize=1024)
def _compile_expression(expr: str) -> Any:
    return _TEXT.compile_expression(expr, undefined_to_none=False)


def _explain(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"{exc.message} (check the name and that the step ran before this one)"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"syntax error: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def validate(text: str, *, bare: bool = False) -> str | None:
    """Syntax-check a template (or a bare expression); the problem, or None."""
    try:
        if bare:
            _compile_expression(text)
        else:
            _compile_template(text, False)
    except jinja2.TemplateSyntaxError as exc:
        return _explain(exc)
    return None


def template_names(text: str) -> set[str]:
    """Step ids referenced as `steps.<id>` or `steps['<id>']`."""
    return {a or b for a, b in _STEP_REFERENCE.findall(text)}


def _defined(value: Any) -> Any:
    """A bare expression returns Undefined instead of raising; make it raise."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def evaluate(expr: str, context: dict[str, Any], *, field: str) -> Any:
    """Evaluate a bare expression (`if`, `items`)."""
    try:
        return _defined(_compile_expression(expr)(**context))
    except Exception as exc:  # any template failure is the user's to fix, named by field
        raise TemplateError(f"field '{field}': {_explain(exc)}",
                            hint="fix the expression in the flow file") from exc


def render_value(value: Any, context: dict[str, Any], *, field: str, html: bool = False) -> Any:
    """Render templates inside a field value (strings, lists, dicts)."""
    if isinstance(value, str):
        return _render_string(value, context, field, html)
    if isinstance(value, list):
        return [render_value(v, context, field=f"{field}[{i}]", html=html)
                for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: render_value(v, context, field=f"{field}.{k}", html=html)
                for k, v in value.items()}
    return value


def _render_string(text: str, context: dict[str, Any], field: str, html: bool) -> Any:
    if not has_template(text):  # the flow author's own HTML is trusted as written
        return Markup(text) if html else text
    try:
        single = _SINGLE_EXPRESSION.match(text)
        if single:
            result = _defined(_compile_expression(single.group("expr").strip())(**context))
            if html and isinstance(result, str) and not isinstance(result, Markup):
                return Markup(escape(result))
            return result
        if not html:
            return _compile_template(text, html).render(**context)
        token = _parts_seen.set([])
        try:
            rendered = _compile_template(text, html).render(**context)
            parts = _parts_seen.get() or []
        finally:
            _parts_seen.reset(token)
        return HtmlWithParts(rendered, parts) if parts else Markup(rendered)
    except Exception as exc:  # any template failure is the user's to fix, named by field
        raise TemplateError(f"field '{field}': {_explain(exc)}",
                            hint="fix the template in the flow file") from exc
