"""Stage timings users can see: calls.csv columns, the end-of-run line and `analyze --profile`."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from speechchurn.batch.pipeline import STAGE_COLUMNS, RunProfile
from speechchurn.cli import app

runner = CliRunner()


def test_analyze_profile_prints_the_split_and_calls_csv_has_stage_columns(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out), "--profile"])
    assert result.exit_code == 0, result.output
    assert "x real time" in result.output
    for stage in ("decode", "vad", "asr", "text", "startup", "encoder passes per audio minute"):
        assert stage in result.output, stage
    calls = pd.read_csv(out / "calls.csv")
    for column in (*STAGE_COLUMNS, "encoder_passes"):
        assert column in calls.columns, column
    assert (calls[["decode_s", "vad_s", "asr_s", "text_s"]] > 0).all().all()
    decodes = fake_engine.decodes
    assert decodes >= len(calls), "the fake engine did the ASR"
    again = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out), "--profile"])
    assert again.exit_code == 0, again.output
    assert fake_engine.decodes == decodes, "a rerun transcribes nothing"
    assert "real time" not in again.output, "nothing processed, nothing to profile"


def test_run_profile_sums_records():
    class Record:
        def __init__(self, audio_s, **row):
            self.audio_s, self.row = audio_s, row

    profile = RunProfile()
    for record in (
        Record(60.0, decode_s=1, vad_s=2, asr_s=6, text_s=1, encoder_passes=2),
        Record(60.0, decode_s=1, vad_s=0, asr_s=4, text_s=1, startup_s=2, encoder_passes=1),
    ):
        profile = profile.add(record)
    stages = dict(profile.stages)
    assert stages == {"decode_s": 2.0, "vad_s": 2.0, "asr_s": 10.0, "text_s": 2.0, "startup_s": 2.0}
    assert profile.audio_s == 120.0 and profile.encoder_passes == 3
    assert "12.0x real time" in profile.summary(wall_s=10.0)
    assert "asr 56%" in profile.summary(wall_s=10.0)
    assert any(line.startswith("encoder passes per audio minute: 1.50") for line in profile.table(10.0))
