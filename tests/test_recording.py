"""analyze_recording: whole-call path, windowed path, and bounded memory on a > 2 h recording."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import wave

import numpy as np
import pytest
from audiofiles import tone, write_wav

from speechchurn.asr.transcribe import TranscribeOptions
from speechchurn.call.acoustics import AcousticsOptions, measure_call
from speechchurn.call.audio import SAMPLE_RATE, AudioOptions, decode_audio
from speechchurn.recording import analyze_recording, stitch
from speechchurn.text.keywords import find_hits
from speechchurn.text.lexicon import load_lexicons

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent
WINDOWED = {"long_call_s": 0.0, "window_s": 10.0}  # force the windowed path on a short sample call


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicons()


@pytest.fixture
def sample_call(samples_dir):
    return sorted(samples_dir.glob("*.wav"))[0]


def _analyze(path, lexicon, cached=None, transfers=None, **kwargs):
    return analyze_recording(
        path, AudioOptions(), TranscribeOptions(), AcousticsOptions(), lexicon, cached, transfers, **kwargs
    )


def test_a_normal_call_gets_exactly_what_measure_call_gives(sample_call, lexicon, fake_engine):
    result = _analyze(sample_call, lexicon, transfers=2)
    decoded = decode_audio(sample_call)
    hits = find_hits(result.segments, lexicon)
    expected = measure_call(decoded.channels, result.segments, hits, AcousticsOptions(), transfers_override=2)
    assert result.windows == 1 and result.duration_s == decoded.duration_s
    assert result.hits == tuple(hits) and result.acoustics == expected
    assert result.acoustics.transfers == 2 and result.acoustics.transfers_source == "manifest"


def test_windowed_path_matches_the_whole_call(sample_call, lexicon, fake_engine):
    whole = _analyze(sample_call, lexicon).acoustics
    result = _analyze(sample_call, lexicon, **WINDOWED)
    windowed = result.acoustics
    assert result.windows == math.ceil(whole.duration_s / WINDOWED["window_s"])
    assert windowed.duration_s == whole.duration_s
    for column in ("talk_s_agent", "talk_s_customer", "non_talk_s", "longest_silence_s"):
        assert getattr(windowed, column) == pytest.approx(getattr(whole, column), abs=1.0), column
    for column in ("loudness_dbfs_agent", "loudness_dbfs_customer"):
        assert getattr(windowed, column) == pytest.approx(getattr(whole, column), abs=0.5), column
    assert windowed.silence_ratio == pytest.approx(whole.silence_ratio, abs=0.03)
    assert math.isnan(windowed.talk_s_mixed) and windowed.overlap_s >= 0
    assert set(windowed.as_columns()) == set(whole.as_columns())
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and max(starts) >= WINDOWED["window_s"], "segments on the call's clock"


def test_cached_segments_skip_transcription_on_both_paths(sample_call, lexicon, fake_engine):
    cached = _analyze(sample_call, lexicon).segments
    before = fake_engine.decodes
    for kwargs in ({}, WINDOWED):
        result = _analyze(sample_call, lexicon, cached=cached, **kwargs)
        assert result.segments == cached and result.hits
    assert fake_engine.decodes == before


def test_mono_recording_in_windows_fills_the_mixed_columns(tmp_path, lexicon, fake_engine):
    path = write_wav(tmp_path / "mono.wav", tone(25.0, 8000, (0.2,)), 8000)
    result = _analyze(path, lexicon, **WINDOWED)
    assert result.windows == 3 and result.duration_s == pytest.approx(25.0)
    columns = result.acoustics.as_columns()
    assert math.isnan(columns["talk_s_agent"]) and not math.isnan(columns["talk_s_mixed"])


@pytest.mark.parametrize(
    ("intervals", "boundaries", "expected"),
    [
        ([(0.0, 9.9), (10.0, 12.0)], [10.0], [(0.0, 12.0)]),  # split by the boundary: joined
        ([(0.0, 9.9), (10.0, 12.0)], [], [(0.0, 9.9), (10.0, 12.0)]),  # no boundary in the gap: kept
        ([(0.0, 9.0), (10.0, 12.0)], [10.0], [(0.0, 9.0), (10.0, 12.0)]),  # gap too long: kept
        ([(0.0, 5.0), (5.0, 6.0), (8.0, 9.0)], [10.0], [(0.0, 6.0), (8.0, 9.0)]),  # touching: merged
    ],
)
def test_stitch_joins_speech_cut_by_a_window_boundary(intervals, boundaries, expected):
    assert stitch(intervals, boundaries, max_gap_s=0.3) == expected


# --------------------------------------------------------------------------- > 2 h in bounded memory

LONG_S = 2 * 3600 + 60  # s, 2 h 1 min
LONG_RATE = 8000  # Hz
SPEECH_AT_S = (100, 290, 3600, 7200)  # s, where a sample call is mixed in (290: across a boundary)
PEAK_LIMIT_MB = 600  # MB (10^6 bytes), peak RSS of the whole analysing process
CHUNK_S = 60  # s written per step


def _write_call(path, speech: np.ndarray, seconds: int, speech_at: tuple[int, ...]) -> None:
    """8 kHz stereo line hiss and a faint tone, with a real call mixed in at ``speech_at`` (s)."""
    rng = np.random.default_rng(7)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(LONG_RATE)
        for first in range(0, seconds * LONG_RATE, CHUNK_S * LONG_RATE):
            n = min(CHUNK_S * LONG_RATE, seconds * LONG_RATE - first)
            t = (np.arange(n) + first) / LONG_RATE
            chunk = rng.normal(0.0, 20.0, (n, 2)) + 60.0 * np.sin(2 * np.pi * 440.0 * t)[:, None]
            for at in speech_at:
                lo, hi = max(first, at * LONG_RATE), min(first + n, at * LONG_RATE + len(speech))
                if hi > lo:
                    chunk[lo - first : hi - first] += speech[lo - at * LONG_RATE : hi - at * LONG_RATE]
            out.writeframes(np.clip(chunk, -32767, 32767).astype("<i2").tobytes())


CHILD = """
import json, sys
sys.path.insert(0, "tests")
from conftest import FakeEngine
import speechchurn.asr.transcribe as transcribe
engine = FakeEngine()
transcribe.load_engine = lambda options: engine
from speechchurn.call.acoustics import AcousticsOptions
from speechchurn.call.audio import AudioOptions
from speechchurn.text.lexicon import load_lexicons
from speechchurn.recording import analyze_recording
r = analyze_recording(sys.argv[1], AudioOptions(), transcribe.TranscribeOptions(), AcousticsOptions(),
                      load_lexicons(), None, None)
