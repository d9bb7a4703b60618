"""The README's claims hold: the two commands, every setting the code reads, the
portal setting names of the example flows, the committed flow-file schema and the
images it shows.

Why: the README is the first thing a user follows; a setting added to the code but
not documented, or a schema file that no longer matches the model, misleads silently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.loader import load_folder
from shared.model import StepModel
from shared.settings import SETTING_NAMES, schedule_override_setting
from shared.steps import REGISTRY
from shared.timers import timer_function_name

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert "make run" in first_block and "make test" in first_block


def test_every_setting_the_code_reads_is_documented() -> None:
    missing = [name for name in SETTING_NAMES if f"`{name}" not in README]
    assert not missing, f"settings missing from the README: {missing}"


def test_the_portal_override_setting_of_every_scheduled_example_flow_is_named() -> None:
    flows = load_folder(ROOT / "flows").flows
    for name, loaded in flows.items():
        if loaded.flow.trigger.schedule:
            assert schedule_override_setting(name) in README, name
    assert f"AzureWebJobs.{timer_function_name('storm-daily-report')}.Disabled" in README


def test_the_committed_flow_schema_is_the_registrys() -> None:
    committed = json.loads((ROOT / "docs" / "flow.schema.json").read_text(encoding="utf-8"))
    assert committed == REGISTRY.json_schema(), \
        "run: python -m shared schema > docs/flow.schema.json"


def test_the_readme_action_table_is_the_registrys() -> None:
    assert REGISTRY.markdown_table() in README, \
        "paste the output of `python -m shared actions` into the README's Steps section"


def test_every_field_of_every_action_is_named_in_its_readme_row() -> None:
    by_name = {action.name: action for action in REGISTRY.actions}
    for action in REGISTRY.actions:
        # A row may name another ("the rest as `kusto.visualize`"): its fields count too.
        docs, named = action.fields_doc, {action.name}
        while found := [n for n in by_name if f"`{n}`" in docs and n not in named]:
            named.update(found)
            docs += "".join(by_name[n].fields_doc for n in found)
        for name, info in action.model.model_fields.items():
            if name not in StepModel.model_fields:
                assert f"`{info.alias or name}`" in docs, (action.name, name)


def test_every_image_the_readme_shows_is_committed() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert images
    for image in images:
        assert (ROOT / image).is_file(), image


def test_every_example_flow_points_editors_at_the_committed_schema() -> None:
    for path in sorted((ROOT / "flows").glob("*.yaml")):
        if path.name != "connections.yaml":
            first = path.read_text(encoding="utf-8").splitlines()[0]
            assert first == "# yaml-language-server: $schema=../docs/flow.schema.json", path
