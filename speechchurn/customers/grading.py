"""Rule-and-score grading of aggregated customers, with explanations and risk flags.

The rules live in a TOML file (``speechchurn/data/default_rules.toml`` by default, documented line by
line in docs/rules.md). :func:`load_rules` validates it into frozen dataclasses; :func:`grade_callers`
applies it to the output of :func:`speechchurn.customers.aggregate.aggregate_callers`, fully vectorised (the
reason strings are built with column-wise string concatenation, one rule at a time).

Conditions use a tiny grammar, ``<indicator> <op> <number>`` with op in ``>= > <= < == !=``; they are
parsed with a regular expression, never ``eval``. A comparison with a missing value (NaN) is false,
``!=`` included, so ``days_since_last > 90`` is false for a customer who never called and
``calls == 0`` is the rule that catches them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from speechchurn.customers.columns import OUTCOME_INDICATORS
from speechchurn.customers.rules import (
    KW_INDICATOR,
    NEUTRAL_NORM,
    OPS,
    QUADRANTS,
    REASON_DECIMALS,
    SCORE_MAX,
    Condition,
    QuadrantRules,
    Rules,
    ScoreMove,
    ScoreRules,
    TierRule,
    fmt_number,
    load_rules,
    parse_rules,
)
from speechchurn.errors import ConfigError
from speechchurn.vocab import (
    RISK_HIGH,
    RISK_LOW,
    RISK_MEDIUM,
    WARNING_NONE,
    WARNING_ORANGE,
    WARNING_RED,
    WARNING_YELLOW,
)

log = logging.getLogger("speechchurn")

__all__ = ["QUADRANTS", "QuadrantRules", "Rules", "grade_callers", "load_rules", "parse_rules", "quadrant_of"]

# ------------------------------------------------------------------------------------- evaluation


def _fmt_values(values: np.ndarray) -> np.ndarray:
    """Vectorised number formatting for reasons: at most 2 decimals, no trailing zeros, NaN -> 'nan'.

    Each distinct value is formatted once (indicator columns repeat a lot), then spread back.
    """
    rounded = np.round(np.asarray(values, dtype=np.float64), REASON_DECIMALS)
    uniques, inverse = np.unique(rounded, return_inverse=True)
    texts = np.array([f"{u:g}" for u in uniques.tolist()], dtype=object)
    return texts[inverse.reshape(-1)]


class _Indicators:
    """Float views of the callers' indicator columns, with missing kw_ columns read as 0."""

    def __init__(self, callers: pd.DataFrame, source: str):
        self.callers = callers
        self.source = source
        self.cache: dict[str, np.ndarray] = {}

    def get(self, name: str, key: str) -> np.ndarray:
        if name not in self.cache:
            if name in self.callers.columns:
                col = pd.to_numeric(self.callers[name], errors="coerce")
                self.cache[name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            elif KW_INDICATOR.match(name):
                log.warning("%s: %s: column %s absent; read as 0", self.source, key, name)
                self.cache[name] = np.zeros(len(self.callers), dtype=np.float64)
            elif name in OUTCOME_INDICATORS:
                log.info("%s: %s: column %s absent; read as missing (never matches)", self.source, key, name)
                self.cache[name] = np.full(len(self.callers), np.nan)
            else:
                raise ConfigError(f"{self.source}: {key}: indicator {name!r} is not in the callers table")
        return self.cache[name]

    def holds(self, cond: Condition) -> np.ndarray:
        values = self.get(cond.indicator, cond.key)
        with np.errstate(invalid="ignore"):
            result = OPS[cond.op](values, cond.value)
        return result & ~np.isnan(values)

    def values_text(self, cond: Condition, rows: np.ndarray) -> np.ndarray:
        """'indicator=actual' for the rows selected by the boolean mask ``rows``."""
        return f"{cond.indicator}=" + _fmt_values(self.get(cond.indicator, cond.key)[rows])

    def part(self, cond: Condition, rows: np.ndarray) -> np.ndarray:
        """'indicator=actual<op><threshold>' for the rows selected by the boolean mask ``rows``."""
        return self.values_text(cond, rows) + f"{cond.op}{fmt_number(cond.value)}"


def _join_parts(parts: list[tuple[np.ndarray, np.ndarray]], sep: str, n: int) -> np.ndarray:
    """Join sparse string parts: each part is (row positions, texts); ``sep`` between non-empty pieces."""
    out = np.full(n, "", dtype=object)
    for positions, texts in parts:
        current = out[positions]
        out[positions] = np.where(current == "", texts, current + sep + texts)
    return out


# ------------------------------------------------------------------------------------------ score


def _normalise(values: np.ndarray, method: str, bounds: tuple[float, float] | None) -> np.ndarray:
    """Map values to [0, 1]; NaN stays NaN; a constant column maps to NEUTRAL_NORM."""
    valid = ~np.isnan(values)
    out = np.full(values.shape, np.nan)
    if not valid.any():
        return out
    if method == "percentile":
        ranks = pd.Series(values).rank(method="min").to_numpy()  # ties share the lowest rank
        count = int(valid.sum())
        out[valid] = (ranks[valid] - 1.0) / (count - 1) if count > 1 else NEUTRAL_NORM
        return out
    low, high = bounds if bounds is not None else (np.nanmin(values), np.nanmax(values))
    if high <= low:
        out[valid] = NEUTRAL_NORM
        return out
    out[valid] = np.clip((values[valid] - low) / (high - low), 0.0, 1.0)
    return out


def score_frame(ind: _Indicators, rules: ScoreRules) -> pd.DataFrame:
    """``score_<indicator>`` contributions (0..100 * weight share) and their sum ``score``."""
    total = sum(w for _, w in rules.weights)
    bounds = {name: (lo, hi) for name, lo, hi in rules.ranges}
    cols: dict[str, np.ndarray] = {}
    for name, weight in rules.weights:
        norm = _normalise(ind.get(name, f"score.weights.{name}"), rules.normalization, bounds.get(name))
        if name in rules.negative:
            norm = 1.0 - norm
        cols[f"score_{name}"] = SCORE_MAX * weight / total * np.nan_to_num(norm, nan=0.0)
    frame = pd.DataFrame(cols, index=ind.callers.index)
    frame.insert(0, "score", frame.sum(axis=1).clip(0.0, SCORE_MAX))
    return frame


# ------------------------------------------------------------------------------------------- tiers


def _rule_matches(ind: _Indicators, rule: TierRule) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    n = len(ind.callers)
    all_held = [ind.holds(c) for c in rule.all]
    any_held = [ind.holds(c) for c in rule.any]
    match = np.logical_and.reduce(all_held) if all_held else np.ones(n, dtype=bool)
    if any_held:
        match &= np.logical_or.reduce(any_held)
    return match, all_held, any_held


def _tier_reason(
    ind: _Indicators, rule: TierRule, rows: np.ndarray, any_held: list[np.ndarray]
) -> np.ndarray:
    """'VIP: a=1>=1, b=...' over the rows this rule won; for ``any`` only the conditions that held."""
    count = int(rows.sum())
    everyone = np.arange(count)
    parts = [(everyone, ind.part(c, rows)) for c in rule.all]
    for cond, held in zip(rule.any, any_held, strict=True):
        parts.append((np.flatnonzero(held[rows]), ind.part(cond, rows & held)))
    return f"{rule.name}: " + _join_parts(parts, ", ", count)


def _first_failure(
    ind: _Indicators, rule: TierRule, rows: np.ndarray, all_held: list[np.ndarray]
) -> np.ndarray:
    """Per selected row, why ``rule`` did not match: its first failed ``all`` condition, else its ``any``."""
    failed = np.full(int(rows.sum()), "", dtype=object)
    for cond, held in reversed(list(zip(rule.all, all_held, strict=True))):
        miss = rows & ~held
        text = f"{rule.name}: " + ind.values_text(cond, miss) + f", needs {cond.op}{fmt_number(cond.value)}"
        failed[np.flatnonzero(~held[rows])] = text
    if rule.any:
        failed[failed == ""] = f"{rule.name}: none of {' / '.join(c.text for c in rule.any)}"
    return failed


def _fallback_reason(
    ind: _Indicators, rules: Rules, rows: np.ndarray, details: list[tuple[TierRule, list[np.ndarray]]]
) -> np.ndarray:
    """'ordinary: no tier rule matched (silent: none of ...; VIP: minutes_30d=1.2, needs >=2)'."""
    count = int(rows.sum())
    parts = []
    for rule, all_held in details:
        failed = _first_failure(ind, rule, rows, all_held)
        positions = np.flatnonzero(failed != "")
        parts.append((positions, failed[positions]))
    detail = _join_parts(parts, "; ", count)
    detail = np.where(detail == "", "", " (" + detail + ")")
    return f"{rules.fallback_tier}: no tier rule matched" + detail.astype(object)


def assign_tiers(ind: _Indicators, rules: Rules) -> tuple[np.ndarray, np.ndarray]:
    """First matching tier rule in file order wins; the fallback tier explains which checks failed."""
    n = len(ind.callers)
    tier = np.full(n, rules.fallback_tier, dtype=object)
    reason = np.full(n, "", dtype=object)
    taken = np.zeros(n, dtype=bool)
    details = []
    for rule in rules.tiers:
        match, all_held, any_held = _rule_matches(ind, rule)
        won = match & ~taken
        details.append((rule, all_held))
        if won.any():
            tier[won] = rule.name
            reason[won] = _tier_reason(ind, rule, won, any_held)
        taken |= match
    if (~taken).any():
        reason[~taken] = _fallback_reason(ind, rules, ~taken, details)
    return tier, reason


def apply_moves(
    tier: np.ndarray, reason: np.ndarray, score: np.ndarray, moves: tuple[ScoreMove, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Score promotions/demotions on the rule tier; each customer moves at most once (first move wins)."""
    base = tier.copy()
    moved = np.zeros(len(tier), dtype=bool)
    for move in moves:
        hit = score >= move.threshold if move.kind == "promote" else score < move.threshold
        rows = (base == move.from_tier) & hit & ~moved
        if not rows.any():
            continue
        op = ">=" if move.kind == "promote" else "<"
        verb = "promoted" if move.kind == "promote" else "demoted"
        prefix = f"{move.to_tier}: {verb} from {move.from_tier} by score="
        scores = _fmt_values(score[rows])
        reason[rows] = prefix + scores + f"{op}{fmt_number(move.threshold)} [" + reason[rows] + "]"
        tier[rows] = move.to_tier
        moved |= rows
    return tier, reason


# -------------------------------------------------------------------------------------------- risk


def risk_frame(ind: _Indicators, rules: Rules) -> pd.DataFrame:
    """complaint_heavy, risk_points, churn_risk, risk_reason, warning_level."""
    n = len(ind.callers)
    risk = rules.risk
    heavy = np.logical_or.reduce([ind.holds(c) for c in risk.complaint_heavy_any])
    points = np.zeros(n, dtype=np.int64)
    parts = []
    for rp in risk.points:
        held = np.logical_and.reduce([ind.holds(c) for c in rp.when])
        points += np.where(held, rp.points, 0)
        count = int(held.sum())
        detail = _join_parts([(np.arange(count), ind.part(c, held)) for c in rp.when], ", ", count)
        parts.append((np.flatnonzero(held), f"{rp.name} {rp.points:+d} (" + detail + ")"))
    level = np.select(
        [points >= risk.high_at_least, points >= risk.medium_at_least], [RISK_HIGH, RISK_MEDIUM], RISK_LOW
    )
    yellow = np.zeros(n, dtype=bool)
    for cond in rules.warning.yellow_any:
        yellow |= ind.holds(cond)
    if rules.warning.yellow_if_complaint_heavy:
        yellow |= heavy
    warning = np.select(
        [level == RISK_HIGH, level == RISK_MEDIUM, yellow],
        [WARNING_RED, WARNING_ORANGE, WARNING_YELLOW],
        WARNING_NONE,
    )
    return pd.DataFrame(
        {
            "complaint_heavy": heavy,
            "churn_risk": level.astype(object),
            "risk_points": points,
            "risk_reason": _join_parts(parts, "; ", n),
            "warning_level": warning.astype(object),
        },
        index=ind.callers.index,
    )


def quadrant_of(score: np.ndarray, churn_risk: np.ndarray, rules: QuadrantRules) -> np.ndarray:
    """Value (score >= value_at_least) x stability (churn_risk in stable_levels) -> 放心/操心/关心/用心."""
    high = score >= rules.value_at_least
    stable = np.isin(churn_risk, rules.stable_levels)
    conditions = [high & stable, high & ~stable, ~high & ~stable]
    choices = [QUADRANTS[(True, True)], QUADRANTS[(True, False)], QUADRANTS[(False, False)]]
    return np.select(conditions, choices, QUADRANTS[(False, True)]).astype(object)


def grade_callers(callers: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Add score, score_<indicator>, tier, tier_reason and the risk flags to the aggregated callers."""
    frame = callers.reset_index(drop=True)
    ind = _Indicators(frame, rules.source)
    scores = score_frame(ind, rules.score)
    ind.cache["score"] = scores["score"].to_numpy()
    tier, reason = assign_tiers(ind, rules)
    tier, reason = apply_moves(tier, reason, scores["score"].to_numpy(), rules.moves)
    risk = risk_frame(ind, rules)
    out = pd.concat([frame.drop(columns=[c for c in scores if c in frame], errors="ignore"), scores], axis=1)
    out["tier"] = tier
    out["tier_reason"] = reason
    for col in risk.columns:
        out[col] = risk[col].to_numpy()
    out["quadrant"] = quadrant_of(out["score"].to_numpy(), risk["churn_risk"].to_numpy(), rules.quadrant)
    return out
