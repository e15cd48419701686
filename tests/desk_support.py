"""Helpers for the desk tests: an OUT_DIR analysed from audio_samples with the fake engine (no model),
so playback uses the real recordings, and a generated store with many calls for the scale tests."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import SAMPLES, FakeEngine

FAKE_LINES = (
    "我要投诉，你们乱扣费，我要销户",
    "请您稍等，我帮您查询一下话费",
    "信号太差了，我想换联通",
    "好的谢谢，服务很好",
)


def analyze_samples(out_dir: Path, audio_dir: Path = SAMPLES, text: str | None = None, **options) -> Path:
    """`analyze audio_dir --out out_dir` with FakeEngine (saying `text`) in place of Whisper."""
    import speechchurn.asr.transcribe as transcribe
    from speechchurn.analyze import analyze
    from speechchurn.batch.options import AnalyzeOptions

    engine = FakeEngine(text) if text else FakeEngine()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transcribe, "load_engine", lambda opts: engine)
        result = analyze(audio_dir, out_dir, AnalyzeOptions(workers=1, **options))
    assert result.failed == 0, result.failures
    return out_dir


def generate_store(out_dir: Path, calls: int, seed: int = 7) -> Path:
    """A store with `calls` synthetic calls (~5 per customer, 6 lines each), graded into callers.csv."""
    from speechchurn.batch.pipeline import export_outputs
    from speechchurn.batch.store import Store
    from speechchurn.batch.worker import CallRecord
    from speechchurn.grading_run import GradingOptions, run_grading
    from speechchurn.schema import Segment

    rng = random.Random(seed)
    with Store(out_dir) as store:
        records = [_synthetic_call(i, rng, Segment) for i in range(calls)]
        for file, sha, segments, row, hits in records:
            store.record_call(
                CallRecord(file, sha, "run", f"t{sha}", 60.0, tuple(segments), row, tuple(hits))
            )
        export_outputs(store, out_dir)
    run_grading(out_dir, GradingOptions())
    return out_dir


def _synthetic_call(i: int, rng: random.Random, segment_type):
    caller = f"139{i // 5:08d}"
    file = f"2026{1 + i % 12:02d}{1 + i % 28:02d}_1000{i % 60:02d}_{caller}_in.wav"
    sha = f"{i:064x}"
    segments = [
        segment_type("agent" if k % 2 == 0 else "customer", k * 10.0, k * 10.0 + 8.0, rng.choice(FAKE_LINES))
        for k in range(6)
    ]
    complaint = sum("投诉" in s.text for s in segments if s.role == "customer")
    row = {
        "file": file,
        "caller": caller,
        "agent": "A1",
        "direction": "in",
        "started_at": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00+08:00",
        "duration_s": 60.0,
        "transfers": 0,
        "kw_complaint": complaint,
        "kw_churn_intent": complaint,
        "kw_competitor": 0,
    }
    hits = [
        {"file": file, "caller": caller, "heard": "投诉", "term": "投诉", "category": "complaint",
         "role": s.role, "start": s.start + 1.0, "end": s.start + 1.5, "match": "exact",
         "confidence": 1.0, "negated": False, "snippet": s.text}
        for s in segments
        if "投诉" in s.text
    ]  # fmt: skip
    return file, sha, segments, row, hits
