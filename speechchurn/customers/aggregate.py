"""Per-customer aggregation of the calls table (one row per call -> one row per customer).

Everything is vectorised pandas: callers are factorised once and every figure is a groupby over the
integer codes. Conventions (see docs/rules.md, "Indicators"):

* Calls that started after ``as_of`` are excluded from every figure.
* The 30-day window is ``as_of - 30 days < started_at <= as_of``: a call exactly 30 days (to the
  second) before ``as_of`` is *outside* the window.
* ``days_since_last`` is a float number of days (fractional, ``(as_of - last_call) / 1 day``); it is
  NaN for roster customers who never called. A call exactly 90 days before ``as_of`` gives 90.0.
* ``sentiment_trend`` is the least-squares slope of per-call ``sentiment_mean`` against the call index
  (0, 1, 2, ...) over the customer's last ``TREND_CALLS`` calls in time order, in sentiment-score units
  (0..1, see speechchurn/sentiment.py) per call; NaN with fewer than two calls. Negative means the
  customer's recent calls got more negative.
* ``avg_minutes``, ``sentiment_*`` and ``first_call``/``last_call`` are NaN/NaT for a customer without
  calls; counts and sums are 0.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.call.metadata import read_table_text
from speechchurn.call.phones import UNKNOWN_CALLER, normalize_phones
from speechchurn.errors import ConfigError, ManifestError
from speechchurn.vocab import (
    CALL_COUNT_CATEGORIES,
    COMPETITOR_CATEGORY,
    KW_PREFIX,
    NEGATIVE_BELOW,
    is_customer_kw_column,
    kw_category,
    kw_column,
)

log = logging.getLogger("speechchurn")

WINDOW_DAYS = 30  # days: the "recent" window for calls_30d / minutes_30d
TREND_CALLS = 5  # calls: how many of the customer's latest calls the sentiment trend looks at
SECONDS_PER_MINUTE = 60.0  # s
SECONDS_PER_DAY = 86_400.0  # s

AGGREGATE_COLUMNS = (
    "caller",
    "calls",
    "calls_30d",
    "inbound",
    "outbound",
    "total_minutes",
    "minutes_30d",
    "avg_minutes",
    "first_call",
    "last_call",
    "days_since_last",
    "transfers",
    "non_talk_s",
    "sentiment_mean",
    "sentiment_min",
    "negative_calls",
    "sentiment_trend",
    "complaint_calls",
    "churn_intent_calls",
    "competitor_mentions",
)
# Columns a customer who never called gets as 0 (everything else stays NaN / NaT).
_ZERO_WHEN_NO_CALLS = (
    "calls",
    "calls_30d",
    "inbound",
    "outbound",
    "total_minutes",
    "minutes_30d",
    "transfers",
    "non_talk_s",
    "negative_calls",
    "complaint_calls",
    "churn_intent_calls",
    "competitor_mentions",
)


# ----------------------------------------------------------------------------------------------- time


def parse_started_at(values: pd.Series) -> pd.Series:
    """Parse ISO 8601 start times; mixed UTC offsets are converted to UTC."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        return values
    try:
        parsed = pd.to_datetime(values, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(values, format="ISO8601", utc=True)
    if parsed.dtype == object:  # pragma: no cover - older pandas returns objects for mixed offsets
        parsed = pd.to_datetime(values, format="ISO8601", utc=True)
    return parsed


def align_as_of(as_of: pd.Timestamp | str, started: pd.Series) -> pd.Timestamp:
    """Express ``as_of`` in the time zone of ``started``.

    A naive ``as_of`` against tz-aware calls is read as wall time in the calls' zone; an aware ``as_of``
    against naive calls is converted to its own wall time with the zone dropped.
    """
    ts = pd.Timestamp(as_of)
    tz = getattr(started.dtype, "tz", None)
    if tz is not None:
        return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def default_as_of(calls: pd.DataFrame) -> pd.Timestamp:
    """The default as-of date: the latest call start (now, in UTC, for an empty table)."""
    if calls.empty or "started_at" not in calls:
        return pd.Timestamp.now(tz="UTC")
    latest = parse_started_at(calls["started_at"]).max()
    return pd.Timestamp.now(tz="UTC") if pd.isna(latest) else pd.Timestamp(latest)


def as_of_timestamp(as_of, calls: pd.DataFrame, timezone: str) -> pd.Timestamp:
    """The grading instant: the end of the `as_of` day in `timezone` (calls up to its end count), or
    the latest call start when no date is given."""
    if as_of is None:
        return default_as_of(calls)
    return pd.Timestamp(as_of).tz_localize(timezone) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)


