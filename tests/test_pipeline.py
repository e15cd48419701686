"""The analyze batch: outputs, transcript cache, incremental runs, bad input (fake engine)."""

from __future__ import annotations

import json
import shutil
import wave
from dataclasses import replace

import pytest

from speechchurn import outputs
from speechchurn.analyze import AnalyzeOptions, analyze
from speechchurn.asr.transcribe import TranscribeOptions
from speechchurn.batch.store import Store
from speechchurn.grading_run import GradingOptions, run_grading

REQUIRED_CALL_COLUMNS = [
    "file",
    "caller",
    "agent",
    "direction",
    "started_at",
    "duration_s",
    "transfers",
    "sentiment_mean",
    "non_talk_s",
    "talk_s_agent",
    "talk_s_customer",
]
REQUIRED_CALLER_COLUMNS = [
    "caller",
    "calls",
    "total_minutes",
    "first_call",
    "last_call",
    "score",
    "tier",
    "tier_reason",
]


def test_outputs_follow_the_contract(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    result = analyze(calls_dir, out)
    assert (result.done, result.failed, result.cached) == (3, 0, 0)
    calls = outputs.read_csv(out / "calls.csv")
    assert list(calls.columns[: len(REQUIRED_CALL_COLUMNS[:8])]) == REQUIRED_CALL_COLUMNS[:8]
    assert set(REQUIRED_CALL_COLUMNS) <= set(calls.columns)
    assert {f"kw_{c}" for c in ("complaint", "churn_intent", "billing", "praise")} <= set(calls.columns)
    assert (calls["kw_complaint"] >= 1).all(), "the fake line says 投诉 on every customer chunk"
    callers = outputs.read_csv(out / "callers.csv")
    assert set(REQUIRED_CALLER_COLUMNS) <= set(callers.columns)
    assert sorted(callers["caller"]) == ["13812345601", "13998765402"]
    for name in ("calls.csv", "callers.csv", "review.csv", "errors.csv"):
        assert (out / name).read_bytes().startswith(b"\xef\xbb\xbf"), f"{name} must carry a UTF-8 BOM"
    lines = (out / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    assert record["segments"] and {"role", "start", "end", "text"} <= set(record["segments"][0])
    starts = [s["start"] for s in record["segments"]]
    assert starts == sorted(starts)


def test_rerun_transcribes_nothing(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    analyze(calls_dir, out)
    first = fake_engine.decodes
    result = analyze(calls_dir, out)
    assert (result.done, result.cached) == (0, 3)
    assert fake_engine.decodes == first


def test_changed_file_is_reprocessed_and_deleted_file_drops_out(
    calls_dir, tmp_path, fake_engine, samples_dir
):
    out = tmp_path / "out"
    analyze(calls_dir, out)
    files = sorted(calls_dir.glob("*.wav"))
    other = next(p for p in sorted(samples_dir.glob("*.wav")) if p.name not in {f.name for f in files})
    shutil.copy(other, files[0])  # same name, new content
    files[1].unlink()
    before = fake_engine.decodes
    result = analyze(calls_dir, out)
    assert (result.done, result.cached, result.total) == (1, 1, 2)
    assert fake_engine.decodes > before
    calls = outputs.read_csv(out / "calls.csv")
    assert sorted(calls["file"]) == sorted(p.name for p in calls_dir.glob("*.wav"))


def test_option_change_retranscribes_but_feature_change_reuses_transcripts(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    analyze(calls_dir, out)
    n = fake_engine.decodes
    result = analyze(calls_dir, out, AnalyzeOptions(non_talk_min_s=2.0))
    assert result.done == 3 and fake_engine.decodes == n, "features recomputed from cached transcripts"
    result = analyze(calls_dir, out, AnalyzeOptions(transcribe=TranscribeOptions(beam_size=2)))
    assert result.done == 3 and fake_engine.decodes > n


def _write_wav(path, frames: bytes, channels=2, rate=8000):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


BAD_INPUTS = {
    "empty.wav": lambda p: p.write_bytes(b""),
    "notes.wav": lambda p: p.write_text("这不是音频文件\n" * 50, encoding="utf-8"),
    "zero.wav": lambda p: _write_wav(p, b""),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_file_is_recorded_and_the_batch_goes_on(name, calls_dir, tmp_path, fake_engine):
    BAD_INPUTS[name](calls_dir / name)
    (calls_dir / "readme.txt").write_text("not audio")
    out = tmp_path / "out"
    result = analyze(calls_dir, out)
    assert (result.done, result.failed, result.ignored) == (3, 1, 1)
    errors = outputs.read_csv(out / "errors.csv")
    assert list(errors["file"]) == [name]
    assert errors["reason"].iloc[0].startswith(name)
    assert len(outputs.read_csv(out / "calls.csv")) == 3


def test_grade_matches_analyze_and_needs_a_store(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    result = analyze(calls_dir, out)
    regraded = run_grading(out, GradingOptions()).graded
    assert regraded.reset_index(drop=True).equals(result.graded.reset_index(drop=True))
    with pytest.raises(Exception, match="no result store"):
        run_grading(tmp_path / "empty", GradingOptions())


def test_store_commits_each_file(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    analyze(calls_dir, out)
    with Store(out) as store:
        assert store.status_counts() == {"done": 3}
        assert len(store.call_rows()) == 3


def test_missing_audio_dir_is_an_error(tmp_path):
    with pytest.raises(Exception, match="not a folder"):
        analyze(tmp_path / "nope", tmp_path / "out", replace(AnalyzeOptions()))


def test_manifest_problems_go_to_errors_csv_and_the_batch_goes_on(calls_dir, tmp_path, fake_engine):
    files = sorted(p.name for p in calls_dir.glob("*.wav"))
    manifest = tmp_path / "manifest.csv"
    rows = [
        "file,caller,agent,direction,started_at,transfers,plan",
        f"{files[0]},138 1234 5601,A001,in,2026-11-02 09:30:12,0,畅享套餐",
        f"{files[0]},13812345601,A001,in,2026-11-02 09:30:12,0,畅享套餐",  # duplicate
        f"{files[1]},+86 138-1234-5601,A002,呼入,2026/11/10 14:30,,畅享套餐",
        f"{files[2]},13998765402,A003,in,不是日期,1,",  # unparseable date: falls back to the file name
        "missing.wav,13700000000,A004,out,2026-11-01 10:00:00,0,",
    ]
    manifest.write_bytes("\n".join(rows).encode("gbk"))  # as exported by Excel on a Chinese desktop
    out = tmp_path / "out"
    result = analyze(calls_dir, out, AnalyzeOptions(manifest=manifest))
    assert result.done == 3 and result.failed == 0 and len(result.problems) == 3
    errors = outputs.read_csv(out / "errors.csv")
    reasons = " | ".join(errors["reason"])
    assert set(errors["stage"]) == {"manifest"}
    assert "row 3" in reasons and "duplicate" in reasons
    assert "row 5" in reasons and "started_at" in reasons
    assert "missing.wav" in reasons
    calls = outputs.read_csv(out / "calls.csv").set_index("file")
    assert calls.loc[files[0], "caller"] == "13812345601" and calls.loc[files[0], "plan"] == "畅享套餐"
    assert calls.loc[files[1], "caller"] == "13812345601" and calls.loc[files[1], "agent"] == "A002"
    assert calls.loc[files[2], "meta_source"] == "filename"


def test_outputs_are_written_atomically_with_normal_permissions(tmp_path):
    import pandas as pd

    target = tmp_path / "x.csv"
    outputs.write_csv(pd.DataFrame({"caller": ["138"]}), target)
    assert target.stat().st_mode & 0o044, "readable by group/others like any file the user creates"
    with pytest.raises(RuntimeError), outputs.atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("killed")
    assert outputs.read_csv(target)["caller"].tolist() == ["138"], "a failed write leaves the old file"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"], "no temp file left behind"
