"""Rules file validation, tiers at their boundaries, score contributions, risk flags and quadrants."""

from __future__ import annotations

import copy
import math
import tomllib

import numpy as np
import pandas as pd
import pytest

from speechchurn.customers.aggregate import aggregate_callers
from speechchurn.customers.grading import (
    QUADRANTS,
    QuadrantRules,
    grade_callers,
    load_rules,
    parse_rules,
    quadrant_of,
)
from speechchurn.errors import ConfigError
from speechchurn.resources import default_rules_path

NAN = float("nan")
DEFAULT_DOC = tomllib.loads(default_rules_path().read_text(encoding="utf-8"))
BASE = {  # a quiet, ordinary customer; each test overrides what it checks
    "caller": "c0",
    "calls": 2,
    "calls_30d": 1,
    "inbound": 2,
    "outbound": 0,
    "total_minutes": 1.0,
    "minutes_30d": 0.5,
    "avg_minutes": 0.5,
    "days_since_last": 10.0,
    "transfers": 0,
    "non_talk_s": 0.0,
    "sentiment_mean": 0.6,
    "sentiment_min": 0.3,
    "negative_calls": 0,
    "sentiment_trend": 0.0,
    "complaint_calls": 0,
    "churn_intent_calls": 0,
    "competitor_mentions": 0,
    "kw_complaint": 0,
    "kw_churn_intent": 0,
    "kw_competitor": 0,
}


def callers(*overrides: dict) -> pd.DataFrame:
    return pd.DataFrame([{**BASE, "caller": f"c{i}", **o} for i, o in enumerate(overrides)])


def rules_with(**changes) -> object:
    doc = copy.deepcopy(DEFAULT_DOC)
    doc.update(changes)
    return parse_rules(doc, "rules.toml")


@pytest.fixture(scope="module")
def rules():
    return load_rules()


# ------------------------------------------------------------------------------------------- tiers

TIER_CASES = [
    # minutes_30d, calls_30d, days_since_last, calls, expected tier
    (2.0, 3, 30.0, 3, "VIP"),  # exactly X minutes, Y calls, 30 days: all inclusive
    (1.99, 3, 3.0, 3, "ordinary"),  # just under X minutes
    (41.2, 2, 3.0, 5, "ordinary"),  # too few recent calls
    (41.2, 4, 30.001, 9, "ordinary"),  # just past 30 days
    (0.0, 0, 90.0, 4, "ordinary"),  # exactly 90 days: not yet silent
    (0.0, 0, 90.01, 4, "silent"),
    (0.0, 0, NAN, 0, "silent"),  # never called (roster only)
    (50.0, 10, 0.0, 10, "VIP"),
]


@pytest.mark.parametrize(("minutes", "recent", "days", "total", "expected"), TIER_CASES)
def test_tier_boundaries(rules, minutes, recent, days, total, expected) -> None:
    row = {"minutes_30d": minutes, "calls_30d": recent, "days_since_last": days, "calls": total}
    graded = grade_callers(callers(row), rules)
    assert graded.loc[0, "tier"] == expected
    assert graded.loc[0, "tier_reason"].startswith(f"{expected}: ")


def test_tier_reasons_quote_actual_values(rules) -> None:
    graded = grade_callers(
        callers(
            {"minutes_30d": 41.2, "calls_30d": 4, "days_since_last": 3.0},
            {"minutes_30d": 1.2, "calls_30d": 4, "days_since_last": 3.0},
            {"calls": 3, "days_since_last": 120.5},
        ),
        rules,
    )
    assert graded.loc[0, "tier_reason"] == "VIP: minutes_30d=41.2>=2, calls_30d=4>=3, days_since_last=3<=30"
    assert graded.loc[1, "tier_reason"].startswith("ordinary: no tier rule matched")
    assert "minutes_30d=1.2, needs >=2" in graded.loc[1, "tier_reason"]
    # an "any" rule lists only the condition that held
    assert graded.loc[2, "tier_reason"] == "silent: days_since_last=120.5>90"


def test_roster_customer_without_calls_is_silent(rules) -> None:
    calls = pd.DataFrame(
        {
            "caller": ["A"],
            "started_at": ["2026-11-01T10:00:00+08:00"],
            "duration_s": [45.0],
            "direction": ["in"],
        }
    )
    table = aggregate_callers(calls, "2026-11-02T10:00:00+08:00", roster=pd.DataFrame({"caller": ["A", "N"]}))
    graded = grade_callers(table, rules).set_index("caller")
    assert graded.loc["N", "tier"] == "silent"
    assert graded.loc["N", "tier_reason"] == "silent: calls=0==0"  # days_since_last NaN: '>90' is false


