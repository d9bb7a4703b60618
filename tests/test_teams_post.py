"""`teams.post`: the Adaptive Card a flow posts to a Teams Workflows webhook, checked
as JSON at the local receiver (`tests/webhook_receiver.py`) and rendered by
Microsoft's own Adaptive Cards renderer (npm `adaptivecards`, with `markdown-it` as
its hosts render TextBlock Markdown) in headless Debian Chromium through
Playwright. The renderer is served from node_modules on 127.0.0.1; any request
elsewhere is refused and fails the test. The rendered card is saved as a screenshot
(`docs/teams-card.png` is refreshed with KUSTO_FLOWS_SCREENSHOTS=1).

Why: a card Teams cannot parse is a silent failure (the webhook still answers 202),
a card over Teams' 28 KB message limit is refused, and a value from a query or a
webhook body must show as written, never as a link or formatting it smuggled in.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.kusto.types import Column
from shared.loader import load_folder
from shared.render.adaptive_card import (
    TEAMS_MESSAGE_LIMIT,
    CardContent,
    CardTooLarge,
    compact_png,
    escape_markdown,
    fit_card,
)
from shared.render.table import display_text
from shared.results import RunStatus, StepStatus
from shared.runner import Trigger
from tests.helpers import run_flow_file, runner_for, settings_for, write_flow
from tests.webhook_receiver import Hook, Reply, WebhookReceiver

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "teams-card.png"
NODE = ROOT / "node_modules"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Values that would be Markdown (a link, bold, a list, a numbered item, an autolink)
#: if they were not escaped.
SNEAKY = ["[click here](https://evil.example/login)", "**urgent** _now_",
          "- not a list", "1. not numbered", "<https://evil.example>", "a\\b `code` ~x~ |y|"]

CARD_FLOW = """\
    trigger: {webhook: true}
    steps:
      - id: top
        action: kusto.visualize
        connection: samples
        query: |
          StormEvents
          | summarize Events = count(), Injuries = sum(InjuriesDirect) by State
          | top 12 by Events
        chart: bar
        title: Storm events by state
      - id: post
        action: teams.post
        url_setting: TEAMS_URL
        title: "Storm report: {{ steps.top.row_count }} states"
        text: "Top states by storm events.\\nSecond line."
        facts:
          Flow: "{{ run.flow }}"
          Rows: "{{ steps.top.row_count }}"
        rows: "{{ steps.top.rows }}"
        columns: "{{ steps.top.columns }}"
        row_count: "{{ steps.top.row_count }}"
        max_rows: 5
        image: "{{ steps.top.chart }}"
        image_alt: Storm events by state
        buttons:
          - {title: Open in Azure Data Explorer, url: "{{ steps.top.deep_link }}"}
          - {title: Run details, url: "https://kusto-flows.example/api/pages/runs/x/1"}
"""

#: A card whose title, text and table come from the webhook body: `lines` (SNEAKY) and
#: `rows` (see `run_sneaky`).
SNEAKY_FLOW = """\
    trigger: {webhook: true}
    steps:
      - id: post
        action: teams.post
        url_setting: TEAMS_URL
        title: "{{ trigger.body.lines[0] }}"
        text: "{{ trigger.body.lines | join('\\n') }}"
        rows: "{{ trigger.body.rows }}"
