"""Packing speech of both channels into shared 30 s windows, and the one-pass VAD it relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speechchurn.asr.packing import SAMPLE_RATE_HZ, WINDOW_S, Piece, Window, encoder_windows, pack
from speechchurn.asr.transcribe import RawSegment, TranscribeOptions, Word, speech_chunks, transcribe_audio
from speechchurn.call.audio import DecodedAudio, decode_audio
from speechchurn.call.vad import SpeechSettings, speech_timestamps, speech_track

SR = SAMPLE_RATE_HZ
TWO_CHANNEL_CALLS = ("20261102_093012_13812345601_in.wav", "20261028_100012_13700002204_out.wav")


def _piece(start_s: float, end_s: float, role: str = "agent") -> Piece:
    return Piece(int(start_s * SR), int(end_s * SR), role)


@pytest.mark.parametrize(
    ("spans_s", "expected_sizes"),
    [
        ([(0, 10), (12, 22), (30, 39)], [3]),  # 29 s of speech: one window
        ([(0, 10), (12, 22), (30, 41)], [2, 1]),  # 31 s: the third piece opens a new window
        ([(0, 31)], [1]),  # longer than a window: alone
        ([(0, 5), (6, 40), (41, 44)], [1, 1, 1]),
        ([(i, i + 2.9) for i in range(0, 60, 3)], [10, 10]),
    ],
)
def test_pack_keeps_order_and_window_limit(spans_s, expected_sizes):
    pieces = [_piece(a, b) for a, b in spans_s]
    windows = pack(pieces)
    flat = [p for w in windows for p in w.pieces]
    assert flat == pieces, "every piece exactly once, in order"
    for window in windows:
        assert len(window.pieces) == 1 or window.samples <= WINDOW_S * SR
    sizes = [len(w.pieces) for w in windows]
    assert sizes == expected_sizes
    assert encoder_windows(windows) >= len(windows)


@pytest.mark.parametrize(
    ("packed_s", "index", "original_s"),
    [
        (0.0, 0, 2.0),  # agent piece 2..4 s sits at packed 0..2
        (1.5, 0, 3.5),
        (2.5, 1, 10.5),  # customer piece 10..13 s sits at packed 2..5
        (4.9, 1, 12.9),
        (7.0, 1, 13.0),  # past the end: clamped into the last piece
    ],
)
def test_window_maps_packed_time_to_piece_clock(packed_s, index, original_s):
    window = Window((_piece(2, 4), _piece(10, 13, "customer")))
    assert window.locate(packed_s) == index
    assert window.original_time(packed_s, index) == pytest.approx(original_s)


@pytest.mark.parametrize(
    ("packed_s", "index", "original_s"),
    [
        (0.0, 0, 2.0),  # agent piece 2..4 s at packed 0..2, then 1 s of silence
        (2.4, 0, 4.0),  # in the gap, nearer the agent piece: clamped to its end
        (2.6, 1, 10.0),  # in the gap, nearer the customer piece (packed 3..6): clamped to its start
        (3.5, 1, 10.5),
        (5.9, 1, 12.9),
    ],
)
def test_window_with_gaps_maps_packed_time_to_piece_clock(packed_s, index, original_s):
    window = Window((_piece(2, 4), _piece(10, 13, "customer")), gap=1 * SR)
    assert window.samples == 6 * SR
    assert window.locate(packed_s) == index
    assert window.original_time(packed_s, index) == pytest.approx(original_s)
    audio = window.audio(lambda piece: np.ones(20 * SR, np.float32))
    assert len(audio) == 6 * SR and not audio[2 * SR : 3 * SR].any() and audio[3 * SR :].all()


def test_pack_counts_the_gaps_against_the_window():
    pieces = [_piece(a, a + 9) for a in (0, 10, 20)]  # 27 s of speech
    assert [len(w.pieces) for w in pack(pieces)] == [3]
    assert [len(w.pieces) for w in pack(pieces, gap_s=2.0)] == [2, 1], "27 s + 2 gaps of 2 s > 30 s"


class WordEngine:
    """Fake engine: one word per second of the audio it is given (exercises the packed mapping)."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def decode(self, samples):
        self.calls.append(len(samples))
        seconds = int(len(samples) / SR)
        words = tuple(Word(float(i), i + 0.9, "字") for i in range(seconds))
        return [RawSegment(0.0, float(seconds), "字" * seconds, -0.2, 0.01, words)]