def test_loyal_sample_customer_is_vip(rules) -> None:
    """Three ~45 s calls in the last 30 days grade VIP with the shipped defaults."""
    starts = ["2026-11-01T10:00:00+08:00", "2026-11-10T10:00:00+08:00", "2026-11-19T10:00:00+08:00"]
    calls = pd.DataFrame({"caller": ["L"] * 3, "started_at": starts, "duration_s": [44.0, 46.0, 45.0]})
    graded = grade_callers(aggregate_callers(calls, "2026-11-19T10:00:00+08:00"), rules)
    assert graded.loc[0, "tier"] == "VIP"


def test_nan_comparisons_are_false() -> None:
    tiers = [{"name": "odd", "any": ["sentiment_mean != 0"]}]
    graded = grade_callers(callers({"sentiment_mean": NAN}, {"sentiment_mean": 0.5}), rules_with(tiers=tiers))
    assert list(graded["tier"]) == ["ordinary", "odd"]


# ------------------------------------------------------------------------------------------- score


def _random_callers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "minutes_30d": float(rng.gamma(1.0, 5.0)),
                "calls_30d": int(rng.integers(0, 6)),
                "total_minutes": float(rng.gamma(2.0, 10.0)),
                "calls": int(rng.integers(0, 20)),
                "days_since_last": NAN if i % 7 == 0 else float(rng.uniform(0, 200)),
            }
        )
    return callers(*rows)


@pytest.mark.parametrize("normalization", ["minmax", "percentile"])
def test_contributions_sum_to_score_within_0_100(normalization: str) -> None:
    doc_score = {**DEFAULT_DOC["score"], "normalization": normalization}
    graded = grade_callers(_random_callers(60, seed=3), rules_with(score=doc_score))
    parts = graded[[c for c in graded.columns if c.startswith("score_")]]
    assert list(parts.columns) == [f"score_{k}" for k in DEFAULT_DOC["score"]["weights"]]
    np.testing.assert_allclose(parts.sum(axis=1), graded["score"])
    assert graded["score"].between(0, 100).all() and (parts >= 0).all().all()
    assert graded["score"].max() > graded["score"].min()


@pytest.mark.parametrize(
    ("normalization", "expected"),
    [
        ("minmax", [0.0, 1.0, 2.0, 100.0]),  # spread over min..max: the outlier squeezes the others
        ("percentile", [0.0, 100 / 3, 200 / 3, 100.0]),  # rank only
    ],
)
def test_percentile_vs_minmax(normalization: str, expected: list[float]) -> None:
    score = {"normalization": normalization, "weights": {"total_minutes": 1}}
    graded = grade_callers(callers(*({"total_minutes": v} for v in (0, 1, 2, 100))), rules_with(score=score))
    np.testing.assert_allclose(graded["score"], expected)
    np.testing.assert_allclose(graded["score_total_minutes"], expected)


def test_negative_indicator_and_fixed_range() -> None:
    score = {
        "normalization": "minmax",
        "negative": ["days_since_last"],
        "weights": {"days_since_last": 1, "minutes_30d": 1},
        "ranges": {"minutes_30d": [0, 10]},
    }
    graded = grade_callers(
        callers(
            {"days_since_last": 0.0, "minutes_30d": 50.0},
            {"days_since_last": 100.0, "minutes_30d": 5.0},
            {"days_since_last": NAN, "minutes_30d": 0.0},
        ),
        rules_with(score=score),
    )
    np.testing.assert_allclose(graded["score_days_since_last"], [50.0, 0.0, 0.0])  # NaN earns nothing
    np.testing.assert_allclose(graded["score_minutes_30d"], [50.0, 25.0, 0.0])  # clipped to the range


def test_promotion_and_demotion() -> None:
    score = {"normalization": "minmax", "weights": {"total_minutes": 1}}
    promote = [{"from": "ordinary", "to": "VIP", "score_at_least": 85}]
    demote = [{"from": "VIP", "to": "ordinary", "score_below": 20}]
    vip = {"minutes_30d": 5.0, "calls_30d": 3, "days_since_last": 1.0}
    table = callers(
        {"total_minutes": 100.0},  # ordinary by rule, score 100 -> promoted
        {**vip, "total_minutes": 0.0},  # VIP by rule, score 0 -> demoted
        {**vip, "total_minutes": 50.0},  # VIP, score 50: stays
        {"total_minutes": 84.0},  # ordinary, score 84: stays
    )
    graded = grade_callers(table, rules_with(score=score, promote=promote, demote=demote))
    assert list(graded["tier"]) == ["VIP", "ordinary", "VIP", "ordinary"]
    assert graded.loc[0, "tier_reason"].startswith("VIP: promoted from ordinary by score=100>=85 [ordinary:")
    assert graded.loc[1, "tier_reason"].startswith("ordinary: demoted from VIP by score=0<20 [VIP:")


