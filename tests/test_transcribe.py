"""Transcription plumbing with a fake engine: role mapping, VAD gating, hallucination filter, merge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speechchurn.asr.transcribe import (
    RawSegment,
    TranscribeOptions,
    Word,
    clean_segments,
    is_hallucination,
    merge_dialogue,
    speech_share,
    to_simplified,
    transcribe_audio,
)
from speechchurn.call.audio import SAMPLE_RATE, DecodedAudio
from speechchurn.schema import Segment


class EchoEngine:
    """Fake engine: one segment per decode call spanning the audio it was given, its characters
    spread evenly over it as words (so packed windows hand each channel its share)."""

    name = "fake"

    def __init__(self, text: str = "您好"):
        self.text, self.calls = text, []

    def decode(self, samples):
        self.calls.append(len(samples))
        span = len(samples) / SAMPLE_RATE
        step = span / len(self.text)
        words = tuple(Word(i * step, (i + 1) * step, ch) for i, ch in enumerate(self.text))
        return [RawSegment(0.0, span, self.text, -0.2, 0.01, words)]


def _chunks(*spans_s):
    return [{"start": int(a * SAMPLE_RATE), "end": int(b * SAMPLE_RATE)} for a, b in spans_s]


@pytest.mark.parametrize(
    ("text", "start", "end", "no_speech", "spans", "dropped"),
    [
        ("字幕由Amara.org社群提供", 10.0, 12.0, 0.1, [(0, 5)], True),  # over silence
        ("请不吝点赞订阅转发打赏支持明镜与点点栏目", 0.0, 3.0, 0.9, [(0, 3)], True),  # whisper says silent
        ("谢谢观看!", 20.0, 21.0, 0.2, [], True),
        ("谢谢观看", 1.0, 2.0, 0.1, [(0, 3)], False),  # real speech, kept
        ("我要投诉", 10.0, 12.0, 0.9, [], False),  # not a known phrase
    ],
)
def test_hallucination_filter(text, start, end, no_speech, spans, dropped):
    seg = Segment("customer", start, end, text, -0.3, no_speech)
    assert is_hallucination(seg, _chunks(*spans)) is dropped
    assert (clean_segments([seg], _chunks(*spans)) == []) is dropped


@pytest.mark.parametrize(
    ("start", "end", "spans", "share"),
    [(0, 10, [(0, 5)], 0.5), (2, 4, [(0, 10)], 1.0), (5, 6, [(0, 1), (7, 8)], 0.0), (1, 1, [(0, 2)], 0.0)],
)
def test_speech_share(start, end, spans, share):
    assert speech_share(start, end, _chunks(*spans)) == pytest.approx(share, abs=1e-3)


@pytest.mark.parametrize(
    ("raw", "simple"), [("請問帳單", "请问账单"), ("網速很慢", "网速很慢"), ("投诉", "投诉")]
)
def test_output_is_simplified(raw, simple):
    assert to_simplified(raw) == simple


def test_empty_and_punctuation_segments_dropped():
    segs = [Segment("agent", 0, 1, "。"), Segment("agent", 1, 2, " "), Segment("agent", 2, 3, "好的")]
    assert [s.text for s in clean_segments(segs, _chunks((0, 3)))] == ["好的"]


def test_merge_dialogue_orders_by_time():
    segs = [Segment("customer", 3, 4, "b"), Segment("agent", 0, 1, "a"), Segment("agent", 5, 6, "c")]
    assert [s.text for s in merge_dialogue(segs)] == ["a", "b", "c"]


def _stereo_call(speech: np.ndarray, silence_s: float = 4.0) -> DecodedAudio:
    """Agent speaks (real speech) then silence; customer channel is silent line hiss."""
    rng = np.random.default_rng(0)
    gap = np.zeros(int(silence_s * SAMPLE_RATE), dtype=np.float32)
    agent = np.concatenate([gap, speech, gap]).astype(np.float32)
    hiss = (rng.standard_normal(len(agent)) * 10 ** (-55 / 20)).astype(np.float32)
    return DecodedAudio(Path("call.wav"), {"agent": agent, "customer": hiss}, 8000, 2)


def test_silent_channel_yields_no_text_and_times_map_back(speech_snippet):
    audio = _stereo_call(speech_snippet)
    engine = EchoEngine("您好请问有什么可以帮您")
    segments = transcribe_audio(audio, TranscribeOptions(), engine=engine)
    assert {s.role for s in segments} == {"agent"}, "the hiss-only customer channel must yield no text"
    assert len(engine.calls) == 1
    # the engine saw only the speech, and the segment is mapped back after the 4 s of leading silence
    assert engine.calls[0] < len(audio.channels["agent"]) * 0.8
    assert segments[0].start >= 3.0


def test_stereo_roles_follow_channel_mapping(speech_snippet):
    audio = DecodedAudio(Path("c.wav"), {"customer": speech_snippet, "agent": speech_snippet}, 8000, 2)
    segments = transcribe_audio(audio, TranscribeOptions(), engine=EchoEngine())
    assert sorted(s.role for s in segments) == ["agent", "customer"]


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"cpu_threads": 4}, True),
        ({"beam_size": 1}, False),
        ({"engine": "openai-whisper"}, False),
        ({"vad": False}, False),
        ({"model": "/x/y"}, False),
        ({"language": "en"}, False),
    ],
)
def test_cache_key_changes_with_decoding_options(change, same):
    base = TranscribeOptions()
    other = TranscribeOptions(**{**base.__dict__, **change})
    assert (base.cache_key() == other.cache_key()) is same


def test_bad_options_rejected():
    with pytest.raises(ValueError, match="unknown engine"):
        TranscribeOptions(engine="kaldi")
    with pytest.raises(ValueError, match="beam"):
        TranscribeOptions(beam_size=0)
