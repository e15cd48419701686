"""Review queue: who is in it, severity order, top-N and the quoted evidence."""

from __future__ import annotations

import pandas as pd
import pytest

from speechchurn.customers.review import QUEUE_COLUMNS, build_review_queue, review_table_rows

GRADED_ROWS = [
    # caller, churn_risk, risk_points, complaint_calls, score, complaint_heavy, churn_intent_calls
    ("m_intent", "medium", 3, 0, 40.0, False, 1),
    ("h_low_pts", "high", 5, 0, 90.0, False, 1),
    ("h_top", "high", 8, 1, 10.0, False, 2),
    ("heavy_low", "low", 1, 2, 70.0, True, 0),
    ("m_no_intent", "medium", 2, 1, 99.0, False, 0),  # not queued
    ("calm", "low", 0, 0, 80.0, False, 0),  # not queued
    ("h_tie_b", "high", 5, 0, 50.0, False, 1),
    ("h_tie_a", "high", 5, 0, 50.0, False, 1),  # same figures as h_tie_b: caller breaks the tie
]


@pytest.fixture()
def graded() -> pd.DataFrame:
    cols = [
        "caller",
        "churn_risk",
        "risk_points",
        "complaint_calls",
        "score",
        "complaint_heavy",
        "churn_intent_calls",
    ]
    frame = pd.DataFrame(GRADED_ROWS, columns=cols)
    frame["tier"] = "ordinary"
    frame["tier_reason"] = "ordinary: no tier rule matched"
    frame["risk_reason"] = "x"
    frame["warning_level"] = frame["churn_risk"].map({"high": "red", "medium": "orange", "low": "yellow"})
    frame["quadrant"] = "关心"
    frame["competitor_mentions"] = 0
    frame["days_since_last"] = 3.0
    return frame


def _hit(caller, file, category, term, start, role="customer", negated=False, confidence=1.0, snippet=None):
    return {
        "file": file,
        "caller": caller,
        "role": role,
        "category": category,
        "term": term,
        "heard": term,
        "start": start,
        "end": start + 1.0,
        "match": "exact",
        "confidence": confidence,
        "negated": negated,
        "snippet": snippet or f"我要{term}",
    }


@pytest.fixture()
def evidence() -> pd.DataFrame:
    rows = [
        _hit("h_top", "20261119_a.wav", "billing", "话费", 1.0),  # other category: after the priority ones
        _hit("h_top", "20261119_a.wav", "complaint", "投诉", 12.34, snippet="我要投诉你们"),
        _hit("h_top", "20261119_a.wav", "complaint", "投诉", 20.0),  # same file+term: quoted once
        _hit("h_top", "20261120_b.wav", "churn_intent", "销户", 5.0, confidence=0.9),
        _hit("h_top", "20261120_b.wav", "competitor", "联通", 7.0, role="agent"),  # agent side: skipped
        _hit("h_top", "20261120_b.wav", "churn_intent", "不用了", 9.0, negated=True),  # negated: skipped
        _hit("h_top", "20261121_c.wav", "competitor", "电信", 3.0, role="mixed", confidence=0.8),
        _hit("calm", "x.wav", "complaint", "投诉", 1.0),  # not in the queue
    ]
    return pd.DataFrame(rows)


def test_selection_and_severity_order(graded, evidence) -> None:
    queue = build_review_queue(graded, evidence, top=None)
    assert list(queue["caller"]) == ["h_top", "h_low_pts", "h_tie_a", "h_tie_b", "m_intent", "heavy_low"]
    assert list(queue["rank"]) == list(range(1, 7))
    assert list(queue.columns) == list(QUEUE_COLUMNS)


@pytest.mark.parametrize(("top", "expected"), [(2, ["h_top", "h_low_pts"]), (0, []), (None, None)])
def test_top(graded, evidence, top, expected) -> None:
    queue = build_review_queue(graded, evidence, top=top)
    if expected is None:
        assert len(queue) == 6
    else:
        assert list(queue["caller"]) == expected


def test_evidence_quotes(graded, evidence) -> None:
    queue = build_review_queue(graded, evidence, top=None, quotes_per_customer=3).set_index("caller")
    lines = queue.loc["h_top", "evidence"].split("\n")
    assert lines[0] == "「我要投诉你们」 (20261119_a.wav @ 12.3s, 投诉)"
    assert len(lines) == 3
    assert queue.loc["h_top", "evidence_terms"] == "投诉;销户;电信"
    assert queue.loc["h_top", "evidence_files"] == "20261119_a.wav;20261120_b.wav;20261121_c.wav"
    assert queue.loc["h_top", "evidence_times"] == "12.3;5.0;3.0"
    assert queue.loc["h_top", "evidence_hits"] == 4  # complaint (deduplicated), churn, competitor, billing
    assert queue.loc["h_low_pts", "evidence"] == "" and queue.loc["h_low_pts", "evidence_hits"] == 0


def test_more_quotes_reach_other_categories(graded, evidence) -> None:
    queue = build_review_queue(graded, evidence, quotes_per_customer=10).set_index("caller")
    assert queue.loc["h_top", "evidence_terms"].split(";") == ["投诉", "销户", "电信", "话费"]


def test_without_evidence(graded) -> None:
    for empty in (None, pd.DataFrame()):
        queue = build_review_queue(graded, empty)
        assert (queue["evidence"] == "").all() and (queue["evidence_hits"] == 0).all()


def test_review_table_rows(graded, evidence) -> None:
    headers, rows = review_table_rows(build_review_queue(graded, evidence, top=2), max_quote_chars=8)
    assert headers[0] == "rank" and "evidence" in headers
    assert len(rows) == 2 and all(isinstance(v, str) for row in rows for v in row)
    assert all(len(line) <= 8 for line in rows[0][headers.index("evidence")].splitlines())
