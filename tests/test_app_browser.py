"""The desk as a supervisor uses it: headless Chromium (Playwright) against a real `speechchurn serve`
process on 127.0.0.1, over an OUT_DIR analysed from audio_samples (fake engine, real recordings).

Skipped without Debian's chromium or the playwright package (never `playwright install`).
Screenshots: test-artifacts/desk-queue.png, desk-customer.png, desk-call.png.
"""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import ARTIFACTS, CHROMIUM, SAMPLES, VIEWPORT
from conftest import CHROMIUM_ARGS as BASE_CHROMIUM_ARGS
from desk_support import analyze_samples
from typer.testing import CliRunner

from benchmarks.serve_load import running_desk
from speechchurn import outputs
from speechchurn.cli import app as cli_app

CHROMIUM_ARGS = [*BASE_CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
TIMEOUT_MS = 30_000  # ms for page loads and waits
POLL_MS = 100  # ms between checks of a waited-for condition
HEAVY_CALLER = "13998765402"
SEEK_TOLERANCE_S = 1.5  # s the player may have run on past the evidence time when checked


def _chromium() -> str:
    found = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    if not found:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """(base URL, OUT_DIR, playwright browser) for one served sample OUT_DIR."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = _chromium()
    out = analyze_samples(tmp_path_factory.mktemp("desk-browser") / "out")
    with running_desk(out, SAMPLES) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield base, out, browser
        browser.close()


def _page(browser, problems: list[str]):
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    return page


def _wait_for(page, predicate: str, arg=None) -> None:
    """Poll a JS predicate with page.evaluate (wait_for_function evals strings, which the CSP forbids)."""
    for _ in range(TIMEOUT_MS // POLL_MS):
        if page.evaluate(predicate, arg):
            return
        page.wait_for_timeout(POLL_MS)
    raise AssertionError(f"timed out waiting for {predicate} ({arg})")


def _wait_near(page, t: float) -> None:
    """Until the player's currentTime is within SEEK_TOLERANCE_S after `t`."""
    _wait_for(
        page,
        "([t, tol]) => { const a = document.getElementById('player'); "
        "return a.currentTime >= t - 0.05 && a.currentTime - t < tol; }",
        [t, SEEK_TOLERANCE_S],
    )


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_review_session(desk):
    base, out, browser = desk
    problems: list[str] = []
    page = _page(browser, problems)
    page.goto(base + "/")
    assert page.locator("#queue tbody tr").count() >= 1
    _shot(page, "desk-queue.png")
    page.click(f"#queue a.caller[href='/customer/{HEAVY_CALLER}']")
    page.wait_for_selector("#player")
    assert page.locator("#caller").inner_text() == HEAVY_CALLER

    page.evaluate("document.getElementById('player').play()")
    _wait_for(page, "() => document.getElementById('player').currentTime > 0.5")

    quotes = page.locator("tr.hit a.quote")
    times = [float(t) for t in quotes.evaluate_all("els => els.map(e => e.dataset.t)")]
    target = max(range(len(times)), key=lambda i: times[i])  # the latest quote: a real jump
    quotes.nth(target).click()
    _wait_near(page, times[target])
    assert not page.evaluate("document.getElementById('player').paused")

    page.click("[data-solo=customer]")
    assert page.evaluate("document.body.dataset.solo") == "customer"

    row = page.locator("tr.hit").first
    hit_id = row.get_attribute("data-hit")
    term = row.locator("td").nth(3).inner_text().split()[0]
    row.locator("button.mark.bad").click()
    page.wait_for_selector(f"#hit-{hit_id}[data-verdict=wrong]")
    page.reload()
    assert page.locator(f"#hit-{hit_id}").get_attribute("data-verdict") == "wrong"
    assert "测试员" in page.locator(f"#hit-{hit_id} .by").inner_text()
    _shot(page, "desk-customer.png")

    stats = CliRunner().invoke(cli_app, ["lexicon-stats", str(out)])
    assert stats.exit_code == 0, stats.output
    assert re.search(rf"{term}\s*│\s*all\s*│\s*0\s*│\s*1\s*│", stats.output), stats.output
    assert not problems, problems


def test_call_page_transcript_seeks_and_timeline(desk):
    base, _, browser = desk
    problems: list[str] = []
    page = _page(browser, problems)
    page.goto(base + f"/customer/{HEAVY_CALLER}")
    page.click("table.calls a >> nth=0")
    page.wait_for_selector("#timeline")
    assert page.locator("#timeline rect.speech").count() >= 1
    assert page.locator("#timeline rect.hitmark").count() >= 1
    lines = page.locator("#transcript .line")
    last = lines.nth(lines.count() - 1)
    t = float(last.get_attribute("data-t"))
    last.click()
    _wait_for(
        page,
        "([t, tol]) => Math.abs(document.getElementById('player').currentTime - t) < tol",
        [t, SEEK_TOLERANCE_S],
    )
    _wait_for(page, "() => document.querySelector('#transcript .line.now') !== null")
    _shot(page, "desk-call.png")
    page.goto(base + "/search?q=" + "销户")
    assert page.locator("#results tbody tr").count() >= 1
    assert not problems, problems


def test_two_reviewers_mark_at_once(desk):
    base, out, browser = desk
    problems: list[str] = []
    first, second = _page(browser, problems), _page(browser, problems)
    for page in (first, second):
        page.goto(base + f"/customer/{HEAVY_CALLER}")
    ids = first.locator("tr.hit").evaluate_all("rows => rows.map(r => r.dataset.hit)")
    assert len(ids) >= 4
    click_all = """([ids, verdict]) => ids.forEach(id =>
        document.querySelector(`#hit-${id} button.mark[data-verdict=${verdict}]`).click())"""
    first.evaluate(click_all, [ids[0::2], "correct"])  # both batches of POSTs are in flight together
    second.evaluate(click_all, [ids[1::2], "wrong"])
    for page, chosen, verdict in ((first, ids[0::2], "correct"), (second, ids[1::2], "wrong")):
        for hit in chosen:
            page.wait_for_selector(f"#hit-{hit}[data-verdict={verdict}]")
    first.reload()
    verdicts = first.locator("tr.hit").evaluate_all(
        "rows => rows.map(r => [r.dataset.hit, r.dataset.verdict])"
    )
    expected = {h: "correct" for h in ids[0::2]} | {h: "wrong" for h in ids[1::2]}
    assert dict(verdicts) == expected
    exported = CliRunner().invoke(cli_app, ["marks", "export", str(out)])
    assert exported.exit_code == 0, exported.output
    marks = outputs.read_csv(out / "marks.csv")
    assert sorted(marks.loc[marks["kind"] == "hit", "decision"]) == sorted(expected.values())
    assert not problems, problems
