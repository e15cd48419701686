"""Atomic writers for the output contract: UTF-8-BOM CSV (Excel on Chinese Windows) and JSONL.

CSV text cells that a spreadsheet would run as a formula are neutralised (speechchurn.safety).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_float_dtype

from speechchurn.safety import holds_text, neutralize_cell, neutralize_frame, neutralize_texts

CSV_ENCODING = "utf-8-sig"  # BOM so Excel detects UTF-8
FLOAT_FORMAT = "%.4g"  # CSV float cells: 4 significant digits
CSV_TIME_SEP = " "  # between date and time in CSV time cells (pandas' to_csv)
ISO_TIME_SEP = "T"  # between date and time in Timestamp.isoformat()
FILE_MODE = 0o666  # before the umask, like open()
CSV_LINE_END = os.linesep  # pandas' default line terminator
CSV_CHUNK_ROWS = 20_000  # rows joined into one string before writing
_MAY_QUOTE = re.compile(r'[,"\r\n]')  # characters the csv module may quote a field for

CALLS_CSV = "calls.csv"
CALLERS_CSV = "callers.csv"
REVIEW_CSV = "review.csv"
ERRORS_CSV = "errors.csv"
TRANSCRIPTS_JSONL = "transcripts.jsonl"
EVIDENCE_JSONL = "evidence.jsonl"
MODEL_REPORT_JSON = "model_report.json"  # speechchurn train
CLUSTER_REPORT_JSON = "cluster_report.json"  # grade --tiering cluster
RETENTION_JSON = "retention.json"  # speechchurn retention
QA_CALLS_CSV = "qa_calls.csv"  # speechchurn.qa: one row per scored call
QA_AGENTS_CSV = "qa_agents.csv"  # one row per agent
QA_WEEKLY_CSV = "qa_weekly.csv"  # agent x ISO week means, long form
QA_EVIDENCE_KIND = "qa"  # evidence.jsonl `kind` of QA rows (keyword rows have no `kind`)


@contextmanager
def atomic_path(path: Path):
    """Yield a temp path next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, FILE_MODE & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class CsvLines:
    """A frame's columns already written as CSV text: the header and one partial line per row."""

    columns: tuple[str, ...]
    lines: np.ndarray  # object array: header line first, then one per row


def write_csv(frame: pd.DataFrame, path: Path, ahead: CsvLines | None = None) -> Path:
    """``frame`` as CSV with the bytes pandas' ``to_csv`` would write, formulas neutralised.

    Frames whose columns are all numbers, booleans, times or text (the outputs of this tool) are
    written row by row from per-column text; anything else goes through ``to_csv`` itself.
    ``ahead``: :func:`csv_lines` of ``frame``'s leading columns (same rows and values), so a caller
    can write those while the last columns are still being computed.
    """
    lead = len(ahead.columns) if _leads(ahead, frame) else 0
    rest = frame.iloc[:, lead:]
    texts = csv_column_texts(rest)
    with atomic_path(path) as tmp:
        if frame.shape[1] >= 2 and not frame.columns.has_duplicates and all(c in texts for c in rest.columns):
            _write_rows(tmp, ([ahead.lines] if lead else []) + [texts[name] for name in rest.columns])
        else:
            safe = neutralize_frame(frame)
            csv_text_frame(safe).to_csv(tmp, index=False, encoding=CSV_ENCODING, float_format=FLOAT_FORMAT)
    return Path(path)


def csv_lines(frame: pd.DataFrame) -> CsvLines | None:
    """``frame`` as the CSV text :func:`write_csv` would write for it (None where pandas would)."""
    texts = csv_column_texts(frame)
    if not len(frame.columns) or not all(c in texts for c in frame.columns):
        return None
    lines = np.fromiter(map(",".join, zip(*texts.values())), dtype=object, count=len(frame) + 1)
    return CsvLines(tuple(frame.columns), lines)


def _leads(ahead: CsvLines | None, frame: pd.DataFrame) -> bool:
    return (
        ahead is not None
        and len(ahead.lines) == len(frame) + 1
        and tuple(frame.columns[: len(ahead.columns)]) == ahead.columns
    )


