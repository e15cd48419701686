"""Names of the per-customer columns the outcomes package adds (import-light: no pandas); their
Chinese labels are in speechchurn/labels.py.

The grading rules accept these as indicators (docs/rules.md); a rules condition on one of them whose
column is absent (e.g. no ``--network`` given) reads as missing and never matches.
"""

from __future__ import annotations

BREAK_COLUMNS = (
    "break_calls",  # relative change of the daily call rate, recent window vs baseline (-1 = stopped)
    "break_minutes",  # relative change of daily talk minutes, recent vs baseline
    "break_sentiment",  # mean sentiment recent minus baseline (score units; 0 when either is unknown)
    "break_complaint_share",  # share of calls with a complaint, recent minus baseline
    "break_answered_share",  # share of outbound calls answered, recent minus baseline (0 when unknown)
    "break_went_quiet",  # 1 when active in the baseline and silent in the recent window
    "behaviour_break",  # 1 when any break threshold is crossed (reason in break_reason)
)
NETWORK_COLUMNS = ("contacts", "contacts_churned", "contacts_churned_share")
OUTCOME_INDICATORS = BREAK_COLUMNS + NETWORK_COLUMNS
MODEL_COLUMNS = ("churn_prob", "churn_rank", "model_reason")
CLUSTER_COLUMNS = ("cluster", "cluster_tier", "rule_tier")
