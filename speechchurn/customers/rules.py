"""The grading rules file: frozen records and their validation.

The rules live in a TOML file (``speechchurn/data/default_rules.toml`` by default, documented line by
line in docs/rules.md). :func:`load_rules` validates it into the frozen dataclasses below and names the
bad key on any problem; :mod:`speechchurn.customers.grading` applies them.

Conditions use a tiny grammar, ``<indicator> <op> <number>`` with op in ``>= > <= < == !=``; they are
parsed with a regular expression, never ``eval``.
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

from speechchurn.customers.aggregate import AGGREGATE_COLUMNS
from speechchurn.customers.columns import OUTCOME_INDICATORS
from speechchurn.errors import ConfigError
from speechchurn.resources import default_rules_path
from speechchurn.vocab import (
    RISK_LEVELS,
    RISK_LOW,
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
KW_INDICATOR = re.compile(r"^kw_[a-z][a-z0-9_]*$")
_CONDITION = re.compile(
    r"^\s*(?P<ind>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_MISSING = object()


def fmt_number(value: float) -> str:
    return f"{round(value, REASON_DECIMALS):g}"


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
        return f"{self.indicator}{self.op}{fmt_number(self.value)}"


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
        if name in known or KW_INDICATOR.match(name):
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
