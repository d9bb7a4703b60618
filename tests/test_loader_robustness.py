"""Whatever bytes a flow file holds, the loader answers quickly with data or with
problems of that file, and the app's other flows load and run.

Why: a fuzzing review found that a file that is not UTF-8, a YAML key that is a list,
deep nesting, a recursive alias or a NUL escaped `load_folder` (so `import
function_app` failed and every function of the app was gone), that a 1 KB alias bomb
hung app start, and that a 200-deep foreach validated and then lost its step records
at run time. Here: a Hypothesis fuzz test over mutated example flows (the contract
in `tests/flow_mutations.py`), one regression test per class (both YAML parsers where
the class is YAML's), the step-nesting limit at validation and at run time, template
limits, `find_flow`, and the Functions app on a folder with broken files.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from shared.loader import (
    MAX_STEP_NESTING,
    MAX_TAG_TOKENS,
    FlowFileInvalid,
    FlowProblem,
    find_flow,
    load_connections,
    load_flow,
    load_folder,
)
from shared.results import StepStatus
from shared.yaml_lines import MAX_DEPTH, MAX_FILE_BYTES, YamlProblem, load_with_lines
from tests.flow_mutations import (
    BASES,
    EXAMPLES,
    GOOD,
    KINDS,
    Mutation,
    apply,
    check,
    laughs,
    nested_foreach,
    write_folder,
)
from tests.helpers import EMBEDDED, run_flow_file, settings_for
from tests.test_function_app import call, functions_of
from tests.test_function_app import settings_for as app_settings_for

ROOT = Path(__file__).resolve().parents[1]
PARSERS = pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure"])


def folder_with(tmp_path: Path, name: str, content: bytes | str) -> Path:
    """The connections file, the good example flow, and *name* with *content*."""
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "connections.yaml").write_text(EMBEDDED, encoding="utf-8")
    (folder / GOOD).write_bytes((EXAMPLES / GOOD).read_bytes())
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def refused(tmp_path: Path, content: bytes | str) -> FlowProblem:
    """Load a folder with *content* as `broken.yaml` beside a good flow: the good one
    loads, and the broken one's first problem (which names its file) is returned."""
    folder = folder_with(tmp_path, "broken.yaml", content)
    started = time.perf_counter()
    result = load_folder(folder)
    assert time.perf_counter() - started < 2
    assert "storm-daily-report" in result.flows
    broken = str(folder / "broken.yaml")
    assert list(result.problems) == [broken]
    assert all(p.file == broken for p in result.problems[broken])
    return result.problems[broken][0]


# ------------------------------------------------------------------------- fuzz

MUTATION = st.builds(Mutation, kind=st.sampled_from(KINDS), where=st.integers(0, 65535),
                     arg=st.integers(0, 9999))


