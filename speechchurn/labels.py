"""Reasons in the supervisors' language: the grading's raw reason texts (which stay in the CSVs) as
the Chinese lines the report and the desk show.

``risk_reason``  'churn_intent +3 (churn_intent_calls=2>=1)'      -> '离网意向 +3：2 通电话提到离网'
``tier_reason``  'VIP: minutes_30d=2.28>=2, calls_30d=3>=3'      -> 'VIP：近30天分钟=2.28>=2，近30天通话=3>=3'
``model_reason`` 'complaint_calls=3 (+0.21)'                     -> '投诉通话数 3（流失概率 +0.21）'

Also the one home of every Chinese label dictionary (``*_LABELS``: roles, categories, tiers, risk,
warnings, directions, review outcomes, match kinds, verdicts, model kinds, features). Import-light
(no pandas): the desk imports it at start-up.
"""

from __future__ import annotations

import re

from speechchurn.vocab import (
    CAT_BILLING,
    CAT_CHURN_INTENT,
    CAT_COMPETITOR,
    CAT_COMPLAINT,
    CAT_HOLD,
    CAT_INQUIRY,
    CAT_NETWORK,
    CAT_PRAISE,
    CAT_TRANSFER,
    CLUSTER_AT_RISK,
    CLUSTER_ORDINARY,
    CLUSTER_SILENT,
    CLUSTER_VIP,
    DIRECTION_IN,
    DIRECTION_OUT,
    RISK_HIGH,
    RISK_LOW,
    RISK_MEDIUM,
    ROLE_AGENT,
    ROLE_CUSTOMER,
    ROLE_MIXED,
    ROLE_SOURCE_CHANNELS,
    ROLE_SOURCE_DIARIZED,
    ROLE_SOURCE_MIXED,
    TIER_ORDINARY,
    TIER_SILENT,
    TIER_VIP,
    WARNING_NONE,
    WARNING_ORANGE,
    WARNING_RED,
    WARNING_YELLOW,
)

# --- labels of domain values (speechchurn/vocab.py) ---------------------------------------------

ROLE_LABELS = {ROLE_AGENT: "坐席", ROLE_CUSTOMER: "客户", ROLE_MIXED: "通话"}
ROLE_SOURCE_LABELS = {
    ROLE_SOURCE_CHANNELS: "双声道：坐席与客户各占一个声道",
    ROLE_SOURCE_DIARIZED: "单声道：坐席与客户按声音和坐席话术区分",
    ROLE_SOURCE_MIXED: "单声道：未能可靠区分坐席与客户，全部话语计入客户侧",
}
CATEGORY_LABELS = {
    CAT_BILLING: "资费账单",
    CAT_CHURN_INTENT: "离网意向",
    CAT_COMPETITOR: "竞品",
    CAT_COMPLAINT: "投诉",
    CAT_HOLD: "等待",
    CAT_INQUIRY: "咨询",
    CAT_NETWORK: "网络",
    CAT_PRAISE: "表扬",
    CAT_TRANSFER: "转接",
}
CLUSTER_TIER_LABELS = {
    CLUSTER_VIP: "类VIP",
    CLUSTER_ORDINARY: "普通",
    CLUSTER_SILENT: "类沉默",
    CLUSTER_AT_RISK: "风险型",
}
TIER_LABELS = {TIER_VIP: "VIP", TIER_ORDINARY: "普通", TIER_SILENT: "沉默", **CLUSTER_TIER_LABELS}
RISK_LABELS = {RISK_HIGH: "高", RISK_MEDIUM: "中", RISK_LOW: "低"}
WARNING_LABELS = {WARNING_RED: "红色", WARNING_ORANGE: "橙色", WARNING_YELLOW: "黄色", WARNING_NONE: "无"}
DIRECTION_LABELS = {DIRECTION_IN: "呼入", DIRECTION_OUT: "呼出"}

# --- labels of other raw values -------------------------------------------------------------------

OUTCOME_LABELS = {"retained": "已挽留", "escalated": "已升级", "no_action": "无需处理"}
MATCH_LABELS = {"exact": "精确", "phonetic": "音近", "pinyin": "拼音", "fuzzy": "模糊"}
VERDICT_LABELS = {"correct": "正确", "wrong": "误报"}
MODEL_LABELS = {"rules": "现行规则", "logistic": "逻辑回归", "tree": "决策树", "boosting": "梯度提升"}

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


# --- reason texts ------------------------------------------------------------------------------


