"""The deployment files agree with the code, and the repository holds no secrets.

Why: the Bicep in infra/ cannot be compiled or deployed by the test run, and app settings
are only read once the app runs in Azure. A setting added to shared/settings.py but not to
infra/ (or a host.json timeout shorter than the runner's deadline) would only show up as a
broken deployment. These checks read the files as text so that infra, host.json and the
code cannot drift apart unnoticed, and so that no key or connection string gets committed.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.loader import load_folder, walk_steps
from shared.settings import SETTING_NAMES, Settings
from shared.timers import timer_function_name

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"

# Settings the code reads that infra/ deliberately does not set, and why.
NOT_SET_BY_INFRA = {
    # One setting per flow, added in the portal to override that flow's schedule.
    "FLOW_SCHEDULE__": "per-flow schedule override",
    # Key-based auth for local runs; in Azure the managed identity uses ACS_ENDPOINT.
    "ACS_CONNECTION_STRING": "local e-mail key auth",
    # Key-based auth for local runs; in Azure the managed identity uses RUNS_TABLE_ENDPOINT.
    "RUNS_TABLE_CONNECTION_STRING": "local table key auth",
    # The host storage as a connection string (Azurite locally); in Azure the host and
    # the run queue use the identity through AzureWebJobsStorage__queueServiceUri & co.
    "AzureWebJobsStorage": "local storage key auth",
    # Tuning knobs whose code defaults suit Azure; set them in the portal if ever needed.
    "KUSTO_CLIENT_GRACE_SECONDS": "code default",
    "OPERATION_POLL_SECONDS": "code default",
    # Set by Azure App Service itself on every app.
    "WEBSITE_HOSTNAME": "set by the platform",
    "EMAIL_SEND_TIMEOUT_SECONDS": "code default",
}


def _bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def _without_comments(bicep: str) -> str:
    bicep = re.sub(r"/\*.*?\*/", "", bicep, flags=re.S)
    return "\n".join(line for line in bicep.splitlines() if not line.lstrip().startswith("//"))


def _bicep_app_setting_names() -> set[str]:
    """Keys of Bicep objects (`FLOWS_DIR: 'flows'`) and `name: 'X'` entries of settings arrays."""
    names: set[str] = set()
    for path in _bicep_files():
        text = _without_comments(path.read_text(encoding="utf-8"))
        names.update(re.findall(r"^\s*'?([A-Za-z_][A-Za-z0-9_.]*)'?\s*:", text, flags=re.M))
        names.update(re.findall(r"^\s*name:\s*'([A-Za-z_][A-Za-z0-9_.]*)'", text, flags=re.M))
    return names


def test_every_setting_the_deployed_app_needs_is_set_by_infra():
    assert _bicep_files(), "no Bicep files under infra/"
    set_by_infra = _bicep_app_setting_names()
    needed = set(SETTING_NAMES) - set(NOT_SET_BY_INFRA)
    missing = sorted(needed - set_by_infra)
    assert not missing, (
        f"app settings read by shared/settings.py but not set in infra/: {missing}. "
        "Add them to the appSettings in infra/main.bicep (or infra/app/api.bicep), or to "
        "NOT_SET_BY_INFRA here with the reason."
    )


def test_the_not_set_by_infra_list_names_only_settings_the_code_reads():
    assert set(NOT_SET_BY_INFRA) <= set(SETTING_NAMES)


def test_the_app_reaches_storage_and_insights_with_its_identity():
    settings = _bicep_app_setting_names()
    for name in (
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__tableServiceUri",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    ):
        assert name in settings
    assert "AzureWebJobsStorage" not in settings, "use identity-based AzureWebJobsStorage__*"


# --- what a fresh deployment runs and mails --------------------------------------------
# As shipped, the example flows query `samples`, the embedded engine (duckdb-kql, a dev
# requirement the package leaves out), and mail @contoso.com addresses: deployed as they
# are, every timer would fire and fail and mail would go to made-up recipients.

#: The connection the example flows use; embedded in flows/connections.yaml as shipped.
EXAMPLE_CONNECTION = "samples"


def _main_bicep() -> str:
    return _without_comments((INFRA / "main.bicep").read_text(encoding="utf-8"))


def _param_default(name: str) -> str:
    match = re.search(rf"^param {name} \w+ = (.+)$", _main_bicep(), flags=re.M)
    assert match, f"infra/main.bicep has no parameter {name} with a default"
    return match.group(1).strip()


def _azd_parameter(name: str) -> str:
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    return str(parameters["parameters"][name]["value"])


def _example_timer_functions() -> set[str]:
    """Timer functions of the scheduled flows in flows/ that query `samples` or any
    embedded connection: the ones that cannot run in Azure until repointed."""
    folder = load_folder(ROOT / "flows")
    assert folder.ok, [str(p) for p in folder.all_problems]
    local = {EXAMPLE_CONNECTION} | {
        name for name, connection in folder.connections.items() if connection.kind == "embedded"}
    names = set()
    for name, loaded in folder.flows.items():
        flow = loaded.flow
        if flow.enabled and flow.trigger.schedule and any(
                getattr(step, "connection", None) in local
                for _, step, _ in walk_steps(flow.steps)):
            names.add(timer_function_name(name))
    return names


def test_mail_is_a_dry_run_unless_the_deployment_says_otherwise():
    assert _param_default("emailDryRun") == "true"
    assert re.search(r"^\s*EMAIL_DRY_RUN: emailDryRun \? 'true' : 'false'$", _main_bicep(),
                     flags=re.M)
    assert _azd_parameter("emailDryRun") == "${EMAIL_DRY_RUN=true}"


def test_the_example_timers_are_off_until_samples_points_at_a_real_cluster():
    expected = _example_timer_functions()
    assert expected, "flows/ has no scheduled example flow on the samples connection"
    code = _main_bicep()
    switches = dict(re.findall(r"^\s*'AzureWebJobs\.([A-Za-z0-9_]+)\.Disabled':\s*(\S+)\s*$",
                               code, flags=re.M))
    assert set(switches) == expected, (
        "infra/main.bicep (exampleTimerSettings) must hold AzureWebJobs.<function>.Disabled "
        f"for exactly the timers of the scheduled flows on '{EXAMPLE_CONNECTION}' or an "
        f"embedded connection: missing {sorted(expected - set(switches))}, "
        f"extra {sorted(set(switches) - expected)}")
    # One switch for all of them, 'true' (timer off) unless enableExampleTimers is set.
    assert set(switches.values()) == {"exampleTimerDisabled"}
    assert re.search(r"^var exampleTimerDisabled = enableExampleTimers \? 'false' : 'true'$",
                     code, flags=re.M)
    assert _param_default("enableExampleTimers") == "false"
    assert _azd_parameter("enableExampleTimers") == "${ENABLE_EXAMPLE_TIMERS=false}"
    assert re.search(r"^\s*\}, exampleTimerSettings\)$", code, flags=re.M), \
        "exampleTimerSettings must be merged into the app's appSettings"


def test_the_kusto_viewer_is_assigned_only_in_the_clusters_own_resource_group():
    code = _main_bicep()
    condition = re.search(r"^var deployKustoViewer = (.+)$", code, flags=re.M)
    assert condition, "infra/main.bicep has no deployKustoViewer condition"
    terms = [term.strip() for term in condition.group(1).split("&&")]
    assert sorted(terms) == ["!empty(kustoClusterName)", "!empty(kustoDatabaseName)",
                             "!empty(kustoResourceGroupName)"]
    assert re.search(r"^module kustoViewer '[^']+' = if \(deployKustoViewer\) \{$", code,
                     flags=re.M)
    module = code.split("module kustoViewer", 1)[1].split("\n}", 1)[0]
    assert "scope: resourceGroup(kustoSubscription, kustoResourceGroup)" in module
    # The scope is the named group whenever the module deploys; the fallback only fills
    # the expression of a skipped module.
    assert re.search(r"^var kustoResourceGroup = deployKustoViewer \? kustoResourceGroupName : ",
                     code, flags=re.M)


# Every built-in role infra/ assigns, with the words its comment must hold: its name, and
# for a role broader than its use, what else it grants.
ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": ("Storage Blob Data Owner", []),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": ("Storage Queue Data Contributor", []),
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": ("Storage Table Data Contributor", []),
    "3913510d-42f4-4e42-8a64-420c390055eb": ("Monitoring Metrics Publisher", []),
    # Manages the Communication and Email resources, keys included; no data actions.
    "09976791-48a7-449e-bb21-39d1a415f350": (
        "Communication and Email Service Owner", ["ListKeys", "RegenerateKey", "management"]),
}


def _role_comments() -> dict[str, str]:
    """Role id -> the comment on its `var`: the // lines right above it and its own."""
    comments = {}
    for path in _bicep_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            match = re.match(r"\s*var \w+ = '([0-9a-f-]{36})'\s*(?://(.*))?$", line)
            if not match:
                continue
            above = []
            for previous in reversed(lines[:index]):
                if not previous.lstrip().startswith("//"):
                    break
                above.insert(0, previous.lstrip()[2:])
            comments[match.group(1)] = " ".join([*above, match.group(2) or ""])
    return comments


