"""Names of the per-customer columns the outcomes package adds (import-light: no pandas).

The grading rules accept these as indicators (docs/rules.md); a rules condition on one of them whose
column is absent (e.g. no ``--network`` given) reads as missing and never matches.
"""

from __future__ import annotations

from speechchurn.vocab import CATEGORY_LABELS

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

# Chinese labels for pages (supervisors read Chinese); CSVs keep the raw names.
FEATURE_LABELS = {
    "calls": "通话次数",
    "calls_30d": "近30天通话",
    "inbound": "呼入次数",
    "outbound": "呼出次数",
    "total_minutes": "总通话分钟",
    "minutes_30d": "近30天分钟",
    "avg_minutes": "平均通话分钟",
    "days_since_last": "距上次通话天数",
    "transfers": "转接次数",
    "non_talk_s": "静默秒数",
    "sentiment_mean": "平均情绪",
    "sentiment_min": "最低情绪",
    "negative_calls": "负面通话数",
    "sentiment_trend": "情绪趋势",
    "complaint_calls": "投诉通话数",
    "churn_intent_calls": "离网意向通话数",
    "competitor_mentions": "提及竞争对手",
    "qa_failed_calls": "质检不合格通话数",
    "qa_failed_complaint_calls": "投诉且质检不合格通话数",
    "qa_score_min": "最低质检分",
    "break_calls": "通话次数断层",
    "break_minutes": "通话时长断层",
    "break_sentiment": "情绪断层",
    "break_complaint_share": "投诉占比变化",
    "break_answered_share": "外呼接通率变化",
    "break_went_quiet": "由活跃转沉默",
    "behaviour_break": "行为断层",
    "contacts": "联系人数",
    "contacts_churned": "已离网联系人数",
    "contacts_churned_share": "已离网联系人占比",
}


def feature_label(name: str) -> str:
    """Chinese label of a feature (kw_complaint -> 关键词:投诉; unknown names unchanged)."""
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name]
    return f"关键词:{CATEGORY_LABELS.get(name[3:], name[3:])}" if name.startswith("kw_") else name
