"""Outputs are safe to open: no spreadsheet cell is a formula, the HTML report shows hostile text as text.

Issue 12 item 3: manifest values, file names and transcripts come from outside the tool.
"""

from __future__ import annotations

import csv
import shutil

import pytest

from speechchurn.analyze import AnalyzeOptions, analyze
from speechchurn.safety import neutralize_cell, neutralize_text

HYPERLINK = '=HYPERLINK("http://x","y")'
DDE = "+cmd|' /C calc'!A0"
AT_SUM = "@SUM(A1)"
HOSTILE_FILE = "<img src=x onerror=alert(1)>.wav"
CALLER = "13812345601"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_OUTPUTS = ("calls.csv", "callers.csv", "review.csv", "errors.csv")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        (HYPERLINK, "'" + HYPERLINK),
        (DDE, "'" + DDE),
        (AT_SUM, "'" + AT_SUM),
        ("-2+3", "'-2+3"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-3.5", "-3.5"),  # text that is exactly a number stays a number
        ("+86", "+86"),
        ("我要投诉", "我要投诉"),
        ("", ""),
    ],
)
def test_neutralize_text(value, expected):
    assert neutralize_text(value) == expected


@pytest.mark.parametrize("value", [-3.5, 0, 12, None, float("nan")])
def test_numbers_stay_numbers(value):
    assert neutralize_cell(value) is value


@pytest.fixture
def hostile_out(tmp_path, samples_dir, fake_engine):
    fake_engine.text = f"{HYPERLINK} 我要投诉，你们乱扣费，我要销户"
    folder = tmp_path / "calls"
    folder.mkdir()
    first, second = sorted(samples_dir.glob("*13812345601*.wav"))[:2]
    shutil.copy(first, folder / HOSTILE_FILE)
    shutil.copy(second, folder / second.name)
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "caller", "agent", "direction", "started_at", "note", "campaign"])
        writer.writerow(
            [HOSTILE_FILE, "13812345601", AT_SUM, "in", "2026-11-02T09:30:12+08:00", HYPERLINK, DDE]
        )
        writer.writerow(
            [second.name, "13812345601", HYPERLINK, "out", "2026-11-10T14:30:05+08:00", DDE, AT_SUM]
        )
    out = tmp_path / "out"
    result = analyze(folder, out, AnalyzeOptions(manifest=manifest))
    assert result.done == 2, result.failures
    return out


def _is_formula(value: str) -> bool:
    return value.startswith(FORMULA_STARTS)


def test_no_csv_cell_is_a_formula(hostile_out):
    seen = set()
    for name in CSV_OUTPUTS:
        with (hostile_out / name).open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.reader(handle):
                formulas = [cell for cell in row if _is_formula(cell) and not _number(cell)]
                assert formulas == [], (name, formulas)
                seen.update(row)
    # the hostile values are still there, neutralised, not dropped
    assert {"'" + HYPERLINK, "'" + DDE, "'" + AT_SUM, HOSTILE_FILE} <= seen


def test_no_workbook_cell_is_a_formula(hostile_out):
    from openpyxl import load_workbook

    book = load_workbook(hostile_out / "callers.xlsx")
    texts = set()
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not _is_formula(cell.value) or _number(cell.value), (ws.title, cell.value)
                    texts.add(cell.value)
    assert {"'" + HYPERLINK, "'" + DDE, "'" + AT_SUM, HOSTILE_FILE} <= texts


def test_report_shows_hostile_strings_as_text(hostile_out):
    page = (hostile_out / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.wav" in page
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)" in page  # the transcript line, escaped
    assert '=HYPERLINK("http://x"' not in page


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