def test_every_assigned_role_is_commented_with_its_name_and_what_it_grants():
    comments = _role_comments()
    assert set(comments) == set(ROLES), "a role id in infra/ that ROLES does not describe"
    for role_id, (name, grants) in ROLES.items():
        comment = " ".join(comments[role_id].split())
        assert name in comment, (role_id, comment)
        for word in grants:
            assert word in comment, f"the comment on {name} must say it grants {word}"


def test_app_settings_hold_no_key_and_only_the_application_insights_connection_string():
    credentials = {name for name in _bicep_app_setting_names()
                   if re.search(r"CONNECTION_?STRING|_KEY$|ACCESS_?KEY|SECRET|PASSWORD", name,
                                flags=re.I)}
    assert credentials == {"APPLICATIONINSIGHTS_CONNECTION_STRING"}


def test_local_auth_is_off_on_log_analytics_and_application_insights():
    code = _main_bicep()
    for module in ("logAnalytics", "monitoring"):
        body = code.split(f"module {module} ", 1)[1].split("\n}", 1)[0]
        assert re.search(r"disableLocalAuth: true", body), module


# --- queued runs ---------------------------------------------------------------------
#: The run queue and the poison queue the Functions host moves a message to after
#: maxDequeueCount failed attempts (its name is always the queue's + "-poison").
RUN_QUEUE = "flow-runs"
POISON_QUEUE = f"{RUN_QUEUE}-poison"


