"""Validate the committed sample calls in audio_samples/ (no TTS, no model: stdlib wave + numpy)."""

from __future__ import annotations

import csv
import json
import re
import wave
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
NAME_RE = re.compile(r"^(?P<date>\d{8})_(?P<time>\d{6})_(?P<phone>1[3-9]\d{9})_(?P<direction>in|out)\.wav$")
MANIFEST_COLUMNS = ["file", "caller", "agent", "direction", "started_at"]
CATEGORIES = {
    "complaint",
    "churn_intent",
    "competitor",
    "billing",
    "network",
    "praise",
    "transfer",
    "inquiry",
    "hold",
}
SAMPLE_RATE = 8_000  # Hz
MAX_FOLDER_BYTES = 15 * 1024 * 1024
DEAD_AIR_MIN_S = 3.0  # s, gaps longer than this count as dead air
MAX_EDGE_SILENCE_S = 1.0  # s, leading / trailing silence of a call
DORMANT_DAYS = 90  # a caller whose last call is older than this before the newest call
TIME_TOL_S = 0.002  # s, rounding tolerance of truth.json times
SPEECH_MIN_DBFS = -35.0  # dBFS, RMS of a channel while its party talks
QUIET_MAX_DBFS = -45.0  # dBFS, RMS of a channel carrying only line noise
EDGE_GUARD_S = 0.05  # s trimmed from each side of an interval before measuring its level

WAV_FILES = sorted(p.name for p in SAMPLES.glob("*.wav"))


def _truth() -> dict:
    return json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))["calls"]


def _manifest() -> list[dict[str, str]]:
    with (SAMPLES / "manifest.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _started(manifest: list[dict[str, str]]) -> dict[str, datetime]:
    return {row["file"]: datetime.fromisoformat(row["started_at"]) for row in manifest}


def _read_pcm(name: str) -> np.ndarray:
    with wave.open(str(SAMPLES / name), "rb") as w:
        frames = w.readframes(w.getnframes())
        return np.frombuffer(frames, "<i2").reshape(-1, w.getnchannels()).astype(np.float32) / 32768.0


def _rms_dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-12))


def _gaps(turns: list[dict], duration_s: float) -> list[tuple[float, float]]:
    """Intervals longer than DEAD_AIR_MIN_S in which no turn has speech."""
    out, cursor = [], 0.0
    for start, end in [*sorted((t["start"], t["end"]) for t in turns), (duration_s, duration_s)]:
        if start - cursor > DEAD_AIR_MIN_S + TIME_TOL_S:
            out.append((cursor, start))
        cursor = max(cursor, end)
    return out


def test_folder_has_enough_calls_and_callers():
    assert len(WAV_FILES) >= 10
    callers = {NAME_RE.match(name)["phone"] for name in WAV_FILES if NAME_RE.match(name)}
    assert len(callers) >= 5


def test_folder_size_under_limit():
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < MAX_FOLDER_BYTES


def test_manifest_matches_files():
    with (SAMPLES / "manifest.csv").open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    assert header == MANIFEST_COLUMNS
    rows = _manifest()
    assert sorted(row["file"] for row in rows) == WAV_FILES
    for row in rows:
        match = NAME_RE.match(row["file"])
        started = datetime.fromisoformat(row["started_at"])
        assert started.utcoffset() is not None
        assert started.strftime("%Y%m%d_%H%M%S") == f"{match['date']}_{match['time']}"
        assert row["caller"] == match["phone"]
        assert row["direction"] == match["direction"]
        assert re.fullmatch(r"A\d{3}", row["agent"])


def test_truth_covers_every_file():
    assert sorted(_truth()) == WAV_FILES


@pytest.mark.parametrize("name", WAV_FILES)
def test_wav_format_and_name(name):
    match = NAME_RE.match(name)
    assert match, name
    with wave.open(str(SAMPLES / name), "rb") as w:
        assert w.getnchannels() == 2
        assert w.getframerate() == SAMPLE_RATE
        assert w.getsampwidth() == 2
        duration_s = w.getnframes() / w.getframerate()
    entry = _truth()[name]
    assert entry["caller"] == match["phone"]
    assert entry["direction"] == match["direction"]
    assert entry["duration_s"] == pytest.approx(duration_s, abs=TIME_TOL_S)


