"""Call acoustics: interval arithmetic, holds/transfers/interruptions, Silero VAD on real sample audio."""

from __future__ import annotations

import json
import math
import wave
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from speechchurn.call.acoustics import (
    SAMPLE_RATE,
    AcousticsOptions,
    CallAcoustics,
    clip,
    count_chars,
    count_holds,
    count_interruptions,
    detect_transfers,
    gaps,
    intersection,
    long_gaps_total,
    loudness_dbfs,
    measure_call,
    measure_from_speech,
    speech_intervals,
    talk_speed_cpm,
    total,
    union,
)
from speechchurn.schema import ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED, KeywordHit, Segment

SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
TRUTH_PATH = SAMPLES / "truth.json"
needs_truth = pytest.mark.skipif(
    not TRUTH_PATH.exists(), reason="audio_samples/truth.json not generated yet (scripts/make_samples.py)"
)
WAV_SAMPLE_RATE = 8_000  # Hz, sample recordings
HISS_RMS = 0.003  # linear, light line noise (about -50 dBFS)
NON_TALK_TOLERANCE_S = 1.0
TALK_TOLERANCE = 0.10  # relative
SAMPLE_LEVEL_DBFS = {ROLE_AGENT: -20.0, ROLE_CUSTOMER: -22.0}  # speech RMS set by scripts/make_samples.py
# Phrases that the transfer/hold lexicon categories cover; used to build KeywordHits from truth turns
# (the keyword module is tested on its own).
HOLD_PHRASES = ("请您稍等", "请稍候", "请稍等")
TRANSFER_PHRASES = ("转接", "转人工")


def _hit(category: str, role: str, start: float, end: float, text: str = "为您转接") -> KeywordHit:
    return KeywordHit(
        heard=text,
        term=text,
        category=category,
        role=role,
        start=start,
        end=end,
        match="exact",
        confidence=1.0,
        negated=False,
        snippet=text,
    )


# --------------------------------------------------------------------------- interval arithmetic


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], []),
        ([(1.0, 2.0)], [(1.0, 2.0)]),
        ([(3.0, 4.0), (1.0, 2.0)], [(1.0, 2.0), (3.0, 4.0)]),
        ([(1.0, 3.0), (2.0, 4.0)], [(1.0, 4.0)]),
        ([(1.0, 2.0), (2.0, 3.0)], [(1.0, 3.0)]),
        ([(1.0, 5.0), (2.0, 3.0)], [(1.0, 5.0)]),
        ([(2.0, 2.0), (3.0, 1.0)], []),
    ],
)
def test_union(intervals, expected):
    assert union(intervals) == expected


@pytest.mark.parametrize(
    ("intervals", "start", "end", "expected"),
    [
        ([], 0.0, 10.0, [(0.0, 10.0)]),
        ([(0.0, 10.0)], 0.0, 10.0, []),
        ([(2.0, 3.0), (5.0, 6.0)], 0.0, 10.0, [(0.0, 2.0), (3.0, 5.0), (6.0, 10.0)]),
        ([(-1.0, 2.0), (9.0, 12.0)], 0.0, 10.0, [(2.0, 9.0)]),
        ([(2.0, 5.0), (3.0, 4.0)], 0.0, 6.0, [(0.0, 2.0), (5.0, 6.0)]),
    ],
)
def test_gaps(intervals, start, end, expected):
    assert gaps(intervals, start, end) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([], [(0.0, 1.0)], []),
        ([(0.0, 2.0)], [(1.0, 3.0)], [(1.0, 2.0)]),
        ([(0.0, 1.0)], [(1.0, 2.0)], []),
        ([(0.0, 10.0)], [(1.0, 2.0), (3.0, 4.0)], [(1.0, 2.0), (3.0, 4.0)]),
        ([(0.0, 2.0), (3.0, 5.0)], [(1.0, 4.0)], [(1.0, 2.0), (3.0, 4.0)]),
    ],
)
def test_intersection(a, b, expected):
    assert intersection(a, b) == expected
    assert intersection(b, a) == expected


