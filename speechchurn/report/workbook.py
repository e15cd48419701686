"""callers.xlsx: customers, calls, review and errors sheets, plus qa_calls and qa_agents after a QA run
(frozen header, auto filter, widths).

Every text cell is written as a string (data type ``s``) after formula neutralisation
(speechchurn.safety), so no cell of the workbook can be a formula; numbers stay numbers.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import ReportError
from speechchurn.outputs import atomic_path
from speechchurn.report.data import load_report_data
from speechchurn.safety import neutralize_cell

log = logging.getLogger("speechchurn")

WORKBOOK_XLSX = "callers.xlsx"
XLSX_MIN_WIDTH = 10  # characters (Excel's default column is ~8.43)
XLSX_MAX_WIDTH = 60  # characters: longer text wraps
XLSX_PADDING = 2  # characters added to the widest cell
XLSX_WIDTH_SAMPLE_ROWS = 5000  # rows scanned per column when computing widths
XLSX_HEADER_FILL = "DDE4EE"  # RGB hex, header row background
XLSX_SHEETS = ("customers", "calls", "review", "errors")  # sheet names, in order
QA_SHEETS = ("qa_calls", "qa_agents")  # added after XLSX_SHEETS when the run has QA results
XLSX_STRING = "s"  # openpyxl data type of a text cell
NO_DATA = "无数据 (no data)"


def display_width(value) -> int:
    """Width of a cell's text in Excel character units: East Asian wide/full-width characters count 2."""
    text = "" if value is None else str(value)
    return max(
        (
            sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in line)
            for line in text.split("\n")
        ),
        default=0,
    )


def _cell_value(value):
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _append_row(ws, values) -> None:
    """Append one row; text is neutralised and typed as a string, never as a formula."""
    ws.append([neutralize_cell(v) for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = XLSX_STRING


def _fill_sheet(ws, frame: pd.DataFrame) -> None:
    from openpyxl.styles import Font, PatternFill

    if not len(frame.columns):
        _append_row(ws, [NO_DATA])
        return
    _append_row(ws, [str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        _append_row(ws, [_cell_value(v) for v in row])
    header_font, header_fill = Font(bold=True), PatternFill("solid", fgColor=XLSX_HEADER_FILL)
    for cell in ws[1]:
        cell.font, cell.fill = header_font, header_fill
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    _set_widths(ws, frame)


def _set_widths(ws, frame: pd.DataFrame) -> None:
    """Column widths from the widest sampled cell; wrap columns whose text is too wide or multi-line."""
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    sample = frame.head(XLSX_WIDTH_SAMPLE_ROWS)
    for i, column in enumerate(frame.columns, start=1):
        widest = max([display_width(column)] + [display_width(_cell_value(v)) for v in sample[column]])
        width = min(max(widest + XLSX_PADDING, XLSX_MIN_WIDTH), XLSX_MAX_WIDTH)
        ws.column_dimensions[get_column_letter(i)].width = width
        if widest + XLSX_PADDING > XLSX_MAX_WIDTH or sample[column].astype(str).str.contains("\n").any():
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def _or_empty(frame: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if frame is None else frame


def sheet_names(data) -> tuple[str, ...]:
    """XLSX_SHEETS, then the QA sheets when the run wrote qa_calls.csv (runs without QA: unchanged)."""
    return XLSX_SHEETS + (QA_SHEETS if data.qa_calls is not None else ())


def write_workbook(out_dir: Path, privacy=None) -> Path:
    """Write OUT_DIR/callers.xlsx (customers, calls, review, errors [, qa_calls, qa_agents]); its path.

    `privacy` (speechchurn.privacy.PrivacyOptions) redacts text / hashes callers as data is read.
    """
    from openpyxl import Workbook

    data = load_report_data(out_dir, privacy)
    frames = {"customers": data.callers, "calls": data.calls, "review": data.review, "errors": data.errors}
    frames.update({name: _or_empty(getattr(data, name)) for name in QA_SHEETS})
    book = Workbook()
    book.remove(book.active)
    for name in sheet_names(data):
        _fill_sheet(book.create_sheet(name), frames[name])
    path = Path(out_dir) / WORKBOOK_XLSX
    try:
        with atomic_path(path) as tmp:
            book.save(tmp)
    except OSError as e:
        raise ReportError(f"{path}: cannot write workbook: {e}") from e
    log.info("report: wrote %s", path)
    return path
