"""Golden outputs: the export, grade and report stages on a fixed store give byte-identical files.

`tests/golden/store.sql` is a text dump of the result store of a real `speechchurn analyze
audio_samples` run (real Whisper weights). Every file OUT_DIR gets from it (calls.csv, transcripts.jsonl,
evidence.jsonl, errors.csv, callers.csv, review.csv, report.html, callers.xlsx) is compared with the
files under `tests/golden/out/`. The stages run on stored transcripts and features, so changes to
transcription, keyword spotting or acoustics elsewhere do not move these files; a change to grading,
the exports or the report does, and must be looked at.

`test_real_run_outputs_are_the_stages_of_its_store` (slow) runs the real pipeline once on audio_samples
(the session fixture shared with tests/test_sample_targets.py) and checks that every output it wrote is
exactly what these stages make from its own store, and that it covers the golden run's files and
customers: what the golden files pin down is what a real run produces.

After an intended change, rewrite the golden files and review the diff:

    SPEECHCHURN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

No test compares bytes a third-party package produces (issue 24): the golden report is rendered with
each chart as our own canonical JSON of its figure (traces and layout as our code built them, without
plotly's template) in place of plotly's markup, and without the plotly.js bundle, so a new plotly
release cannot move it. report.html is compared without its generation time; callers.xlsx (a zip with
timestamps) is compared as a JSON dump of its cells. Where two real reports made in the same
environment are compared, every script that is not the report's own is left out.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
STORE_SQL = GOLDEN / "store.sql"
GOLDEN_OUT = GOLDEN / "out"
UPDATE = os.environ.get("SPEECHCHURN_UPDATE_GOLDEN") == "1"
BYTE_FILES = (
    "calls.csv",
    "transcripts.jsonl",
    "evidence.jsonl",
    "errors.csv",
    "callers.csv",
    "review.csv",
    "qa_calls.csv",
    "qa_agents.csv",
    "qa_weekly.csv",
)
REPORT = "report.html"
WORKBOOK = "callers.xlsx"
WORKBOOK_DUMP = "callers.xlsx.json"
GENERATED = re.compile(r"生成于 [^<]*")
SCRIPT = re.compile(r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)
OWN_SCRIPT_MARK = "// speechchurn report:"  # first line of speechchurn/report/static/report.js
BUNDLE_STAND_IN = "/* plotly.js: not compared */"


def run_stages(out: Path) -> Path:
    """Export, QA, grade and report from the store in `out` (what `analyze` does after the last file)."""
    from speechchurn.batch.pipeline import export_outputs
    from speechchurn.batch.store import Store
    from speechchurn.grading_run import GradingOptions, run_grading
    from speechchurn.qa.run import run_qa

    with Store(out) as store:
        export_outputs(store, out)
    run_qa(out)
    run_grading(out, GradingOptions(reports=True))
    return out


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    from speechchurn.batch.store import STORE_NAME

    out = tmp_path_factory.mktemp("golden") / "out"
    out.mkdir()
    with sqlite3.connect(out / STORE_NAME) as db:
        db.executescript(STORE_SQL.read_text(encoding="utf-8"))
    with pytest.MonkeyPatch.context() as patch:  # our bytes only: no plotly markup, no plotly.js
        patch.setattr("speechchurn.report.html.chart_divs", canonical_chart_divs)
        patch.setattr("speechchurn.report.html.plotly_js", lambda: BUNDLE_STAND_IN)
        patch.setattr("speechchurn.report.qa_section._divs", canonical_qa_divs)
        return run_stages(out)


def canonical_chart_divs(data) -> list[str]:
    """Each overview chart as our canonical JSON of its figure, where the report puts plotly's markup."""
    from html import escape

    from speechchurn.report.charts import overview_figures

    return [
        f'<div id="chart-{i}" class="golden-chart">{escape(canonical_figure(fig))}</div>'
        for i, fig in enumerate(overview_figures(data), start=1)
    ]


def canonical_qa_divs(figures: list) -> list[str]:
    """The QA section's charts as our canonical JSON of each figure (report/qa_section.py's ids)."""
    from html import escape

    from speechchurn.report.qa_section import QA_CHART_ID_PREFIX

    figures = [f for f in figures if f is not None]
    return [
        f'<div id="{QA_CHART_ID_PREFIX}{i}" class="golden-chart">{escape(canonical_figure(fig))}</div>'
        for i, fig in enumerate(figures, start=1)
    ]