@settings(max_examples=300, deadline=timedelta(seconds=2), database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_a_mutated_example_flow_is_accepted_or_refused_with_a_problem_of_its_own_file(
        base: str, mutations: list[Mutation]) -> None:
    mutant = apply((EXAMPLES / base).read_bytes(), mutations)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "flows"
        outcome, seconds = check(folder, write_folder(folder, base, mutant))
    assert outcome in ("accepted", "refused")
    assert seconds < 2


# ------------------------------------------------------------ one test a class

def test_a_file_that_is_not_utf8_is_refused_at_the_line_of_the_bad_byte(
        tmp_path: Path) -> None:
    problem = refused(tmp_path, b"description: caf\xe9\nsteps: []\n")
    assert problem.line == 1 and "not UTF-8" in problem.message
    assert "save the file as UTF-8" in problem.message
    assert "UTF-16" in refused(tmp_path, "steps: []\n".encode("utf-16")).message


@pytest.mark.parametrize("key", ["? [a, b]\n: 1", "[a, b]: 1", "{a: 1}: 2", "? {a: 1}\n: 2"])
def test_a_key_that_is_a_list_or_mapping_is_refused_not_a_type_error(
        tmp_path: Path, key: str) -> None:
    problem = refused(tmp_path, f"description: x\n{key}\nsteps: []\n")
    assert problem.line == 2
    assert "a key must be a plain value" in problem.message


@pytest.mark.parametrize("text", [
    "vars: " + "[" * 300 + "]" * 300 + "\n",
    "vars:\n" + "".join("  " * level + "- \n" for level in range(1, 300)),
    "vars: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n",
], ids=["flow lists", "block lists", "flow mappings"])
def test_nesting_deeper_than_the_limit_is_refused_before_python_recurses(
        tmp_path: Path, text: str) -> None:
    problem = refused(tmp_path, text)
    assert f"nested more than {MAX_DEPTH} levels deep" in problem.message


@pytest.mark.parametrize("text", ["vars: &a [*a]\n", "vars: &a {k: [1, *a]}\n",
                                  "vars: &a {*a : 1}\n"])
def test_a_recursive_alias_is_refused(tmp_path: Path, text: str) -> None:
    problem = refused(tmp_path, text + "steps: []\n")
    assert problem.line == 1
    assert "recursive alias" in problem.message


def test_an_alias_bomb_is_refused_in_milliseconds_not_expanded(tmp_path: Path) -> None:
    bomb = laughs(7)  # 9**8 = 43 million values from 600 bytes
    assert len(bomb) < 2048
    started = time.perf_counter()
    problem = refused(tmp_path, bomb + "steps: []\n")
    assert time.perf_counter() - started < 1
    assert "values once aliases are expanded" in problem.message
    assert problem.line == 5  # l4 is the first level past 50,000 values


@pytest.mark.parametrize(("character", "name"), [("\x00", "NUL U+0000"),
                                                 ("\x1b", "U+001B"), ("\x7f", "U+007F"),
                                                 ("\ufffe", "U+FFFE")])
def test_control_characters_are_refused_with_their_line_and_column(
        tmp_path: Path, character: str, name: str) -> None:
    problem = refused(tmp_path, f"description: x\nsteps:\n  - id: a{character}b\n")
    assert problem.line == 3
    assert name in problem.message and "column 10" in problem.message


def test_a_file_over_one_megabyte_is_refused_unread(tmp_path: Path) -> None:
    padding = "#" * 99 + "\n"
    big = "steps: []\n" + padding * (MAX_FILE_BYTES // len(padding) + 1)
    assert len(big) > MAX_FILE_BYTES
    problem = refused(tmp_path, big)
    assert problem.line == 1 and "larger than 1 MB" in problem.message
    # Just under the limit, it is read (and refused for what it says, not its size).
    assert "larger" not in refused(tmp_path, big[:MAX_FILE_BYTES]).message


@pytest.mark.parametrize(("value", "words"), [
    ("2001-13-45", "timestamp: month must be in 1..12"), ("!!int ''", "as int"),
    ("9" * 5000, "as int: Exceeds the limit"), ("!!timestamp soon", "as timestamp"),
])
def test_a_value_yaml_cannot_read_is_a_problem_at_its_line(
        tmp_path: Path, value: str, words: str) -> None:
    problem = refused(tmp_path, f"description: x\nvars: {{v: {value}}}\nsteps: []\n")
    assert problem.line == 2 and words in problem.message


def test_python_tags_and_other_unsafe_yaml_are_refused(tmp_path: Path) -> None:
    problem = refused(tmp_path, "vars: !!python/object/apply:os.system [ls]\nsteps: []\n")
    assert "could not determine a constructor" in problem.message


def test_a_connections_file_of_any_bytes_is_its_own_problem(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    for content in (b"\xff\xfe\x00", laughs(7).encode(), b"[" * 5000, b"a: &a [*a]"):
        path = folder / "connections.yaml"
        path.write_bytes(content)
        connections, problems = load_connections(path)
        assert connections == {} and problems and problems[0].file == str(path)


# ----------------------------------------------------------------- both parsers

@PARSERS
@pytest.mark.parametrize(("text", "line", "words"), [
    ("a: 1\n? [b]\n: 2\n", 2, "a key must be a plain value"),
    ("a: " + "[" * 300, 1, "nested more than 50 levels"),
    ("a: &a [1, *a]\n", 1, "recursive alias"),
    (laughs(7), 5, "values once aliases are expanded"),
    ("a: &a " + "[" * 30 + "]" * 30 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n", 2,
     "nests its node more than 50 levels"),
    ("a: 1\nb: x\x00\n", 2, "NUL"),
    ("a: 1\na: 2\n", 2, "duplicate key 'a' (first defined on line 1)"),
    ("a: *nothing\n", 1, "undefined alias"),
], ids=["complex key", "deep", "recursive alias", "alias bomb", "deep through an alias",
        "NUL", "duplicate key", "undefined alias"])
def test_both_yaml_parsers_refuse_the_same_way(libyaml: bool, text: str, line: int,
                                               words: str) -> None:
    with pytest.raises(YamlProblem) as caught:
        load_with_lines(text, libyaml=libyaml)
    assert caught.value.line == line and words in caught.value.message


def test_both_yaml_parsers_read_the_examples_alike_with_the_same_lines() -> None:
    for name in BASES:
        text = (EXAMPLES / name).read_text(encoding="utf-8")
        fast, fast_lines = load_with_lines(text, libyaml=True)
        pure, pure_lines = load_with_lines(text, libyaml=False)
        assert fast == pure
        for path in [("steps",), ("steps", 0, "id"), ("steps", 1, "action"), ("samples",)]:
            assert fast_lines.line(path) == pure_lines.line(path), (name, path)


@PARSERS
def test_aliases_and_merge_keys_still_read(libyaml: bool) -> None:
    data, lines = load_with_lines("x: &x {y: 1}\nz: *x\nm:\n  <<: *x\n  q: 2\n",
                                  libyaml=libyaml)
    assert data == {"x": {"y": 1}, "z": {"y": 1}, "m": {"y": 1, "q": 2}}
    assert lines.line(("m", "q")) == 5


@PARSERS
def test_nesting_up_to_the_limit_is_read(libyaml: bool) -> None:
    data, _ = load_with_lines("[" * MAX_DEPTH + "]" * MAX_DEPTH, libyaml=libyaml)
    for _ in range(MAX_DEPTH - 1):
        data = data[0]
    assert data == []


# ------------------------------------------------------------------- step nesting

def test_steps_nested_ten_deep_load_and_run_with_every_step_recorded(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    (tmp_path / "connections.yaml").write_text(EMBEDDED, encoding="utf-8")
    path.write_text(nested_foreach(MAX_STEP_NESTING), encoding="utf-8")
    run = run_flow_file(path, settings_for(tmp_path))
    assert len(run.steps) == MAX_STEP_NESTING + 1
    assert all(step.status == StepStatus.SUCCEEDED for step in run.steps)
    assert run.steps[-1].path == "".join(f"loop{n}[0]." for n in range(10)) + "leaf"


def test_steps_nested_eleven_deep_are_refused_naming_the_step_and_field(
        tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(nested_foreach(MAX_STEP_NESTING + 1), encoding="utf-8")
    with pytest.raises(FlowFileInvalid) as caught:
        load_flow(path)
    [problem] = caught.value.problems
    assert (problem.step, problem.field) == ("loop10", "steps")
    assert problem.line == 4 * 10 + 5  # the `steps:` line of loop10
    assert "steps nested more than 10 levels deep" in problem.message
    assert "condition" in problem.message and "foreach" in problem.message


def test_a_condition_inside_ten_containers_is_refused_by_its_else_block(
        tmp_path: Path) -> None:
    text = nested_foreach(MAX_STEP_NESTING).replace(
        "action: condition", "action: condition\n" + " " * 44 + "else: [{id: deeper, action: "
        "condition, if: 'true'}]")
    with pytest.raises(FlowFileInvalid) as caught:
        load_flow(write(tmp_path, text))
    [problem] = caught.value.problems
    assert (problem.step, problem.field) == ("leaf", "else")


def test_a_200_deep_foreach_is_refused_quickly(tmp_path: Path) -> None:
    started = time.perf_counter()
    problem = refused(tmp_path, nested_foreach(200))
    assert time.perf_counter() - started < 1
    assert "nested more than 50 levels deep" in problem.message


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- templates

def flow_with_subject(subject: str) -> str:
    return ("steps:\n  - id: m\n    action: email.send\n    to: [a@contoso.com]\n"
            f"    subject: '{subject}'\n    body: x\n")


@pytest.mark.parametrize(("subject", "words"), [
    ("{{ " + "[" * 300 + "1" + "]" * 300 + " }}", f"more than {MAX_TAG_TOKENS} tokens"),
    ("{{ a" + ".b" * 300 + " }}", f"more than {MAX_TAG_TOKENS} tokens"),
    ("{{ " + "(" * 30 + "1" + ")" * 30 + " }}", None),
    ("{% for x in y %}" * 25 + "{% endfor %}" * 25, "cannot be compiled (SyntaxError"),
], ids=["deep brackets", "long chain", "30 parentheses", "25 nested for blocks"])
def test_a_template_too_long_or_deep_to_compile_is_a_problem_of_its_field(
        tmp_path: Path, subject: str, words: str | None) -> None:
    started = time.perf_counter()
    try:
        load_flow(write(tmp_path, flow_with_subject(subject)))
        problems: list[FlowProblem] = []
    except FlowFileInvalid as exc:
        problems = exc.problems
    assert time.perf_counter() - started < 2
    if words is None:
        assert problems == []
        return
    [problem] = problems
    assert (problem.step, problem.field, problem.line) == ("m", "subject", 5)
    assert words in problem.message


def test_thousands_of_templates_stop_at_the_template_budget(tmp_path: Path) -> None:
    tags = "{{ trigger.body.a }} " * 3000
    started = time.perf_counter()
    with pytest.raises(FlowFileInvalid) as caught:
        load_flow(write(tmp_path, flow_with_subject(tags)))
    assert time.perf_counter() - started < 2
    [problem] = caught.value.problems
    assert "budget of 2,000 units is spent here" in problem.message


def test_a_file_with_thousands_of_problems_lists_fifty_and_how_many_more(
        tmp_path: Path) -> None:
    steps = "".join(f"  - {{id: s{n}, action: nope}}\n" for n in range(500))
    with pytest.raises(FlowFileInvalid) as caught:
        load_flow(write(tmp_path, "steps:\n" + steps))
    assert len(caught.value.problems) == 51
    assert caught.value.problems[-1].message == "... and 450 more problems; fix these first"


# ---------------------------------------------------------------------- find_flow

def test_find_flow_passes_over_broken_files_to_the_one_named(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "a-broken.yaml", b"\xff" + laughs(7).encode())
    (folder / "b-bomb.yaml").write_text(laughs(7), encoding="utf-8")
    (folder / "c-deep.yaml").write_text("[" * 5000, encoding="utf-8")
    named = folder / "zz-named.yaml"
    named.write_text("name: by-name\n" + flow_with_subject("x"), encoding="utf-8")
    assert find_flow("by-name", folder) == named
    with pytest.raises(FileNotFoundError):
        find_flow("no-such-flow", folder)


# ---------------------------------------------------------------------- the app

BROKEN_FILES = {
    "not-utf8.yaml": b"description: caf\xe9\nsteps: []\n",
    "complex-key.yaml": b"? [a]\n: 1\nsteps: []\n",
    "deep.yaml": b"vars: " + b"[" * 400 + b"\nsteps: []\n",
    "recursive.yaml": b"vars: &a [*a]\nsteps: []\n",
    "bomb.yaml": laughs(7).encode() + b"steps: []\n",
    "nul.yaml": b"steps: []\x00\n",
    "deep-steps.yaml": nested_foreach(200).encode(),
}


def test_the_app_starts_beside_broken_files_and_lists_them_as_invalid(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "bomb.yaml", BROKEN_FILES["bomb.yaml"])
    for name, content in BROKEN_FILES.items():
        (folder / name).write_bytes(content)
    started = time.perf_counter()
    functions = functions_of(function_app.create_app(app_settings_for(tmp_path, folder)))
    assert time.perf_counter() - started < 2
    assert functions["flow_storm_daily_report"].get_trigger().schedule == "0 0 7 * * *"
    status, body = call(functions, "list_flows")
    assert status == 200
    listed = {flow["name"]: flow for flow in body["flows"]}
    assert listed["storm-daily-report"]["valid"] is True
    for name in BROKEN_FILES:
        flow = listed[Path(name).stem]
        assert flow["valid"] is False and flow["problems"], name


def test_importing_function_app_succeeds_with_a_broken_file_in_the_folder(
        tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "bomb.yaml", BROKEN_FILES["bomb.yaml"])
    (folder / "not-utf8.yaml").write_bytes(BROKEN_FILES["not-utf8.yaml"])
    code = ("import function_app; "
            "print(sorted(f.get_function_name() for f in function_app.app.get_functions()"
            " if f.get_trigger().get_binding_name() == 'timerTrigger'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=False, timeout=60,
                         env={"FLOWS_DIR": str(folder), "STATE_DIR": str(tmp_path / "state"),
                              "OUTBOX_DIR": str(tmp_path / "outbox"), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['cleanup_run_history', 'flow_storm_daily_report']"
    assert "bomb.yaml" in out.stderr and "not-utf8.yaml" in out.stderr  # logged as invalid
