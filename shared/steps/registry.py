"""The actions a flow may use, and everything that follows from that list: the model
a flow file is read with (its discriminated union of step models), the JSON Schema,
the README's action table, and each action's executor for the runner.

    registry = ActionRegistry([kusto_query.ACTION, email_send.ACTION, ...])
    flow = registry.flow_model.model_validate(data)
    registry.action(step.action).run(step, inputs, ctx)

A registry is an immutable value: `with_actions` gives a new one with more actions
(the tests add an action of their own that way), so nothing global is patched.

Nothing is built before it is needed: the models (`step_union`, `flow_model`) on first
use, and for a registry made from a function (the product's `REGISTRY`) the actions
too, so importing `shared.steps` costs neither the action modules nor pydantic's model
building; the Functions app starts from cached flow files without them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, ForwardRef, Generic, TypeVar, Union, get_args

if TYPE_CHECKING:
    from ..model import Flow, StepModel
    from .base import StepContext, StepOutcome

__all__ = ["Action", "ActionRegistry", "Checker", "Executor"]

S = TypeVar("S", bound="StepModel")

#: What runs a step: its model instance, its rendered inputs, its context.
Executor = Callable[[S, Mapping[str, Any], "StepContext"], "StepOutcome"]
#: What `validate` asks of a step: (field, problem) for each problem found.
Checker = Callable[[S], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Action(Generic[S]):
    """One action: its step model, its executor and its line in the README."""

    model: type[S]
    run: Executor[S]
    #: The connector's name for it, or what it does in a few words.
    title: str
    #: The README's "fields" and "outputs" cells (Markdown).
    fields_doc: str
    outputs_doc: str
    #: True when running it changes something outside the run (mail, commands, HTTP):
    #: such steps must not be repeated blindly.
    writes: bool = False
    #: Checks `validate` runs on a step before any run: (field, problem) pairs for what
    #: can be told from the file alone (undeclared parameters, a bad static address).
    check: Checker[S] | None = None

    @property
    def name(self) -> str:
        (value,) = get_args(self.model.model_fields["action"].annotation)
        return str(value)


_ANY_STEP = "AnyStep"


def _with_registry_steps(model: type[S]) -> type[S]:
    """*model* itself, or for a container (a field marked `Nested`) a subclass whose
    nested steps are a forward reference to the registry's union, resolved when the
    registry rebuilds it: each registry reads nested steps with its own actions."""
    from pydantic import create_model

    from ..model import Nested

    nested = {name: info for name, info in model.model_fields.items()
              if model.field_role(name) == "nested"}
    if not nested:
        return model
    fields: dict[str, Any] = {
        name: (Annotated[list[ForwardRef(_ANY_STEP)], Nested], copy.copy(info))  # type: ignore[misc]
        for name, info in nested.items()}
    return create_model(model.__name__, __base__=model, __module__=model.__module__, **fields)


class ActionRegistry:
    def __init__(self, actions: Iterable[Action[Any]] | Callable[[], Iterable[Action[Any]]],
                 ) -> None:
        """A registry of *actions*; given a function instead, it is called on first use
        (importing the action modules is left until a flow is read or run)."""
        self._source = actions
        self._lock = threading.RLock()
        if not callable(actions):
            self._actions = self._by_name(actions)

    @staticmethod
    def _by_name(actions: Iterable[Action[Any]]) -> dict[str, Action[Any]]:
        found: dict[str, Action[Any]] = {}
        for action in actions:
            if action.name in found:
                raise ValueError(f"action '{action.name}' is registered twice")
            found[action.name] = action
        return found

    @cached_property
    def _actions(self) -> dict[str, Action[Any]]:
        source = self._source
        assert callable(source)  # otherwise set in __init__
        with self._lock:
            return self._by_name(source())

    @cached_property
    def _models(self) -> tuple[Any, type[Flow], dict[type[StepModel], Action[Any]]]:
        with self._lock:  # built once, even when two threads read the first flows at once
            return self._build_models()

    @property
    def step_union(self) -> Any:
        """The discriminated union of the registered step models (built on first use)."""
        return self._models[0]

    @property
    def flow_model(self) -> type[Flow]:
        """The model a flow file is read with (built on first use)."""
        return self._models[1]

    @property
    def _by_concrete(self) -> dict[type[StepModel], Action[Any]]:
        # The class steps are read as (a container's registry subclass) -> its action.
        return self._models[2]

    def with_actions(self, *actions: Action[Any]) -> ActionRegistry:
        return ActionRegistry([*self._actions.values(), *actions])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._actions)

    @property
    def actions(self) -> tuple[Action[Any], ...]:
        return tuple(self._actions.values())

    def action(self, name: str) -> Action[Any]:
        return self._actions[name]

    def for_step(self, step: StepModel) -> Action[Any]:
        return self._by_concrete.get(type(step)) or self._actions[step.action]

    def nested_keys(self, action: str) -> tuple[str, ...]:
        """The keys of a step mapping of *action* that hold nested steps, in field order
        (`then`, `else`; `steps`); none for an unknown action."""
        found = self._actions.get(action)
        if found is None:
            return ()
        return tuple(info.alias or name for name, info in found.model.model_fields.items()
                     if found.model.field_role(name) == "nested")

    @cached_property
    def all_nested_keys(self) -> frozenset[str]:
        return frozenset(key for name in self._actions for key in self.nested_keys(name))

    # ----------------------------------------------------------------- models

    def _build_models(self) -> tuple[Any, type[Flow], dict[type[StepModel], Action[Any]]]:
        from pydantic import Field, create_model

        from ..model import Flow, Nested, OnFailure

        members: list[type[StepModel]] = []
        containers: list[type[StepModel]] = []
        by_concrete: dict[type[StepModel], Action[Any]] = {}
        for action in self._actions.values():
            model = _with_registry_steps(action.model)
            if model is not action.model:
                containers.append(model)
            by_concrete[model] = action
            members.append(model)
        # A union made at run time from the registered models: only pydantic reads it.
        union: Any = Annotated[Union[tuple(members)],  # noqa: UP007
                               Field(discriminator="action")]
        for model in containers:
            model.model_rebuild(_types_namespace={_ANY_STEP: union})
        on_failure = create_model("OnFailure", __base__=OnFailure,
                                  __module__=OnFailure.__module__,
                                  steps=(Annotated[list[union], Nested], Field(min_length=1)))
        flow_model = create_model("Flow", __base__=Flow, __module__=Flow.__module__,
                                  steps=(list[union], Field(min_length=1)),
                                  on_failure=(on_failure | None, Field(
                                      None, description=Flow.model_fields["on_failure"]
                                      .description)))
        return union, flow_model, by_concrete

    def json_schema(self) -> dict[str, Any]:
        schema = self.flow_model.model_json_schema(by_alias=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        return schema

    # ----------------------------------------------------------------- README

    def markdown_table(self) -> str:
        """The README's action table, one row an action in registry order."""
        rows = ["| action | fields | outputs |", "|---|---|---|"]
        rows += [f"| `{a.name}` | {a.fields_doc} | {a.outputs_doc} |" for a in self.actions]
        return "\n".join(rows)

