"""Desk building blocks without a server: timeline, FTS query, Chinese reason labels, lexicon feedback."""

from __future__ import annotations

import pytest

from speechchurn.app.index import fts_query
from speechchurn.app.queries import timeline
from speechchurn.review.feedback import Suggestion, TermStats, lexicon_diff, suggestions
from speechchurn.review.marks import HitKey


def _segment(role, start, end, text="好的"):
    return {"seq": 0, "role": role, "start": start, "end": end, "text": text}


def test_timeline_silences_holds_and_hits():
    hold = {
        "category": "hold",
        "role": "agent",
        "start": 9.0,
        "end": 10.0,
        "negated": False,
        "term": "请稍等",
    }
    other = {"category": "complaint", "role": "customer", "start": 2.0, "end": 2.5, "negated": False}
    info = {
        "duration_s": 30.0,
        "segments": [_segment("agent", 0, 5), _segment("customer", 4, 10), _segment("agent", 18, 30)],
        "hits": [hold, other],
    }
    line = timeline(info)
    assert line.silences == ((10.0, 18.0),)  # the only mutual silence of >= 3 s
    assert line.holds == ((9.0, 18.0),)  # hold phrase, then that silence
    assert len(line.speech) == 3 and line.hits == (hold, other) and line.duration_s == 30.0


def test_short_gap_after_hold_phrase_is_no_hold():
    hold = {"category": "hold", "role": "agent", "start": 1.0, "end": 2.0, "negated": False}
    info = {
        "duration_s": 10.0,
        "segments": [_segment("agent", 0, 2), _segment("agent", 3, 10)],
        "hits": [hold],
    }
    assert timeline(info).holds == () and timeline(info).silences == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("销户", '"销户"'),
        ('投诉 "x" OR 1', '"投诉" "x" "or" "1"'),  # quote marks dropped, operators become plain words
        ("，。！", None),
        ("", None),
    ],
)
def test_fts_query_quotes_every_token(text, expected):
    assert fts_query(text) == expected


def test_hit_key_rounds_to_milliseconds():
    assert HitKey.of("ab", 12.3456, "投诉") == HitKey("ab", 12346, "投诉")


def _stats(term, **kinds):
    rows = [TermStats("complaint", term, kind, ok, bad) for kind, (ok, bad) in kinds.items()]
    ok = sum(r.correct for r in rows)
    bad = sum(r.wrong for r in rows)
    return [*rows, TermStats("complaint", term, "all", ok, bad)]


@pytest.mark.parametrize(
    ("stats", "action"),
    [
        (_stats("投诉", exact=(0, 3)), "drop"),
        (_stats("投诉", exact=(4, 0), phonetic=(0, 3)), "exact-only"),
        (_stats("投诉", phonetic=(1, 4)), "drop"),
        (_stats("投诉", exact=(5, 0), phonetic=(2, 1)), None),
        (_stats("投诉", exact=(0, 2)), None),  # too few marks to judge
    ],
)
def test_suggestions(stats, action):
    found = suggestions(stats)
    assert [s.action for s in found] == ([action] if action else [])


def test_lexicon_diff_drops_and_annotates(tmp_path):
    (tmp_path / "complaint.txt").write_text("# c\n投诉\t2.0\n乱扣费\n太差了 1.5  # note\n", encoding="utf-8")
    found = [
        Suggestion("complaint", "乱扣费", "drop", "precision 0.00 over 3 marks"),
        Suggestion("complaint", "太差了", "exact-only", "sound-alike precision 0.20 over 5 marks"),
    ]
    diff = lexicon_diff(found, tmp_path)
    assert "--- a/complaint.txt" in diff and "\n-乱扣费\n" in diff
    assert "+太差了 1.5  # note  # review: exact-only" in diff and "-投诉" not in diff
