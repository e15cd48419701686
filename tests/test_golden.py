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

report.html is compared without its generation time and the inlined plotly.js bundle; callers.xlsx
(a zip with timestamps) is compared as a JSON dump of its cells.
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
)
REPORT = "report.html"
WORKBOOK = "callers.xlsx"
WORKBOOK_DUMP = "callers.xlsx.json"
GENERATED = re.compile(r"生成于 [^<]*")
PLOTLY_BUNDLE = re.compile(r"<script>/\*\*\s*\* plotly\.js.*?</script>", re.S)


def run_stages(out: Path) -> Path:
    """Export, grade and report from the store in `out` (what `analyze` does after the last file)."""
    from speechchurn.batch.pipeline import export_outputs
    from speechchurn.batch.store import Store
    from speechchurn.grading_run import GradingOptions, run_grading

    with Store(out) as store:
        export_outputs(store, out)
    run_grading(out, GradingOptions(reports=True))
    return out


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    from speechchurn.batch.store import STORE_NAME

    out = tmp_path_factory.mktemp("golden") / "out"
    out.mkdir()
    with sqlite3.connect(out / STORE_NAME) as db:
        db.executescript(STORE_SQL.read_text(encoding="utf-8"))
    return run_stages(out)


def normalised_report(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = PLOTLY_BUNDLE.sub("<script>/* plotly.js */</script>", text, count=1)
    return GENERATED.sub("生成于 (time)", text)


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


def test_plotly_bundle_is_recognised(out):
    assert len(normalised_report(out / REPORT)) < len((out / REPORT).read_text(encoding="utf-8")) // 10


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
