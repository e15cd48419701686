"""CER normalisation and scoring (speechchurn.dev.evaluation)."""

from __future__ import annotations

import pytest

from speechchurn.dev import evaluation
from speechchurn.dev.evaluation import (
    CerCount,
    cer,
    corpus_cer,
    edit_distance,
    edit_ops,
    hypothesis_by_role,
    normalize_for_cer,
    reference_by_role,
    score_call,
)
from speechchurn.schema import Segment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("您好，请问有什么可以帮您？", "您好请问有什么可以帮您"),
        ("我要銷戶，網速太差了！", "我要销户网速太差了"),  # traditional -> simplified
        ("流量包１０元／月", "流量包十元月"),  # full-width digits and slash; numbers spelled as read
        ("ＶＩＰ客户 Vip", "VIP客户VIP"),  # full-width letters, case, spaces
        ("14400元，2019年", "一万四千四百元二零一九年"),  # cardinal vs. digit by digit
        ("幺零零八六，两个", "一零零八六二个"),  # 幺/两 unified
        ("10086", "一零零八六"),  # codes and phone numbers digit by digit
        ("3.5G，50%", "三点五G百分之五十"),
        ("“好的”……再见。", "好的再见"),  # quotes and ellipsis
        ("  \t\n", ""),
        ("", ""),
    ],
)
def test_normalize_for_cer(text, expected):
    assert normalize_for_cer(text) == expected


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("我要销户", "我要销户", 0.0),
        ("我要销户。", "我要銷戶", 0.0),  # punctuation and script do not count
        ("我要销户", "我要消户", 0.25),  # one substitution
        ("我要销户", "我销户", 0.25),  # one deletion
        ("我要销户", "我要销户了", 0.25),  # one insertion
        ("我要销户", "", 1.0),  # everything missed
        ("我要", "我要销户吧", 1.5),  # insertions can push CER past 1
        ("", "", 0.0),
        ("", "好的", 1.0),  # text where none was spoken
    ],
)
def test_cer(reference, hypothesis, expected):
    assert cer(reference, hypothesis) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("", ""),
        ("abc", ""),
        ("", "abc"),
        ("kitten", "sitting"),
        ("携号转网", "鞋号转往了"),
        ("流量包", "包流量"),
    ],
)
def test_edit_distance_library_matches_plain_dynamic_program(a, b):
    assert edit_distance(a, b) == evaluation._levenshtein(a, b)


def test_corpus_cer_pools_edits_over_reference_chars():
    pairs = [("我要销户", "我要消户"), ("好的", "好的")]  # 1 edit over 4 + 2 chars
    assert corpus_cer(pairs) == pytest.approx(1 / 6)
    assert CerCount(1, 4) + CerCount(0, 2) == CerCount(1, 6)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "kinds"),
    [
        ("我要销户", "我要消户", [("replace", "销", "消")]),
        ("我要销户了", "我要销户", [("delete", "了", "")]),
        ("我要销户", "嗯我要销户", [("insert", "", "嗯")]),
        ("好的", "好的。", []),
    ],
)
def test_edit_ops(reference, hypothesis, kinds):
    assert [(op.kind, op.ref, op.hyp) for op in edit_ops(reference, hypothesis)] == kinds


TURNS = [
    {"role": "customer", "start": 3.0, "end": 4.0, "text": "我要销户。"},
    {"role": "agent", "start": 0.0, "end": 2.0, "text": "您好，"},
    {"role": "agent", "start": 5.0, "end": 6.0, "text": "好的。"},
]


def test_texts_join_per_role_in_time_order():
    assert reference_by_role(TURNS) == {"agent": "您好，好的。", "customer": "我要销户。"}
    segments = [Segment("agent", 5.0, 6.0, "好的"), Segment("agent", 0.1, 2.0, "您好")]
    assert hypothesis_by_role(segments) == {"agent": "您好好的"}


def test_score_call_counts_a_missing_role_as_deleted():
    counts = score_call(TURNS, [Segment("agent", 0.1, 2.0, "你好"), Segment("agent", 5.0, 6.0, "好的")])
    assert counts == {"agent": CerCount(1, 4), "customer": CerCount(4, 4)}
