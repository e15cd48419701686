"""Shared pytest fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "audio_samples"


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

    from speechchurn.audio import SAMPLE_RATE, decode_audio

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
    from speechchurn.models import install_model

    return install_model("base")
