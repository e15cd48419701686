"""Done-when of issue 25 (slow, real Whisper weights): a mono copy of audio_samples gives the same
customers' tiers and churn risks as the stereo originals, with roles recovered by diarization."""

from __future__ import annotations

import shutil
import wave

import numpy as np
import pytest
from typer.testing import CliRunner

from speechchurn import outputs
from speechchurn.cli import app

pytestmark = pytest.mark.slow


def mono_copy(source, target) -> None:
    """The mean of the two channels of a 16-bit stereo WAV, as a 16-bit mono WAV."""
    with wave.open(str(source), "rb") as r:
        params = r.getparams()
        pcm = np.frombuffer(r.readframes(params.nframes), "<i2").reshape(-1, params.nchannels)
    mixed = np.round(pcm.astype(np.float64).mean(axis=1)).astype("<i2")
    with wave.open(str(target), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(params.sampwidth)
        w.setframerate(params.framerate)
        w.writeframes(mixed.tobytes())


def _analyze(folder, out) -> None:
    args = ["analyze", str(folder), "--out", str(out), "--threads", "2"]
    result = CliRunner().invoke(app, [*args, "--manifest", str(folder / "manifest.csv")])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory, samples_dir, model_home):
    mono = tmp_path_factory.mktemp("mono_calls")
    for wav in sorted(samples_dir.glob("*.wav")):
        mono_copy(wav, mono / wav.name)
    shutil.copy(samples_dir / "manifest.csv", mono / "manifest.csv")
    outs = {"mono": tmp_path_factory.mktemp("mono_out"), "stereo": tmp_path_factory.mktemp("stereo_out")}
    _analyze(mono, outs["mono"])
    _analyze(samples_dir, outs["stereo"])
    return outs


def test_mono_copy_grades_customers_like_stereo(runs):
    columns = ["tier", "churn_risk"]
    mono = outputs.read_csv(runs["mono"] / "callers.csv").set_index("caller")[columns]
    stereo = outputs.read_csv(runs["stereo"] / "callers.csv").set_index("caller")[columns]
    assert mono.sort_index().to_dict("index") == stereo.sort_index().to_dict("index")


def test_mono_calls_are_diarized_with_their_confidence(runs):
    calls = outputs.read_csv(runs["mono"] / "calls.csv").set_index("file")
    assert set(calls["role_source"]) <= {"diarized", "mixed"}
    diarized = calls[calls["role_source"] == "diarized"]
    assert len(diarized) >= len(calls) - 1, calls[["role_source", "role_confidence"]]
    assert (diarized["role_confidence"] >= 0.75).all()
    assert (diarized["talk_s_agent"] > 0).all() and (diarized["talk_s_customer"] > 0).all()
    stereo = outputs.read_csv(runs["stereo"] / "calls.csv")
    assert set(stereo["role_source"]) == {"channels"} and (stereo["role_confidence"] == 1).all()
