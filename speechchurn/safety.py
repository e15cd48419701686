"""Untrusted text in spreadsheet outputs: neutralise cells that Excel would run as formulas.

QA teams open calls.csv, callers.csv, review.csv, errors.csv and callers.xlsx in Excel. Transcripts,
evidence snippets, manifest pass-through columns, file names and agent names come from outside; a
cell whose text starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return could become a formula
(OWASP "CSV injection"). Such text gets a leading apostrophe; numbers (and text that is exactly a
number, such as ``-3.5``) stay numbers.
"""

from __future__ import annotations

import re

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISING_PREFIX = "'"
_CELL_BREAK = "\x00"  # joins distinct cells for one scan (a false hit only costs the per-cell pass)
_FORMULA_START = re.compile("\x00[" + re.escape("".join(FORMULA_PREFIXES)) + "]")
_PLAIN_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def neutralize_text(value: str) -> str:
    """`value` with a leading apostrophe if a spreadsheet would read it as a formula."""
    if value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.match(value):
        return NEUTRALISING_PREFIX + value
    return value


def neutralize_cell(value: object) -> object:
    """Neutralise text; every other value (numbers, dates, None) is returned as it is."""
    return neutralize_text(value) if isinstance(value, str) else value


def neutralize_frame(frame):
    """A copy of a pandas DataFrame whose text cells (and column names) are neutralised."""
    out = frame.copy()
    for column in out.columns:
        if holds_text(out[column]) and _has_formula(out[column]):
            out[column] = [neutralize_cell(v) for v in out[column].tolist()]  # only risky columns
    out.columns = [neutralize_cell(c) for c in out.columns]
    return out


def holds_text(column) -> bool:
    """Whether a pandas column's cells are neutralised (object or string dtype)."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    return is_object_dtype(column) or is_string_dtype(column)


def neutralize_texts(texts: list[str]) -> list[str]:
    """:func:`neutralize_text` of each text (one scan first: most lists hold no formula at all)."""
    if _FORMULA_START.search(_CELL_BREAK + _CELL_BREAK.join(texts)) is None:
        return texts
    return [neutralize_text(v) for v in texts]


def _has_formula(column) -> bool:
    """Whether some text cell of a pandas column starts like a formula (each distinct cell checked once)."""
    import pandas as pd

    try:
        cells = pd.unique(column.to_numpy(dtype=object)).tolist()
    except TypeError:  # unhashable cells (lists): check them all
        cells = column.tolist()
    if all(isinstance(v, str) for v in cells):  # one scan of all the text at C speed
        return _FORMULA_START.search(_CELL_BREAK + _CELL_BREAK.join(cells)) is not None
    return any(isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in cells)
