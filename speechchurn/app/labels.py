"""Chinese labels the desk shows supervisors (raw rule expressions stay in the CSVs).

Every label lives in `speechchurn.labels`, shared with the report; this module gathers what the
templates use (``L.TIER_LABELS``, ...).
"""

from __future__ import annotations

from speechchurn.labels import (  # one home for the labels the report and the desk share
    CATEGORY_LABELS,
    DIRECTION_LABELS,
    INDICATOR_UNITS,
    MATCH_LABELS,
    RISK_LABELS,
    RISK_RULE_LABELS,
    ROLE_LABELS,
    ROLE_SOURCE_LABELS,
    TIER_LABELS,
    VERDICT_LABELS,
    WARNING_LABELS,
    label,
    model_reason_lines,
    probability_text,
    risk_reason_lines,
    tier_reason_text,
)

__all__ = [
    "CATEGORY_LABELS",
    "DIRECTION_LABELS",
    "INDICATOR_UNITS",
    "MATCH_LABELS",
    "RISK_LABELS",
    "RISK_RULE_LABELS",
    "ROLE_LABELS",
    "ROLE_SOURCE_LABELS",
    "TIER_LABELS",
    "VERDICT_LABELS",
    "WARNING_LABELS",
    "label",
    "model_reason_lines",
    "probability_text",
    "risk_reason_lines",
    "tier_reason_text",
]