# --------------------------------------------------------------------------------------- aggregation


def keyword_categories(calls: pd.DataFrame) -> list[str]:
    """Customer-side keyword categories present as ``kw_<category>`` columns."""
    return [kw_category(c) for c in calls.columns if is_customer_kw_column(c)]


_USED_COLUMNS = ("direction", "duration_s", "transfers", "non_talk_s", "sentiment_mean", "sentiment_min")


def _prepare(
    calls: pd.DataFrame, as_of: pd.Timestamp | str, categories: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, pd.Timestamp]:
    """Slim, as-of-filtered copy of the used columns sorted by customer then time.

    Returns the frame, the integer customer code of each row (codes index ``uniques``, which is sorted),
    the sorted unique callers and the aligned as-of timestamp. Rows without a parsable start time or
    starting after ``as_of`` are dropped.
    """
    required = ("caller", "started_at", "duration_s")
    missing = [c for c in required if c not in calls.columns]
    if missing:
        raise ConfigError(f"calls table: missing column(s) {', '.join(missing)}")
    started = parse_started_at(calls["started_at"])
    as_of_ts = align_as_of(as_of, started)
    keep = (started <= as_of_ts).to_numpy()
    dropped = int((~keep).sum())
    if dropped:
        log.info("aggregate: %d call(s) after as-of %s (or without a start time) excluded", dropped, as_of_ts)
    all_codes, uniques = sorted_codes(calls["caller"].astype(str).to_numpy())
    unknown = np.isin(all_codes, np.flatnonzero(np.isin(uniques, [UNKNOWN_CALLER, ""]))) & keep
    if unknown.any():  # an unknown caller is never a customer key
        log.info("aggregate: %d call(s) without a valid caller excluded", int(unknown.sum()))
        keep = keep & ~unknown
    wanted = {kw_column(c) for c in (*categories, *CALL_COUNT_CATEGORIES, COMPETITOR_CATEGORY)}
    columns = [c for c in calls.columns if c in _USED_COLUMNS or c in wanted]
    codes, uniques = _kept_only(all_codes[keep], uniques)
    kept_started = started[keep]
    order = np.lexsort(
        (
            kept_started.to_numpy(dtype="datetime64[ns]")
            if kept_started.dt.tz is None
            else kept_started.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
            codes,
        )
    )
    frame = calls[columns].loc[keep].iloc[order].reset_index(drop=True)
    frame["started_at"] = kept_started.iloc[order].reset_index(drop=True)
    return frame, codes[order], np.asarray(uniques, dtype=object), as_of_ts


