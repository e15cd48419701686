"""Cache keys (batch/options.py) and the per-call row (batch/worker.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace

import pytest

from speechchurn.asr.transcribe import TranscribeOptions, VadOptions
from speechchurn.batch.options import AnalyzeOptions, lexicon_fingerprint
from speechchurn.batch.worker import FileJob, call_row
from speechchurn.call.metadata import CallMeta
from speechchurn.resources import lexicon_dir
from speechchurn.text.lexicon import load_lexicons

SHA = "0" * 64


@pytest.mark.parametrize(
    "change",
    [
        {"beam_size": 1},
        {"model": "other"},
        {"language": "en"},
        {"vad": False},
        {"temperatures": (0.0,)},
        {"vad_options": VadOptions(speech_pad_ms=200)},
        {"vad_options": VadOptions(min_silence_ms=300)},
    ],
)
def test_every_text_changing_setting_changes_the_transcript_key(change):
    base = AnalyzeOptions()
    changed = replace(base, transcribe=replace(base.transcribe, **change))
    assert changed.transcript_key(SHA) != base.transcript_key(SHA)


def test_threads_do_not_change_the_transcript_key():
    base = AnalyzeOptions()
    assert replace(base, transcribe=TranscribeOptions(cpu_threads=3)).transcript_key(
        SHA
    ) == base.transcript_key(SHA)


def test_analysis_key_hashes_lexicon_content_not_its_paths(tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(lexicon_dir(), moved)
    bundled, copied = load_lexicons(), load_lexicons(moved)
    assert bundled.categories[0].source != copied.categories[0].source
    assert lexicon_fingerprint(bundled) == lexicon_fingerprint(copied)
    assert AnalyzeOptions().analysis_key(bundled) == AnalyzeOptions().analysis_key(copied)
    first = sorted(moved.glob("*.txt"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n新词语 2\n", encoding="utf-8")
    assert lexicon_fingerprint(load_lexicons(moved)) != lexicon_fingerprint(bundled)


def test_manifest_pass_through_columns_never_replace_measured_columns():
    meta = CallMeta(
        file="a.wav",
        caller="13800000000",
        agent="a1",
        direction="in",
        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        source="manifest",
        extra=(("duration_s", "9999"), ("kw_complaint", "=1+1"), ("campaign", "spring")),
    )
    job = FileJob(None, "a.wav", SHA, meta, "t", None, "r")
    row = call_row(job, {"duration_s": 12.5}, {"sentiment_mean": 0.7}, {"kw_complaint": 2})
    assert row["duration_s"] == 12.5
    assert row["kw_complaint"] == 2
    assert row["campaign"] == "spring"
