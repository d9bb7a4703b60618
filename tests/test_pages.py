"""The run-history pages (`shared/api/pages.py`), as the people who use them do: in a
real browser (headless Chromium through Playwright) against the app's routes served by
`tests/http_host.py`, over a temporary flows folder whose flows really ran on the
embedded Kusto engine and were recorded in a local run store.

Why: run history is how people find out why a report did not arrive, so the pages
must lead from "My flows" to the failing step and its error in a few clicks, keep the
function key (`?code=`) on every link and form so that clicking through works in
Azure, never run a script that came from query results or error messages, and
answer 404/400/503 pages instead of crashing. Handler-level tests call the handlers
with real `azure.functions.HttpRequest`s for the status codes, redirects and escaping.

Chromium is started once for the module; each browser test gets a fresh context.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest

from shared.api import pages
from shared.api.pages_chart import axis_label, nice_ceiling
from shared.api.routes import ROUTES
from shared.resources import Resources
from shared.runner import Trigger
from shared.runs import RunStoreUnavailable
from shared.service import FlowService
from shared.settings import Settings
from tests.http_host import HttpHost

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "<script>alert(1)</script>"
KEY = "k3y+/=&x"  # a function key with characters that must be URL-encoded
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

FLOWS = {
    "daily-ok": """\
        description: Top states by storm events, every morning.
        trigger:
          schedule: "0 0 7 * * *"
          webhook: true
        steps:
          - id: top
            action: kusto.query
            connection: samples
            query: StormEvents | summarize n = count() by State | top 3 by n
          - id: mail
            action: email.send
            to: analysts@contoso.com
            subject: "Top {{ steps.top.row_count }} states"
            body: "<p>{{ steps.top.row_count }} states</p>"
        """,
    "kql-typo": """\
        description: A report whose second query has a KQL syntax error.
        trigger:
          webhook: true
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: StormEvents | take 3 | project State
          - id: broken
            action: kusto.query
            connection: samples
            query: StormEvents | where | count
          - id: mail
            action: email.send
            to: analysts@contoso.com
            subject: never sent
            body: "<p>x</p>"
        """,
    "script-cell": f"""\
        description: 'Shows {SCRIPT} as text'
        trigger:
          webhook: true
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: print s = "{SCRIPT}"
          - id: mail
            action: email.send
            to: analysts@contoso.com
            subject: "{{{{ steps.q.rows[0][steps.q.rows[0].s] }}}}"
            body: "<p>x</p>"
        """,
    # Succeeds with a body {"n": 1}, fails (template error) without one.
    "mixed": """\
        description: Succeeds or fails by its webhook body.
        trigger:
          webhook: true
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: |
              declare query_parameters(n:long);
              print n = n
            parameters: {n: "{{ trigger.body.n }}"}
        """,
    "nightly-only": """\
        description: Scheduled only, no webhook.
        trigger:
          schedule: "0 30 2 * * *"
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: print x = 1
        """,
    "invalid": """\
        description: An unknown action.
        steps:
          - id: q
            action: kusto.querry
            connection: samples
            query: print x = 1
        """,
}


def answer(handler: Any, service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    """A page handler's answer as the app gives it: through its route, which turns the
    errors the handler raises into error pages."""
    [route] = [r for r in ROUTES if r.target == f"pages:{handler.__name__}"]
    return route.call(service, req)  # type: ignore[no-any-return]


@dataclass
class Site:
    service: FlowService
    host: HttpHost
    folder: Path
    runs: dict[str, list[str]]  # flow -> run ids, oldest first

    def run_count(self, flow: str) -> int:
        return len(self.service.store.list_runs(flow, top=1000).items)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("pages")
    flows = folder / "flows"
    flows.mkdir()
    shutil.copy(REPO / "flows" / "connections.yaml", flows / "connections.yaml")
    for name, text in FLOWS.items():
        (flows / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    settings = Settings(state_dir=folder / "state", flows_dir=flows, outbox_dir=folder / "outbox")
    service = FlowService.load(settings, flows)
    assert sorted(service.catalog.flows) == ["daily-ok", "kql-typo", "mixed", "nightly-only",
                                             "script-cell"]
    runs: dict[str, list[str]] = {}
    plan: list[tuple[str, Any]] = [("daily-ok", None), ("daily-ok", None), ("daily-ok", None),
                                   ("kql-typo", None), ("script-cell", None),
                                   ("mixed", {"n": 1}), ("mixed", None), ("mixed", {"n": 2})]
    for name, body in plan:
        run = service.run(name, Trigger(kind="webhook", body=body))
        runs.setdefault(name, []).append(run.run_id)
    with HttpHost(service) as host:
        yield Site(service, host, folder, runs)
    assert not host.errors, host.errors[0]
    service.store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium and one browser context for the module (each test opens a page)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `make browser`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        yield context
        context.close()
        browser.close()


@dataclass
class Tab:
    page: Any
    dialogs: list[str]
    errors: list[str]


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    page = browser.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield Tab(page, dialogs, errors)
    page.close()


def request(method: str, path: str, params: dict[str, str] | None = None,
            headers: dict[str, str] | None = None, **route: str) -> func.HttpRequest:
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    return func.HttpRequest(method, f"http://localhost/api/{path}" + (f"?{query}" if query else ""),
                            headers=headers or {}, params=params or {}, route_params=route,
                            body=b"")


def text(response: func.HttpResponse) -> str:
    return response.get_body().decode("utf-8")


def code_of(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query).get("code", [])


# ------------------------------------------------------------- in a browser

def test_a_person_clicks_from_my_flows_to_the_failed_run_and_sees_the_failing_step_and_error(
        site: Site, tab: Tab) -> None:
    page = tab.page
    page.goto(site.host.url("pages/flows"))
    assert page.title() == "My flows · Kusto Flows"
    row = page.locator("tr#flow-kql-typo")
    assert "A report whose second query has a KQL syntax error." in row.inner_text()
    assert row.locator(".badge.s-failed").inner_text() == "Failed"
    row.locator("a.flow-name").click()
    page.wait_for_url("**/api/pages/flows/kql-typo/runs")
    failed_row = page.locator("tr.run:has(.badge.s-failed)")
    assert failed_row.count() == 1
    assert "broken" in failed_row.inner_text() and "KustoQueryError" in failed_row.inner_text()
    failed_row.locator("td:nth-child(2) a").click()
    page.wait_for_url(f"**/api/pages/runs/kql-typo/{site.runs['kql-typo'][0]}")

    failing = page.locator("li.step.is-failing")
    assert failing.count() == 1
    assert failing.get_attribute("data-path") == "broken"
    mark = failing.locator("svg.icon-failed")
    assert mark.is_visible()
    assert mark.get_attribute("aria-label") == "Failing step: Failed"
    fill = mark.locator("circle.disc").evaluate("c => getComputedStyle(c).fill")
    assert fill == "rgb(197, 15, 31)"  # red
    assert failing.locator(".tag-fail").inner_text() == "failing step"
    error = failing.locator("details.error[open]")
    assert error.locator("pre.error-message").is_visible()
    assert "could not parse KQL" in error.locator("pre.error-message").inner_text()
    assert "KustoQueryError" in error.inner_text()
    assert error.locator(".error-hint").inner_text() == "fix the KQL; it was not retried"
    assert page.locator("li.step[data-path=q] svg.icon-succeeded").is_visible()
    assert page.locator("li.step[data-path=mail] svg.icon-skipped").is_visible()
    assert "Failed at step broken" in page.locator(".run-error").inner_text()
    assert tab.errors == [] and tab.dialogs == []


def test_script_tags_from_query_results_and_error_messages_are_shown_as_text_and_never_run(
        site: Site, tab: Tab) -> None:
    page = tab.page
    run_id = site.runs["script-cell"][0]
    for path in ("pages/flows", "pages/flows/script-cell/runs",
                 f"pages/runs/script-cell/{run_id}"):
        page.goto(site.host.url(path))
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        assert SCRIPT in page.locator("main").inner_text(), path
    message = page.locator("li.step.is-failing pre.error-message").inner_text()
    assert f"has no attribute '{SCRIPT}'" in message
    assert tab.dialogs == [] and tab.errors == []


def test_resubmitting_a_failed_run_lands_on_a_new_run_that_says_it_resubmits_the_old_one(
        site: Site, tab: Tab) -> None:
    page = tab.page
    old = site.runs["kql-typo"][0]
    page.goto(site.host.url(f"pages/runs/kql-typo/{old}"))
    page.get_by_role("button", name="Resubmit").click()
    page.wait_for_url(re.compile(r".*/api/pages/runs/kql-typo/(?!" + old + r")[0-9a-f]{32}$"))
    new = urlsplit(page.url).path.rsplit("/", 1)[1]
    notice = page.locator(".callout.resubmitted")
    assert f"This run resubmits run {old}" in notice.inner_text()
    assert notice.locator("a").get_attribute("href") == f"/api/pages/runs/kql-typo/{old}"
    assert page.locator("h1 .badge").inner_text() == "Failed"
    found = site.service.store.get_run("kql-typo", new)
    assert found is not None
    assert (found[0].resubmitted_from, found[0].trigger) == (old, "resubmit")
    notice.locator("a").click()
    page.wait_for_url(f"**/api/pages/runs/kql-typo/{old}")


def test_the_function_key_in_the_url_stays_on_every_link_and_form_while_clicking_through(
        site: Site, tab: Tab) -> None:
    page = tab.page

    def every_target_keeps_the_key() -> int:
        targets = page.eval_on_selector_all(
            "a[href], form[action]", "els => els.map(e => e.getAttribute('href') ?? "
                                     "e.getAttribute('action'))")
        for target in targets:
            if target.startswith("#"):
                continue
            assert code_of(target) == [KEY], target
        return len(targets)

    page.goto(site.host.url("pages/flows") + "?code=k3y%2B%2F%3D%26x")
    assert every_target_keeps_the_key() > 10
    page.locator("tr#flow-mixed a.flow-name").click()
    page.wait_for_url("**/pages/flows/mixed/runs?code=*")
    assert every_target_keeps_the_key() > 10
    page.get_by_role("link", name="Failed", exact=True).click()
    page.wait_for_url("**/pages/flows/mixed/runs?status=failed&code=*")
    assert code_of(page.url) == [KEY]
    assert page.locator("tr.run").count() == 1
    page.locator("tr.run td:nth-child(2) a").click()
    page.wait_for_url("**/pages/runs/mixed/*?code=*")
    assert every_target_keeps_the_key() > 5
    page.get_by_role("button", name="Resubmit").click()
    page.wait_for_selector(".callout.resubmitted")
    assert code_of(page.url) == [KEY]
    assert every_target_keeps_the_key() > 5
    posted = [path for method, path in site.host.requests if method == "POST"]
    assert code_of(posted[-1]) == [KEY]


def test_run_now_on_my_flows_runs_the_webhook_flow_and_opens_its_new_run(
        site: Site, tab: Tab) -> None:
    page = tab.page
    before = site.run_count("daily-ok")
    page.goto(site.host.url("pages/flows"))
    # A scheduled-only flow can be run now too (with no body).
    nightly = page.locator("tr#flow-nightly-only")
    assert nightly.get_by_role("button", name="Run now").count() == 1
    page.locator("tr#flow-daily-ok").get_by_role("button", name="Run now").click()
    page.wait_for_url("**/api/pages/runs/daily-ok/*")
    assert page.locator("h1 .badge").inner_text() == "Succeeded"
    assert "webhook" in page.locator("dl.meta").inner_text()
    assert page.locator("li.step").count() == 2
    assert "3 rows" in page.locator("li.step[data-path=top]").inner_text()
    assert "to analysts@contoso.com" in page.locator("li.step[data-path=mail]").inner_text()
    assert site.run_count("daily-ok") == before + 1


def test_the_run_history_chart_draws_one_bar_per_run_coloured_by_status(
        site: Site, tab: Tab) -> None:
    page = tab.page
    page.goto(site.host.url("pages/flows/mixed/runs"))
    rows = page.locator("tr.run")
    bars = page.locator(".chart rect.bar")
    assert bars.count() == rows.count() >= 3
    statuses = [c.split("s-")[1] for c in bars.evaluate_all("bs => bs.map(b => b.className"
                                                            ".baseVal)")]
    shown = rows.evaluate_all("rs => rs.map(r => r.querySelector('.badge > span').textContent)")
    assert statuses == [s.lower() for s in reversed(shown)]  # oldest bar first
    fills = set(bars.evaluate_all("bs => bs.map(b => getComputedStyle(b).fill)"))
    assert {"rgb(58, 158, 58)", "rgb(197, 15, 31)"} <= fills  # green and red
    heights = bars.evaluate_all(
        "bs => bs.map(b => [+b.dataset.durationMs, b.getBBox().height])")
    longest = max(heights)
    assert all(h <= longest[1] for _, h in heights)


# ------------------------------------------------------------ the handlers

def test_unknown_flows_and_runs_answer_a_404_page(site: Site) -> None:
    service = site.service
    cases = [
        (pages.runs_page, request("GET", "pages/flows/nope/runs", name="nope")),
        (pages.run_page, request("GET", "pages/runs/daily-ok/0", flow="daily-ok", run_id="0")),
        (pages.run_page, request("GET", "pages/runs/nope/0", flow="nope", run_id="0")),
        (pages.run_now_page, request("POST", "pages/flows/nope/run", name="nope")),
        (pages.resubmit_page, request("POST", "pages/runs/daily-ok/0/resubmit",
                                      flow="daily-ok", run_id="0")),
    ]
    for handler, req in cases:
        response = answer(handler, service, req)
        assert response.status_code == 404, handler
        assert response.mimetype == "text/html"
        assert "not found" in text(response)
    evil = answer(pages.runs_page, service, request("GET", "x", name=SCRIPT))
    assert evil.status_code == 404
    assert SCRIPT not in text(evil) and "&lt;script&gt;alert(1)&lt;/script&gt;" in text(evil)


def test_bad_status_filters_page_sizes_and_continuations_answer_a_400_page_escaped(
        site: Site) -> None:
    for params in ({"status": "<b>bold</b>"}, {"continuation": "not-a-token"},
                   {"top": "0"}, {"top": "x"}, {"continuation": "x" * 5000}):
        response = answer(pages.runs_page, site.service, request("GET", "x", params, name="mixed"))
        assert response.status_code == 400, params
        assert "<b>bold" not in text(response)
    response = answer(pages.runs_page, site.service, request("GET", "x", {"status": "<b>bold</b>"},
                                                      name="mixed"))
    assert "&#39;&lt;b&gt;bold&lt;/b&gt;&#39; is not a run status" in text(response)


def test_older_runs_links_carry_the_continuation_and_page_through_the_whole_history(
        site: Site) -> None:
    expected = [r.run_id for r in site.service.store.list_runs("mixed", top=1000).items]
    assert len(expected) >= 3
    seen: list[str] = []
    params = {"top": "1", "code": "abc"}
    for _ in range(len(expected) + 1):
        html = text(answer(pages.runs_page, site.service,
                           request("GET", "x", params, name="mixed")))
        seen += re.findall(r'href="/api/pages/runs/mixed/([0-9a-f]{32})\?code=abc"><time', html)
        older = re.search(r'class="older" rel="next" href="([^"]+)"', html)
        if older is None:
            break
        href = older.group(1).replace("&amp;", "&")
        params = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
        assert params["top"] == "1" and params["code"] == "abc" and params["continuation"]
    assert seen == expected
    failed = text(answer(pages.runs_page, site.service, request("GET", "x", {"status": "FAILED"},
                                                          name="mixed")))
    failures = site.service.store.list_runs("mixed", status="failed").items
    assert len(failures) >= 1
    assert failed.count('<tr class="run') == failed.count('<tr class="run s-row-failed"') == \
        len(failures)
    assert re.search(r'href="/api/pages/flows/mixed/runs\?status=failed" aria-current', failed)


def test_run_now_answers_303_to_the_new_run_after_a_webhook_run_with_an_empty_body(
        site: Site) -> None:
    req = request("POST", "pages/flows/daily-ok/run", {"code": "a b"}, name="daily-ok")
    response = answer(pages.run_now_page, site.service, req)
    assert response.status_code == 303
    location = response.headers["Location"]
    match = re.fullmatch(r"/api/pages/runs/daily-ok/([0-9a-f]{32})\?code=a%20b", location)
    assert match, location
    found = site.service.store.get_run("daily-ok", match.group(1))
    assert found is not None
    record, steps = found
    assert (record.trigger, record.trigger_body, str(record.status)) == \
        ("webhook", None, "Succeeded")
    assert [s.path for s in steps] == ["top", "mail"]


def test_run_now_on_a_webhook_flows_page_takes_a_json_body_and_shows_it_on_the_run(
        site: Site, tab: Tab) -> None:
    page = tab.page
    page.goto(site.host.url("pages/flows/mixed/runs"))
    page.fill("#run-now-body", '{"n": 41}')
    page.locator("form#run-now").get_by_role("button", name="Run now").click()
    page.wait_for_url("**/api/pages/runs/mixed/*")
    assert page.locator("h1 .badge").inner_text() == "Succeeded"
    assert '"n": 41' in page.locator("pre.trigger-body").inner_text()
    page.goto(site.host.url("pages/flows/mixed/runs"))
    page.fill("#run-now-body", "{not json")
    page.locator("form#run-now").get_by_role("button", name="Run now").click()
    assert "body is not JSON" in page.content()


def test_a_scheduled_flow_runs_now_from_its_page_as_a_manual_run(site: Site) -> None:
    response = answer(pages.run_now_page, site.service, request("POST", "x",
                                                                name="nightly-only"))
    assert response.status_code == 303
    run_id = response.headers["Location"].rsplit("/", 1)[1]
    record, _ = site.service.get_run("nightly-only", run_id)
    assert (record.trigger, str(record.status)) == ("manual", "Succeeded")


def test_run_now_refuses_flows_without_a_webhook_invalid_ones_and_cross_site_posts(
        site: Site) -> None:
    before = site.run_count("daily-ok")
    cross = answer(pages.run_now_page, site.service, request(
        "POST", "x", headers={"Sec-Fetch-Site": "cross-site"}, name="daily-ok"))
    assert cross.status_code == 403
    assert site.run_count("daily-ok") == before
    assert answer(pages.run_now_page, site.service, request("POST", "x", name="no-such-flow")
                  ).status_code == 404
    assert answer(pages.run_now_page, site.service, request("POST", "x", name="invalid")
                  ).status_code == 422


def test_a_form_posted_from_another_origin_is_refused_without_sec_fetch_site(
        site: Site) -> None:
    """An older browser (or a proxy that strips Sec-Fetch-Site) still sends Origin: a
    form from another site is refused by it; this site's own form is not."""
    before = site.run_count("daily-ok")
    for origin in ("https://evil.example", "null", "http://localhost:8080"):
        refused = answer(pages.run_now_page, site.service, request(
            "POST", "x", headers={"Origin": origin}, name="daily-ok"))
        assert refused.status_code == 403, origin
        assert "from another site" in text(refused)
    assert site.run_count("daily-ok") == before
    own = answer(pages.run_now_page, site.service, request(
        "POST", "x", headers={"Origin": "http://localhost"}, name="daily-ok"))
    assert own.status_code == 303
    same_site = answer(pages.run_now_page, site.service, request(
        "POST", "x", headers={"Origin": "https://other.example",
                              "Sec-Fetch-Site": "same-origin"}, name="daily-ok"))
    assert same_site.status_code == 303  # the browser's own word wins over a proxy's host
    assert site.run_count("daily-ok") == before + 2


