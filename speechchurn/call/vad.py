"""One Silero VAD pass per channel, read with as many settings as the stages need.

faster-whisper's ``get_speech_timestamps`` runs the Silero model over the audio and then applies a
threshold state machine. ASR gating (wide padding, long silences) and talk-time measurement (tight
padding, short silences) want different settings, so calling it twice runs the model twice. Here the
model runs once per channel (:func:`speech_track`) and :func:`speech_timestamps` applies any
settings to the stored probability track. For ``max_speech_duration_s = inf`` (what this project
uses) the result equals ``get_speech_timestamps`` sample for sample (tests/test_packing.py checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from speechchurn.vocab import SAMPLE_RATE_HZ

VAD_FRAME_SAMPLES = 512  # Silero frame at 16 kHz (32 ms)
VAD_SAMPLE_RATE_HZ = SAMPLE_RATE_HZ


@dataclass(frozen=True)
class SpeechSettings:
    """How a probability track becomes speech chunks (faster_whisper.vad.VadOptions, minus max length)."""

    threshold: float = 0.5
    neg_threshold: float | None = None  # None: threshold - 0.15 (at least 0.01)
    min_speech_ms: int = 0
    min_silence_ms: int = 2000
    speech_pad_ms: int = 400


@dataclass(frozen=True, eq=False)
class SpeechTrack:
    """Silero speech probability of every 512-sample frame of one channel."""

    probs: np.ndarray = field(repr=False)
    n_samples: int


def speech_track(samples: np.ndarray) -> SpeechTrack:
    """Run Silero once over one 16 kHz channel (what get_speech_timestamps would run)."""
    from faster_whisper.vad import get_vad_model

    audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    padded = np.pad(audio, (0, VAD_FRAME_SAMPLES - audio.shape[0] % VAD_FRAME_SAMPLES))
    probs = np.asarray(get_vad_model()(padded), dtype=np.float32).reshape(-1)
    return SpeechTrack(probs, int(audio.shape[0]))


def speech_timestamps(track: SpeechTrack, settings: SpeechSettings = SpeechSettings()) -> list[dict]:
    """Speech chunks as sample-index dicts (``start``, ``end``), as get_speech_timestamps returns them."""
    speeches = _raw_speeches(track, settings)
    return _pad(speeches, track.n_samples, VAD_SAMPLE_RATE_HZ * settings.speech_pad_ms / 1000)


def _raw_speeches(track: SpeechTrack, settings: SpeechSettings) -> list[dict]:
    """The hysteresis state machine of get_speech_timestamps (without the max-duration split)."""
    threshold = settings.threshold
    neg = settings.neg_threshold if settings.neg_threshold is not None else max(threshold - 0.15, 0.01)
    min_speech = VAD_SAMPLE_RATE_HZ * settings.min_speech_ms / 1000
    min_silence = VAD_SAMPLE_RATE_HZ * settings.min_silence_ms / 1000
    speeches: list[dict] = []
    current: dict = {}
    triggered, temp_end = False, 0
    for i, prob in enumerate(track.probs):
        position = VAD_FRAME_SAMPLES * i
        if prob >= threshold and temp_end:
            temp_end = 0
        if prob >= threshold and not triggered:
            triggered = True
            current["start"] = position
            continue
        if prob < neg and triggered:
            temp_end = temp_end or position
            if position - temp_end < min_silence:
                continue
            current["end"] = temp_end
            if current["end"] - current["start"] > min_speech:
                speeches.append(current)
            current, temp_end, triggered = {}, 0, False
    if current and track.n_samples - current["start"] > min_speech:
        current["end"] = track.n_samples
        speeches.append(current)
    return speeches


def _pad(speeches: list[dict], n_samples: int, pad: float) -> list[dict]:
    """Widen each chunk by ``pad`` samples; neighbours closer than 2*pad meet half way."""
    for i, speech in enumerate(speeches):
        if i == 0:
            speech["start"] = int(max(0, speech["start"] - pad))
        if i == len(speeches) - 1:
            speech["end"] = int(min(n_samples, speech["end"] + pad))
            continue
        following = speeches[i + 1]
        silence = following["start"] - speech["end"]
        if silence < 2 * pad:
            speech["end"] += int(silence // 2)
            following["start"] = int(max(0, following["start"] - silence // 2))
        else:
            speech["end"] = int(min(n_samples, speech["end"] + pad))
            following["start"] = int(max(0, following["start"] - pad))
    return speeches
