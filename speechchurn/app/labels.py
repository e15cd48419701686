"""Chinese labels the desk shows supervisors (raw rule expressions stay in the CSVs).

The reason texts are translated in `speechchurn.labels`, shared with the report; this module adds the
desk's own words and re-exports everything for the templates (``L.TIER_LABELS``, ...).
"""

from __future__ import annotations

from speechchurn.labels import (
    INDICATOR_UNITS,
    RISK_RULE_LABELS,
    label,
    model_reason_lines,
    probability_text,
    risk_reason_lines,
    tier_reason_text,
)
from speechchurn.vocab import (  # one home for the labels the report and the desk share
    CATEGORY_LABELS,
    DIRECTION_LABELS,
    RISK_LABELS,
    ROLE_LABELS,
    TIER_LABELS,
    WARNING_LABELS,
)

__all__ = [
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
    "tier_reason_text",
]
MATCH_LABELS = {"exact": "精确", "phonetic": "音近", "pinyin": "拼音", "fuzzy": "模糊"}
VERDICT_LABELS = {"correct": "正确", "wrong": "误报"}
