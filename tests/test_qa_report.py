"""The QA (质检) section of report.html and the qa_calls / qa_agents sheets of callers.xlsx, over an
OUT_DIR analysed from audio_samples (fake transcriber, real manifest) with hand-made QA results."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import SAMPLES
from desk_support import analyze_samples
from qa_support import CRITERIA, LABELS, WORST_QUOTE, drop_qa_results, iso_week, write_qa_results

from speechchurn import outputs
from speechchurn.errors import ReportError
from speechchurn.report.html import write_report
from speechchurn.report.workbook import QA_SHEETS, WORKBOOK_XLSX, XLSX_SHEETS, write_workbook

XSS_AGENT = '<script>alert("agent")</script>'
XSS_QUOTE = '<img src=x onerror=alert("quote")>'
AGENT_LINE = "您好，请问您是机主吗？我要投诉，这是规定，再见"  # what the fake transcriber hears on every line
FORMULA_AGENT = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """One fake-engine analyze of audio_samples with its manifest (agents A001..A006)."""
    out = tmp_path_factory.mktemp("qa") / "out"
    return analyze_samples(out, text=AGENT_LINE, manifest=SAMPLES / "manifest.csv")


@pytest.fixture
def out(analysed, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(analysed, copy)
    return copy


def _section(html: str) -> str:
    match = re.search(r'<section id="qa">.*?</section>', html, flags=re.S)
    assert match, "no QA section"
    return match.group(0)


def _report(out) -> str:
    return write_report(out).read_text(encoding="utf-8")


def test_no_qa_results_no_section(out):
    html = _report(drop_qa_results(out))
    assert 'id="qa"' not in html and 'href="#qa"' not in html and "qa-chart-" not in html
    assert "坐席质检" not in html


def test_report_qa_section(out):
    rows = write_qa_results(out)
    html = _report(out)
    section = _section(html)
    assert 'href="#qa"' in html
    agents = sorted({r["agent"] for r in rows})
    board = re.search(r'<table id="qa-agents-table".*?</table>', section, flags=re.S).group(0)
    listed = re.findall(r"<tr[^>]*><td>(A\d+|agent)</td>", board)
    assert sorted(listed) == agents
    means = [float(m) for m in re.findall(r"<tr><td>[^<]+</td><td>\d+</td><td>([\d.]+)</td>", board)]
    assert means == sorted(means, reverse=True)  # best agent first
    for criterion in CRITERIA:  # the form's Chinese label, the id beside it
        assert f'<td>{LABELS[criterion]} <small class="muted">{criterion}</small></td>' in section
    worst = re.search(r'<table id="qa-worst-table".*?</table>', section, flags=re.S).group(0)
    assert WORST_QUOTE in worst and "致命项" in worst
    assert 'id="qa-chart-1"' in section and 'id="qa-chart-2"' in section


def test_report_weekly_trend_has_one_line_per_agent(out):
    rows = write_qa_results(out)
    section = _section(_report(out))
    script = re.search(
        r'id="qa-chart-1".*?Plotly\.newPlot\(\s*"qa-chart-1",\s*(\[.*?\]),\s*\{', section, re.S
    )
    traces = json.loads(script.group(1))
    assert sorted(t["name"] for t in traces) == sorted({r["agent"] for r in rows})
    agents = outputs.read_csv(out / "qa_agents.csv").set_index("agent")
    for trace in traces:  # qa_agents.csv's week_<YYYY-Www> means, one point per week with calls
        weeks = sorted({iso_week(r["started_at"]) for r in rows if r["agent"] == trace["name"]})
        assert trace["x"] == weeks
        means = agents.loc[trace["name"], [f"week_{w}" for w in weeks]]
        assert trace["y"] == [round(float(m), 1) for m in means]


def test_report_qa_section_escapes_agents_and_quotes(out):
    write_qa_results(out, agent_of=lambda rec: XSS_AGENT, quote=XSS_QUOTE)
    section = _section(_report(out))
    assert "<script>alert" not in section and "<img src=x" not in section
    assert "&lt;img src=x onerror=alert(&quot;quote&quot;)&gt;" in section
    assert "&lt;script&gt;alert(&quot;agent&quot;)&lt;/script&gt;" in section


def test_qa_calls_without_required_columns_is_a_report_error(out):
    (out / "qa_calls.csv").write_text("file,qa_score\na.wav,50\n", encoding="utf-8")
    with pytest.raises(ReportError, match=r"qa_calls\.csv: missing column\(s\) agent, qa_auto_failed"):
        write_report(out)


def _sheets(path):
    from openpyxl import load_workbook

    return load_workbook(path)


def test_workbook_without_qa_keeps_its_sheets(out):
    assert tuple(_sheets(write_workbook(drop_qa_results(out))).sheetnames) == XLSX_SHEETS


def test_workbook_qa_sheets(out):
    rows = write_qa_results(out, agent_of=lambda rec: FORMULA_AGENT)
    book = _sheets(write_workbook(out))
    assert tuple(book.sheetnames) == XLSX_SHEETS + QA_SHEETS
    calls = book["qa_calls"]
    header = [c.value for c in calls[1]]
    assert header == list(outputs.read_csv(out / "qa_calls.csv").columns)
    assert calls.max_row == len(rows) + 1 and calls.freeze_panes == "A2"
    agent_cells = [row[header.index("agent")] for row in calls.iter_rows(min_row=2)]
    assert {(c.value, c.data_type) for c in agent_cells} == {("'" + FORMULA_AGENT, "s")}
    scores = [row[header.index("qa_score")].value for row in calls.iter_rows(min_row=2)]
    assert scores == [r["qa_score"] for r in rows]
    assert [c.value for c in book["qa_agents"][1]][:4] == ["agent", "calls", "qa_mean", "qa_min"]


def test_workbook_qa_agents_missing_is_a_no_data_sheet(out):
    write_qa_results(out)
    (out / "qa_agents.csv").unlink()
    book = _sheets(write_workbook(out))
    assert book["qa_agents"]["A1"].value == "无数据 (no data)"
    assert (out / WORKBOOK_XLSX).is_file()


def test_report_qa_section_from_a_real_qa_run(out):
    """run_qa with the shipped form over the fake transcripts: labels from the form, QA evidence rows
    kept out of the keyword highlights of the customer pages."""
    from speechchurn.qa.run import run_qa

    result = run_qa(out)
    html = _report(out)
    section = _section(html)
    for criterion in result.form.criteria:
        assert f'<td>{criterion.label} <small class="muted">{criterion.id}</small></td>' in section
    assert 'class="kw kw-qa' not in html
    board = re.search(r'<table id="qa-agents-table".*?</table>', section, flags=re.S).group(0)
    assert sorted(re.findall(r"<tr[^>]*><td>([^<]+)</td>", board)) == sorted({c.agent for c in result.calls})


@pytest.mark.parametrize(
    ("quote", "shown"),
    [
        ("longest_silence_s=12.5 (<= 15)", "最长静默（秒） 12.5（要求 <= 15）"),
        ("interruptions_agent=3 (<= 2)", "坐席抢话次数 3（要求 <= 2）"),
        ("kw_complaint=1 (>= 1)", "关键词:投诉 1（要求 >= 1）"),
        ("my_column=0.5 (> 0.2)", "my_column 0.5（要求 > 0.2）"),
        ("您好，这是规定 (<= 15)", "您好，这是规定 (<= 15)"),  # a heard phrase stays as it was said
        ("", ""),
    ],
)
def test_qa_quotes_read_in_chinese(quote, shown):
    from speechchurn.labels import qa_quote_text

    assert qa_quote_text(quote) == shown


def test_report_qa_section_redacted_and_hashed(out):
    """report --redact --hash-callers: QA quotes masked, callers inside file names hashed."""
    from speechchurn.privacy import PrivacyOptions

    phone_quote = "你打13912345678这个号码自己去查"
    rows = write_qa_results(out, quote=phone_quote)
    html = write_report(out, privacy=PrivacyOptions(redact=True, caller_salt="s4lt")).read_text(
        encoding="utf-8"
    )
    section = _section(html)
    assert "13912345678" not in section and "你打" in section
    callers = {r["file"].split("_")[2] for r in rows}
    assert not any(caller in section for caller in callers)