"""


def run_card(tmp_path: Path, hook: Hook, flow: str = CARD_FLOW, body: Any = None,
             name: str = "card") -> Any:
    path = write_flow(tmp_path / "flows", name, flow)
    settings = settings_for(tmp_path, app_settings={"TEAMS_URL": hook.url})
    return run_flow_file(path, settings, body=body)


def step(run: Any, path: str) -> Any:
    return next(s for s in run.steps if s.path == path)


def run_sneaky(tmp_path: Path, hook: Hook, rows: list[dict[str, str]],
               facts: bool = False) -> Any:
    """Runs a card whose title, text (and with *facts* a fact) are the SNEAKY lines and
    whose table is *rows*, all from the webhook body."""
    fact = """        facts: {"{{ 'label' }}": "{{ trigger.body.lines[0] }}"}\n"""
    flow = SNEAKY_FLOW.replace("        rows:", (fact if facts else "") + "        rows:")
    return run_card(tmp_path, hook, flow, body={"lines": SNEAKY, "rows": rows})


def card_of(hook: Hook, index: int = 0) -> dict[str, Any]:
    message = hook.requests[index].json
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return dict(attachment["content"])


def texts(element: Any) -> list[str]:
    """Every TextBlock text and fact in *element*, depth first."""
    if isinstance(element, list):
        return [t for item in element for t in texts(item)]
    if not isinstance(element, dict):
        return []
    found = [element["text"]] if element.get("type") == "TextBlock" else []
    if element.get("type") == "FactSet":
        found += [t for fact in element["facts"] for t in (fact["title"], fact["value"])]
    return found + [t for value in element.values() for t in texts(value)]


# -- the card as JSON -------------------------------------------------------------------

def test_the_card_has_the_title_text_facts_first_rows_chart_and_buttons(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook()
    run = run_card(tmp_path, hook)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    card = card_of(hook)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    kinds = [element["type"] for element in card["body"]]
    assert kinds == ["TextBlock", "TextBlock", "FactSet", "Image", "Table", "TextBlock"]
    title, text, facts, image, table, note = card["body"]
    assert title["text"] == "Storm report: 12 states" and title["weight"] == "Bolder"
    assert text["text"] == "Top states by storm events.\n\nSecond line."
    assert facts["facts"] == [{"title": "Flow", "value": "card"},
                              {"title": "Rows", "value": "12"}]
    assert image["url"].startswith("data:image/png;base64,")
    assert base64.b64decode(image["url"].split(",", 1)[1]).startswith(b"\x89PNG")
    header, *rows = table["rows"]
    assert [c["items"][0]["text"] for c in header["cells"]] == ["State", "Events", "Injuries"]
    top = step(run, "top").outputs
    assert [c["items"][0]["text"] for c in rows[0]["cells"]] == [
        display_text(value, Column(column["name"], column["type"]))
        for value, column in zip(top["rows"][0], top["columns"], strict=True)]
    assert len(rows) == 5 and note["text"] == "Showing 5 of 12 rows."
    assert table["columns"][1]["horizontalCellContentAlignment"] == "Right"
    # The deep link is empty on the embedded engine: that button is left out.
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Run details",
                                "url": "https://kusto-flows.example/api/pages/runs/x/1"}]
    outputs = step(run, "post").outputs
    assert outputs["card_bytes"] == len(hook.requests[0].body) <= TEAMS_MESSAGE_LIMIT
    assert (outputs["rows_shown"], outputs["image_included"], outputs["image_omitted"]) == (
        5, True, "")
    assert hook.requests[0].idempotency_key == f"{run.run_id}:post"
    assert step(run, "post").summary == (f"card posted to {webhook_receiver.url}: 200 "
                                         f"(5 rows, chart)")


def test_values_with_markdown_show_as_written_and_add_no_link(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook()
    rows = [{"Name": value, "Note": value} for value in SNEAKY]
    run = run_sneaky(tmp_path, hook, rows, facts=True)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    card = card_of(hook)
    shown = texts(card["body"])
    assert escape_markdown(SNEAKY[0]) == "\\[click here\\](https://evil.example/login)"
    for text in shown:
        assert "](" not in text.replace("\\](", "")
    assert {escape_markdown(value) for value in SNEAKY} <= set(shown)


def test_a_chart_that_does_not_fit_is_left_out_and_the_card_says_so(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook()
    # 100 rows with long cells fill the card; the rows come first.
    flow = CARD_FLOW.replace("top 12 by Events", "top 100 by Events\n"
                             "          | extend Note = strcat(State, ' ', strrep('-', 3000))")
    flow = flow.replace("max_rows: 5", "max_rows: 100")
    run = run_card(tmp_path, hook, flow)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    outputs = step(run, "post").outputs
    assert outputs["image_included"] is False
    assert "over Teams' 28,000-byte message limit" in outputs["image_omitted"]
    assert 0 < outputs["rows_shown"] < step(run, "top").outputs["row_count"]
    assert "chart left out" in step(run, "post").summary
    card = card_of(hook)
    assert "Image" not in [e["type"] for e in card["body"]]
    assert any("The chart was left out" in t for t in texts(card["body"]))
    assert len(hook.requests[0].body) <= TEAMS_MESSAGE_LIMIT


def test_a_card_over_the_limit_is_refused_before_sending(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook()
    flow = """\
        steps:
          - id: post
            action: teams.post
            url_setting: TEAMS_URL
            title: Too much
            text: "{{ 'x' * 30000 }}"
    """
    run = run_card(tmp_path, hook, flow)
    post = step(run, "post")
    assert post.status == StepStatus.FAILED and post.error.code == "CardTooLarge"
    assert "over Teams' 28,000-byte message limit" in post.error.message
    assert hook.requests == []


def test_rows_make_room_for_a_required_chart_and_a_chart_too_big_fails_clearly() -> None:
    image = "data:image/png;base64," + "A" * 20_000
    rows = [[f"row {i} " + "x" * 200] for i in range(100)]
    content = CardContent(title="t", columns=[Column("Name", "string")], rows=rows,
                          total_rows=100, image_url=image, require_image=True)
    fitted = fit_card(content)
    assert fitted.image_included and 0 < fitted.rows_shown < 100
    assert len(fitted.payload) <= TEAMS_MESSAGE_LIMIT

    optional = fit_card(CardContent(title="t", columns=[Column("Name", "string")],
                                    rows=rows, total_rows=100, image_url=image))
    assert not optional.image_included and optional.rows_shown > fitted.rows_shown

    huge = CardContent(title="t", image_url="data:image/png;base64," + "A" * 40_000,
                       require_image=True)
    with pytest.raises(CardTooLarge, match="require_image"):
        fit_card(huge)


def test_a_png_chart_is_re_encoded_smaller_and_anything_else_is_left_as_it_is(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path / "flows", "chart", """\
        steps:
          - id: top
            action: kusto.visualize
            connection: samples
            query: StormEvents | summarize Events = count() by State | top 5 by Events
            chart: bar
    """)
    chart = run_flow_file(path, settings_for(tmp_path)).steps[0].outputs["chart"].data
    smaller = compact_png(chart)
    assert smaller.startswith(b"\x89PNG") and len(smaller) < len(chart) / 2
    assert compact_png(b"not a png") == b"not a png"


def test_teams_post_is_sent_again_after_throttling_and_posts_once(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook().plan(Reply(429, retry_after="0"))
    run = run_card(tmp_path, hook)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert [r.answered for r in hook.requests] == [429, 200]
    assert list(hook.deliveries.values()) == [1]
    assert step(run, "post").outputs["attempts"] == 2


def test_a_missing_webhook_setting_fails_naming_it(tmp_path: Path) -> None:
    path = write_flow(tmp_path / "flows", "card", CARD_FLOW)
    run = run_flow_file(path, settings_for(tmp_path))
    post = step(run, "post")
    assert post.error.code == "InvalidInput"
    assert "app setting TEAMS_URL is not set" in post.error.message


# -- rendered by Microsoft's renderer ------------------------------------------------------

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Teams card</title>
<link rel="stylesheet" href="/adaptivecards.css">
<script src="/markdown-it.min.js"></script>
<script src="/adaptivecards.min.js"></script>
<style>
  body { margin: 0; padding: 16px; background: #f5f5f5; }
  #card { width: 640px; background: #fff; border: 1px solid #e1dfdd; border-radius: 6px;
          box-shadow: 0 1px 2px rgba(0,0,0,.1); }
</style></head>
<body><div id="card"></div>
<script>
  // Close to Teams' light theme: its font, text and accent colours, grid lines.
  var HOST_CONFIG = {
    fontFamily: "Segoe UI, Helvetica Neue, Helvetica, Arial, sans-serif",
    containerStyles: {
      default: {backgroundColor: "#FFFFFF", borderColor: "#E1DFDD", foregroundColors: {
        default: {default: "#242424", subtle: "#616161"},
        accent: {default: "#5B5FC7", subtle: "#7F85F5"}}},
      emphasis: {backgroundColor: "#F5F5F5", borderColor: "#E1DFDD"},
      accent: {backgroundColor: "#EBEBF7", borderColor: "#D1D1E8"}
    },
    actions: {maxActions: 6, buttonSpacing: 8, actionsOrientation: "horizontal"}
  };
  window.renderCard = function (payload) {
    var context = new AdaptiveCards.SerializationContext();
    var card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = new AdaptiveCards.HostConfig(HOST_CONFIG);
    card.parse(payload, context);
    var events = [];
    for (var i = 0; i < context.eventCount; i++) events.push(context.getEventAt(i).message);
    var results = card.validateProperties();
    for (var j = 0; j < results.validationEvents.length; j++)
      events.push(results.validationEvents[j].message);
    var target = document.getElementById("card");
    target.innerHTML = "";
    target.appendChild(card.render());
    return events;
  };
</script></body></html>
"""