def canonical_figure(fig) -> str:
    """Traces and layout as our code set them (plotly's expanded template left out), plain JSON."""
    figure = fig.to_plotly_json()
    layout = {k: v for k, v in figure.get("layout", {}).items() if k != "template"}
    return json.dumps({"data": figure.get("data", []), "layout": layout}, default=_plain, sort_keys=True)


def _plain(value):
    import datetime as dt

    import numpy as np

    if isinstance(value, np.ndarray):
        return np.datetime_as_string(value).tolist() if value.dtype.kind == "M" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "to_plotly_json"):
        return value.to_plotly_json()
    raise TypeError(f"not JSON: {type(value).__name__}")


def normalised_report(path: Path) -> str:
    """report.html without its generation time and without any script that is not the report's own."""
    text = SCRIPT.sub(_own_script_only, path.read_text(encoding="utf-8"))
    return GENERATED.sub("生成于 (time)", text)


def _own_script_only(match: re.Match) -> str:
    own = "application/json" in match["attrs"] or OWN_SCRIPT_MARK in match["body"]
    return match[0] if own else "<script>/* not ours: not compared */</script>"


def workbook_dump(path: Path) -> str:
    from openpyxl import load_workbook

    book = load_workbook(path)
    sheets = {
        ws.title: [[[cell.data_type, cell.value] for cell in row] for row in ws.iter_rows()]
        for ws in book.worksheets
    }
    return json.dumps(sheets, ensure_ascii=False, indent=0, default=str) + "\n"


def _check(name: str, actual: bytes) -> None:
    golden = GOLDEN_OUT / name
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(actual)
        return
    assert golden.is_file(), f"{golden} missing: run with SPEECHCHURN_UPDATE_GOLDEN=1"
    assert actual == golden.read_bytes(), (
        f"{name} differs from {golden} (SPEECHCHURN_UPDATE_GOLDEN=1 to accept)"
    )


def test_the_golden_report_holds_no_third_party_bytes(out):
    text = (out / REPORT).read_text(encoding="utf-8")
    assert BUNDLE_STAND_IN in text and "PLOTLYENV" not in text and "plotly-graph-div" not in text
    assert text.count('class="golden-chart"') >= 4  # the charts are still there, as our own JSON
    assert OWN_SCRIPT_MARK in text


def test_a_real_report_keeps_only_its_own_scripts_when_normalised(tmp_path):
    """The structural normaliser used on real reports: plotly's scripts go, ours stay."""
    page = tmp_path / "r.html"
    page.write_text(
        '<script>/*! plotly.js v9 */ var x = "a";</script><div><script type="text/javascript">'
        'Plotly.newPlot("chart-1", [])</script></div><script type="application/json" id="s">{"a": 1}'
        "</script><script>\n// speechchurn report: inlined\n</script><p>生成于 2026-12-04 08:00</p>",
        encoding="utf-8",
    )
    text = normalised_report(page)
    assert "plotly.js v9" not in text and "Plotly.newPlot" not in text
    assert '{"a": 1}' in text and OWN_SCRIPT_MARK in text and "生成于 (time)" in text


@pytest.mark.parametrize("name", BYTE_FILES)
def test_output_files_match_golden(out, name):
    _check(name, (out / name).read_bytes())


def test_report_matches_golden(out):
    _check(REPORT, normalised_report(out / REPORT).encode("utf-8"))


def test_workbook_matches_golden(out):
    _check(WORKBOOK_DUMP, workbook_dump(out / WORKBOOK).encode("utf-8"))


@pytest.mark.slow
def test_real_run_outputs_are_the_stages_of_its_store(samples_run, tmp_path):
    from speechchurn import outputs
    from speechchurn.batch.store import STORE_NAME

    again = tmp_path / "out"
    again.mkdir()
    with sqlite3.connect(samples_run / STORE_NAME) as source, sqlite3.connect(again / STORE_NAME) as copy:
        source.backup(copy)
    run_stages(again)
    for name in BYTE_FILES:
        assert (again / name).read_bytes() == (samples_run / name).read_bytes(), name
    assert normalised_report(again / REPORT).replace("输出目录 out", "") == normalised_report(
        samples_run / REPORT
    ).replace(f"输出目录 {samples_run.name}", "")
    assert workbook_dump(again / WORKBOOK) == workbook_dump(samples_run / WORKBOOK)
    real, golden = outputs.read_csv(samples_run / "calls.csv"), outputs.read_csv(GOLDEN_OUT / "calls.csv")
    assert sorted(real["file"]) == sorted(golden["file"])
    real_callers = outputs.read_csv(samples_run / "callers.csv")["caller"]
    assert sorted(real_callers) == sorted(outputs.read_csv(GOLDEN_OUT / "callers.csv")["caller"])
