"""The QA (质检) views as a QA supervisor uses them: headless Chromium (Playwright) against a real
`speechchurn serve` process over an OUT_DIR analysed from audio_samples with its manifest (fake
transcriber whose every line is AGENT_LINE, so each call fails the auto-fail 服务禁语 and scores 0).

Agents leaderboard -> agent page -> call page; a criterion's quote seeks the player; overturning
服务禁语 with a reason re-scores the call, the new score and the reviewer survive a reload.
Skipped without Debian's chromium or the playwright package. Screenshots: test-artifacts/desk-qa-*.png.
"""

from __future__ import annotations

import pytest
from conftest import SAMPLES
from desk_support import analyze_samples
from test_app_browser import CHROMIUM_ARGS, SEEK_TOLERANCE_S, _chromium, _page, _shot, _wait_for, _wait_near

from benchmarks.serve_load import running_desk
from speechchurn import outputs

AGENT_LINE = "您好，请问您是机主吗？我要投诉，这是规定，再见"
REVIEWER = "质检员小王"
REASON = "这是客户复述的话，坐席没有说"


@pytest.fixture(scope="module")
def qa_desk(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = _chromium()
    out = tmp_path_factory.mktemp("qa-browser") / "out"
    analyze_samples(out, text=AGENT_LINE, manifest=SAMPLES / "manifest.csv")
    with running_desk(out, SAMPLES) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield base, out, browser
        browser.close()


def _rescored_rows(out, timeout_s: float = 60.0):
    """The qa_calls.csv rows reviewed by REVIEWER, once the background re-score has written them."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        rows = outputs.read_csv(out / "qa_calls.csv")
        reviewed = rows[rows["qa_reviewed_by"].fillna("") == REVIEWER]
        if len(reviewed) or time.monotonic() > deadline:
            return reviewed
        time.sleep(0.2)


def _open_a_scored_call(page, base: str) -> str:
    """Agents page -> the first agent -> that agent's first call; the agent's name."""
    page.goto(base + "/agents")
    link = page.locator("#agents a.agent").first
    agent = link.inner_text()
    link.click()
    page.wait_for_selector("#agent-calls")
    assert page.locator("#agent").inner_text() == agent
    page.locator("#agent-calls a[href^='/call/']").first.click()
    page.wait_for_selector("#scorecard")
    return agent


def test_overturn_a_criterion_reload_and_see_the_new_score(qa_desk):
    base, out, browser = qa_desk
    problems: list[str] = []
    page = _page(browser, problems)
    agent = _open_a_scored_call(page, base)
    assert page.locator("#qa-score").inner_text() == "0.0"
    assert page.locator("#qa-forbidden .qa-result").inner_text() == "不通过"
    call_url = page.url.split("#")[0]

    page.fill("#reviewer", REVIEWER)
    page.dispatch_event("#reviewer", "change")  # desk.js copies the name into every form
    row = page.locator("#qa-forbidden")
    row.locator("select[name=result]").select_option("1")
    row.locator("input[name=reason]").fill(REASON)
    with page.expect_navigation():
        row.locator("button[type=submit]").click()
    page.wait_for_selector("#scorecard")
    new_score = page.locator("#qa-score").inner_text()
    assert float(new_score) > 0
    assert page.locator("#qa-forbidden .qa-result").inner_text() == "通过"
    assert page.locator("#qa-reviewed").inner_text() == f"复核人 {REVIEWER}"
    assert f"{REVIEWER}：{REASON}" in page.locator("#qa-forbidden .qa-by").inner_text()
    _shot(page, "desk-qa-call.png")

    page.goto(call_url)  # a fresh load of the page, not the redirect's
    page.reload()
    assert page.locator("#qa-score").inner_text() == new_score
    assert page.locator("#qa-reviewed").inner_text() == f"复核人 {REVIEWER}"
    reviewed = _rescored_rows(out)  # the files follow in the background (every call re-scored)
    assert len(reviewed) == 1 and f"{reviewed['qa_score'].iloc[0]:.1f}" == new_score

    page.click(".qa-total a.agent")
    page.wait_for_selector("#agent-calls")
    assert page.locator("#agent").inner_text() == agent
    assert REVIEWER in page.locator("#agent-calls").inner_text()
    _shot(page, "desk-qa-agent.png")
    assert not problems, problems


def test_a_criterion_quote_seeks_the_player(qa_desk):
    base, _, browser = qa_desk
    problems: list[str] = []
    page = _page(browser, problems)
    _open_a_scored_call(page, base)
    quotes = page.locator("#scorecard a.quote.seek")
    assert quotes.count() >= 1
    t = float(quotes.first.get_attribute("data-t"))
    page.evaluate("document.getElementById('player').play()")
    _wait_for(page, "(t) => document.getElementById('player').currentTime > t", t + SEEK_TOLERANCE_S + 0.5)
    quotes.first.click()  # back to the moment the deciding phrase was heard
    _wait_near(page, t)
    assert not problems, problems