def test_resubmit_runs_again_with_the_old_body_and_answers_303_to_the_new_run(
        site: Site) -> None:
    old = site.runs["mixed"][0]  # ran with {"n": 1}
    response = answer(pages.resubmit_page, site.service, request(
        "POST", "x", flow="mixed", run_id=old))
    assert response.status_code == 303
    new = response.headers["Location"].rsplit("/", 1)[1]
    found = site.service.store.get_run("mixed", new)
    assert found is not None
    assert (found[0].resubmitted_from, found[0].trigger_body, str(found[0].status)) == \
        (old, {"n": 1}, "Succeeded")
    page = text(answer(pages.run_page, site.service, request("GET", "x", flow="mixed", run_id=new)))
    assert f'This run resubmits run <a href="/api/pages/runs/mixed/{old}"' in page


class DownStore:
    """A run store whose every read fails, as `ResilientStore` reports it."""

    def __getattr__(self, name: str) -> Any:
        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise RunStoreUnavailable("the run history is unavailable right now (test)")
        return unavailable


def test_a_run_store_that_cannot_be_read_gives_a_503_page_and_my_flows_still_lists_flows(
        site: Site) -> None:
    service = FlowService(site.service.catalog, Resources(
        site.service.settings, site.service.catalog.connections, DownStore()))
    for handler, req in (
            (pages.runs_page, request("GET", "x", name="daily-ok")),
            (pages.run_page, request("GET", "x", flow="daily-ok", run_id="0")),
            (pages.resubmit_page, request("POST", "x", flow="daily-ok", run_id="0"))):
        response = answer(handler, service, req)
        assert response.status_code == 503, handler
        assert "Run store unavailable" in text(response)
    flows = answer(pages.flows_page, service, request("GET", "pages/flows"))
    assert flows.status_code == 200
    assert "The run store cannot be read" in text(flows)
    assert 'id="flow-daily-ok"' in text(flows)


