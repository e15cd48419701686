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
import operator
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.customers.aggregate import AGGREGATE_COLUMNS
from speechchurn.errors import ConfigError
from speechchurn.outcomes.columns import OUTCOME_INDICATORS
from speechchurn.resources import default_rules_path
from speechchurn.vocab import (
    RISK_HIGH,
    RISK_LEVELS,
    RISK_LOW,
    RISK_MEDIUM,
    WARNING_NONE,
    WARNING_ORANGE,
    WARNING_RED,
    WARNING_YELLOW,
)

log = logging.getLogger("speechchurn")

SCORE_MAX = 100.0  # points: the score runs from 0 to SCORE_MAX
NEUTRAL_NORM = 0.5  # normalised value of an indicator that does not vary across customers
REASON_DECIMALS = 2  # decimals of actual values quoted in reason strings
QUADRANTS = {  # (value high, stable) -> quadrant
    (True, True): "放心",
    (True, False): "操心",
    (False, False): "关心",
    (False, True): "用心",
}
NORMALIZATIONS = ("minmax", "percentile")
# Every numeric column aggregate_callers produces (dates and the caller id are not indicators).
KNOWN_INDICATORS = tuple(c for c in AGGREGATE_COLUMNS if c not in ("caller", "first_call", "last_call"))
# Outcome indicators (behaviour breaks, call network; speechchurn/outcomes) are known too; when their
# column is absent (no --network, no break computation) they read as missing and never match.
KNOWN_INDICATORS += OUTCOME_INDICATORS
CONDITION_ONLY_INDICATORS = ("score",)  # usable in risk/warning conditions, not as a score weight
_KW_INDICATOR = re.compile(r"^kw_[a-z][a-z0-9_]*$")
_CONDITION = re.compile(
    r"^\s*(?P<ind>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_MISSING = object()


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Condition:
    """``indicator op value``; ``key`` locates it in the rules file for error messages."""

    indicator: str
    op: str
    value: float
    key: str

    @property
    def text(self) -> str:
        return f"{self.indicator}{self.op}{_fmt_number(self.value)}"


@dataclass(frozen=True)
class TierRule:
    """Matches when every ``all`` condition holds and (if any are given) at least one ``any`` holds."""

    name: str
    all: tuple[Condition, ...]
    any: tuple[Condition, ...]


@dataclass(frozen=True)
class ScoreRules:
    normalization: str  # "minmax" | "percentile"
    weights: tuple[tuple[str, float], ...]  # (indicator, weight > 0), file order
    negative: frozenset[str]  # indicators where a higher value lowers the score
    ranges: tuple[tuple[str, float, float], ...]  # fixed minmax bounds (indicator, low, high)


@dataclass(frozen=True)
class ScoreMove:
    """A score-based promotion (score >= threshold) or demotion (score < threshold)."""

    kind: str  # "promote" | "demote"
    from_tier: str
    to_tier: str
    threshold: float


@dataclass(frozen=True)
class RiskPoint:
    name: str
    when: tuple[Condition, ...]  # all must hold (a single condition, or a list in the TOML)
    points: int


@dataclass(frozen=True)
class RiskRules:
    points: tuple[RiskPoint, ...]
    high_at_least: int  # risk points for churn_risk = high
    medium_at_least: int  # risk points for churn_risk = medium
    complaint_heavy_any: tuple[Condition, ...]


@dataclass(frozen=True)
class WarningRules:
    yellow_any: tuple[Condition, ...]  # low-risk customers matching one of these get "yellow"
    yellow_if_complaint_heavy: bool


@dataclass(frozen=True)
class QuadrantRules:
    value_at_least: float  # score points: high value when score >= this
    stable_levels: tuple[str, ...]  # churn_risk levels counted as stable


@dataclass(frozen=True)
class Rules:
    source: str
    tiers: tuple[TierRule, ...]
    fallback_tier: str
    score: ScoreRules
    moves: tuple[ScoreMove, ...]  # promotions then demotions, file order
    risk: RiskRules
    warning: WarningRules
    quadrant: QuadrantRules
    extra_indicators: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------ parsing


class _Reader:
    """Typed, key-checked access to the parsed TOML, producing ConfigErrors that name the key."""

    def __init__(self, source: str, extra: tuple[str, ...]):
        self.source = source
        self.extra = extra

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {message}")

    def table(self, data: dict, where: str, allowed: tuple[str, ...]) -> dict:
        if not isinstance(data, dict):
            raise self.fail(where, f"expected a table, got {type(data).__name__}")
        for key in data:
            if key not in allowed:
                raise self.fail(_join(where, key), f"unknown key (allowed: {', '.join(allowed)})")
        return data

    def get(self, data: dict, key: str, types: tuple[type, ...], where: str, default=_MISSING):
        full = _join(where, key)
        if key not in data:
            if default is _MISSING:
                raise self.fail(full, "missing")
            return default
        value = data[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise self.fail(full, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def check_indicator(self, name: str, key: str, allow_score: bool) -> None:
        known = KNOWN_INDICATORS + self.extra + (CONDITION_ONLY_INDICATORS if allow_score else ())
        if name in known or _KW_INDICATOR.match(name):
            return
        raise self.fail(key, f"unknown indicator {name!r} (known: {', '.join(known)}, kw_<category>)")

    def condition(self, text: object, key: str, allow_score: bool = False) -> Condition:
        if not isinstance(text, str):
            raise self.fail(key, f"expected a condition string, got {type(text).__name__}")
        match = _CONDITION.match(text)
        if match is None:
            raise self.fail(
                key,
                f"bad condition {text!r} (expected '<indicator> <op> <number>', op one of >= > <= < == !=)",
            )
        self.check_indicator(match["ind"], key, allow_score)
        return Condition(match["ind"], match["op"], float(match["num"]), key)

    def conditions(
        self, data: dict, key: str, where: str, allow_score: bool = False
    ) -> tuple[Condition, ...]:
        items = self.get(data, key, (list,), where, default=[])
        full = _join(where, key)
        return tuple(self.condition(t, f"{full}[{i}]", allow_score) for i, t in enumerate(items))


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _parse_tiers(r: _Reader, data: dict) -> tuple[TierRule, ...]:
    items = r.get(data, "tiers", (list,), "", default=[])
    tiers: list[TierRule] = []
    for i, item in enumerate(items):
        where = f"tiers[{i}]"
        r.table(item, where, ("name", "all", "any"))
        name = r.get(item, "name", (str,), where)
        rule = TierRule(name, r.conditions(item, "all", where), r.conditions(item, "any", where))
        if not rule.all and not rule.any:
            raise r.fail(where, "a tier needs at least one condition in 'all' or 'any'")
        if name in {t.name for t in tiers}:
            raise r.fail(f"{where}.name", f"duplicate tier {name!r}")
        tiers.append(rule)
    return tuple(tiers)


def _parse_score(r: _Reader, data: dict) -> ScoreRules:
    where = "score"
    table = r.table(
        r.get(data, where, (dict,), ""), where, ("normalization", "weights", "negative", "ranges")
    )
    norm = r.get(table, "normalization", (str,), where, default="minmax")
    if norm not in NORMALIZATIONS:
        raise r.fail(
            f"{where}.normalization", f"unknown normalization {norm!r} (known: {', '.join(NORMALIZATIONS)})"
        )
    weights_table = r.get(table, "weights", (dict,), where)
    weights = []
    for name in weights_table:
        key = f"{where}.weights.{name}"
        r.check_indicator(name, key, allow_score=False)
        w = r.get(weights_table, name, (int, float), f"{where}.weights")
        if w < 0:
            raise r.fail(key, f"negative weight {w} (use score.negative to make an indicator count against)")
        weights.append((name, float(w)))
    if sum(w for _, w in weights) <= 0:
        raise r.fail(f"{where}.weights", "weights sum to 0")
    negative = r.get(table, "negative", (list,), where, default=[])
    for i, name in enumerate(negative):
        if not isinstance(name, str) or name not in weights_table:
            raise r.fail(f"{where}.negative[{i}]", f"{name!r} is not a weighted indicator in score.weights")
    return ScoreRules(norm, tuple(weights), frozenset(negative), _parse_ranges(r, table, weights_table))


def _parse_ranges(r: _Reader, table: dict, weights: dict) -> tuple[tuple[str, float, float], ...]:
    ranges = r.get(table, "ranges", (dict,), "score", default={})
    out = []
    for name, bounds in ranges.items():
        key = f"score.ranges.{name}"
        if name not in weights:
            raise r.fail(key, f"{name!r} is not a weighted indicator in score.weights")
        ok = isinstance(bounds, list) and len(bounds) == 2
        ok = ok and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
        if not ok or bounds[0] >= bounds[1]:
            raise r.fail(key, f"expected [low, high] with low < high, got {bounds!r}")
        out.append((name, float(bounds[0]), float(bounds[1])))
    return tuple(out)


def _parse_moves(r: _Reader, data: dict, tier_names: set[str]) -> tuple[ScoreMove, ...]:
    moves = []
    for kind, threshold_key in (("promote", "score_at_least"), ("demote", "score_below")):
        for i, item in enumerate(r.get(data, kind, (list,), "", default=[])):
            where = f"{kind}[{i}]"
            r.table(item, where, ("from", "to", threshold_key))
            ends = {}
            for end in ("from", "to"):
                ends[end] = r.get(item, end, (str,), where)
                if ends[end] not in tier_names:
                    raise r.fail(
                        f"{where}.{end}",
                        f"unknown tier {ends[end]!r} (known: {', '.join(sorted(tier_names))})",
                    )
            threshold = float(r.get(item, threshold_key, (int, float), where))
            moves.append(ScoreMove(kind, ends["from"], ends["to"], threshold))
    return tuple(moves)


def _parse_risk(r: _Reader, data: dict) -> RiskRules:
    where = "risk"
    table = r.table(r.get(data, where, (dict,), ""), where, ("high_at_least", "medium_at_least", "points"))
    high = r.get(table, "high_at_least", (int,), where)
    medium = r.get(table, "medium_at_least", (int,), where)
    if not 0 < medium <= high:
        raise r.fail(
            f"{where}.medium_at_least", f"need 0 < medium_at_least <= high_at_least, got {medium}, {high}"
        )
    points = []
    for i, item in enumerate(r.get(table, "points", (list,), where)):
        key = f"{where}.points[{i}]"
        r.table(item, key, ("name", "when", "points"))
        name = r.get(item, "name", (str,), key)
        when = r.get(item, "when", (str, list), key)
        if isinstance(when, str):
            conds = (r.condition(when, f"{key}.when", allow_score=True),)
        elif when:
            conds = tuple(r.condition(t, f"{key}.when[{j}]", allow_score=True) for j, t in enumerate(when))
        else:
            raise r.fail(f"{key}.when", "empty list (give at least one condition)")
        points.append(RiskPoint(name, conds, r.get(item, "points", (int,), key)))
    heavy = r.table(r.get(data, "complaint_heavy", (dict,), ""), "complaint_heavy", ("any",))
    heavy_any = r.conditions(heavy, "any", "complaint_heavy", allow_score=True)
    if not heavy_any:
        raise r.fail("complaint_heavy.any", "needs at least one condition")
    return RiskRules(tuple(points), high, medium, heavy_any)


def _parse_warning_quadrant(r: _Reader, data: dict) -> tuple[WarningRules, QuadrantRules]:
    warn = r.table(
        r.get(data, "warning", (dict,), "", default={}),
        "warning",
        ("yellow_any", "yellow_if_complaint_heavy"),
    )
    warning = WarningRules(
        r.conditions(warn, "yellow_any", "warning", allow_score=True),
        r.get(warn, "yellow_if_complaint_heavy", (bool,), "warning", default=True),
    )
    quad = r.table(
        r.get(data, "quadrant", (dict,), "", default={}), "quadrant", ("value_at_least", "stable_levels")
    )
    stable = r.get(quad, "stable_levels", (list,), "quadrant", default=[RISK_LOW])
    for i, level in enumerate(stable):
        if level not in RISK_LEVELS:
            raise r.fail(
                f"quadrant.stable_levels[{i}]",
                f"unknown risk level {level!r} (known: {', '.join(RISK_LEVELS)})",
            )
    value = float(r.get(quad, "value_at_least", (int, float), "quadrant", default=50))
    return warning, QuadrantRules(value, tuple(stable))


_TOP_KEYS = (
    "version",
    "fallback_tier",
    "extra_indicators",
    "tiers",
    "score",
    "promote",
    "demote",
    "risk",
    "complaint_heavy",
    "warning",
    "quadrant",
)


def parse_rules(data: dict, source: str) -> Rules:
    """Validate a parsed rules document (see docs/rules.md); ``source`` prefixes error messages."""
    r = _Reader(source, ())
    r.table(data, "", _TOP_KEYS)
    extra = r.get(data, "extra_indicators", (list,), "", default=[])
    for i, name in enumerate(extra):
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise r.fail(f"extra_indicators[{i}]", f"bad indicator name {name!r}")
    r = _Reader(source, tuple(extra))
    tiers = _parse_tiers(r, data)
    fallback = r.get(data, "fallback_tier", (str,), "", default="ordinary")
    if fallback in {t.name for t in tiers}:
        raise r.fail("fallback_tier", f"{fallback!r} is also a rule tier")
    moves = _parse_moves(r, data, {t.name for t in tiers} | {fallback})
    warning, quadrant = _parse_warning_quadrant(r, data)
    return Rules(
        source=source,
        tiers=tiers,
        fallback_tier=fallback,
        score=_parse_score(r, data),
        moves=moves,
        risk=_parse_risk(r, data),
        warning=warning,
        quadrant=quadrant,
        extra_indicators=tuple(extra),
    )


def load_rules(path: Path | str | None = None) -> Rules:
    """Load and validate a rules TOML file (the bundled default when ``path`` is None)."""
    path = Path(path) if path is not None else default_rules_path()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ConfigError(f"{path.name}: cannot read rules file ({e.strerror})") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path.name}: invalid TOML ({e})") from e
    return parse_rules(data, path.name)


# ------------------------------------------------------------------------------------- evaluation


def _fmt_number(value: float) -> str:
    return f"{round(value, REASON_DECIMALS):g}"


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
            elif _KW_INDICATOR.match(name):
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
            result = _OPS[cond.op](values, cond.value)
        return result & ~np.isnan(values)

    def values_text(self, cond: Condition, rows: np.ndarray) -> np.ndarray:
        """'indicator=actual' for the rows selected by the boolean mask ``rows``."""
        return f"{cond.indicator}=" + _fmt_values(self.get(cond.indicator, cond.key)[rows])

    def part(self, cond: Condition, rows: np.ndarray) -> np.ndarray:
        """'indicator=actual<op><threshold>' for the rows selected by the boolean mask ``rows``."""
        return self.values_text(cond, rows) + f"{cond.op}{_fmt_number(cond.value)}"


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
        text = f"{rule.name}: " + ind.values_text(cond, miss) + f", needs {cond.op}{_fmt_number(cond.value)}"
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
        reason[rows] = prefix + scores + f"{op}{_fmt_number(move.threshold)} [" + reason[rows] + "]"
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