@pytest.mark.parametrize("name", WAV_FILES)
def test_truth_turns_consistent(name):
    entry = _truth()[name]
    turns = entry["turns"]
    assert turns, "a call needs turns"
    starts = [t["start"] for t in turns]
    assert starts == sorted(starts)
    for turn in turns:
        assert turn["role"] in {"agent", "customer"}
        assert turn["text"].strip()
        assert 0.0 <= turn["start"] < turn["end"] <= entry["duration_s"] + TIME_TOL_S
    for prev, nxt in zip(turns, turns[1:], strict=False):
        assert prev["end"] <= nxt["start"] + TIME_TOL_S, "turns must not overlap"
    assert turns[0]["start"] < MAX_EDGE_SILENCE_S
    assert entry["duration_s"] - turns[-1]["end"] < MAX_EDGE_SILENCE_S


@pytest.mark.parametrize("name", WAV_FILES)
def test_truth_dead_air_consistent(name):
    entry = _truth()[name]
    dead = entry["dead_air"]
    assert entry["non_talk_s"] == pytest.approx(sum(e - s for s, e in dead), abs=TIME_TOL_S)
    for start, end in dead:
        assert end - start > DEAD_AIR_MIN_S
        for turn in entry["turns"]:
            assert turn["end"] <= start + TIME_TOL_S or turn["start"] >= end - TIME_TOL_S, (turn, start, end)
    expected = _gaps(entry["turns"], entry["duration_s"])
    assert [pytest.approx(list(g), abs=TIME_TOL_S) for g in expected] == dead


@pytest.mark.parametrize("name", WAV_FILES)
def test_truth_labels_valid(name):
    entry = _truth()[name]
    assert entry["sentiment"] in {"pos", "neg", "neu"}
    assert set(entry["keyword_categories"]) <= CATEGORIES
    assert isinstance(entry["transfers"], int) and entry["transfers"] >= 0
    assert isinstance(entry["holds"], int) and 0 <= entry["holds"] <= len(entry["dead_air"])
    assert entry["persona"]


@pytest.mark.parametrize("name", WAV_FILES)
def test_channels_cleanly_separated(name):
    """The talking side is loud, the other side carries only line noise; dead air is quiet on both."""
    pcm = _read_pcm(name)
    entry = _truth()[name]
    column = {"agent": 0, "customer": 1}
    for turn in entry["turns"]:
        seg = pcm[round(turn["start"] * SAMPLE_RATE) : round(turn["end"] * SAMPLE_RATE)]
        talking = column[turn["role"]]
        assert _rms_dbfs(seg[:, talking]) > SPEECH_MIN_DBFS, turn
        assert _rms_dbfs(seg[:, 1 - talking]) < QUIET_MAX_DBFS, turn
    for start, end in entry["dead_air"]:
        seg = pcm[round((start + EDGE_GUARD_S) * SAMPLE_RATE) : round((end - EDGE_GUARD_S) * SAMPLE_RATE)]
        assert _rms_dbfs(seg[:, 0]) < QUIET_MAX_DBFS
        assert _rms_dbfs(seg[:, 1]) < QUIET_MAX_DBFS


def _categories_by_caller(truth: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for entry in truth.values():
        out.setdefault(entry["caller"], set()).update(entry["keyword_categories"])
    return out


def test_persona_praising_customer():
    by_caller = _categories_by_caller(_truth())
    assert any("praise" in cats for cats in by_caller.values())


def test_persona_churning_customer_names_competitor():
    truth = _truth()
    churners = [
        e
        for e in truth.values()
        if {"churn_intent", "competitor", "complaint"} <= set(e["keyword_categories"])
    ]
    assert churners
    assert all(e["sentiment"] == "neg" for e in churners)


def test_persona_dormant_customer():
    truth, started = _truth(), _started(_manifest())
    latest = max(started.values())
    last_by_caller: dict[str, datetime] = {}
    for name, entry in truth.items():
        last_by_caller[entry["caller"]] = max(
            started[name], last_by_caller.get(entry["caller"], started[name])
        )
    assert any((latest - last).days > DORMANT_DAYS for last in last_by_caller.values())


def test_hold_and_transfer_calls():
    truth = _truth()
    assert any(e["holds"] >= 1 and e["transfers"] >= 1 for e in truth.values())
    assert sum(1 for e in truth.values() if e["transfers"] >= 1) >= 2
    assert sum(1 for e in truth.values() if e["dead_air"]) >= 3