#: What the renderer page may load: its own page, and the renderer's script and style
#: and markdown-it from node_modules.
_FILES = {
    "/": (None, "text/html; charset=utf-8"),
    "/adaptivecards.css": (NODE / "adaptivecards" / "dist" / "adaptivecards.css", "text/css"),
    "/adaptivecards.min.js": (NODE / "adaptivecards" / "dist" / "adaptivecards.min.js",
                              "text/javascript"),
    "/markdown-it.min.js": (NODE / "markdown-it" / "dist" / "browser" /
                            "markdown-it.umd.min.js", "text/javascript"),
}


class _Static(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        found = _FILES.get(self.path.split("?")[0])
        if found is None:
            self.send_error(404)
            return
        path, content_type = found
        body = _PAGE.encode() if path is None else path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Renderer:
    page: Any
    #: Requests the page tried to make anywhere but the local server.
    refused: list[str]
    errors: list[str]

    def render(self, card: dict[str, Any]) -> list[str]:
        """Render *card*; the renderer's parse and validation messages."""
        return list(self.page.evaluate("card => window.renderCard(card)", card))


@pytest.fixture(scope="module")
def renderer() -> Iterator[Renderer]:
    from playwright.sync_api import sync_playwright

    for path, _ in _FILES.values():
        if path is not None and not path.is_file():
            pytest.fail(f"{path} is missing: run `make node` (npm install)")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `make browser`")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Static)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    refused: list[str] = []
    errors: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith((base + "/", "data:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 700, "height": 900},
                                          device_scale_factor=1)
            context.route("**/*", only_local)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/")
            page.wait_for_function("() => window.AdaptiveCards && window.markdownit")
            yield Renderer(page, refused, errors)
            context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()


def test_the_example_card_renders_in_microsofts_renderer_without_warnings(
        tmp_path: Path, webhook_receiver: WebhookReceiver, renderer: Renderer) -> None:
    hook = webhook_receiver.hook()
    folder = load_folder(ROOT / "flows")
    settings = settings_for(tmp_path, app_settings={"STORM_TEAMS_WEBHOOK_URL": hook.url})
    run = runner_for(settings, folder.connections).run(
        folder.flows["storm-teams-alert"].flow, Trigger(kind="webhook"))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    card = card_of(hook)

    assert renderer.render(card) == []
    page = renderer.page
    assert page.locator("#card .ac-adaptiveCard").count() == 1
    assert page.locator("#card table[role=table] tr, #card [role=table] [role=row]").count() \
        >= 1 + step(run, "any_found.then.post").outputs["rows_shown"]
    assert page.locator("#card img").evaluate("img => img.naturalWidth") > 0
    assert "Deadly storms in 5 states" in page.locator("#card").inner_text()
    assert renderer.refused == [] and renderer.errors == []


def test_markdown_in_values_renders_as_plain_text_and_no_link(
        tmp_path: Path, webhook_receiver: WebhookReceiver, renderer: Renderer) -> None:
    hook = webhook_receiver.hook()
    rows = [{"Value": value} for value in SNEAKY]
    run_sneaky(tmp_path, hook, rows)

    assert renderer.render(card_of(hook)) == []
    card = renderer.page.locator("#card")
    assert card.locator("a, strong, em, b, i, code, del, ul, ol, li").count() == 0
    shown = card.inner_text()
    for value in SNEAKY:
        assert value in shown
    assert renderer.refused == [] and renderer.errors == []


def test_the_teams_card_screenshot(tmp_path: Path, webhook_receiver: WebhookReceiver,
                                   renderer: Renderer) -> None:
    """The card a flow like flows/storm-teams-alert.yaml posts on a real cluster (where
    the deep link and the run page exist), as Microsoft's renderer draws it."""
    hook = webhook_receiver.hook()
    flow = CARD_FLOW.replace("{{ steps.top.deep_link }}", (
        "https://dataexplorer.azure.com/clusters/help/databases/Samples?query=H4sIAAAA"))
    run = run_card(tmp_path, hook, flow, name="storm-report")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    card = card_of(hook)
    assert [a["title"] for a in card["actions"]] == ["Open in Azure Data Explorer",
                                                     "Run details"]
    assert renderer.render(card) == []
    buttons = renderer.page.locator("#card button")
    assert [buttons.nth(i).inner_text() for i in range(buttons.count())] == [
        "Open in Azure Data Explorer", "Run details"]
    shot = renderer.page.locator("#card").screenshot(path=str(tmp_path / "teams-card.png"))
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("KUSTO_FLOWS_SCREENSHOTS") == "1":
        SCREENSHOT.write_bytes(shot)
    assert json.dumps(card)  # the card is plain JSON