def test_my_flows_shows_schedules_in_words_next_runs_and_invalid_files_with_their_problems(
        site: Site) -> None:
    html = text(answer(pages.flows_page, site.service, request("GET", "pages/flows")))
    daily = html[html.index('id="flow-daily-ok"'):html.index('id="flow-kql-typo"')]
    assert "Every day at 07:00" in daily and "Next: <time" in daily
    assert "On request only (webhook)" in html[html.index('id="flow-mixed"'):]
    invalid = html[html.index('id="invalid"'):]
    assert "<b>invalid</b>" in invalid
    assert "invalid.yaml:4: step &#39;q&#39;, field &#39;action&#39;: unknown action" in invalid
    assert str(site.folder) not in html  # no server paths on the page


def test_pages_escape_every_value_and_their_headers_forbid_scripts(site: Site) -> None:
    run_id = site.runs["script-cell"][0]
    response = answer(pages.run_page, site.service, request("GET", "x", flow="script-cell",
                                                    run_id=run_id))
    html = text(response)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_chart_axis_tops_at_a_round_duration() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 3, 3108, 9000, 61_000)] == \
        [1.0, 1.0, 5, 5000, 10_000, 100_000]
    assert [axis_label(v) for v in (0, 250, 2500, 120_000)] == ["0", "250 ms", "2.5 s",
                                                                 "2 min"]


def test_the_test_host_decodes_route_and_query_parameters_like_the_functions_host(
        site: Site) -> None:
    from urllib.error import HTTPError
    from urllib.request import urlopen

    with pytest.raises(HTTPError) as answer:
        urlopen(site.host.url("pages/flows/no%20such%3Cflow/runs?code=a%2Bb"))
    assert answer.value.code == 404
    html = answer.value.read().decode("utf-8")
    assert "No flow named &#39;no such&lt;flow&#39;." in html
    assert 'href="/api/pages/flows?code=a%2Bb"' in html
