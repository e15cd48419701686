"""Privacy of outputs that leave the team: `--redact` and `--hash-callers SALT`.

- `redact` masks personal data (text.redact: phone numbers, resident IDs, bank cards, e-mails) in
  every free-text cell: transcripts, evidence snippets, review quotes, manifest pass-through
  columns, error reasons. The caller key column is the join key and stays as it is, and so do
  file names (identifiers, like the key).
- `caller_salt` replaces each caller key with a keyed hash (text.redact.hash_caller) wherever it
  appears: the caller columns, and inside file names and any other text (a file named after the
  caller's number gets the same hash), so the outputs still join but no longer name the number.

The result store keeps the raw data; this is applied to the files an analyze run exports
(`protect_outputs`) and to what `report` loads (`protect_report_data`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from speechchurn.text.redact import DEFAULT_OPTIONS, RedactOptions, hash_caller, redact, redact_fragment

KEY_COLUMNS = ("caller",)  # join keys: hashed with a salt, never masked
IDENTIFIER_COLUMNS = ("file", "evidence_files")  # file names: callers inside them hashed, never masked
TIME_COLUMNS = ("started_at", "first_call", "last_call", "evidence_times")  # timestamps, not text
FRAGMENT_FIELDS = ("snippet", "evidence", "quote")  # text cut out of a longer line (may cut a number)
UNKNOWN_CALLERS = ("", "unknown", "nan")


@dataclass(frozen=True)
class PrivacyOptions:
    redact: bool = False
    caller_salt: str | None = None  # --hash-callers SALT
    redaction: RedactOptions = DEFAULT_OPTIONS

    @property
    def active(self) -> bool:
        return self.redact or bool(self.caller_salt)


class Protector:
    """Applies one PrivacyOptions to cells, records and tables (callers to hash known up front)."""

    def __init__(self, options: PrivacyOptions, callers: Iterable[object] = ()):
        self.options = options
        keys = sorted({str(c) for c in callers} - set(UNKNOWN_CALLERS), key=len, reverse=True)
        self._callers = (
            re.compile(r"(?<!\d)(?:" + "|".join(map(re.escape, keys)) + r")(?!\d)")
            if options.caller_salt and keys
            else None
        )

    def key(self, caller: object) -> object:
        if not self.options.caller_salt or str(caller) in UNKNOWN_CALLERS or _missing(caller):
            return caller
        return hash_caller(caller, self.options.caller_salt)

    def text(self, value: object, column: str = "") -> object:
        """One free-text cell (non-strings pass through)."""
        if not isinstance(value, str):
            return value
        if column in KEY_COLUMNS:
            return self.key(value)
        if self._callers is not None:
            value = self._callers.sub(lambda m: self.key(m.group(0)), value)
        if not self.options.redact or column in IDENTIFIER_COLUMNS or column in TIME_COLUMNS:
            return value
        if column in FRAGMENT_FIELDS:
            return redact_fragment(value, self.options.redaction)
        return redact(value, self.options.redaction)

    def record(self, record: dict) -> dict:
        """An evidence row or a transcript record (segments' text included)."""
        out = {k: self.text(v, k) for k, v in record.items()}
        if isinstance(record.get("segments"), list):
            out["segments"] = [self.record(s) if isinstance(s, dict) else s for s in record["segments"]]
        return out

    def frame(self, frame):
        """A table: every text column protected, numbers left as they are."""
        if frame is None or frame.empty or not self.options.active:
            return frame
        from pandas.api.types import is_string_dtype

        out = frame.copy()
        for column in out.columns:
            if out[column].dtype == object or is_string_dtype(out[column].dtype):
                out[column] = out[column].map(lambda v, c=column: self.text(v, c))
        return out


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _callers_of(*frames) -> set[str]:
    callers: set[str] = set()
    for frame in frames:
        if frame is not None and not frame.empty and "caller" in frame.columns:
            callers |= {str(c) for c in frame["caller"].dropna()}
    return callers


def protect_report_data(data, options: PrivacyOptions):
    """A report.data.ReportData with every table and record protected (what `report` renders)."""
    if not options.active:
        return data
    protector = Protector(options, _callers_of(data.calls, data.callers))
    return replace(
        data,
        calls=protector.frame(data.calls),
        callers=protector.frame(data.callers),
        review=protector.frame(data.review),
        errors=protector.frame(data.errors),
        transcripts={
            protector.text(file, "file"): [protector.record(s) for s in segments]
            for file, segments in data.transcripts.items()
        },
        evidence=[protector.record(row) for row in data.evidence],
    )


def protect_outputs(
    out_dir: Path, options: PrivacyOptions, tables: tuple[str, ...] | None = None
) -> Protector:
    """Rewrite the exported files of `out_dir` in place, protected (analyze --redact).

    `tables` limits it to some CSVs (grade rewrites only callers.csv and review.csv, fresh from the
    store); by default every CSV and JSONL output. Returns the Protector used, for anything else the
    run shows (the printed callers table).
    """
    from speechchurn import outputs  # lazy: numpy, pandas (start-up stays light)

    if not options.active:
        return Protector(options)
    out_dir = Path(out_dir)
    frames = {name: _read(out_dir / name) for name in (tables or _TABLES)}
    protector = Protector(options, _callers_of(*frames.values()))
    for name, frame in frames.items():
        if frame is not None:
            outputs.write_csv(protector.frame(frame), out_dir / name)
    for name in () if tables else (outputs.TRANSCRIPTS_JSONL, outputs.EVIDENCE_JSONL):
        path = out_dir / name
        if path.exists():
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            outputs.write_jsonl((protector.record(r) for r in records), path)
    return protector


def _read(path: Path):
    from speechchurn import outputs  # lazy: numpy, pandas (start-up stays light)

    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        return outputs.read_csv(path)
    except Exception:  # noqa: BLE001 - an empty table (header only or nothing) has nothing to protect
        return None


_TABLES = ("calls.csv", "callers.csv", "review.csv", "errors.csv")
GRADE_TABLES = ("callers.csv", "review.csv")  # what `grade` rewrites
