"""Call-metadata exports (CDRs) as input: ``--calls calls.csv`` instead of analysed audio.

Only ``caller``, ``started_at`` and ``duration_s`` (seconds, or a clock form such as 0:05:30) are
required. Optional columns are used when present: ``direction`` (in/out, or 呼入/呼出/外呼/inbound...),
``transfers``, ``non_talk_s``, ``sentiment_mean``, ``sentiment_min`` and
``kw_<category>`` keyword counts (the columns ``speechchurn analyze`` writes to calls.csv, so its own
output reads back too). Unanswered outbound calls are rows with ``duration_s`` 0.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import ManifestError
from speechchurn.vocab import DEFAULT_TIMEZONE
from speechchurn.call.metadata import parse_timestamp
from speechchurn.call.phones import normalize_phones
from speechchurn.call.metadata import normalize_direction
from speechchurn.outputs import format_distinct
from speechchurn.call.metadata import read_table_text

log = logging.getLogger("speechchurn")

REQUIRED_CALL_COLUMNS = ("caller", "started_at", "duration_s")
NUMERIC_CALL_COLUMNS = ("duration_s", "transfers", "non_talk_s", "sentiment_mean", "sentiment_min")


def parse_times(values: pd.Series, timezone: str) -> pd.Series:
    """Start times as tz-aware timestamps in ``timezone``; naive values are wall time there; NaT if bad."""
    text = values.astype(str).str.strip()
    try:
        parsed = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.dtype == object:
        try:
            parsed = pd.to_datetime(text, format="ISO8601", utc=True)
        except (ValueError, TypeError):
            parsed = _parse_each(text, timezone)
    if getattr(parsed.dtype, "tz", None) is None:
        return parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return parsed.dt.tz_convert(timezone)


def _parse_each(text: pd.Series, timezone: str) -> pd.Series:
    """Slow path for non-ISO exports: metadata.parse_timestamp once per distinct value."""

    codes, uniques = pd.factorize(text.to_numpy())
    parsed = []
    for value in uniques:
        try:
            parsed.append(pd.Timestamp(parse_timestamp(value, timezone)).tz_convert("UTC"))
        except ValueError:
            parsed.append(pd.NaT)
    table = pd.DatetimeIndex(parsed + [pd.NaT]).tz_localize(None) if parsed else pd.DatetimeIndex([pd.NaT])
    return pd.Series(table[codes], index=text.index).dt.tz_localize("UTC")


def prepare_calls(
    frame: pd.DataFrame, timezone: str = DEFAULT_TIMEZONE, source: str = "calls"
) -> pd.DataFrame:
    """Validate and type a calls table: normalised callers, aware start times, numeric columns.

    Rows without a caller, a parsable start time or a duration are dropped (counted in a warning).
    """

    frame = frame.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED_CALL_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{source}: missing column(s) {', '.join(missing)} (have: {', '.join(map(str, frame.columns))})"
        )
    out = frame.copy()
    out["caller"] = normalize_phones(out["caller"])
    out["started_at"] = parse_times(out["started_at"], timezone)
    for col in [c for c in out.columns if c in NUMERIC_CALL_COLUMNS or c.startswith("kw_")]:
        out[col] = pd.to_numeric(out[col], errors="coerce")
    out["duration_s"] = _durations(frame["duration_s"], out["duration_s"])
    if "direction" in out.columns:
        out["direction"] = _directions(out["direction"], source)
    bad = (out["caller"] == "") | out["started_at"].isna() | out["duration_s"].isna()
    if bad.any():
        log.warning("%s: %d row(s) without caller, start time or duration skipped", source, int(bad.sum()))
        out = out.loc[~bad]
    return out.reset_index(drop=True)


def _durations(raw: pd.Series, numeric: pd.Series) -> pd.Series:
    """Seconds; a CDR's clock form (H:MM:SS or M:SS, e.g. 0:05:30) where the value is not a number."""
    missing = numeric.isna()
    if not missing.any():
        return numeric
    text = raw[missing].astype(str).str.strip()
    text = text[text.str.fullmatch(r"\d+(:\d{1,2}){1,2}")]
    if text.empty:
        return numeric
    text = text.where(text.str.count(":") == 2, "0:" + text)  # M:SS -> 0:M:SS
    out = numeric.copy()
    out[text.index] = pd.to_timedelta(text, errors="coerce").dt.total_seconds()
    return out


def _directions(raw: pd.Series, source: str) -> pd.Series:
    """in / out from the spellings CDRs use (inbound, 呼入, 外呼, OUT...); '' when blank or unknown."""

    unknown: set[str] = set()

    def read(value) -> str:
        direction = normalize_direction(value)
        if direction is None and str(value).strip():
            unknown.add(str(value))
        return direction or ""

    texts = format_distinct(raw.to_numpy(dtype=object), read)  # each distinct spelling read once
    if unknown:
        log.warning("%s: direction value(s) not understood, read as unknown: %s", source, ", ".join(sorted(unknown)[:5]))
    return pd.Series(texts, index=raw.index)


def load_calls_csv(path: Path | str, timezone: str = DEFAULT_TIMEZONE) -> pd.DataFrame:
    """Read a calls.csv / CDR export (UTF-8, UTF-8 BOM or GBK) into a typed calls table."""

    path = Path(path)
    try:
        text = read_table_text(path, "calls file")
        frame = pd.read_csv(io.StringIO(text), dtype={"caller": str}, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ManifestError(f"{path}: unreadable calls CSV ({e})") from e
    return prepare_calls(frame, timezone, source=str(path))
