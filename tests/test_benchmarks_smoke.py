"""Fast checks of the benchmark scripts' pure parts (no model runs)."""

from __future__ import annotations

import pytest

from benchmarks import asr, workers
from benchmarks.common import LoadReport


def fake_result(
    engine: str, audio_s: float, transcribe_s: float, counts: dict, rss_mb: float = 400.0
) -> dict:
    calls = {
        name: {"duration_s": audio_s / len(counts), "wall_s": 1.0, "counts": by_role, "hyp": []}
        for name, by_role in counts.items()
    }
    return {
        "engine": engine,
        "beam": 5,
        "threads": 2,
        "load_s": 1.0,
        "decode_s": 0.1,
        "transcribe_s": transcribe_s,
        "audio_s": audio_s,
        "rss_mb": rss_mb,
        "calls": calls,
    }


COUNTS = {"a.wav": {"agent": [2, 40], "customer": [1, 20]}, "b.wav": {"agent": [0, 30], "customer": [3, 10]}}


@pytest.mark.parametrize(
    ("call", "role", "edits", "ref_chars"),
    [(None, None, 6, 100), ("a.wav", None, 3, 60), (None, "customer", 4, 30), ("b.wav", "agent", 0, 30)],
)
def test_total_count_filters_calls_and_roles(call, role, edits, ref_chars):
    total = asr.total_count(fake_result("x", 100.0, 10.0, COUNTS), call, role)
    assert (total.edits, total.ref_chars) == (edits, ref_chars)


@pytest.mark.parametrize(
    ("fast_s", "fast_counts", "met"),
    [
        (10.0, COUNTS, ["yes", "yes", "yes", "yes"]),  # 6% CER, 4x faster, same CER
        (20.0, COUNTS, ["yes", "yes", "NO", "yes"]),  # only 2x faster
        (10.0, {"a.wav": {"agent": [9, 100]}}, ["NO", "yes", "yes", "NO"]),  # 9% CER, 3 points worse
    ],
)
def test_comparison_marks_targets(fast_s, fast_counts, met):
    results = {
        asr.ENGINE_FASTER: fake_result(asr.ENGINE_FASTER, 100.0, fast_s, fast_counts),
        asr.ENGINE_OPENAI: fake_result(asr.ENGINE_OPENAI, 100.0, 40.0, COUNTS),
    }
    rows = asr.comparison(results).splitlines()[2:]
    assert [row.rstrip(" |").rsplit("| ", 1)[-1] for row in rows] == met


def test_per_call_table_has_a_row_per_call_and_a_column_per_engine():
    results = {e: fake_result(e, 100.0, 10.0, COUNTS) for e in asr.ENGINE_ORDER}
    lines = asr.per_call_table(results).splitlines()
    assert len(lines) == 2 + len(COUNTS)
    assert lines[2].startswith("| a.wav | 50.0 | 60 | 5.0% (5.0% / 5.0%) | 5.0% (5.0% / 5.0%) |")


@pytest.mark.parametrize(("spec", "splits"), [("1x2,2x1", [(1, 2), (2, 1)]), (" 4x1 ", [(4, 1)])])
def test_parse_splits(spec, splits):
    assert workers.parse_splits(spec) == splits


def test_workers_render_picks_the_fastest_split():
    runs = [workers.Run(1, 2, 100.0, 0.1), workers.Run(2, 1, 80.0, 0.2), workers.Run(2, 1, 90.0, 0.3)]
    text = workers.render(runs, 400.0, "11 calls", LoadReport(0.1, 0.0, True), 0.5)
    assert "| 2 x 1 | 2 | 80.0, 90.0 | 5.00 |" in text
    assert "Fastest split: 2 worker(s) x 1 thread(s)" in text


def test_asr_render_lists_targets_calls_and_differences(tmp_path):
    import json

    turns = {"turns": [{"role": "agent", "start": 0.0, "end": 1.0, "text": "我要销户"}]}
    (tmp_path / "truth.json").write_text(json.dumps({"calls": {"a.wav": turns, "b.wav": turns}}), "utf-8")
    results = {e: fake_result(e, 100.0, 10.0, COUNTS) for e in asr.ENGINE_ORDER}
    results[asr.ENGINE_FASTER]["calls"]["a.wav"]["hyp"] = [["agent", 0.1, "我要消户"]]
    text = asr.render(results, LoadReport(0.3, 0.0, True), 0.4, tmp_path)
    assert "| speed faster / openai | 1.00x | >= 3x | NO |" in text
    assert "| replace | 销 | 消 | 1 |" in text  # a.wav's substitution
    assert "| delete | 我要销户 | - | 1 |" in text  # b.wav has no transcript