def csv_column_texts(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Header and cells of each column that :func:`write_csv` writes itself, as pandas' CSV writer
    would write them (neutralised, quoted; one object array per column, header first), by column
    name. Columns left to pandas, and frames with repeated or non-text names, are absent."""
    if frame.columns.has_duplicates or not all(isinstance(name, str) for name in frame.columns):
        return {}
    out = {}
    for name, column in frame.items():
        texts = _column_texts(column)
        if texts is not None:
            out[name] = np.concatenate([[_csv_field(neutralize_cell(name))], texts])
    return out


def _write_rows(path: Path, cells: list) -> None:
    """One CSV line per row from per-column cell texts (header first), in chunks of rows."""
    from itertools import islice

    rows = zip(*cells)
    with open(path, "w", encoding=CSV_ENCODING, newline="") as handle:
        while chunk := list(islice(rows, CSV_CHUNK_ROWS)):
            handle.write(CSV_LINE_END.join(map(",".join, chunk)) + CSV_LINE_END)


def _column_texts(column: pd.Series):
    kind = column.dtype.kind
    if is_float_dtype(column.dtype):
        return _float_texts(column).to_numpy()
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        zoned = _zoned_texts(column)
        return None if zoned is None else zoned.to_numpy()
    if kind in "iu" and isinstance(column.dtype, np.dtype):
        return format_distinct(column.to_numpy(), str)
    if kind == "b" and isinstance(column.dtype, np.dtype):
        return np.where(column.to_numpy(), "True", "False").astype(object)
    if kind == "O" or isinstance(column.dtype, pd.StringDtype):
        return _text_cells(column.to_numpy(dtype=object), neutralize=holds_text(column))
    return None


def _text_cells(values: np.ndarray, neutralize: bool):
    """Text cells (neutralised if asked) quoted where the CSV writer would quote them, '' for
    missing; None when a present cell is not text."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    texts = distinct.tolist()
    if not all(isinstance(v, str) for v in texts):
        return None
    if neutralize:
        texts = neutralize_texts(texts)
    if _MAY_QUOTE.search("".join(texts)):  # some cell may need quotes: ask the csv module per cell
        texts = [_csv_field(v) for v in texts]
    return np.array(texts + [""], dtype=object)[codes]


def _csv_field(text: str) -> str:
    """``text`` as one field of a line written by Python's csv module (QUOTE_MINIMAL)."""
    if not _MAY_QUOTE.search(text):
        return text
    import csv
    import io

    line = io.StringIO()
    csv.writer(line, lineterminator=CSV_LINE_END).writerow([text, ""])
    return line.getvalue()[: -len("," + CSV_LINE_END)]


def csv_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with float and time-zone-aware columns already written as the text ``to_csv`` gives them.

    pandas formats those columns one value at a time (about 2 s per 200,000 zoned times); this
    does the same work in bulk. The bytes are identical (tests/test_outputs.py compares them).
    """
    texts = {}
    for name, column in frame.items():
        if is_float_dtype(column.dtype):
            texts[name] = _float_texts(column)
        elif isinstance(column.dtype, pd.DatetimeTZDtype):
            zoned = _zoned_texts(column)
            if zoned is not None:
                texts[name] = zoned
    if not texts:
        return frame
    out = frame.copy()
    for name, text in texts.items():
        out[name] = text
    return out


def format_distinct(values, format_one, missing: str = ""):
    """``format_one(v)`` for every value of a 1-d array (object array out), each distinct value
    formatted once; missing values (NaN, None) give ``missing``."""
    import numpy as np

    values = np.asarray(values)
    codes, distinct = pd.factorize(values, use_na_sentinel=True)  # missing -> code -1
    texts = np.array([format_one(v) for v in distinct.tolist()] + [missing], dtype=object)[codes]
    if values.dtype.kind == "f":  # factorize merges -0.0 into 0.0; pandas and Python keep the sign
        texts[(values == 0) & np.signbit(values)] = format_one(-0.0)
    return texts


def _float_texts(column: pd.Series) -> pd.Series:
    """``FLOAT_FORMAT`` per value, '' for NaN (pandas' na_rep)."""
    texts = format_distinct(column.to_numpy(dtype=float), FLOAT_FORMAT.__mod__)
    return pd.Series(texts, index=column.index, dtype=object)


def iso_texts(column: pd.Series) -> pd.Series:
    """``Timestamp.isoformat()`` of each time of a column (``2026-03-01T09:30:00+08:00``), in bulk
    for zoned times in whole seconds."""
    if isinstance(column.dtype, pd.DatetimeTZDtype) and column.notna().all():
        texts = _zoned_texts(column, ISO_TIME_SEP)
        if texts is not None:
            return texts
    return column.map(lambda t: t.isoformat())


def _zoned_texts(column: pd.Series, sep: str = CSV_TIME_SEP) -> pd.Series | None:
    """Local wall time plus UTC offset (``2026-03-01 09:30:00+08:00``), or None where pandas would
    write fractions of a second or the zone has an offset that is not whole minutes."""
    if (column.dt.microsecond.fillna(0) != 0).any() or (column.dt.nanosecond.fillna(0) != 0).any():
        return None
    local = column.dt.tz_localize(None)
    offset_s = (local - column.dt.tz_convert("UTC").dt.tz_localize(None)).dt.total_seconds()
    if (offset_s.fillna(0) % 60 != 0).any():
        return None
    suffix = offset_s.map({s: _offset_text(s) for s in offset_s.dropna().unique()})
    text = pd.Series(_wall_texts(local, sep), index=column.index) + suffix
    return text.astype(object).where(column.notna(), "")


def _wall_texts(local: pd.Series, sep: str) -> np.ndarray:
    """``YYYY-MM-DD<sep>HH:MM:SS`` of naive times in whole seconds (numpy's ISO text, in bulk)."""
    if local.empty:
        return np.empty(0, dtype=object)
    if not local.dt.year.dropna().between(1000, 9999).all():  # ISO pads years; strftime does not
        return local.dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S").to_numpy(dtype=object)
    iso = np.datetime_as_string(local.to_numpy(dtype="datetime64[s]"), unit="s")
    if sep != ISO_TIME_SEP and iso.size:  # numpy 2's strings.replace fails on an empty array
        iso = getattr(np, "strings", np.char).replace(iso, ISO_TIME_SEP, sep)  # np.strings: numpy 2
    return iso.astype(object)


def _offset_text(offset_s: float) -> str:
    sign, minutes = ("-" if offset_s < 0 else "+"), int(abs(offset_s)) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def write_jsonl(records: Iterable[dict], path: Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return Path(path)


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding=CSV_ENCODING, dtype={"caller": str, "agent": str})
