"""Reasons in the supervisors' language (speechchurn/labels.py): raw grading texts -> Chinese lines."""

from __future__ import annotations

import pytest

from speechchurn.labels import model_reason_lines, probability_text, risk_reason_lines, tier_reason_text


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("VIP: minutes_30d=2.28>=2, calls_30d=3>=3", "VIP：近30天分钟=2.28>=2，近30天通话=3>=3"),
        ("silent: days_since_last=158.26>90", "沉默：距上次通话天数=158.26>90"),
        (
            "ordinary: no tier rule matched (silent: none of calls==0 / days_since_last>90; "
            "VIP: minutes_30d=0.53, needs >=2)",
            "普通：未命中等级规则（沉默：以下均不满足 通话次数==0 / 距上次通话天数>90；"
            "VIP：近30天分钟=0.53，需 >=2）",
        ),
        (
            "VIP: promoted from ordinary by score=85>=80 [ordinary: no tier rule matched]",
            "VIP：由普通升级，评分=85>=80 [普通：未命中等级规则]",
        ),
        ("cluster 1 (silent-like)", "聚类 1（类沉默）"),
        ("VIP: kw_complaint=2>=1, score_calls=3>1", "VIP：关键词:投诉=2>=1，通话次数得分=3>1"),
        # a reviewer's words are theirs: never translated
        (
            "VIP: override by 王主管 (2026-11-20 10:00): calls too many [rules said ordinary]",
            "VIP：王主管（2026-11-20 10:00）人工调整：calls too many（规则为 普通）",
        ),
        ("", ""),
        (None, ""),
    ],
)
def test_tier_reason_in_chinese(reason, text):
    assert tier_reason_text(reason) == text


@pytest.mark.parametrize(
    ("reason", "lines"),
    [
        (
            "churn_intent +3 (churn_intent_calls=2>=1); competitor +2 (competitor_mentions=1>=1); odd text",
            ["离网意向 +3：2 通电话提到离网", "提及竞品 +2：1 次提到竞品", "odd text"],
        ),
        ("negative_sentiment +1 (sentiment_mean=0.26<0.35)", ["情绪负面 +1：平均情绪=0.26"]),
        ("contacts_left +2 (contacts_churned=3>=3)", ["联系人离网 +2：3 位联系人已离网"]),
        ("my_rule +1 (calls=5>=4)", ["my_rule +1：通话次数=5"]),  # a user's own rule keeps its name
        (float("nan"), []),
    ],
)
def test_risk_reason_lines(reason, lines):
    assert risk_reason_lines(reason) == lines


@pytest.mark.parametrize(
    ("reason", "lines"),
    [
        (
            "kw_complaint=2 (+0.12); contacts_churned_share=0.5 (+0.03)",
            ["关键词:投诉 2（流失概率 +0.12）", "已离网联系人占比 0.5（流失概率 +0.03）"],
        ),
        (None, []),
    ],
)
def test_model_reason_lines(reason, lines):
    assert model_reason_lines(reason) == lines


def test_probability_text_rounds_to_whole_percent():
    assert [probability_text(v) for v in (0.834, 0.005, 1.0)] == ["83%", "0%", "100%"]
