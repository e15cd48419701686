"""Mono calls: change points, two-speaker clustering, roles from cues, identical channels, the
confidence threshold (no Whisper; the slow mono-vs-stereo test is in tests/test_mono_roles.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from speechchurn.call import diarize as dz
from speechchurn.call import roles
from speechchurn.call.audio import DecodedAudio, same_signal
from speechchurn.call.vad import SpeechTrack
from speechchurn.errors import ConfigError
from speechchurn.schema import Segment

RATE = 16_000


def voice(seconds: float, f0: float, formants: tuple[float, ...], seed: int) -> np.ndarray:
    """A crude vowel-like voice: a glottal pulse train at ``f0`` through resonances at ``formants``,
    with a little jitter, so two voices differ in pitch and spectral envelope like two people."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0_track = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t) + 0.01 * rng.standard_normal(n).cumsum() / 100)
    phase = np.cumsum(f0_track / RATE)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float) + 0.02 * rng.standard_normal(n)
    out = pulses
    for f in formants:
        r, theta = 0.97, 2 * np.pi * f / RATE
        out = lfilter([1.0], [1, -2 * r * np.cos(theta), r * r], out)
    out = out / np.abs(out).max() * 0.3
    envelope = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 2.5 * t))  # syllable-rate level changes
    return (out * envelope).astype(np.float32)


VOICE_A = {"f0": 120.0, "formants": (600.0, 1100.0, 2500.0)}
VOICE_B = {"f0": 230.0, "formants": (850.0, 1900.0, 3000.0)}


def exchange(turns: list[tuple[str, float]], gap_s: float = 0.0, seed: int = 0):
    """Samples of alternating turns ('a' / 'b', seconds) and the true (start, end, who) list."""
    pieces, truth, cursor = [], [], 0.0
    for i, (who, seconds) in enumerate(turns):
        spec = VOICE_A if who == "a" else VOICE_B
        pieces.append(voice(seconds, spec["f0"], spec["formants"], seed + i))
        truth.append((cursor, cursor + seconds, who))
        cursor += seconds
        if gap_s:
            pieces.append(np.zeros(int(gap_s * RATE), np.float32))
            cursor += gap_s
    return np.concatenate(pieces), truth


def agreement(found: dz.Diarization, truth) -> float:
    """Share of true speech time labelled right, under the better of the two speaker mappings."""
    from speechchurn.call.intervals import intersection, total

    best = 0.0
    for mapping in ({"a": 0, "b": 1}, {"a": 1, "b": 0}):
        right = sum(total(intersection([(s, e)], found.speech(mapping[w]))) for s, e, w in truth)
        best = max(best, right)
    return best / sum(e - s for s, e, _w in truth)


# --------------------------------------------------------------------------- diarization


def test_speaker_change_inside_one_vad_chunk_is_found():
    samples, truth = exchange([("a", 3.0), ("b", 2.5), ("a", 2.0)])  # no pause: one VAD chunk
    found = dz.diarize(samples, [(0.0, len(samples) / RATE)])
    assert found.speakers == 2
    changes = found.change_points()
    assert len(changes) == 2
    for change, expected in zip(changes, (3.0, 5.5), strict=True):
        assert abs(change - expected) < 0.25


def test_two_voices_with_pauses_are_clustered_apart():
    plan = [("a", 2.5), ("b", 1.5), ("a", 3.0), ("b", 2.0), ("a", 1.2), ("b", 2.5)]
    samples, truth = exchange(plan, gap_s=0.4, seed=10)
    speech = [(s, e) for s, e, _w in truth]
    found = dz.diarize(samples, speech)
    assert agreement(found, truth) > 0.95
    assert found.turns[0][2] == 0  # speaker 0 speaks first


def test_no_speech_gives_no_turns():
    found = dz.diarize(np.zeros(RATE * 2, np.float32), [])
    assert found.turns == () and found.speakers == 0


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ([(0, 50)], [(0, 50)]),  # shorter than a window: one piece
        ([(0, 500)], [(0, 200), (100, 300), (200, 400), (300, 500)]),
        ([(0, 10), (20, 80)], [(10, 70)]),  # the 10-frame run is below min_piece_s
    ],
)
def test_pieces_cover_each_speech_run(runs, expected):
    frames = np.concatenate([np.arange(a, b) + 1000 * i for i, (a, b) in enumerate(runs)])
    assert dz.pieces(frames, dz.DiarizeOptions()) == expected


@pytest.mark.parametrize(
    ("llr", "cost", "expected"),
    [
        ([5, 5, -5, -5], 1.0, [0, 0, 1, 1]),
        ([5, 5, -1, 5, 5], 3.0, [0, 0, 0, 0, 0]),  # a short dip does not pay for two changes
        ([-2, -2, -2], 0.5, [1, 1, 1]),
    ],
)
def test_viterbi_pays_for_changes(llr, cost, expected):
    llr = np.array(llr, float)
    assert dz.viterbi_two(llr, np.full(llr.size, cost)).tolist() == expected