def sorted_codes(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(texts, sort=True)`` for an object array of text, sorted by numpy's C string
    sort (the same code-point order as Python's, far faster than comparing Python strings)."""
    codes, uniques = pd.factorize(texts)
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def _kept_only(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes renumbered, uniques) without the values no code points at; the order is kept."""
    used = np.bincount(codes, minlength=len(uniques)) > 0
    return (np.cumsum(used) - 1)[codes], uniques[used]


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A float column as numpy (0 when the column is absent)."""
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=np.float64)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _direction(frame: pd.DataFrame) -> np.ndarray:
    """Lower-cased direction per row ('' when the column is absent); each distinct value is lowered once."""
    if "direction" not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    codes, uniques = pd.factorize(frame["direction"].astype(str).to_numpy())
    lowered = np.array([u.strip().lower() for u in uniques] + [""], dtype=object)
    return lowered[codes]  # code -1 (missing) picks the trailing ""


def _base_figures(frame: pd.DataFrame, codes: np.ndarray, as_of: pd.Timestamp) -> pd.DataFrame:
    """Counts, minutes, dates, transfers and non-talk per customer code."""
    started = frame["started_at"]
    minutes = _numeric(frame, "duration_s") / SECONDS_PER_MINUTE
    in_window = ((started > as_of - pd.Timedelta(days=WINDOW_DAYS)) & (started <= as_of)).to_numpy()
    direction = _direction(frame)
    cols = {
        "calls": np.ones(len(frame), dtype=np.int64),
        "calls_30d": in_window.astype(np.int64),
        "inbound": (direction == "in").astype(np.int64),
        "outbound": (direction == "out").astype(np.int64),
        "total_minutes": np.nan_to_num(minutes),
        "minutes_30d": np.where(in_window, np.nan_to_num(minutes), 0.0),
        "transfers": np.rint(np.nan_to_num(_numeric(frame, "transfers"))).astype(np.int64),
        "non_talk_s": np.nan_to_num(_numeric(frame, "non_talk_s")),
    }
    work = pd.DataFrame(cols)
    work["_code"] = codes
    tz = getattr(started.dtype, "tz", None)
    work["_t"] = (started.dt.tz_convert("UTC").dt.tz_localize(None) if tz is not None else started).to_numpy()
    grouped = work.groupby("_code", sort=True)
    out = grouped[list(cols)].sum()
    out["first_call"] = grouped["_t"].min()
    out["last_call"] = grouped["_t"].max()
    if tz is not None:
        out["first_call"] = out["first_call"].dt.tz_localize("UTC").dt.tz_convert(tz)
        out["last_call"] = out["last_call"].dt.tz_localize("UTC").dt.tz_convert(tz)
    out["avg_minutes"] = out["total_minutes"] / out["calls"]
    out["days_since_last"] = (as_of - out["last_call"]).dt.total_seconds() / SECONDS_PER_DAY
    return out


def _trend(codes: np.ndarray, sentiment: np.ndarray) -> pd.Series:
    """Least-squares slope of sentiment vs call index over each customer's last TREND_CALLS calls.

    ``codes`` must be sorted by customer then time. Calls without a sentiment value are skipped.
    """
    valid = ~np.isnan(sentiment)
    work = pd.DataFrame({"_code": codes[valid], "y": sentiment[valid]})
    from_end = work.groupby("_code").cumcount(ascending=False).to_numpy()
    work = work.loc[from_end < TREND_CALLS]
    work["x"] = work.groupby("_code").cumcount().to_numpy(dtype=np.float64)
    work["xy"] = work["x"] * work["y"]
    work["xx"] = work["x"] * work["x"]
    sums = work.groupby("_code").agg(
        n=("y", "size"), sx=("x", "sum"), sy=("y", "sum"), sxy=("xy", "sum"), sxx=("xx", "sum")
    )
    denom = sums["n"] * sums["sxx"] - sums["sx"] ** 2
    slope = (sums["n"] * sums["sxy"] - sums["sx"] * sums["sy"]) / denom.where(denom != 0)
    return slope.where(sums["n"] >= 2)


def _sentiment_figures(frame: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """Mean/min sentiment, negative call count and recent-trend slope per customer code."""
    mean = _numeric(frame, "sentiment_mean") if "sentiment_mean" in frame else np.full(len(frame), np.nan)
    low = _numeric(frame, "sentiment_min") if "sentiment_min" in frame else mean
    work = pd.DataFrame({"_code": codes, "m": mean, "lo": low, "neg": (mean < NEGATIVE_BELOW)})
    grouped = work.groupby("_code", sort=True)
    out = pd.DataFrame(
        {
            "sentiment_mean": grouped["m"].mean(),
            "sentiment_min": grouped["lo"].min(),
            "negative_calls": grouped["neg"].sum().astype(np.int64),
        }
    )
    out["sentiment_trend"] = _trend(codes, mean)
    return out


def _keyword_figures(frame: pd.DataFrame, codes: np.ndarray, categories: Sequence[str]) -> pd.DataFrame:
    """kw_<category> sums plus complaint_calls, churn_intent_calls and competitor_mentions."""
    cols: dict[str, np.ndarray] = {}
    for cat in categories:
        cols[kw_column(cat)] = np.nan_to_num(_numeric(frame, kw_column(cat)))
    for cat in CALL_COUNT_CATEGORIES:
        cols[f"{cat}_calls"] = (np.nan_to_num(_numeric(frame, kw_column(cat))) >= 1).astype(np.int64)
    cols["competitor_mentions"] = np.nan_to_num(_numeric(frame, kw_column(COMPETITOR_CATEGORY)))
    work = pd.DataFrame(cols)
    work["_code"] = codes
    out = work.groupby("_code", sort=True).sum()
    kw = [kw_column(c) for c in categories]
    out[kw] = out[kw].astype(np.int64) if len(kw) else out[kw]
    out["competitor_mentions"] = out["competitor_mentions"].astype(np.int64)
    return out


def _empty_aggregate(categories: Sequence[str]) -> pd.DataFrame:
    columns = list(AGGREGATE_COLUMNS) + [kw_column(c) for c in categories]
    return pd.DataFrame({c: pd.Series(dtype=object if c == "caller" else float) for c in columns})


def aggregate_callers(
    calls: pd.DataFrame,
    as_of: pd.Timestamp | str,
    roster: pd.DataFrame | None = None,
    categories: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per customer: call counts, minutes, recency, keyword and sentiment figures.

    ``categories`` defaults to every ``kw_<category>`` (customer-side) column of ``calls``. With a
    ``roster`` (see :func:`load_roster`), customers who never called are added with zero counts and
    ``days_since_last`` NaN, and roster columns (plan, tenure, ...) pass through.
    """
    cats = list(categories) if categories is not None else keyword_categories(calls)
    if calls.empty:
        out = _empty_aggregate(cats)
    else:
        frame, codes, uniques, as_of_ts = _prepare(calls, as_of, cats)
        parts = [
            _base_figures(frame, codes, as_of_ts),
            _sentiment_figures(frame, codes),
            _keyword_figures(frame, codes, cats),
        ]
        out = pd.concat(parts, axis=1)
        out.insert(0, "caller", uniques[out.index.to_numpy()])
        out = out.reset_index(drop=True)
        out = out[list(AGGREGATE_COLUMNS) + [kw_column(c) for c in cats]]
    if roster is not None:
        out = _merge_roster(out, roster)
    return out.sort_values("caller", kind="stable").reset_index(drop=True)


def _merge_roster(out: pd.DataFrame, roster: pd.DataFrame) -> pd.DataFrame:
    """Outer-join the roster: roster-only customers get zero counts; roster columns pass through."""
    if "caller" not in roster.columns:
        raise ManifestError("roster: missing column 'caller'")
    extra = roster.copy()
    extra["caller"] = extra["caller"].astype(str)
    extra = extra.drop_duplicates("caller", keep="first")
    clash = {c: f"roster_{c}" for c in extra.columns if c != "caller" and c in out.columns}
    extra = extra.rename(columns=clash)
    merged = out.merge(extra, on="caller", how="outer")
    zero_cols = [c for c in _ZERO_WHEN_NO_CALLS if c in merged.columns]
    zero_cols += [c for c in out.columns if c.startswith(KW_PREFIX)]
    merged[zero_cols] = merged[zero_cols].fillna(0)
    for col in zero_cols:
        if pd.api.types.is_integer_dtype(out[col].dtype):
            merged[col] = merged[col].astype(np.int64)
    return merged


# ------------------------------------------------------------------------------------------- roster


def load_roster(path: Path | str) -> pd.DataFrame:
    """Read a customer roster CSV (UTF-8, UTF-8 with BOM or GBK/GB18030) with a ``caller`` column.

    Phones are normalised like call metadata; blank callers are dropped; duplicate callers keep the
    first row. Columns whose every non-blank value is numeric become numbers, others stay text.
    """

    path = Path(path)
    text = read_table_text(path, "roster")
    try:
        roster = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ManifestError(f"{path}: unreadable roster CSV ({e})") from e
    roster.columns = [str(c).strip() for c in roster.columns]
    if "caller" not in roster.columns:
        raise ManifestError(f"{path}: missing column 'caller' (columns: {', '.join(roster.columns)})")
    roster["caller"] = normalize_phones(roster["caller"])
    blank = roster["caller"] == ""
    if blank.any():
        log.warning("%s: %d roster row(s) without a caller skipped", path, int(blank.sum()))
    roster = roster.loc[~blank]
    dupes = roster["caller"].duplicated()
    if dupes.any():
        log.warning("%s: %d duplicate roster caller(s); first row kept", path, int(dupes.sum()))
    roster = roster.loc[~dupes].reset_index(drop=True)
    return _numeric_columns(roster)


def _numeric_columns(roster: pd.DataFrame) -> pd.DataFrame:
    """Convert pass-through columns that are entirely numeric (blanks -> NaN)."""
    for col in roster.columns:
        if col == "caller":
            continue
        text = roster[col].astype(str).str.strip()
        numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
        if numbers.notna().sum() == (text != "").sum() and numbers.notna().any():
            roster[col] = numbers
    return roster
