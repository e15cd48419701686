"""Counting the decoder's work (issue 27) and the decoding levers: gate, token bound, options, profile.

The counting plumbing runs on fake CTranslate2 results; the decoding itself on the real weights (slow).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from speechchurn.asr.decoder_work import CountingModel, DecoderWork, work_columns
from speechchurn.asr.faster_engine import MAX_NEW_TOKENS, MIN_NEW_TOKENS, token_bound
from speechchurn.asr.gate import GateOptions, gate_failures
from speechchurn.asr.segments import RawSegment
from speechchurn.asr.transcribe import TranscribeOptions


class FakeCT2:
    """Stands in for ctranslate2.models.Whisper: generate returns `tokens` ids per prompt."""

    def __init__(self, tokens: int) -> None:
        self.tokens, self.calls, self.device = tokens, [], "cpu"

    def generate(self, encoder_output, prompts, **kwargs):
        self.calls.append(kwargs)
        return [SimpleNamespace(sequences_ids=[list(range(self.tokens))]) for _ in prompts]


def test_counting_model_counts_windows_fallbacks_tokens_and_beam_steps():
    work = DecoderWork()
    model = CountingModel(FakeCT2(tokens=10), work)
    assert model.device == "cpu", "other attributes pass through"
    first, second = object(), object()
    model.generate(first, [[1]], beam_size=5)  # window 1, beam
    model.generate(first, [[1]], beam_size=1, num_hypotheses=5, sampling_temperature=0.2)  # fallback
    model.generate(first, [[1]], beam_size=1, num_hypotheses=5, sampling_temperature=0.4)  # same window
    model.generate(second, [[1]], beam_size=1)  # window 2, greedy
    model.generate(second, [[1]], beam_size=5)  # gated re-decode: same window, no fallback
    assert (work.windows, work.generate_calls, work.fallback_windows) == (2, 5, 1)
    assert work.tokens == 50
    assert work.beam_steps == 10 * (5 + 5 + 5 + 1 + 5)


def test_work_difference_and_columns():
    before = DecoderWork(windows=1, tokens=20, speech_s=2.0)
    after = DecoderWork(windows=3, tokens=70, beam_steps=250, speech_s=5.5)
    delta = after.minus(before)
    assert (delta.windows, delta.tokens, delta.beam_steps, delta.speech_s) == (2, 50, 250, 3.5)
    columns = dict(work_columns(delta))
    assert columns["decoder_tokens"] == 50 and columns["asr_speech_s"] == 3.5
    assert set(dict(work_columns(None)).values()) == {0}, "engines that do not count give zeros"


def _seg(text="你好，我想查一下话费", logprob=-0.2, ratio=1.2, no_speech=0.01) -> RawSegment:
    return RawSegment(0.0, 2.0, text, logprob, no_speech, (), ratio, 0.0)


@pytest.mark.parametrize(
    "segments, failed",
    [
        ([_seg()], ()),
        ([], ("empty",)),
        ([_seg(text="  ")], ("empty",)),
        ([_seg(logprob=-0.9)], ("logprob",)),
        ([_seg(ratio=2.6)], ("compression",)),
        ([_seg(text="请问问问问问问问")], ("loop",)),
        ([_seg(no_speech=0.8)], ("no_speech",)),
        ([_seg(), _seg(logprob=-0.9, ratio=3.0)], ("compression", "logprob")),
    ],
)
def test_gate(segments, failed):
    assert gate_failures(segments, GateOptions(min_avg_logprob=-0.5, max_compression_ratio=2.0)) == failed


@pytest.mark.parametrize(
    "speech_s, per_s, bound",
    [
        (None, 20.0, None),
        (3.0, None, None),
        (0.2, 20.0, MIN_NEW_TOKENS),
        (5.0, 20.0, 100),
        (30.0, 20.0, MAX_NEW_TOKENS),
    ],
)
def test_token_bound(speech_s, per_s, bound):
    assert token_bound(speech_s, per_s) == bound


@pytest.mark.parametrize(
    "change",
    [
        {"decoding": "gated"},
        {"max_tokens_per_speech_s": 20.0},
        {"without_timestamps": True},
        {"pack_gap_ms": 1000},
    ],
)
def test_decoding_levers_change_the_cache_key(change):
    assert dataclasses.replace(TranscribeOptions(), **change).cache_key() != TranscribeOptions().cache_key()


def test_gate_thresholds_matter_only_when_gated():
    loose = GateOptions(min_avg_logprob=-1.0)
    beam, gated = TranscribeOptions(decoding="beam"), TranscribeOptions(decoding="gated")
    assert dataclasses.replace(beam, gate=loose).cache_key() == beam.cache_key()
    assert dataclasses.replace(gated, gate=loose).cache_key() != gated.cache_key()
    assert '"decoding"' not in TranscribeOptions(decoding="beam").cache_key(), "older keys stay valid"


def test_unknown_decoding_rejected():
    with pytest.raises(ValueError, match="decoding"):
        TranscribeOptions(decoding="greedy-ish")


def test_profile_reports_decoder_work():
    from speechchurn.batch.pipeline import RunProfile

    class Record:
        def __init__(self, audio_s, **row):
            self.audio_s, self.row = audio_s, row

    profile = RunProfile()
    for record in (
        Record(
            60.0,
            asr_s=5,
            decoder_windows=4,
            fallback_windows=1,
            decoder_tokens=300,
            beam_steps=1500,
            asr_speech_s=40.0,
        ),
        Record(
            60.0,
            asr_s=5,
            decoder_windows=2,
            decoder_tokens=100,
            beam_steps=500,
            asr_speech_s=20.0,
            redecoded_windows=1,
        ),
    ):
        profile = profile.add(record)
    text = "\n".join(profile.table(10.0))
    assert "3.00 windows, 200.0 tokens, 1000.0 beam steps" in text
    assert "temperature fallback: 1 of 6" in text
    assert "tokens per second of speech: 6.67" in text
    assert "re-decoded with the beam (gated): 1 of 6" in text


# --------------------------------------------------------------------------- real weights


SAMPLE_CALL = "20261102_093012_13812345601_in.wav"  # 46 s, two channels


@pytest.mark.slow
def test_gated_decoding_counts_and_stays_close_to_the_beam(samples_dir, truth, model_home):
    from speechchurn.asr.transcribe import load_engine, transcribe_audio
    from speechchurn.call.audio import decode_audio
    from speechchurn.dev.evaluation import cer_count

    audio = decode_audio(samples_dir / SAMPLE_CALL)
    reference = "".join(t["text"] for t in truth[SAMPLE_CALL]["turns"])
    results = {}
    for decoding in ("beam", "gated"):
        options = TranscribeOptions(decoding=decoding, cpu_threads=2)
        engine = load_engine(options)
        before, passes = engine.work.copy(), engine.encoder_passes
        segments = transcribe_audio(audio, options, engine)
        work = engine.work.minus(before)
        count = cer_count(reference, "".join(s.text for s in segments))
        results[decoding] = (work, engine.encoder_passes - passes, count.edits / count.ref_chars)
    (beam, beam_passes, beam_cer), (gated, gated_passes, gated_cer) = results["beam"], results["gated"]
    assert beam.windows >= 2 and beam.tokens > 0 and beam.beam_steps >= 5 * beam.tokens
    assert 0 < beam.speech_s < audio.duration_s * 2
    assert gated.gated_windows >= 2 and gated.redecoded_windows <= gated.gated_windows
    assert gated_passes == beam_passes, "a re-decode reuses the window's encoder output"
    assert gated.beam_steps < beam.beam_steps, "greedy windows cost one hypothesis per step"
    assert gated_cer <= beam_cer + 0.05, (gated_cer, beam_cer)
