"""report.html in a real headless Chromium: no script errors, charts render, customer pages open.

Needs the Debian `chromium` package and Playwright for Python (`pip install playwright`; its wheel ships
the driver, no `playwright install`). Skipped when either is missing. Screenshots go to
test-artifacts/report.png (overview) and test-artifacts/report-customer.png (a customer page).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from test_report import HEAVY_CALLER, HEAVY_SENTENCE, write_sample_batch

from speechchurn.report.data import customer_anchor
from speechchurn.report.html import write_report

LOAD_TIMEOUT_MS = 30_000  # ms, page load and element waits
MIN_OVERVIEW_CHARTS = 6  # plotly charts on the overview page


def _chromium_path() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return Path(found)


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    """(page, console/page-error messages) for the sample report opened from file://."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    executable = _chromium_path()
    out = write_sample_batch(
        tmp_path_factory.mktemp("browser") / "out", errors=[("broken.wav", "empty file")]
    )
    report = write_report(out)
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(LOAD_TIMEOUT_MS)
        page.on(
            "console",
            lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        yield page, problems
        browser.close()


def test_overview_renders(browser_page):
    page, problems = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert page.locator("#main").is_visible()
    assert page.locator("#main .js-plotly-plot").count() >= MIN_OVERVIEW_CHARTS
    assert page.locator("#main .js-plotly-plot .main-svg").first.is_visible()
    assert page.locator("#review-table tbody tr").count() == 1
    assert page.locator("#customers-table tbody tr").count() == 3
    assert page.locator("#errors-table").inner_text().count("broken.wav") == 1
    assert "客户通话分析报告" in page.title()
    assert problems == []


def test_customer_page_opens(browser_page):
    page, problems = browser_page
    page.click(f'#customers-table a[href="#{customer_anchor(HEAVY_CALLER)}"]')
    section = page.locator(f"#{customer_anchor(HEAVY_CALLER)}")
    section.wait_for(state="visible")
    assert page.locator("#main").is_hidden()
    assert HEAVY_SENTENCE in section.inner_text()
    assert section.locator("mark.kw-complaint").first.is_visible()
    assert section.locator(".turn-agent .who").first.inner_text().startswith("坐席")
    assert section.locator(".turn-customer .who").first.inner_text().startswith("客户")
    section.locator(".qchart .main-svg").first.wait_for(state="visible")  # per-quarter sentiment chart
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-customer.png"), full_page=True)
    page.click(f"#{customer_anchor(HEAVY_CALLER)} a.back")
    page.locator("#customers").wait_for(state="visible")
    assert section.is_hidden()
    assert problems == []
