"""Chinese labels the desk shows supervisors (raw rule expressions stay in the CSVs)."""

from __future__ import annotations

import re

from speechchurn.vocab import (  # one home for the labels the report and the desk share
    CATEGORY_LABELS,
    DIRECTION_LABELS,
    RISK_LABELS,
    ROLE_LABELS,
    TIER_LABELS,
    WARNING_LABELS,
)

__all__ = [  # the shared labels are re-exported for the templates (L.TIER_LABELS, ...)
    "CATEGORY_LABELS",
    "DIRECTION_LABELS",
    "INDICATOR_UNITS",
    "MATCH_LABELS",
    "RISK_LABELS",
    "RISK_RULE_LABELS",
    "ROLE_LABELS",
    "TIER_LABELS",
    "VERDICT_LABELS",
    "WARNING_LABELS",
    "label",
    "model_reason_lines",
    "probability_text",
    "risk_reason_lines",
]
MATCH_LABELS = {"exact": "精确", "phonetic": "音近", "pinyin": "拼音", "fuzzy": "模糊"}
VERDICT_LABELS = {"correct": "正确", "wrong": "误报"}
RISK_RULE_LABELS = {
    "churn_intent": "离网意向",
    "churn_intent_repeated": "多次提离网",
    "competitor": "提及竞品",
    "complaint": "投诉",
    "complaints_repeated": "多次投诉",
    "sentiment_falling": "情绪走低",
    "negative_sentiment": "情绪负面",
    "transfers": "多次转接",
    "behaviour_break": "行为断层",  # speechchurn/outcomes: break_reason says what changed
    "contacts_left": "联系人离网",
}
INDICATOR_UNITS = {
    "churn_intent_calls": "通电话提到离网",
    "competitor_mentions": "次提到竞品",
    "complaint_calls": "通电话投诉",
    "transfers": "次转接",
    "contacts_churned": "位联系人已离网",
}
RISK_PART = re.compile(r"^\s*(?P<name>[\w]+)\s+(?P<points>[+-]\d+(?:\.\d+)?)\s*(?:\((?P<detail>.*)\))?\s*$")
CONDITION = re.compile(r"(?P<ind>\w+)=(?P<value>-?[\d.]+)")
MODEL_PART = re.compile(r"^\s*(?P<name>\w+)=(?P<value>\S+)\s+\((?P<plus>[+-][\d.]+)\)\s*$")


def label(mapping: dict, key) -> str:
    return mapping.get(str(key), "" if key is None else str(key))


def risk_reason_lines(reason: str) -> list[str]:
    """'churn_intent +3 (churn_intent_calls=2>=1); ...' -> ['离网意向 +3：2 通电话提到离网', ...]."""
    lines = []
    for part in str(reason or "").split(";"):
        match = RISK_PART.match(part)
        if match is None:
            if part.strip():
                lines.append(part.strip())
            continue
        name = RISK_RULE_LABELS.get(match["name"], match["name"])
        details = [_condition_text(c) for c in CONDITION.finditer(match["detail"] or "")]
        lines.append(f"{name} {match['points']}" + (f"：{'，'.join(details)}" if details else ""))
    return lines


def _condition_text(condition: re.Match) -> str:
    unit = INDICATOR_UNITS.get(condition["ind"])
    value = condition["value"]
    return f"{value} {unit}" if unit else f"{condition['ind']}={value}"


def model_reason_lines(reason: str) -> list[str]:
    """grade --model's reason in Chinese: 'complaint_calls=3 (+0.21); kw_竞品=1 (+0.05)' ->
    ['投诉通话数 3（流失概率 +0.21）', '关键词:竞品 1（流失概率 +0.05）']."""
    from speechchurn.outcomes.columns import feature_label  # import-light: no pandas

    lines = []
    for part in str(reason or "").split(";"):
        match = MODEL_PART.match(part)
        if match is None:
            if part.strip():
                lines.append(part.strip())
            continue
        lines.append(f"{feature_label(match['name'])} {match['value']}（流失概率 {match['plus']}）")
    return lines


def probability_text(value) -> str:
    """0.834 -> '83%'; '' when there is no probability (no model, or a customer it did not score)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if number != number else f"{number:.0%}"