@pytest.mark.parametrize(
    ("gap_list", "min_s", "expected"),
    [
        ([], 3.0, 0.0),
        ([(0.0, 3.0)], 3.0, 0.0),  # exactly 3 s is not *longer* than 3 s
        ([(0.0, 3.5), (10.0, 12.0), (20.0, 26.0)], 3.0, 9.5),
        ([(0.0, 1.0), (2.0, 4.0)], 0.5, 3.0),
    ],
)
def test_long_gaps_total(gap_list, min_s, expected):
    assert long_gaps_total(gap_list, min_s) == pytest.approx(expected)


def test_total_and_clip():
    assert total([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == pytest.approx(4.0)
    assert clip([(-1.0, 1.0), (9.0, 12.0)], 0.0, 10.0) == [(0.0, 1.0), (9.0, 10.0)]


# --------------------------------------------------------------------------- interruptions


@pytest.mark.parametrize(
    ("interrupter", "other", "expected"),
    [
        ([(5.0, 8.0)], [(0.0, 10.0)], 1),  # barges in mid-utterance and talks over
        ([(9.9, 12.0)], [(0.0, 10.0)], 0),  # other only had 0.1 s left: normal turn-taking
        ([(9.6, 12.0)], [(0.0, 10.0)], 1),  # 0.4 s of the other's speech left
        ([(4.0, 4.6)], [(0.0, 10.0)], 0),  # 嗯/对: short backchannel inside the other's speech
        ([(4.0, 5.5)], [(0.0, 10.0)], 1),  # 1.5 s talk-over is not a backchannel
        ([(10.0, 12.0)], [(0.0, 10.0)], 0),  # starts exactly when the other stops
        ([(0.0, 3.0)], [(1.0, 4.0)], 0),  # the interrupter spoke first
        ([(2.0, 4.0), (6.0, 8.0)], [(0.0, 5.0), (5.5, 9.0)], 2),
        ([], [(0.0, 10.0)], 0),
    ],
)
def test_count_interruptions(interrupter, other, expected):
    options = AcousticsOptions()
    count = count_interruptions(
        interrupter, other, options.interruption_min_overlap_s, options.backchannel_max_s
    )
    assert count == expected


# --------------------------------------------------------------------------- holds and transfers


@pytest.mark.parametrize(
    ("hits", "silences", "expected"),
    [
        ([_hit("hold", ROLE_AGENT, 10.0, 11.0, "请稍等")], [(12.0, 20.0)], 1),
        ([_hit("hold", ROLE_MIXED, 10.0, 11.0, "请稍等")], [(12.0, 20.0)], 1),
        ([_hit("hold", ROLE_CUSTOMER, 10.0, 11.0, "你稍等")], [(12.0, 20.0)], 0),  # caller, not agent
        ([_hit("hold", ROLE_AGENT, 10.0, 11.0, "请稍等")], [(12.0, 14.0)], 0),  # silence too short
        ([_hit("hold", ROLE_AGENT, 10.0, 11.0, "请稍等")], [(30.0, 40.0)], 0),  # silence too late
        ([_hit("hold", ROLE_AGENT, 10.0, 11.0, "请稍等")], [(2.0, 9.0)], 0),  # silence before it
        (  # two phrases before the same silence: one hold
            [_hit("hold", ROLE_AGENT, 10.0, 11.0, "请稍等"), _hit("hold", ROLE_AGENT, 11.0, 12.0, "稍等")],
            [(12.5, 20.0)],
            1,
        ),
        (
            [_hit("hold", ROLE_AGENT, 10.0, 11.0, "请稍等"), _hit("hold", ROLE_AGENT, 40.0, 41.0, "请稍等")],
            [(12.0, 20.0), (42.0, 50.0)],
            2,
        ),
        ([_hit("transfer", ROLE_AGENT, 10.0, 11.0)], [(12.0, 20.0)], 0),  # wrong category
    ],
)
def test_count_holds(hits, silences, expected):
    assert count_holds(hits, silences, min_silence_s=3.0, lookahead_s=10.0) == expected


def test_negated_hold_is_not_a_hold():
    hit = _hit("hold", ROLE_AGENT, 10.0, 11.0, "不用等")
    negated = KeywordHit(**{**hit.to_dict(), "negated": True})
    assert count_holds([negated], [(12.0, 20.0)], 3.0, 10.0) == 0


@pytest.mark.parametrize(
    ("hits", "expected_count", "expected_times"),
    [
        ([], 0, ()),
        ([_hit("transfer", ROLE_AGENT, 30.0, 31.0)], 1, (30.0,)),
        ([_hit("transfer", ROLE_CUSTOMER, 5.0, 6.0, "能不能帮我转人工")], 0, ()),
        ([_hit("transfer", ROLE_MIXED, 5.0, 6.0)], 1, (5.0,)),
        (  # 为您转接 … 正在为您转到宽带专席: one hand-off said twice
            [
                _hit("transfer", ROLE_AGENT, 30.0, 31.0),
                _hit("transfer", ROLE_AGENT, 38.0, 40.0, "转到宽带专席"),
            ],
            1,
            (30.0, 38.0),
        ),
        (
            [_hit("transfer", ROLE_AGENT, 70.0, 71.0), _hit("transfer", ROLE_AGENT, 10.0, 11.0)],
            2,
            (10.0, 70.0),
        ),
        (  # 转接投诉专席 … (the specialist talks, the customer answers) … 转接到客户关怀专席: two hand-offs
            [_hit("transfer", ROLE_AGENT, 21.4, 25.8), _hit("transfer", ROLE_AGENT, 39.2, 42.8)],
            2,
            (21.4, 39.2),
        ),
        (
            [_hit("transfer", ROLE_CUSTOMER, 3.0, 4.0, "转人工"), _hit("transfer", ROLE_AGENT, 10.0, 11.0)],
            1,
            (10.0,),
        ),
        ([_hit("hold", ROLE_AGENT, 10.0, 11.0, "请稍等")], 0, ()),
    ],
)
def test_detect_transfers(hits, expected_count, expected_times):
    count, evidence = detect_transfers(hits, merge_s=10.0)
    assert count == expected_count
    assert tuple(t for t, _ in evidence) == expected_times
    assert all(text for _, text in evidence)


# --------------------------------------------------------------------------- text and level


@pytest.mark.parametrize(
    ("text", "expected"),
    [("您好，请问有什么可以帮您？", 11), ("5G套餐 OK!", 6), ("", 0), ("。。。  ", 0)],
)
def test_count_chars(text, expected):
    assert count_chars(text) == expected


def test_talk_speed_cpm():
    segments = [Segment(ROLE_AGENT, 0.0, 2.0, "您好请问"), Segment(ROLE_CUSTOMER, 2.0, 3.0, "我要投诉")]
    assert talk_speed_cpm(segments, ROLE_AGENT, 30.0) == pytest.approx(8.0)
    assert math.isnan(talk_speed_cpm(segments, ROLE_CUSTOMER, 0.0))


@pytest.mark.parametrize(
    ("amplitude", "expected_dbfs"),
    [(1.0, -3.0103), (0.5, -9.0309), (0.1, -23.0103)],
)
def test_loudness_of_a_sine(amplitude, expected_dbfs):
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    tone = (amplitude * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    tone[SAMPLE_RATE:] = 0.0  # second half silent: must be excluded by the interval
    assert loudness_dbfs(tone, [(0.0, 1.0)]) == pytest.approx(expected_dbfs, abs=0.01)


def test_loudness_without_speech_is_nan():
    assert math.isnan(loudness_dbfs(np.zeros(SAMPLE_RATE, dtype=np.float32), []))


# --------------------------------------------------------------------------- whole call from intervals


def _silent(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def test_measure_from_speech_stereo():
    channels = {ROLE_AGENT: _silent(30.0), ROLE_CUSTOMER: _silent(30.0)}
    speech = {ROLE_AGENT: [(0.5, 5.0), (14.0, 20.0)], ROLE_CUSTOMER: [(4.0, 8.0), (25.0, 29.0)]}
    segments = [Segment(ROLE_AGENT, 0.5, 5.0, "您好请稍等"), Segment(ROLE_CUSTOMER, 4.0, 8.0, "好的")]
    hits = [
        _hit("hold", ROLE_AGENT, 3.0, 5.0, "请稍等"),
        _hit("transfer", ROLE_CUSTOMER, 25.0, 29.0, "转人工"),
    ]
    result = measure_from_speech(channels, speech, segments, hits)
    assert result.duration_s == pytest.approx(30.0)
    assert result.talk_s_agent == pytest.approx(10.5)
    assert result.talk_s_customer == pytest.approx(8.0)
    assert math.isnan(result.talk_s_mixed)
    # nobody talks: 0-0.5, 8-14 (6 s), 20-25 (5 s), 29-30
    assert result.non_talk_s == pytest.approx(11.0)
    assert result.longest_silence_s == pytest.approx(6.0)
    assert result.silence_ratio == pytest.approx(12.5 / 30.0)
    assert result.hold_count == 1
    assert result.transfers == 0  # only the customer asked for a transfer
    assert result.overlap_s == pytest.approx(1.0)
    assert (result.interruptions_agent, result.interruptions_customer) == (0, 1)
    assert result.talk_speed_cpm_agent == pytest.approx(5 / (10.5 / 60))
    assert math.isnan(result.loudness_dbfs_mixed)


def test_measure_from_speech_mono_and_override():
    channels = {ROLE_MIXED: _silent(20.0)}
    speech = {ROLE_MIXED: [(0.0, 6.0), (10.0, 20.0)]}
    hits = [_hit("transfer", ROLE_MIXED, 12.0, 13.0)]
    result = measure_from_speech(channels, speech, [Segment(ROLE_MIXED, 0.0, 6.0, "您好")], hits)
    assert result.talk_s_mixed == pytest.approx(16.0)
    assert result.talk_speed_cpm_mixed == pytest.approx(2 / (16.0 / 60))
    for name in (
        "talk_s_agent",
        "talk_s_customer",
        "overlap_s",
        "interruptions_agent",
        "interruptions_customer",
    ):
        assert math.isnan(getattr(result, name)), name
    assert result.non_talk_s == pytest.approx(4.0)
    assert (result.transfers, result.transfers_source) == (1, "keywords")
    overridden = measure_from_speech(channels, speech, [], hits, transfers_override=3)
    assert (overridden.transfers, overridden.transfers_source) == (3, "manifest")
    assert overridden.transfer_evidence == ((12.0, "为您转接"),)


def test_as_columns_has_the_calls_csv_columns():
    result = measure_from_speech({ROLE_AGENT: _silent(5.0), ROLE_CUSTOMER: _silent(5.0)}, {}, [], [])
    columns = result.as_columns()
    assert list(columns)[:15] == [
        "duration_s",
        "talk_s_agent",
        "talk_s_customer",
        "non_talk_s",
        "longest_silence_s",
        "silence_ratio",
        "hold_count",
        "overlap_s",
        "interruptions_agent",
        "interruptions_customer",
        "talk_speed_cpm_agent",
        "talk_speed_cpm_customer",
        "loudness_dbfs_agent",
        "loudness_dbfs_customer",
        "transfers",
    ]
    assert columns["non_talk_s"] == 0.0  # no speech: nothing between a first and a last word
    assert columns["silence_ratio"] == pytest.approx(1.0)


@pytest.mark.parametrize("roles", [{"left": 1}, {ROLE_AGENT: 1, ROLE_MIXED: 1}, {}])
def test_unexpected_channel_roles_are_rejected(roles):
    channels = {role: _silent(1.0) for role in roles}
    with pytest.raises(ValueError, match="channels"):
        measure_from_speech(channels, {}, [], [])


# --------------------------------------------------------------------------- Silero VAD: silence cases


@pytest.mark.parametrize(
    "signal",
    [
        pytest.param(_silent(5.0), id="digital-zero"),
        pytest.param(
            (HISS_RMS * np.random.default_rng(7).standard_normal(5 * SAMPLE_RATE)).astype(np.float32),
            id="line-hiss",
        ),
        pytest.param(
            (0.02 * np.sin(2 * np.pi * 50.0 * np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32),
            id="mains-hum",
        ),
        pytest.param(np.zeros(100, dtype=np.float32), id="shorter-than-a-frame"),
    ],
)
def test_vad_finds_no_speech_in_noise(signal):
    assert speech_intervals(signal, AcousticsOptions()) == []


def test_all_silent_call():
    hiss = (HISS_RMS * np.random.default_rng(3).standard_normal(8 * SAMPLE_RATE)).astype(np.float32)
    result = measure_call({ROLE_AGENT: hiss, ROLE_CUSTOMER: _silent(8.0)}, [], [])
    assert (result.talk_s_agent, result.talk_s_customer) == (0.0, 0.0)
    assert result.non_talk_s == 0.0  # no first or last word; silence_ratio says it all
    assert result.silence_ratio == pytest.approx(1.0)
    assert math.isnan(result.loudness_dbfs_agent) and math.isnan(result.loudness_dbfs_customer)
    assert math.isnan(result.talk_speed_cpm_agent)
    assert (result.overlap_s, result.interruptions_agent, result.interruptions_customer) == (0.0, 0, 0)


# --------------------------------------------------------------------------- real sample audio


def read_wav(path: Path) -> dict[str, np.ndarray]:
    """Decode a 16-bit PCM WAV into 16 kHz float32 channels: agent left, customer right (mono: mixed)."""
    with wave.open(str(path), "rb") as wav:
        n_channels, rate, width = wav.getnchannels(), wav.getframerate(), wav.getsampwidth()
        frames = wav.readframes(wav.getnframes())
    assert width == 2, f"{path.name}: expected 16-bit PCM"
    pcm = np.frombuffer(frames, dtype="<i2").reshape(-1, n_channels).astype(np.float32) / 32768.0
    channels = [_to_16k(pcm[:, i], rate) for i in range(n_channels)]
    if n_channels == 1:
        return {ROLE_MIXED: channels[0]}
    return {ROLE_AGENT: channels[0], ROLE_CUSTOMER: channels[1]}


def _to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples
    try:
        from scipy.signal import resample_poly
    except ImportError:  # linear interpolation is good enough for the VAD
        t_out = np.arange(int(len(samples) * SAMPLE_RATE / rate)) / SAMPLE_RATE
        return np.interp(t_out, np.arange(len(samples)) / rate, samples).astype(np.float32)
    divisor = math.gcd(SAMPLE_RATE, rate)
    return resample_poly(samples, SAMPLE_RATE // divisor, rate // divisor).astype(np.float32)


@cache
def _truth() -> dict:
    return json.loads(TRUTH_PATH.read_text(encoding="utf-8"))["calls"]


def _truth_names() -> list[str]:
    return sorted(_truth()) if TRUTH_PATH.exists() else ["<no truth.json>"]


def _truth_segments(call: dict) -> list[Segment]:
    return [Segment(t["role"], float(t["start"]), float(t["end"]), t["text"]) for t in call["turns"]]


def _truth_hits(call: dict) -> list[KeywordHit]:
    """KeywordHits for truth turns containing hold/transfer phrases (either role: the code must filter)."""
    hits = []
    for turn in call["turns"]:
        for category, phrases in (("hold", HOLD_PHRASES), ("transfer", TRANSFER_PHRASES)):
            phrase = next((p for p in phrases if p in turn["text"]), None)
            if phrase:
                hits.append(_hit(category, turn["role"], float(turn["start"]), float(turn["end"]), phrase))
    return hits


@cache
def _measured(name: str) -> CallAcoustics:
    call = _truth()[name]
    return measure_call(read_wav(SAMPLES / name), _truth_segments(call), _truth_hits(call))


def _reference_talk_s(call: dict, role: str) -> float:
    return total([(float(t["start"]), float(t["end"])) for t in call["turns"] if t["role"] == role])


def _reference_silences(call: dict) -> list[tuple[float, float]]:
    turns = [(float(t["start"]), float(t["end"])) for t in call["turns"]]
    return gaps(turns, 0.0, float(call["duration_s"]))


@needs_truth
@pytest.mark.parametrize("name", _truth_names())
def test_sample_call_non_talk_holds_transfers(name):
    call, measured = _truth()[name], _measured(name)
    assert measured.non_talk_s == pytest.approx(call["non_talk_s"], abs=NON_TALK_TOLERANCE_S)
    assert measured.transfers == call["transfers"]
    assert len(measured.transfer_evidence) >= call["transfers"]
    assert measured.hold_count == call["holds"]
    assert measured.duration_s == pytest.approx(call["duration_s"], abs=0.05)


@needs_truth
@pytest.mark.parametrize("name", _truth_names())
def test_sample_call_silences_and_overlap(name):
    call, measured = _truth()[name], _measured(name)
    silences = _reference_silences(call)
    assert measured.longest_silence_s == pytest.approx(
        max(e - s for s, e in silences), abs=NON_TALK_TOLERANCE_S
    )
    reference_ratio = total(silences) / call["duration_s"]
    assert measured.silence_ratio == pytest.approx(reference_ratio, abs=0.05)
    # the scripted calls never talk over each other: only VAD padding may touch
    assert measured.overlap_s < 0.3
    assert (measured.interruptions_agent, measured.interruptions_customer) == (0, 0)


@needs_truth
@pytest.mark.parametrize("name", _truth_names())
@pytest.mark.parametrize("role", [ROLE_AGENT, ROLE_CUSTOMER])
def test_sample_call_talk_time_per_role(name, role):
    call, measured = _truth()[name], _measured(name)
    reference = _reference_talk_s(call, role)
    assert getattr(measured, f"talk_s_{role}") == pytest.approx(reference, rel=TALK_TOLERANCE)
    chars = sum(count_chars(t["text"]) for t in call["turns"] if t["role"] == role)
    reference_cpm = chars / (reference / 60.0)
    assert getattr(measured, f"talk_speed_cpm_{role}") == pytest.approx(reference_cpm, rel=TALK_TOLERANCE)
    # the generator sets speech to -20 dBFS (agent) and -22 dBFS (customer) RMS
    assert getattr(measured, f"loudness_dbfs_{role}") == pytest.approx(SAMPLE_LEVEL_DBFS[role], abs=2.0)


# --------------------------------------------------------------------------- synthetic calls from real speech


@cache
def _speech_snippet(role: str) -> np.ndarray:
    """The longest truth turn of ``role`` cut from a sample recording (real telephone speech)."""
    calls = _truth()
    name, turn = max(
        ((n, t) for n, c in calls.items() for t in c["turns"] if t["role"] == role),
        key=lambda item: item[1]["end"] - item[1]["start"],
    )
    samples = read_wav(SAMPLES / name)[role]
    return samples[int(turn["start"] * SAMPLE_RATE) : int(turn["end"] * SAMPLE_RATE)].copy()


def _place(length_s: float, *pieces: tuple[float, np.ndarray]) -> np.ndarray:
    rng = np.random.default_rng(11)
    out = (HISS_RMS * rng.standard_normal(int(length_s * SAMPLE_RATE))).astype(np.float32)
    for start_s, piece in pieces:
        start = int(start_s * SAMPLE_RATE)
        out[start : start + piece.size] += piece[: out.size - start]
    return out


@needs_truth
def test_synthetic_mono_call():
    agent, customer = _speech_snippet(ROLE_AGENT), _speech_snippet(ROLE_CUSTOMER)
    gap_s = 6.0
    second_start = 0.5 + agent.size / SAMPLE_RATE + gap_s
    length = second_start + customer.size / SAMPLE_RATE + 0.5
    mixed = _place(length, (0.5, agent), (second_start, customer))
    result = measure_call({ROLE_MIXED: mixed}, [Segment(ROLE_MIXED, 0.5, 2.0, "您好")], [])
    expected_talk = (agent.size + customer.size) / SAMPLE_RATE
    assert result.talk_s_mixed == pytest.approx(expected_talk, rel=TALK_TOLERANCE)
    assert result.non_talk_s == pytest.approx(gap_s, abs=NON_TALK_TOLERANCE_S)
    assert not math.isnan(result.loudness_dbfs_mixed)
    for name in (
        "talk_s_agent",
        "talk_s_customer",
        "overlap_s",
        "interruptions_agent",
        "interruptions_customer",
    ):
        assert math.isnan(getattr(result, name)), name


@needs_truth
def test_synthetic_overlapping_speech():
    agent, customer = _speech_snippet(ROLE_AGENT), _speech_snippet(ROLE_CUSTOMER)
    agent_s = agent.size / SAMPLE_RATE
    barge_in_s = 0.5 + agent_s / 2  # the customer starts halfway through the agent's turn
    length = max(0.5 + agent_s, barge_in_s + customer.size / SAMPLE_RATE) + 1.0
    channels = {
        ROLE_AGENT: _place(length, (0.5, agent)),
        ROLE_CUSTOMER: _place(length, (barge_in_s, customer)),
    }
    result = measure_call(channels, [], [])
    expected_overlap = min(0.5 + agent_s, barge_in_s + customer.size / SAMPLE_RATE) - barge_in_s
    assert result.overlap_s == pytest.approx(expected_overlap, abs=1.0)
    assert result.interruptions_customer == 1
    assert result.interruptions_agent == 0


@needs_truth
def test_synthetic_customer_transfer_phrase_is_not_a_transfer():
    customer = _speech_snippet(ROLE_CUSTOMER)
    length = customer.size / SAMPLE_RATE + 2.0
    channels = {ROLE_AGENT: _place(length), ROLE_CUSTOMER: _place(length, (1.0, customer))}
    said = "能不能帮我转人工"
    segments = [Segment(ROLE_CUSTOMER, 1.0, length - 1.0, said)]
    hits = [_hit("transfer", ROLE_CUSTOMER, 1.0, length - 1.0, "转人工")]
    result = measure_call(channels, segments, hits)
    assert result.transfers == 0
    assert result.transfer_evidence == ()
    assert result.talk_s_agent == 0.0
    assert result.talk_s_customer == pytest.approx(customer.size / SAMPLE_RATE, rel=TALK_TOLERANCE)
    as_agent = measure_call(channels, segments, [KeywordHit(**{**hits[0].to_dict(), "role": ROLE_AGENT})])
    assert as_agent.transfers == 1


@needs_truth
def test_synthetic_echo_bleed_is_not_customer_talk():
    """Stereo recordings often carry the agent's voice faintly on the customer channel."""
    agent = _speech_snippet(ROLE_AGENT)
    length = agent.size / SAMPLE_RATE + 2.0
    agent_channel = _place(length, (1.0, agent))
    bleed = _place(length, (1.0, agent * 10 ** (-24.0 / 20)))  # echo 24 dB below: Silero hears it
    result = measure_call({ROLE_AGENT: agent_channel, ROLE_CUSTOMER: bleed}, [], [])
    assert result.talk_s_customer < 0.5
    assert result.talk_s_agent == pytest.approx(agent.size / SAMPLE_RATE, rel=TALK_TOLERANCE)
    assert result.interruptions_customer == 0


@pytest.mark.parametrize(
    ("speech", "edges", "non_talk"),
    [
        # 4 s before the first word and 5 s after the last are not non-talk by default
        ({ROLE_AGENT: [(4.0, 8.0)], ROLE_CUSTOMER: [(12.0, 25.0)]}, False, 4.0),
        ({ROLE_AGENT: [(4.0, 8.0)], ROLE_CUSTOMER: [(12.0, 25.0)]}, True, 13.0),
        ({ROLE_AGENT: [], ROLE_CUSTOMER: []}, False, 0.0),
        ({ROLE_AGENT: [], ROLE_CUSTOMER: []}, True, 30.0),
        # a 2 s interior gap is below non_talk_min_s (3 s)
        ({ROLE_AGENT: [(0.0, 10.0)], ROLE_CUSTOMER: [(12.0, 30.0)]}, False, 0.0),
    ],
)
def test_non_talk_excludes_call_edges_unless_asked(speech, edges, non_talk):
    channels = {ROLE_AGENT: _silent(30.0), ROLE_CUSTOMER: _silent(30.0)}
    result = measure_from_speech(channels, speech, [], [], AcousticsOptions(non_talk_edges=edges))
    assert result.non_talk_s == pytest.approx(non_talk)