# VmHWM is this process's own peak: ru_maxrss would inherit the (large) pytest parent's peak at fork
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_mb": peak_kb * 1024 / 1e6,
                  "duration_s": r.duration_s, "windows": r.windows, "starts": [s.start for s in r.segments],
                  "talk_s_agent": r.acoustics.talk_s_agent, "talk_s_customer": r.acoustics.talk_s_customer}))
"""


@pytest.mark.slow
def test_a_two_hour_recording_stays_in_bounded_memory(tmp_path, sample_call, lexicon, fake_engine):
    with wave.open(str(sample_call)) as source:
        assert (source.getframerate(), source.getnchannels()) == (LONG_RATE, 2)
        speech = np.frombuffer(source.readframes(source.getnframes()), "<i2").reshape(-1, 2).astype(float)
    path = tmp_path / "long.wav"
    _write_call(path, speech, LONG_S, SPEECH_AT_S)
    naive_mb = LONG_S * SAMPLE_RATE * 4 * 2 / 1e6  # float32 16 kHz, two channels, before any copy
    assert naive_mb > 900
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert child.returncode == 0, child.stderr[-3000:]
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    assert measured["peak_mb"] < PEAK_LIMIT_MB, measured["peak_mb"]
    assert measured["duration_s"] == pytest.approx(LONG_S, abs=0.010)
    assert measured["windows"] > 1
    # Silero trims the first words after minutes of hiss by a second or two (the whole-call path does
    # the same: see test_windowed_path_matches_the_whole_call), hence the 15 % margin.
    one_call = _analyze(sample_call, lexicon).acoustics
    for role in ("agent", "customer"):
        expected = len(SPEECH_AT_S) * getattr(one_call, f"talk_s_{role}")
        assert measured[f"talk_s_{role}"] == pytest.approx(expected, rel=0.15), role
    assert any(start >= SPEECH_AT_S[-1] for start in measured["starts"]), (
        "last window's words on the call clock"
    )
