"""The issue targets, measured through the real ASR on every bundled sample call (slow).

One analyze run over audio_samples/ with the real Whisper base weights feeds every check here.
"""

from __future__ import annotations

import pytest

from speechchurn import outputs
from speechchurn.text.lexicon import load_lexicons
from speechchurn.text.sentiment import polarity

pytestmark = pytest.mark.slow

CATEGORIES = load_lexicons().names
MIN_CATEGORY_RECALL = 0.95
MIN_CATEGORY_PRECISION = 0.90
MIN_POLARITY_MATCH = 0.80
NON_TALK_TOLERANCE_S = 1.0  # s
TALK_TIME_TOLERANCE = 0.10  # relative


@pytest.fixture(scope="module")
def sample_calls(samples_run):
    return outputs.read_csv(samples_run / "calls.csv").set_index("file")


def _turn_seconds(call: dict, role: str) -> float:
    return sum(t["end"] - t["start"] for t in call["turns"] if t["role"] == role)


def test_keyword_categories_recall_and_precision(sample_calls, truth):
    tp = fp = fn = 0
    for name, call in truth.items():
        found = {c for c in CATEGORIES if sample_calls.loc[name, f"kw_{c}"] >= 1}
        expected = set(call["keyword_categories"])
        tp, fp, fn = tp + len(found & expected), fp + len(found - expected), fn + len(expected - found)
    assert tp / (tp + fn) >= MIN_CATEGORY_RECALL
    assert tp / (tp + fp) >= MIN_CATEGORY_PRECISION


def test_call_sentiment_polarity_matches_labels(sample_calls, truth):
    matches = [
        polarity(sample_calls.loc[name, "sentiment_mean"]) == call["sentiment"]
        for name, call in truth.items()
    ]
    assert sum(matches) / len(matches) >= MIN_POLARITY_MATCH


def test_non_talk_and_transfers_per_call(sample_calls, truth):
    for name, call in truth.items():
        row = sample_calls.loc[name]
        assert abs(row["non_talk_s"] - call["non_talk_s"]) <= NON_TALK_TOLERANCE_S, name
        assert row["transfers"] == call["transfers"], name
        assert row["hold_count"] == call["holds"], name


def test_talk_time_per_role(sample_calls, truth):
    for name, call in truth.items():
        for role in ("agent", "customer"):
            reference = _turn_seconds(call, role)
            assert sample_calls.loc[name, f"talk_s_{role}"] == pytest.approx(
                reference, rel=TALK_TIME_TOLERANCE
            )


def test_metadata_comes_from_the_manifest(sample_calls, truth):
    for name, call in truth.items():
        assert sample_calls.loc[name, "caller"] == call["caller"]
        assert sample_calls.loc[name, "direction"] == call["direction"]
        assert sample_calls.loc[name, "meta_source"] == "manifest"
