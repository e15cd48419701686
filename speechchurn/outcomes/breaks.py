"""Behaviour breaks (行为断层): a customer's latest window compared with the customer's own baseline.

Windows, relative to ``as_of``: *recent* is ``(as_of - recent_days, as_of]`` and *baseline* is the
``baseline_days`` before it (defaults 30 and 90). Per customer (all figures NaN-free, so rules and
exported tree rules read them the same way):

* ``break_calls`` / ``break_minutes``: relative change of the daily call rate / talk minutes,
  ``recent_rate / baseline_rate - 1`` (-1 = stopped, +1 = doubled); 0 when the baseline is empty.
* ``break_sentiment``: mean call sentiment recent minus baseline; 0 when either window has none.
* ``break_complaint_share``: share of calls with a complaint keyword, recent minus baseline.
* ``break_answered_share``: share of outbound calls answered (``duration_s > 0``), recent minus
  baseline; 0 unless the export lists unanswered calls (some outbound row with duration 0).
* ``break_went_quiet``: 1 when the baseline had at least ``active_min_calls`` calls and the recent
  window none.
* ``behaviour_break``: 1 when any threshold of :class:`BreakOptions` is crossed; ``break_reason`` names
  them in Chinese with the figures (e.g. ``通话次数 -80%（近30天 1 次 / 前90天 15 次）``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from speechchurn.customers.columns import BREAK_COLUMNS
from speechchurn.outputs import format_distinct
from speechchurn.customers.aggregate import align_as_of, parse_started_at, sorted_codes

SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class BreakOptions:
    recent_days: int = 30  # days: the latest window
    baseline_days: int = 90  # days: the customer's own baseline, just before the recent window
    active_min_calls: int = 3  # calls in the baseline for "was active" (went quiet, rate drops)
    rate_drop_at_most: float = -0.7  # break_calls / break_minutes at or below this is a break
    sentiment_drop_at_most: float = -0.2  # break_sentiment at or below this (score units) is a break
    complaint_rise_at_least: float = 0.5  # break_complaint_share at or above this is a break
    answered_drop_at_most: float = -0.5  # break_answered_share at or below this is a break


def _window_codes(calls: pd.DataFrame, as_of: pd.Timestamp, options: BreakOptions):
    """Rows in either window: customer codes, the recent mask, the sorted unique callers."""

    started = parse_started_at(calls["started_at"])
    as_of = align_as_of(as_of, started)
    recent_start = as_of - pd.Timedelta(days=options.recent_days)
    base_start = recent_start - pd.Timedelta(days=options.baseline_days)
    keep = ((started > base_start) & (started <= as_of)).to_numpy()
    codes, uniques = sorted_codes(calls["caller"].astype(str).to_numpy()[keep])
    recent = (started[keep] > recent_start).to_numpy()
    return keep, codes, recent, np.asarray(uniques, dtype=object)


def _column(calls: pd.DataFrame, name: str, keep: np.ndarray) -> np.ndarray:
    if name not in calls.columns:
        return np.full(int(keep.sum()), np.nan)
    return pd.to_numeric(calls[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)[keep]


class _Sums:
    """Per-customer sums of a row mask / weights in the recent and the baseline window (np.bincount)."""

    def __init__(self, codes: np.ndarray, recent: np.ndarray, n: int):
        self.codes, self.recent, self.n = codes, recent, n

    def both(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(weights, dtype=np.float64)
        r = np.bincount(self.codes, weights=np.where(self.recent, w, 0.0), minlength=self.n)
        b = np.bincount(self.codes, weights=np.where(self.recent, 0.0, w), minlength=self.n)
        return r, b


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _rate_change(recent: np.ndarray, base: np.ndarray, options: BreakOptions) -> np.ndarray:
    rate_r = recent / options.recent_days
    rate_b = base / options.baseline_days
    return np.nan_to_num(_ratio(rate_r, rate_b) - 1.0, nan=0.0)


def _share_change(hits: tuple, totals: tuple) -> np.ndarray:
    return np.nan_to_num(_ratio(hits[0], totals[0]) - _ratio(hits[1], totals[1]), nan=0.0)


def break_figures(calls: pd.DataFrame, as_of: pd.Timestamp, options: BreakOptions = BreakOptions()):
    """The break_* columns (and counts used by the reasons) per caller with a call in either window."""
    keep, codes, recent, uniques = _window_codes(calls, as_of, options)
    sums = _Sums(codes, recent, len(uniques))
    duration = np.nan_to_num(_column(calls, "duration_s", keep))
    sentiment = _column(calls, "sentiment_mean", keep)
    complaint = np.nan_to_num(_column(calls, "kw_complaint", keep)) >= 1
    n = sums.both(np.ones(len(codes)))
    minutes = sums.both(duration / SECONDS_PER_MINUTE)
    scored = sums.both(~np.isnan(sentiment))
    senti = sums.both(np.nan_to_num(sentiment))
    direction = calls["direction"].to_numpy()[keep] if "direction" in calls.columns else None
    outbound = (direction == "out") if direction is not None else np.zeros(len(codes), dtype=bool)
    answered_known = bool((outbound & (duration <= 0)).any())
    out_n = sums.both(outbound)
    out_answered = sums.both(outbound & (duration > 0))
    frame = pd.DataFrame(
        {
            "calls_recent": n[0],
            "calls_baseline": n[1],
            "break_calls": _rate_change(n[0], n[1], options),
            "break_minutes": _rate_change(minutes[0], minutes[1], options),
            "break_sentiment": _share_change(senti, scored),
            "break_complaint_share": _share_change(sums.both(complaint), n),
            "break_answered_share": _share_change(out_answered, out_n) if answered_known else 0.0,
            "break_went_quiet": ((n[1] >= options.active_min_calls) & (n[0] == 0)).astype(np.int64),
        },
        index=pd.Index(uniques, name="caller"),
    )
    return _flag(frame, options)


def _flag(frame: pd.DataFrame, options: BreakOptions) -> pd.DataFrame:
    """behaviour_break and a Chinese break_reason naming each crossed threshold with its figures."""
    held = _crossed(frame, options)
    flagged = np.logical_or.reduce([h.to_numpy() for h in held.values()]) if len(frame) else np.zeros(0, bool)
    reason = np.full(len(frame), "", dtype=object)
    if flagged.any():  # texts only for the customers with a break
        reason[flagged] = _reason_texts(frame.loc[flagged], {k: h[flagged] for k, h in held.items()}, options)
    frame["behaviour_break"] = flagged.astype(np.int64)
    frame["break_reason"] = reason
    return frame


def _crossed(frame: pd.DataFrame, options: BreakOptions) -> dict[str, pd.Series]:
    """Which thresholds each customer crosses, by reason (in the order reasons are listed)."""
    active = frame["calls_baseline"] >= options.active_min_calls
    quiet = frame["break_went_quiet"] == 1
    return {
        "quiet": quiet,
        "calls": active & (frame["break_calls"] <= options.rate_drop_at_most) & ~quiet,
        "minutes": active & (frame["break_minutes"] <= options.rate_drop_at_most),
        "sentiment": frame["break_sentiment"] <= options.sentiment_drop_at_most,
        "complaint": frame["break_complaint_share"] >= options.complaint_rise_at_least,
        "answered": frame["break_answered_share"] <= options.answered_drop_at_most,
    }


def _reason_texts(frame: pd.DataFrame, held: dict[str, pd.Series], options: BreakOptions) -> np.ndarray:
    """'；'-joined Chinese texts of the crossed thresholds (every row crosses at least one)."""
    n_r, n_b = frame["calls_recent"].astype(int).astype(str), frame["calls_baseline"].astype(int).astype(str)
    windows = f"（近{options.recent_days}天 " + n_r + f" 次 / 前{options.baseline_days}天 " + n_b + " 次）"
    texts = {
        "quiet": "由活跃转沉默" + windows,
        "calls": "通话次数 " + _pct(frame["break_calls"]) + windows,
        "minutes": "通话时长 " + _pct(frame["break_minutes"]),
        "sentiment": "情绪 " + _num(frame["break_sentiment"]),
        "complaint": "投诉占比 " + _pct(frame["break_complaint_share"], points=True),
        "answered": "外呼接通率 " + _pct(frame["break_answered_share"], points=True),
    }
    reason = pd.Series("", index=frame.index, dtype=object)
    for key, text in texts.items():
        reason = reason.where(~held[key], np.where(reason == "", text, reason + "；" + text))
    return reason.to_numpy(dtype=object)


def _pct(values: pd.Series, points: bool = False) -> pd.Series:
    unit = "个百分点" if points else "%"
    texts = format_distinct((values * 100).round().astype(int).to_numpy(), "{:+d}".format)
    return pd.Series(texts, index=values.index, dtype=object) + unit


def _num(values: pd.Series) -> pd.Series:
    texts = format_distinct(values.round(2).to_numpy(), "{:+.2f}".format, missing="{:+.2f}".format(float("nan")))
    return pd.Series(texts, index=values.index, dtype=object)


def add_breaks(
    callers: pd.DataFrame, calls: pd.DataFrame, as_of: pd.Timestamp, options: BreakOptions = BreakOptions()
) -> pd.DataFrame:
    """``callers`` with the break columns and break_reason (0 / "" for customers without recent calls)."""
    empty = pd.DataFrame(columns=[*BREAK_COLUMNS, "break_reason"])
    figures = break_figures(calls, as_of, options) if len(calls) else empty
    out = callers.drop(columns=[c for c in (*BREAK_COLUMNS, "break_reason") if c in callers], errors="ignore")
    joined = figures.reindex(out["caller"].astype(str).to_numpy())
    for col in BREAK_COLUMNS:
        values = pd.to_numeric(joined[col], errors="coerce").fillna(0).to_numpy()
        out[col] = values.astype(np.int64) if col in ("break_went_quiet", "behaviour_break") else values
    out["break_reason"] = joined["break_reason"].fillna("").to_numpy() if len(joined) else ""
    return out