def test_deterministic(rules) -> None:
    table = _random_callers(40, seed=11)
    pd.testing.assert_frame_equal(grade_callers(table, rules), grade_callers(table.copy(), rules))


# -------------------------------------------------------------------------------------------- risk

RISK_CASES = [
    # indicator overrides, risk points, churn_risk, warning_level, complaint_heavy
    ({}, 0, "low", "none", False),
    ({"complaint_calls": 1, "kw_complaint": 1}, 1, "low", "none", False),
    ({"complaint_calls": 1, "kw_complaint": 3}, 1, "low", "yellow", True),  # 3 complaint words: heavy
    ({"sentiment_mean": 0.38}, 0, "low", "yellow", False),  # negative mood alone
    ({"sentiment_trend": -0.1}, 1, "low", "yellow", False),  # falling mood, boundary inclusive
    ({"sentiment_trend": -0.09}, 0, "low", "none", False),
    ({"complaint_calls": 2, "kw_complaint": 2}, 3, "medium", "orange", True),
    ({"churn_intent_calls": 1}, 3, "medium", "orange", False),
    ({"churn_intent_calls": 1, "competitor_mentions": 1}, 5, "high", "red", False),
    ({"churn_intent_calls": 2, "transfers": 3}, 6, "high", "red", False),
    (
        {"competitor_mentions": 1, "sentiment_mean": 0.2, "sentiment_trend": -0.3, "transfers": 4},
        5,
        "high",
        "red",
        False,
    ),
]


@pytest.mark.parametrize(("row", "points", "level", "warning", "heavy"), RISK_CASES)
def test_churn_risk_levels(rules, row, points, level, warning, heavy) -> None:
    graded = grade_callers(callers(row), rules)
    assert graded.loc[0, "risk_points"] == points
    assert graded.loc[0, "churn_risk"] == level
    assert graded.loc[0, "warning_level"] == warning
    assert bool(graded.loc[0, "complaint_heavy"]) is heavy
    reason = graded.loc[0, "risk_reason"]
    assert (reason == "") is (points == 0)
    if points:
        assert sum(int(p.split(" ")[1]) for p in reason.split("; ")) == points


def test_risk_reason_names_rules_with_values(rules) -> None:
    graded = grade_callers(callers({"churn_intent_calls": 2, "competitor_mentions": 3}), rules)
    assert graded.loc[0, "risk_reason"] == (
        "churn_intent +3 (churn_intent_calls=2>=1); churn_intent_repeated +2 (churn_intent_calls=2>=2); "
        "competitor +2 (competitor_mentions=3>=1)"
    )


@pytest.mark.parametrize(
    ("score", "risk", "quadrant"),
    [
        (50.0, "low", "放心"),  # threshold inclusive
        (90.0, "medium", "操心"),
        (90.0, "high", "操心"),
        (49.9, "high", "关心"),
        (10.0, "medium", "关心"),
        (10.0, "low", "用心"),
    ],
)
def test_quadrant_table(score: float, risk: str, quadrant: str) -> None:
    rules = QuadrantRules(value_at_least=50.0, stable_levels=("low",))
    assert quadrant_of(np.array([score]), np.array([risk], dtype=object), rules)[0] == quadrant
    assert set(QUADRANTS.values()) == {"放心", "操心", "关心", "用心"}


def test_graded_columns(rules) -> None:
    graded = grade_callers(callers({}, {"calls": 0, "days_since_last": NAN}), rules)
    for col in (
        "score",
        "tier",
        "tier_reason",
        "complaint_heavy",
        "churn_risk",
        "risk_points",
        "risk_reason",
    ):
        assert col in graded.columns
    assert set(graded["quadrant"]) <= set(QUADRANTS.values())
    assert set(graded["warning_level"]) <= {"red", "orange", "yellow", "none"}


# ------------------------------------------------------------------------------------- validation


def _mutate(path: tuple, value):
    doc = copy.deepcopy(DEFAULT_DOC)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