def _declared_queues() -> list[str]:
    """Names in the storage module's `queueServices: { queues: [...] }` (infra/main.bicep)."""
    code = _main_bicep()
    match = re.search(r"^module storage '([^']+)' = \{$", code, flags=re.M)
    assert match, "infra/main.bicep has no storage module"
    # The AVM storage-account module takes the queues as queueServices.queues.
    assert match.group(1).startswith("br/public:avm/res/storage/storage-account:")
    module = code[match.end():].split("\n}", 1)[0]
    services = re.search(r"^    queueServices: \{\n(.*?)^    \}$", module, flags=re.M | re.S)
    assert services, "the storage module declares no queueServices"
    queues = re.search(r"^      queues: \[\n(.*?)^      \]$", services.group(1),
                       flags=re.M | re.S)
    assert queues, "queueServices has no queues list"
    return re.findall(r"^\s*name: '([^']+)'$", queues.group(1), flags=re.M)


def test_the_storage_account_declares_the_run_queue_and_its_poison_queue():
    assert sorted(_declared_queues()) == sorted([RUN_QUEUE, POISON_QUEUE])


def test_every_queue_a_function_is_triggered_by_is_declared_in_infra():
    # The queue names the code's queue triggers use (none until queued runs land).
    declared = set(_declared_queues())
    sources = [ROOT / "function_app.py", *sorted((ROOT / "shared").rglob("*.py"))]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"queue_name\s*=\s*[\"']([^\"']+)[\"']", text):
            assert name in declared, f"{path.relative_to(ROOT)}: queue {name!r} not in infra"


