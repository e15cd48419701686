"""Shared pytest fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "audio_samples"
ARTIFACTS = REPO / "test-artifacts"  # screenshots and load figures of the browser tests (git-ignored)
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium; Playwright never downloads a browser here
CHROMIUM_ARGS = [  # headless on a machine with no network: no background connections
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}  # px


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def truth() -> dict:
    """Reference data for the bundled sample calls (audio_samples/truth.json)."""
    return json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))["calls"]


@pytest.fixture(scope="session")
def speech_snippet(truth):
    """A few seconds of real (synthesised) speech from a sample call, as float32 at 16 kHz."""
    import numpy as np

    from speechchurn.call.audio import SAMPLE_RATE, decode_audio

    name, call = next(iter(truth.items()))
    turn = next(t for t in call["turns"] if t["role"] == "agent")
    audio = decode_audio(SAMPLES / name)
    samples = audio.channels["agent"][int(turn["start"] * SAMPLE_RATE) : int(turn["end"] * SAMPLE_RATE)]
    return np.ascontiguousarray(samples, dtype=np.float32)


@pytest.fixture(scope="session")
def model_home(tmp_path_factory) -> Path:
    """A private SPEECHCHURN_HOME for the whole test session (models assembled once)."""
    import os

    home = tmp_path_factory.mktemp("speechchurn_home")
    old = os.environ.get("SPEECHCHURN_HOME")
    os.environ["SPEECHCHURN_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("SPEECHCHURN_HOME", None)
    else:
        os.environ["SPEECHCHURN_HOME"] = old


@pytest.fixture(scope="session")
def base_ct2(model_home) -> Path:
    from speechchurn.asr.models import install_model

    return install_model("base")


class FakeEngine:
    """Stands in for Whisper where a test is about the batch, not the words: one fixed line per chunk."""

    name = "fake"

    def __init__(self, text: str = "我要投诉，你们乱扣费，我要销户"):
        self.text, self.decodes = text, 0

    def decode(self, samples):
        from speechchurn.asr.transcribe import RawSegment

        self.decodes += 1
        return [RawSegment(0.0, min(2.0, len(samples) / 16_000), self.text, -0.2, 0.01)]


@pytest.fixture
def fake_engine(monkeypatch):
    """Patch the engine loader so the pipeline transcribes with FakeEngine (no model).

    Worker processes would load the real model, so the CLI is kept to one process.
    """
    import speechchurn.asr.transcribe as transcribe

    monkeypatch.setenv("SPEECHCHURN_WORKERS", "1")
    engine = FakeEngine()
    monkeypatch.setattr(transcribe, "load_engine", lambda options: engine)
    return engine


def copy_three_calls(samples_dir: Path, folder: Path) -> list[str]:
    """Copy two calls of 13812345601 and one of 13998765402 into `folder`; their names."""
    import shutil

    names = sorted(p.name for p in samples_dir.glob("*.wav"))
    chosen = [n for n in names if "13812345601" in n][:2] + [n for n in names if "13998765402" in n][:1]
    for name in chosen:
        shutil.copy(samples_dir / name, folder / name)
    return chosen


@pytest.fixture
def calls_dir(tmp_path, samples_dir) -> Path:
    """Three sample calls from two customers copied into a scratch folder."""
    folder = tmp_path / "calls"
    folder.mkdir()
    copy_three_calls(samples_dir, folder)
    return folder


@pytest.fixture(scope="session")
def samples_run(samples_dir, model_home, tmp_path_factory) -> Path:
    """OUT_DIR of one real analyze run (real Whisper weights) over audio_samples/ with its manifest.

    Shared by the slow tests (tests/test_sample_targets.py, tests/test_golden.py) so the suite pays for
    the run once.
    """
    from speechchurn.analyze import AnalyzeOptions, analyze

    out = tmp_path_factory.mktemp("samples_out")
    result = analyze(samples_dir, out, AnalyzeOptions(manifest=samples_dir / "manifest.csv"))
    assert result.failed == 0 and not result.problems, (result.failures, result.problems)
    return out