VALIDATION_CASES = [
    (("score", "weights", "minutes_3d"), 1, "rules.toml: score.weights.minutes_3d: unknown indicator"),
    (("score", "weights", "calls"), "3", "rules.toml: score.weights.calls: expected int or float"),
    (("score", "weights", "calls"), True, "rules.toml: score.weights.calls: expected int or float"),
    (("score", "weights", "calls"), -1, "rules.toml: score.weights.calls: negative weight"),
    (("score", "weights"), {"calls": 0, "minutes_30d": 0.0}, "rules.toml: score.weights: weights sum to 0"),
    (("score", "normalization"), "zscore", "rules.toml: score.normalization: unknown normalization"),
    (("score", "negative"), ["transfers"], "rules.toml: score.negative[0]:"),
    (("score", "ranges"), {"calls": [5, 1]}, "rules.toml: score.ranges.calls:"),
    (("score", "bogus"), 1, "rules.toml: score.bogus: unknown key"),
    (("tiers",), [{"name": "x", "any": ["calls =< 3"]}], "rules.toml: tiers[0].any[0]: bad condition"),
    (("tiers",), [{"name": "x", "all": ["calls ~ 3"]}], "rules.toml: tiers[0].all[0]: bad condition"),
    (
        ("tiers",),
        [{"name": "x", "all": ["__import__ >= 1"]}],
        "rules.toml: tiers[0].all[0]: unknown indicator",
    ),
    (
        ("tiers",),
        [{"name": "x", "all": ["calls >= 1"], "color": "red"}],
        "rules.toml: tiers[0].color: unknown key",
    ),
    (("tiers",), [{"name": "x"}], "rules.toml: tiers[0]: a tier needs at least one condition"),
    (("tiers",), [{"name": 3, "all": ["calls >= 1"]}], "rules.toml: tiers[0].name: expected str"),
    (("fallback_tier",), "VIP", "rules.toml: fallback_tier:"),
    (("promote",), [{"from": "ordinary", "to": "gold", "score_at_least": 80}], "rules.toml: promote[0].to:"),
    (
        ("demote",),
        [{"from": "VIP", "to": "ordinary", "score_at_least": 80}],
        "rules.toml: demote[0].score_at_least",
    ),
    (("risk", "high_at_least"), "5", "rules.toml: risk.high_at_least: expected int"),
    (("risk", "medium_at_least"), 9, "rules.toml: risk.medium_at_least:"),
    (
        ("risk", "points"),
        [{"name": "x", "when": "transfer >= 1", "points": 1}],
        "rules.toml: risk.points[0].when",
    ),
    (
        ("risk", "points"),
        [{"name": "x", "when": "transfers >= 1", "points": 1.5}],
        "rules.toml: risk.points[0].points",
    ),
    (("complaint_heavy", "any"), [], "rules.toml: complaint_heavy.any:"),
    (("quadrant", "stable_levels"), ["calm"], "rules.toml: quadrant.stable_levels[0]:"),
    (("warning", "yellow_if_complaint_heavy"), "yes", "rules.toml: warning.yellow_if_complaint_heavy:"),
    (("colour",), "red", "rules.toml: colour: unknown key"),
]


@pytest.mark.parametrize(("path", "value", "message"), VALIDATION_CASES)
def test_validation_errors_name_the_key(path: tuple, value, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules(_mutate(path, value), "rules.toml")
    assert str(info.value).startswith(message)


def test_known_indicators_listed_in_error() -> None:
    with pytest.raises(ConfigError, match=r"known: calls, calls_30d, .*kw_<category>"):
        parse_rules(_mutate(("score", "weights", "minutes_3d"), 1), "rules.toml")


def test_extra_indicator_from_roster() -> None:
    doc = _mutate(("extra_indicators",), ["tenure_months"])
    doc["tiers"] = [{"name": "veteran", "all": ["tenure_months >= 24"]}]
    graded = grade_callers(callers({"tenure_months": 36}, {"tenure_months": 3}), parse_rules(doc, "r.toml"))
    assert list(graded["tier"]) == ["veteran", "ordinary"]
    with pytest.raises(ConfigError, match="tenure_months"):
        grade_callers(callers({}), parse_rules(doc, "r.toml"))


def test_load_rules_file_errors(tmp_path) -> None:
    bad = tmp_path / "mine.toml"
    bad.write_text("[score\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^mine\.toml: invalid TOML"):
        load_rules(bad)
    with pytest.raises(ConfigError, match="missing.toml"):
        load_rules(tmp_path / "missing.toml")


def test_default_rules_summary(rules) -> None:
    assert [t.name for t in rules.tiers] == ["silent", "VIP"] and rules.fallback_tier == "ordinary"
    assert rules.moves == ()
    assert not math.isclose(sum(w for _, w in rules.score.weights), 0.0)
