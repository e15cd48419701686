"""Per-customer aggregation: window edges, as-of exclusion, time zones, roster merge, determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from speechchurn.customers.aggregate import (
    TREND_CALLS,
    aggregate_callers,
    default_as_of,
    load_roster,
)
from speechchurn.errors import ManifestError
from speechchurn.vocab import NEGATIVE_BELOW as NEGATIVE_CALL_BELOW

AS_OF = pd.Timestamp("2026-11-30 12:00:00", tz="Asia/Shanghai")


def _call(caller: str, started: pd.Timestamp, **extra) -> dict:
    row = {
        "file": f"{caller}_{started:%Y%m%d%H%M%S}.wav",
        "caller": caller,
        "direction": "in",
        "started_at": started.isoformat(),
        "duration_s": 60.0,
        "transfers": 0,
        "non_talk_s": 0.0,
        "sentiment_mean": 0.6,
        "sentiment_min": 0.5,
        "kw_complaint": 0,
        "kw_churn_intent": 0,
        "kw_competitor": 0,
        "kw_complaint_agent": 7,  # agent side: must never be counted
    }
    row.update(extra)
    return row


@pytest.fixture()
def calls() -> pd.DataFrame:
    day = pd.Timedelta(days=1)
    rows = [
        # A: one call exactly 30 days before as-of (outside the window), one 1 s inside, one at as-of,
        # one after as-of (excluded from everything).
        _call("A", AS_OF - 30 * day, duration_s=120.0, kw_complaint=2, sentiment_mean=0.9, transfers=1),
        _call("A", AS_OF - 30 * day + pd.Timedelta(seconds=1), direction="out", duration_s=30.0),
        _call("A", AS_OF, kw_churn_intent=1, kw_competitor=2, sentiment_mean=0.1, sentiment_min=0.05),
        _call("A", AS_OF + pd.Timedelta(seconds=1), duration_s=600.0, kw_complaint=5, transfers=9),
        # B: a single call exactly 90 days ago.
        _call("B", AS_OF - 90 * day, duration_s=45.0, non_talk_s=6.5, transfers=2),
    ]
    return pd.DataFrame(rows)


def _row(table: pd.DataFrame, caller: str) -> pd.Series:
    return table.set_index("caller").loc[caller]


@pytest.mark.parametrize(
    ("column", "expected_a", "expected_b"),
    [
        ("calls", 3, 1),
        ("calls_30d", 2, 0),
        ("inbound", 2, 1),
        ("outbound", 1, 0),
        ("total_minutes", 3.5, 0.75),
        ("minutes_30d", 1.5, 0.0),
        ("avg_minutes", 3.5 / 3, 0.75),
        ("days_since_last", 0.0, 90.0),
        ("transfers", 1, 2),
        ("non_talk_s", 0.0, 6.5),
        ("kw_complaint", 2, 0),
        ("complaint_calls", 1, 0),
        ("churn_intent_calls", 1, 0),
        ("competitor_mentions", 2, 0),
        ("sentiment_mean", (0.9 + 0.6 + 0.1) / 3, 0.6),
        ("sentiment_min", 0.05, 0.5),
        ("negative_calls", 1, 0),
    ],
)
def test_aggregate_figures(calls: pd.DataFrame, column: str, expected_a: float, expected_b: float) -> None:
    table = aggregate_callers(calls, AS_OF)
    assert _row(table, "A")[column] == pytest.approx(expected_a)
    assert _row(table, "B")[column] == pytest.approx(expected_b)


def test_dates_and_trend(calls: pd.DataFrame) -> None:
    table = aggregate_callers(calls, AS_OF)
    a = _row(table, "A")
    assert a["first_call"] == AS_OF - pd.Timedelta(days=30)
    assert a["last_call"] == AS_OF  # the call after as-of does not count
    # sentiments in time order 0.9, 0.6, 0.1 -> least-squares slope -0.4 per call
    assert a["sentiment_trend"] == pytest.approx(-0.4)
    assert math.isnan(_row(table, "B")["sentiment_trend"])  # one call: no trend


def test_trend_uses_only_recent_calls() -> None:
    start = AS_OF - pd.Timedelta(days=20)
    values = [0.0] + [0.3 + 0.1 * i for i in range(TREND_CALLS)]  # the oldest outlier must be ignored
    rows = [_call("C", start + pd.Timedelta(days=i), sentiment_mean=v) for i, v in enumerate(values)]
    table = aggregate_callers(pd.DataFrame(rows), AS_OF)
    assert _row(table, "C")["sentiment_trend"] == pytest.approx(0.1)
    assert _row(table, "C")["negative_calls"] == sum(v < NEGATIVE_CALL_BELOW for v in values)


def test_negative_call_cut_matches_sentiment_module() -> None:
    sentiment = pytest.importorskip("speechchurn.text.sentiment")
    assert sentiment.NEGATIVE_BELOW == NEGATIVE_CALL_BELOW


@pytest.mark.parametrize(
    "as_of",
    [
        pd.Timestamp("2026-11-30 12:00:00"),  # naive: wall time in the calls' zone
        pd.Timestamp("2026-11-30 04:00:00", tz="UTC"),  # the same instant in another zone
        "2026-11-30T12:00:00+08:00",
    ],
)
def test_as_of_time_zones(calls: pd.DataFrame, as_of) -> None:
    table = aggregate_callers(calls, as_of)
    assert _row(table, "A")["calls"] == 3
    assert _row(table, "A")["calls_30d"] == 2


def test_mixed_offsets_and_default_as_of() -> None:
    rows = [
        _call("D", pd.Timestamp("2026-11-01 10:00", tz="Asia/Shanghai")),
        _call("D", pd.Timestamp("2026-11-01 03:00", tz="UTC")),  # 11:00 +08:00: the latest
    ]
    calls = pd.DataFrame(rows)
    latest = default_as_of(calls)
    assert latest == pd.Timestamp("2026-11-01 03:00", tz="UTC")
    table = aggregate_callers(calls, latest)
    assert _row(table, "D")["days_since_last"] == pytest.approx(0.0)
    assert _row(table, "D")["calls"] == 2


def test_roster_adds_silent_customers_and_passes_columns(calls: pd.DataFrame) -> None:
    roster = pd.DataFrame({"caller": ["A", "Z"], "plan": ["gold", "basic"], "tenure_months": [30, 2]})
    table = aggregate_callers(calls, AS_OF, roster=roster)
    z = _row(table, "Z")
    assert z["calls"] == 0 and z["calls_30d"] == 0 and z["total_minutes"] == 0
    assert math.isnan(z["days_since_last"]) and pd.isna(z["last_call"])
    assert z["plan"] == "basic" and z["tenure_months"] == 2
    assert _row(table, "A")["plan"] == "gold"
    assert pd.isna(_row(table, "B")["plan"])  # called, not on the roster: kept
    assert table["calls"].dtype == np.int64


def test_empty_calls_with_roster() -> None:
    empty = pd.DataFrame(columns=["caller", "started_at", "duration_s", "kw_complaint"])
    table = aggregate_callers(empty, AS_OF, roster=pd.DataFrame({"caller": ["X"]}))
    assert list(table["caller"]) == ["X"]
    assert table.loc[0, "calls"] == 0 and math.isnan(table.loc[0, "days_since_last"])


def test_deterministic_under_row_order(calls: pd.DataFrame) -> None:
    shuffled = calls.sample(frac=1.0, random_state=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(aggregate_callers(calls, AS_OF), aggregate_callers(shuffled, AS_OF))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_load_roster_encodings_and_phones(tmp_path, encoding: str) -> None:
    path = tmp_path / "customers.csv"
    text = "caller,套餐,tenure\n+86 138-0000-0001,金卡,12\n(0086)13900000002,普通,\n,空行,3\n"
    path.write_bytes(text.encode(encoding))
    roster = load_roster(path)
    assert list(roster["caller"]) == ["13800000001", "13900000002"]
    assert list(roster["套餐"]) == ["金卡", "普通"]
    assert roster["tenure"].iloc[0] == 12 and math.isnan(roster["tenure"].iloc[1])


def test_load_roster_without_caller_column(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("phone,plan\n1,a\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="caller"):
        load_roster(path)


@pytest.mark.parametrize(
    "texts",
    [
        ["13800000002", "13800000001", "13800000002", "unknown", ""],
        ["+4420794600", "010-12345678", "anonymous", "Ωmega", "a", "A", "é", "e\u0301", "10086"],
        [],
    ],
)
def test_sorted_codes_are_pandas_sorted_factorize(texts):
    from speechchurn.customers.aggregate import sorted_codes

    values = np.array(texts, dtype=object)
    codes, uniques = sorted_codes(values)
    expected_codes, expected_uniques = pd.factorize(values, sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    assert uniques.tolist() == list(expected_uniques)