def test_pieces_cluster_into_two_groups():
    rng = np.random.default_rng(0)
    feats = np.r_[rng.normal(0, 0.3, (400, 3)), rng.normal(3, 0.3, (300, 3))]
    spans = [(i, i + 100) for i in range(0, 700, 100)]
    labels = dz.cluster_pieces(feats, spans)
    assert len(set(labels[:4])) == 1 and len(set(labels[4:])) == 1 and labels[0] != labels[-1]


# --------------------------------------------------------------------------- roles from cues


@pytest.mark.parametrize(
    ("text", "positive"),
    [
        ("您好，工号三二七为您服务。", True),
        ("您好，很高兴为您服务，请问有什么可以帮您？", True),
        ("請問還有其他問題嗎？", True),  # traditional characters are matched too
        ("我想查一下我的话费，你们帮我看看。", False),
    ],
)
def test_cue_score_sign(text, positive):
    score = roles.cue_score([text], roles.load_cues())
    assert (score > 0) == positive and score != 0


def test_cue_gap_matches_words_in_between():
    assert roles.cue_score(["您好，这里是客服为您服务"], roles.load_cues()) >= 3


def _found(turns, separation=3.0):
    return dz.Diarization(tuple(turns), separation)


def _split(found: dz.Diarization, seconds: float = 10.0) -> roles.MonoSplit:
    n = int(seconds * RATE)
    mixed = np.full(n, 0.1, np.float32)
    decoded = DecodedAudio(Path("call.wav"), {"mixed": mixed}, 8000, 1)
    track = SpeechTrack(np.ones(n // 512 + 1, np.float32), n)
    channels = {"agent": mixed.copy(), "customer": mixed.copy()}
    return roles.MonoSplit(
        decoded,
        track,
        found,
        DecodedAudio(Path("call.wav"), channels, 8000, 1),
        {
            "agent": track,
            "customer": track,
        },
    )


def test_agent_is_the_speaker_with_the_script_even_when_not_first():
    found = _found([(0.0, 2.0, 0), (2.5, 5.0, 1), (5.5, 9.0, 0)])
    segments = [
        Segment("agent", 0.0, 2.0, "喂，你好。", -0.1, 0.0),
        Segment("customer", 2.5, 5.0, "您好，工号三二七为您服务，请问有什么可以帮您？", -0.1, 0.0),
        Segment("agent", 5.5, 9.0, "我想查一下我的话费。", -0.1, 0.0),
    ]
    outcome = roles.settle(_split(found), segments, "out")
    assert outcome.source == roles.SOURCE_DIARIZED
    assert [s.role for s in outcome.segments] == ["customer", "agent", "customer"]
    assert outcome.confidence >= roles.RoleOptions().min_confidence
    assert set(outcome.decoded.channels) == {"agent", "customer"}


def test_first_speaker_alone_on_an_inbound_call():
    found = _found([(0.0, 2.0, 0), (2.5, 5.0, 1)])
    segments = [
        Segment("agent", 0.0, 2.0, "嗯嗯好", -0.1, 0.0),
        Segment("customer", 2.5, 5.0, "好的", -0.1, 0.0),
    ]
    evidence = roles.role_evidence({0: ["嗯嗯好"], 1: ["好的"]}, "in", roles.load_cues(), roles.RoleOptions())
    assert evidence == roles.RoleOptions().first_speaker_weight
    outcome = roles.settle(_split(found), segments, "in")
    assert outcome.confidence == pytest.approx(1 / (1 + math.exp(-1.5)), abs=1e-3)


@pytest.mark.parametrize(
    ("direction", "separation", "source"),
    [
        ("out", 3.0, roles.SOURCE_MIXED),  # no cue, no first-speaker evidence: 0.5 < threshold
        ("in", 0.3, roles.SOURCE_MIXED),  # voices barely apart: quality 0
        ("in", 3.0, roles.SOURCE_DIARIZED),  # answering first on an inbound call: 0.82
    ],
)
def test_confidence_below_threshold_stays_mixed(direction, separation, source):
    found = _found([(0.0, 2.0, 0), (2.5, 5.0, 1)], separation)
    segments = [Segment("agent", 0.0, 2.0, "好", -0.1, 0.0), Segment("customer", 2.5, 5.0, "行", -0.1, 0.0)]
    outcome = roles.settle(_split(found), segments, direction)
    assert outcome.source == source
    if source == roles.SOURCE_MIXED:
        assert {s.role for s in outcome.segments} == {"mixed"}
        assert set(outcome.decoded.channels) == {"mixed"}
        assert outcome.confidence < roles.RoleOptions().min_confidence


def test_split_mono_silences_the_other_speaker():
    samples, truth = exchange([("a", 2.5), ("b", 2.0), ("a", 2.0)], gap_s=0.5, seed=30)
    decoded = DecodedAudio(Path("call.wav"), {"mixed": samples}, 8000, 1)
    track = SpeechTrack(np.ones(samples.size // 512 + 1, np.float32), samples.size)
    split = roles.split_mono(decoded, track, [(s, e) for s, e, _w in truth])
    assert split is not None
    first, second = split.decoded.channels["agent"], split.decoded.channels["customer"]
    middle_of_b = slice(int(3.5 * RATE), int(4.5 * RATE))
    assert np.abs(first[middle_of_b]).max() == 0 and np.abs(second[middle_of_b]).max() > 0
    assert split.tracks["agent"].probs[int(3.5 * RATE) // 512 + 2] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[agent]\n"工号" = -1\n', "positive number"),
        ('[agent]\n"，" = 1\n', "no characters"),
        ('[agents]\n"工号" = 1\n', "tables must be"),
        ("[agent\n", "cannot read"),
    ],
)
def test_bad_cue_file_names_the_problem(tmp_path, content, message):
    path = tmp_path / "cues.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        roles.load_cues(path)


# --------------------------------------------------------------------------- identical channels


@pytest.mark.parametrize(
    ("right_of", "same"),
    [
        (lambda x, rng: x.copy(), True),
        (lambda x, rng: x + rng.normal(0, 1e-4, x.size).astype(np.float32), True),  # dither / codec noise
        (lambda x, rng: rng.normal(0, 0.1, x.size).astype(np.float32), False),  # another party
        (lambda x, rng: np.zeros_like(x), False),  # one side silent
        (lambda x, rng: 0.5 * x, False),  # same voice at another level: bleed, not one signal
    ],
)
def test_same_signal(right_of, same):
    rng = np.random.default_rng(1)
    left = rng.normal(0, 0.1, RATE).astype(np.float32)
    assert same_signal(left, right_of(left, rng)) is same


def test_silent_channels_are_not_the_same_signal():
    silence = np.zeros(RATE, np.float32)
    assert same_signal(silence, silence) is False


def test_stereo_file_with_identical_channels_decodes_as_mono(tmp_path):
    import wave

    from speechchurn.call.audio import decode_audio

    rng = np.random.default_rng(2)
    mono = (rng.normal(0, 0.1, 8000) * 32767).astype("<i2")
    path = tmp_path / "fake_stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.stack([mono, mono], axis=1).tobytes())
    decoded = decode_audio(path)
    assert set(decoded.channels) == {"mixed"} and not decoded.is_stereo


# --------------------------------------------------------------------------- batch, report and desk


@pytest.fixture(scope="module")
def mono_out(tmp_path_factory):
    """Two sample calls mixed down to mono, analysed with the fake engine (no Whisper)."""
    from desk_support import analyze_samples
    from test_mono_roles import mono_copy

    from speechchurn.resources import PACKAGE_DIR

    samples = PACKAGE_DIR.parent / "audio_samples"
    folder = tmp_path_factory.mktemp("mono_calls")
    for name in ("20261105_101544_13998765402_in.wav", "20261116_200830_18600004406_in.wav"):
        mono_copy(samples / name, folder / name)
    return analyze_samples(tmp_path_factory.mktemp("mono_out"), folder, text="您好，工号三二七为您服务")


def test_mono_calls_get_role_columns_and_a_report_line(mono_out):
    from speechchurn import outputs

    calls = outputs.read_csv(mono_out / "calls.csv")
    assert set(calls["role_source"]) <= {"diarized", "mixed"}
    assert calls["role_confidence"].between(0, 1).all()
    assert "diarize_s" in calls.columns
    diarized = calls[calls["role_source"] == "diarized"]
    assert (diarized["talk_s_agent"] > 0).all() and (diarized["talk_s_customer"] > 0).all()
    report = (mono_out / "report.html").read_text(encoding="utf-8")
    assert "单声道·按声音分角色" in report or "单声道·未分角色" in report


def test_desk_call_page_says_how_roles_were_found(mono_out):
    import re

    pytest.importorskip("starlette.testclient")
    from starlette.testclient import TestClient

    from speechchurn.app.web import DeskConfig, create_app

    client = TestClient(create_app(DeskConfig(mono_out, mono_out, allowed_hosts=("testserver",))))
    customer = client.get("/customer/13998765402")
    call_id = re.search(r'href="/call/(\d+)"', customer.text).group(1)
    page = client.get(f"/call/{call_id}").text
    assert "单声道：" in page and "角色置信度" in page


@pytest.mark.parametrize(
    ("sources", "confidences", "expected"),
    [
        (["channels", "channels"], [1.0, 1.0], {}),
        (
            ["diarized", "mixed"],
            [0.9, 0.5],
            {"单声道·按声音分角色": "1 通，平均置信度 90%", "单声道·未分角色": "1 通"},
        ),
    ],
)
def test_role_figures(sources, confidences, expected):
    import pandas as pd

    from speechchurn.report.data import role_figures

    calls = pd.DataFrame({"role_source": sources, "role_confidence": confidences})
    assert role_figures(calls) == expected