def _tone_call() -> DecodedAudio:
    """Speech-like bursts: agent at 1-4 s, customer at 6-8 s (Silero hears them as speech)."""
    speech = decode_audio(Path(__file__).resolve().parent.parent / "audio_samples" / TWO_CHANNEL_CALLS[0])
    source = speech.channels["agent"]
    agent = np.zeros(10 * SR, dtype=np.float32)
    customer = np.zeros(10 * SR, dtype=np.float32)
    chunk = speech_chunks(source)[0]
    voiced = source[chunk["start"] : chunk["end"]][: 3 * SR]
    agent[1 * SR : 1 * SR + len(voiced)] = voiced
    customer[6 * SR : 6 * SR + min(len(voiced), 2 * SR)] = voiced[: 2 * SR]
    return DecodedAudio(Path("tone.wav"), {"agent": agent, "customer": customer}, 8000, 2)


@pytest.mark.parametrize(
    ("packing", "decodes", "gap_ms"), [("call", 1, 0), ("channel", 2, 0), ("call", 1, 1000)]
)
def test_packed_call_decodes_once_and_keeps_roles(packing, decodes, gap_ms):
    audio = _tone_call()
    engine = WordEngine()
    options = TranscribeOptions(packing=packing, pack_gap_ms=gap_ms)
    segments = transcribe_audio(audio, options, engine=engine)
    assert len(engine.calls) == decodes
    by_role = {s.role: s for s in segments}
    assert set(by_role) == {"agent", "customer"}
    assert 0.5 <= by_role["agent"].start <= 1.6 and by_role["agent"].end <= 4.8
    assert 5.5 <= by_role["customer"].start <= 6.6 and by_role["customer"].end <= 8.8


@pytest.mark.parametrize(
    "settings",
    [
        SpeechSettings(min_silence_ms=500, speech_pad_ms=500),  # ASR gating
        SpeechSettings(min_speech_ms=150, min_silence_ms=300, speech_pad_ms=60),  # talk time
        SpeechSettings(threshold=0.35, neg_threshold=0.2, min_silence_ms=200, speech_pad_ms=0),
    ],
)
@pytest.mark.parametrize("name", TWO_CHANNEL_CALLS)
def test_one_silero_pass_gives_what_get_speech_timestamps_gives(settings, name, samples_dir):
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    for samples in decode_audio(samples_dir / name).channels.values():
        expected = get_speech_timestamps(
            samples,
            VadOptions(
                threshold=settings.threshold,
                neg_threshold=settings.neg_threshold,
                min_speech_duration_ms=settings.min_speech_ms,
                min_silence_duration_ms=settings.min_silence_ms,
                speech_pad_ms=settings.speech_pad_ms,
            ),
        )
        assert speech_timestamps(speech_track(samples), settings) == expected


# --------------------------------------------------------------------------- real model


def _utterances(segments, audio: DecodedAudio, options: TranscribeOptions) -> dict:
    """(role, VAD chunk index) -> (first start, last end) of the text heard in that chunk."""
    spans: dict[tuple[str, int], tuple[float, float]] = {}
    for role, samples in audio.channels.items():
        chunks = speech_chunks(samples, options.vad_options)
        for seg in (s for s in segments if s.role == role):
            middle = (seg.start + seg.end) / 2 * SR
            index = min(
                range(len(chunks)), key=lambda i: abs((chunks[i]["start"] + chunks[i]["end"]) / 2 - middle)
            )
            start, end = spans.get((role, index), (seg.start, seg.end))
            spans[(role, index)] = (min(start, seg.start), max(end, seg.end))
    return spans