RISK_RULE_LABELS = {  # the default rules' risk points (speechchurn/data/rules.toml)
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
INDICATOR_UNITS = {  # '<value> <unit>' reads better than '<label>=<value>' for these counts
    "churn_intent_calls": "通电话提到离网",
    "competitor_mentions": "次提到竞品",
    "complaint_calls": "通电话投诉",
    "transfers": "次转接",
    "contacts_churned": "位联系人已离网",
}
TIER_PHRASES = (  # the fixed words of grading's tier reasons (customers/grading.py, outcomes/cluster.py)
    ("no tier rule matched", "未命中等级规则"),
    ("none of ", "以下均不满足 "),
    (", needs ", "，需 "),
    ("cluster ", "聚类 "),
)
WORDS = {"score": "评分"}
CALL_INDICATOR_LABELS = {  # calls.csv columns a QA form's `when` conditions read (docs/qa.md)
    "duration_s": "通话时长（秒）",
    "transfers": "转接次数",
    "hold_count": "等待次数",
    "non_talk_s": "静默（秒）",
    "longest_silence_s": "最长静默（秒）",
    "silence_ratio": "静默占比",
    "overlap_s": "双方同时说话（秒）",
    "interruptions_agent": "坐席抢话次数",
    "interruptions_customer": "客户抢话次数",
    "talk_s_agent": "坐席说话（秒）",
    "talk_s_customer": "客户说话（秒）",
    "talk_speed_cpm_agent": "坐席语速（字/分钟）",
    "talk_speed_cpm_customer": "客户语速（字/分钟）",
    "loudness_dbfs_agent": "坐席音量（dBFS）",
    "loudness_dbfs_customer": "客户音量（dBFS）",
    "sentiment_mean": "平均情绪",
    "sentiment_min": "最低情绪",
    "sentiment_end": "结束情绪",
    "negative_share": "负面语句占比",
}
QA_CONDITION = re.compile(r"^(?P<ind>\w+)=(?P<value>\S+) \((?P<op>[<>=!]=?) (?P<limit>\S+)\)$")
RISK_PART = re.compile(r"^\s*(?P<name>\w+)\s+(?P<points>[+-]\d+(?:\.\d+)?)\s*(?:\((?P<detail>.*)\))?\s*$")
CONDITION = re.compile(r"(?P<ind>\w+)=(?P<value>-?[\d.]+)")
MODEL_PART = re.compile(r"^\s*(?P<name>\w+)=(?P<value>\S+)\s+\((?P<plus>[+-][\d.]+)\)\s*$")
OVERRIDE = re.compile(
    r"^(?P<tier>\S+): override by (?P<who>.*?) \((?P<at>[^)]*)\): (?P<why>.*) \[rules said (?P<rule>\S+)\]$"
)
TIER_HEAD = re.compile(r"(^|[(\[;]\s*)([\w-]+): ")  # 'VIP: ' at the start or after '(', '[' or '; '
MOVE = re.compile(r"(?P<verb>promoted|demoted) from (?P<tier>[\w-]+) by score=")
NAME = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z][A-Za-z0-9_-]*")  # an indicator or tier name


def label(mapping: dict, key) -> str:
    return mapping.get(str(key), "" if key is None else str(key))


def risk_reason_lines(reason: str) -> list[str]:
    """'churn_intent +3 (churn_intent_calls=2>=1); ...' -> ['离网意向 +3：2 通电话提到离网', ...]."""
    return _lines(reason, RISK_PART, _risk_line)


def _risk_line(match: re.Match) -> str:
    name = RISK_RULE_LABELS.get(match["name"], match["name"])
    details = [_condition_text(c) for c in CONDITION.finditer(match["detail"] or "")]
    return f"{name} {match['points']}" + (f"：{'，'.join(details)}" if details else "")


def _condition_text(condition: re.Match) -> str:
    unit = INDICATOR_UNITS.get(condition["ind"])
    value = condition["value"]
    return f"{value} {unit}" if unit else f"{feature_label(condition['ind'])}={value}"


def model_reason_lines(reason: str) -> list[str]:
    """grade --model's reason: 'complaint_calls=3 (+0.21); kw_竞品=1 (+0.05)' ->
    ['投诉通话数 3（流失概率 +0.21）', '关键词:竞品 1（流失概率 +0.05）']."""
    return _lines(
        reason, MODEL_PART, lambda m: f"{feature_label(m['name'])} {m['value']}（流失概率 {m['plus']}）"
    )


def _lines(reason, pattern: re.Pattern, render) -> list[str]:
    """Each '; '-separated part rendered when it matches ``pattern``, else kept as written."""
    return [render(match) if (match := pattern.match(part)) else part for part in _parts(reason)]


def tier_reason_text(reason: str) -> str:
    """Tier names, indicators and grading's fixed words in Chinese; numbers and operators as they are.
    A reviewer's override keeps the reviewer's own words untouched."""
    text = str(reason or "")
    override = OVERRIDE.match(text)
    if override:
        tier, rule = label(TIER_LABELS, override["tier"]), label(TIER_LABELS, override["rule"])
        return f"{tier}：{override['who']}（{override['at']}）人工调整：{override['why']}（规则为 {rule}）"
    for phrase, chinese in TIER_PHRASES:
        text = text.replace(phrase, chinese)
    text = MOVE.sub(lambda m: f"由{label(TIER_LABELS, m['tier'])}{_MOVED[m['verb']]}，score=", text)
    text = TIER_HEAD.sub(lambda m: f"{m[1]}{label(TIER_LABELS, m[2])}：", text)
    text = NAME.sub(lambda m: _name(m[0]), text)
    return text.replace("; ", "；").replace(", ", "，").replace(" (", "（").replace(")", "）")


_MOVED = {"promoted": "升级", "demoted": "降级"}


def _name(word: str) -> str:
    if word in TIER_LABELS:
        return TIER_LABELS[word]
    if word in WORDS:
        return WORDS[word]
    if word.startswith("score_"):
        return f"{feature_label(word[len('score_') :])}得分"
    return feature_label(word)


def qa_quote_text(quote) -> str:
    """A QA criterion's quote as supervisors read it: a `when` condition's
    'longest_silence_s=1.26 (<= 15)' -> '最长静默（秒） 1.26（要求 <= 15）'; heard phrases unchanged."""
    text = "" if quote is None else str(quote)
    match = QA_CONDITION.match(text)
    if match is None:
        return text
    name = CALL_INDICATOR_LABELS.get(match["ind"]) or feature_label(match["ind"])
    return f"{name} {match['value']}（要求 {match['op']} {match['limit']}）"


def probability_text(value) -> str:
    """0.834 -> '83%'; '' when there is no probability (no model, or a customer it did not score)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if number != number else f"{number:.0%}"


def _parts(reason) -> list[str]:
    text = "" if reason is None or reason != reason else str(reason)  # None and NaN: no reason
    return [part.strip() for part in text.split(";") if part.strip()]