# --- secrets -------------------------------------------------------------------------
# Each pattern is split across string literals so that this file does not match itself.
_SECRET_PATTERNS = {
    "storage account key": re.compile("Account" + r"Key=[A-Za-z0-9+/]{40,}={0,2}"),
    "shared access signature": re.compile("SharedAccess" + "Signature="),
    "access key": re.compile("access" + r"key=[A-Za-z0-9+/]{20,}", re.I),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE" + " KEY-----"),
    "client secret": re.compile(
        "client_" + r"secret['\"]?\s*[:=]\s*['\"]?[A-Za-z0-9~._\-]{16,}", re.I
    ),
}

# The Azurite storage emulator's account key is public and the same everywhere.
_EMULATOR_ACCOUNT = "devstoreaccount1"


def find_secrets(text: str) -> list[str]:
    """Labels of the secret-looking values in `text` (empty when there are none)."""
    found = []
    for label, pattern in _SECRET_PATTERNS.items():
        for match in pattern.finditer(text):
            nearby = text[max(0, match.start() - 200) : match.end() + 200]
            if label == "storage account key" and _EMULATOR_ACCOUNT in nearby:
                continue
            found.append(label)
    return found


def _git_files(*args: str) -> list[str]:
    result = subprocess.run(
        ["git", "ls-files", "-z", *args], cwd=ROOT, capture_output=True, check=False
    )
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in result.stdout.decode("utf-8").split("\0") if name]


def _repository_files() -> list[Path]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    names = set(_git_files()) | set(_git_files("--others", "--exclude-standard"))
    return [ROOT / name for name in sorted(names) if (ROOT / name).is_file()]


def test_no_file_in_the_repository_holds_a_secret():
    files = _repository_files()
    assert files, "git listed no files"
    offenders = {}
    for path in files:
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary
            continue
        found = find_secrets(data.decode("utf-8", errors="replace"))
        if found:
            offenders[str(path.relative_to(ROOT))] = sorted(set(found))
    assert not offenders, f"secret-looking values (use placeholders): {offenders}"


_PLANTED = {
    "storage account key": "DefaultEndpointsProtocol=https;AccountName=contoso;Account"
    + "Key="
    + "q" * 86
    + "==;EndpointSuffix=core.windows.net",
    "shared access signature": "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccess"
    + "Signature=sig",
    "access key": "endpoint=https://contoso.communication.azure.com/;access" + "key=" + "Zm9v" * 12,
    "private key": "-----BEGIN RSA PRIVATE" + " KEY-----\nMIIB\n-----END RSA PRIVATE" + " KEY-----",
    "client secret": "client_" + "secret: " + "a1B2c3D4e5F6g7H8i9J0k1L2",
}


@pytest.mark.parametrize("label", sorted(_PLANTED))
def test_the_secret_detector_catches_a_planted_secret(label):
    assert label in find_secrets(f"some: yaml\n{_PLANTED[label]}\nmore: text\n")


def test_the_secret_detector_lets_placeholders_and_the_emulator_key_through():
    placeholders = "\n".join(
        [
            "Account" + "Key=<storage account key>",
            "endpoint=https://<resource>.communication.azure.com/;access" + "key=<key>",
            "client_" + "secret: ${CLIENT_SECRET}",
            "UseDevelopmentStorage=true",
            f"AccountName={_EMULATOR_ACCOUNT};Account" + "Key=" + "E" * 86 + "==;",
        ]
    )
    assert find_secrets(placeholders) == []


# --- host.json -----------------------------------------------------------------------
def _host() -> dict:
    return json.loads((ROOT / "host.json").read_text(encoding="utf-8"))


def _timespan_seconds(value: str) -> int:
    match = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})", value)
    assert match, f"not a hh:mm:ss timespan: {value!r}"
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def test_the_function_timeout_is_longer_than_the_run_deadline():
    timeout = _timespan_seconds(_host()["functionTimeout"])
    assert timeout > Settings().run_deadline_seconds
    deployed = re.search(
        r"param runDeadlineSeconds int = (\d+)", (INFRA / "main.bicep").read_text(encoding="utf-8")
    )
    assert deployed, "infra/main.bicep has no runDeadlineSeconds parameter"
    assert timeout > int(deployed.group(1))