@pytest.mark.slow
@pytest.mark.parametrize("name", TWO_CHANNEL_CALLS)
def test_packing_changes_no_role_or_timestamp_by_more_than_0_1_s(name, samples_dir, model_home):
    from speechchurn.asr.transcribe import load_engine

    audio = decode_audio(samples_dir / name)
    results, passes = {}, {}
    for packing in ("channel", "call"):
        options = TranscribeOptions(packing=packing, beam_size=1, temperatures=(0.0,), cpu_threads=2)
        engine = load_engine(options)
        before = engine.encoder_passes
        segments = transcribe_audio(audio, options, engine)
        passes[packing] = engine.encoder_passes - before
        results[packing] = _utterances(segments, audio, options)
    alone, packed = results["channel"], results["call"]
    assert set(packed) == set(alone), "the same utterances get text, on the same channels"
    for key, (start, end) in alone.items():
        assert abs(packed[key][0] - start) <= 0.1, (key, packed[key], (start, end))
        assert abs(packed[key][1] - end) <= 0.1, (key, packed[key], (start, end))
    assert passes["call"] <= passes["channel"], passes


# --------------------------------------------------------------------------- cross-file packing


def _short_clips(count: int = 3) -> list[DecodedAudio]:
    """Mono 'clips': single speech chunks cut from a sample call, each with silence around it."""
    source = decode_audio(Path(__file__).resolve().parent.parent / "audio_samples" / TWO_CHANNEL_CALLS[0])
    clips = []
    for i, chunk in enumerate(speech_chunks(source.channels["customer"])[:count]):
        speech = source.channels["customer"][chunk["start"] : chunk["end"]]
        samples = np.concatenate([np.zeros(SR // 2, np.float32), speech, np.zeros(SR // 2, np.float32)])
        clips.append(DecodedAudio(Path(f"clip_{i}.wav"), {"mixed": samples}, 8000, 1))
    return clips


def test_cross_file_packing_decodes_short_files_together_and_keeps_each_clock():
    from speechchurn.asr.cross_file import transcribe_recordings

    clips = _short_clips()
    engine = WordEngine()
    together = transcribe_recordings(clips, TranscribeOptions(), engine)
    assert len(engine.calls) == 1, "three short clips share one window"
    for clip, segments in zip(clips, together, strict=True):
        alone = transcribe_audio(clip, TranscribeOptions(), engine=WordEngine())
        assert segments and {s.role for s in segments} == {"mixed"}
        assert segments[0].start == alone[0].start and segments[-1].end == alone[-1].end
        assert segments[-1].end <= clip.duration_s


@pytest.mark.slow
def test_cross_file_packing_moves_no_timestamp_by_more_than_0_1_s(model_home):
    from speechchurn.asr.cross_file import transcribe_recordings
    from speechchurn.asr.transcribe import load_engine

    clips = _short_clips()
    options = TranscribeOptions(beam_size=1, temperatures=(0.0,), cpu_threads=2)
    engine = load_engine(options)
    before = engine.encoder_passes
    together = transcribe_recordings(clips, options, engine)
    packed_passes, before = engine.encoder_passes - before, engine.encoder_passes
    for clip, segments in zip(clips, together, strict=True):
        alone = _utterances(transcribe_audio(clip, options, engine), clip, options)
        packed = _utterances(segments, clip, options)
        assert set(packed) == set(alone), clip.path.name
        for key, (start, end) in alone.items():
            assert abs(packed[key][0] - start) <= 0.1 and abs(packed[key][1] - end) <= 0.1, (key, packed[key])
    assert packed_passes < engine.encoder_passes - before, "fewer encoder passes than file by file"
