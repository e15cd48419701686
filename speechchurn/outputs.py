"""Atomic writers for the output contract: UTF-8-BOM CSV (Excel on Chinese Windows) and JSONL.

CSV text cells that a spreadsheet would run as a formula are neutralised (speechchurn.safety).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from speechchurn.safety import neutralize_frame

CSV_ENCODING = "utf-8-sig"  # BOM so Excel detects UTF-8
FILE_MODE = 0o666  # before the umask, like open()

CALLS_CSV = "calls.csv"
CALLERS_CSV = "callers.csv"
REVIEW_CSV = "review.csv"
ERRORS_CSV = "errors.csv"
TRANSCRIPTS_JSONL = "transcripts.jsonl"
EVIDENCE_JSONL = "evidence.jsonl"


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


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        neutralize_frame(frame).to_csv(tmp, index=False, encoding=CSV_ENCODING, float_format="%.4g")
    return Path(path)


def write_jsonl(records: Iterable[dict], path: Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return Path(path)


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding=CSV_ENCODING, dtype={"caller": str, "agent": str})