def test_host_json_uses_extension_bundle_v4_and_the_api_route_prefix():
    host = _host()
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    assert host["extensions"]["http"]["routePrefix"] == "api"


def test_host_json_queue_settings_suit_runs_that_take_minutes():
    # Documented in the README (Deploy, Queued runs); property names and ranges from the
    # host.json reference of the Storage queues extension 5.x (extension bundle v4).
    queues = _host()["extensions"]["queues"]
    assert set(queues) == {"batchSize", "newBatchThreshold", "maxDequeueCount",
                           "visibilityTimeout", "maxPollingInterval", "messageEncoding"}
    # Few runs at once per instance: at most batchSize + newBatchThreshold.
    assert 1 <= queues["batchSize"] <= 8
    assert 0 <= queues["newBatchThreshold"] < queues["batchSize"]
    # A few attempts, then the host moves the message to flow-runs-poison.
    assert queues["maxDequeueCount"] == 5
    # A failed run is retried after a short pause, not at once and not minutes later.
    assert 5 <= _timespan_seconds(queues["visibilityTimeout"]) <= 120
    # The default (1 min) would leave a queued run waiting up to a minute on a quiet
    # queue; a webhook that waits for its run cannot afford that.
    assert 1 <= _timespan_seconds(queues["maxPollingInterval"]) <= 5
    # What the Functions host decodes by default, and what the sender encodes
    # (azure-storage-queue's TextBase64EncodePolicy, tests/test_queue_service.py).
    assert queues["messageEncoding"] == "base64"


# --- packaging -----------------------------------------------------------------------
def test_requirements_do_not_list_the_functions_worker():
    names = set()
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        names.add(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0].lower().replace("_", "-"))
    assert "azure-functions" in names
    assert "azure-functions-worker" not in names, "the platform provides the worker"


def test_every_registry_module_is_pinned_to_a_version():
    main_refs = re.findall(r"'br/public:([^']+)'", (INFRA / "main.bicep").read_text("utf-8"))
    assert main_refs, "infra/main.bicep uses no registry modules"
    for path in _bicep_files():
        for ref in re.findall(r"'br/public:([^']+)'", path.read_text(encoding="utf-8")):
            assert re.fullmatch(r"avm/[a-z0-9\-/]+:\d+\.\d+\.\d+", ref), f"{path.name}: {ref}"


def test_azure_yaml_deploys_a_python_function_service():
    config = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert config["name"] == "kusto-flows"
    services = config["services"].values()
    assert any(
        s.get("language") == "python" and s.get("host") == "function" and s.get("project") == "."
        for s in services
    )


def test_the_local_settings_sample_lists_every_setting_with_a_dry_run():
    values = json.loads((ROOT / "local.settings.sample.json").read_text("utf-8"))["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["EMAIL_DRY_RUN"] == "true"
    for name in SETTING_NAMES:
        if name in ("AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__blobServiceUri",
                    "WEBSITE_HOSTNAME"):
            continue  # Azure only: identity-based storage; the platform's own host name
        if name.endswith("__"):
            assert any(key.startswith(name) for key in values), name
        else:
            assert name in values, name


def test_the_funcignore_keeps_everything_the_app_needs_at_runtime():
    runtime = [
        "function_app.py",
        "host.json",
        "requirements.txt",
        "flows",
        "flows/storm-daily-report.yaml",
        "flows/connections.yaml",
        "shared",
        "shared/__init__.py",
        "shared/settings.py",
    ]
    for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        pattern = line.strip("/")
        for path in runtime:
            candidates = {path, path.split("/")[0]}
            if "/" not in pattern:  # unanchored: matches a name at any depth
                candidates.add(path.rsplit("/", 1)[-1])
            assert not any(fnmatch.fnmatch(c, pattern) for c in candidates), (line, path)
