"""One recording from file to transcript, keyword hits and acoustics, in bounded memory.

Calls up to ``LONG_CALL_S`` (20 min) are decoded whole and measured with
:func:`speechchurn.call.acoustics.measure_call`. Longer recordings (or ones whose length the container
does not declare) are streamed in ``WINDOW_S`` windows (5 min) by :func:`audio.iter_windows`;
only one window is held at a time (about 38 MB for a stereo window at 16 kHz float32):

* each window is transcribed on its own and its segments are moved to the call's clock;
* the Silero VAD (+ energy gate, + crosstalk filter on stereo) runs per window, the speech
  intervals are moved to the call's clock, and intervals that a window boundary cut apart (gap
  shorter than ``vad_min_silence_ms``) are joined again;
* loudness is accumulated as the energy sum and sample count of the speech parts per role, so the
  call-level RMS is exact;
* the call-level measures then come from the collected intervals with the same interval
  arithmetic as :func:`speechchurn.call.acoustics.measure_from_speech`.

Differences from the whole-call path are confined to window boundaries (a word cut by a boundary
may be mis-heard) and to the energy gate's noise floor, which is estimated per window.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from speechchurn.asr import transcribe as transcription  # engine looked up per call (tests swap in a fake)
from speechchurn.asr.decoder_work import engine_work, work_columns
from speechchurn.asr.transcribe import PACK_CALL, PACK_CHANNEL, TranscribeOptions
from speechchurn.call import acoustics as ac
from speechchurn.call.acoustics import AcousticsOptions, CallAcoustics, Interval
from speechchurn.call.audio import (
    LONG_CALL_S,
    SAMPLE_RATE,
    WINDOW_S,
    AudioOptions,
    AudioWindow,
    DecodedAudio,
    RecordingTooLongError,
    decode_audio,
    iter_windows,
    probe_duration,
)
from speechchurn.call.roles import SOURCE_CHANNELS, SOURCE_MIXED, RoleOptions, settle, split_mono
from speechchurn.call.vad import speech_track
from speechchurn.schema import ROLE_MIXED, ROLES, KeywordHit, Segment
from speechchurn.text.keywords import find_hits
from speechchurn.text.lexicon import Lexicon

log = logging.getLogger("speechchurn")

ROLE_ORDER = ROLES  # channels are listed in this order


@dataclass(frozen=True)
class StageTimes:
    """Wall seconds per stage of one recording (calls.csv decode_s, vad_s, asr_s, text_s)."""

    decode_s: float = 0.0  # container decoding and resampling
    vad_s: float = 0.0  # Silero pass (once per channel) and the acoustic measures
    asr_s: float = 0.0  # Whisper encoder + decoder (0 when the transcript came from the cache)
    text_s: float = 0.0  # keyword spotting (the worker adds sentiment)
    startup_s: float = 0.0  # loading the Whisper model (first file of each worker process only)
    diarize_s: float = 0.0  # mono calls: speaker turns and roles (speechchurn.call.roles)
    encoder_passes: int = 0  # 30 s Whisper encoder windows run (faster-whisper engine)
    # (calls.csv column, value): the decoder's work (speechchurn.asr.decoder_work.DECODER_COLUMNS)
    decoder: tuple[tuple[str, float], ...] = ()

    def as_columns(self) -> dict[str, float | int]:
        return (
            dict(work_columns(None))
            | dict(self.decoder)
            | {
                "decode_s": round(self.decode_s, 3),
                "vad_s": round(self.vad_s, 3),
                "asr_s": round(self.asr_s, 3),
                "text_s": round(self.text_s, 3),
                "startup_s": round(self.startup_s, 3),
                "diarize_s": round(self.diarize_s, 3),
                "encoder_passes": self.encoder_passes,
            }
        )


class _Stopwatch:
    """Accumulates wall seconds per stage name; ``encoder_passes`` is counted on the side."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.encoder_passes = 0
        self.decoder: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    @classmethod
    def starting_from(cls, times: StageTimes) -> _Stopwatch:
        """A stopwatch that already holds ``times`` (stages timed elsewhere)."""
        watch = cls()
        watch.seconds = {
            name: getattr(times, f"{name}_s")
            for name in ("decode", "vad", "asr", "text", "startup", "diarize")
        }
        watch.encoder_passes = times.encoder_passes
        watch.decoder = dict(times.decoder)
        return watch

    def frozen(self) -> StageTimes:
        return StageTimes(
            **{f"{k}_s": v for k, v in self.seconds.items()},
            encoder_passes=self.encoder_passes,
            decoder=tuple(self.decoder.items()),
        )

    def add_decoder(self, columns: tuple[tuple[str, float], ...]) -> None:
        for column, value in columns:
            self.decoder[column] = self.decoder.get(column, 0) + value


@dataclass(frozen=True)
class RecordingResult:
    """Everything per-call that comes from the audio itself."""

    segments: tuple[Segment, ...]
    hits: tuple[KeywordHit, ...]
    acoustics: CallAcoustics
    duration_s: float
    warnings: tuple[str, ...] = ()  # decoding problems that did not stop the analysis
    windows: int = 1  # 1: decoded whole; more: streamed in this many windows
    timings: StageTimes = StageTimes()
    role_source: str = "channels"  # channels | diarized | mixed (speechchurn.call.roles)
    role_confidence: float = 1.0  # 0..1; NaN on a mono call that was not diarized

    def role_columns(self) -> dict[str, str | float]:
        return {"role_source": self.role_source, "role_confidence": self.role_confidence}


def analyze_recording(
    path: Path,
    audio: AudioOptions,
    transcribe: TranscribeOptions,
    acoustics: AcousticsOptions,
    lexicon: Lexicon,
    cached_segments: Sequence[Segment] | None = None,
    transfers_override: int | None = None,
    *,
    long_call_s: float = LONG_CALL_S,
    window_s: float = WINDOW_S,
    roles: RoleOptions | None = None,
    direction: str | None = None,
) -> RecordingResult:
    """Decode, transcribe (unless ``cached_segments``), find keyword hits and measure one recording.

    Recordings up to ``long_call_s`` are handled whole; longer ones stream in ``window_s`` windows.
    A mono recording handled whole is diarized into agent and customer (``roles``; ``direction`` of
    the call weighs who answers first); streamed ones stay ``mixed``.
    Raises AudioDecodeError (or another SpeechchurnError) with the file name on failure.
    """
    path = Path(path)
    watch = _Stopwatch()
    with watch.stage("decode"):
        declared = probe_duration(path)
    if declared is not None and declared <= long_call_s:
        try:
            with watch.stage("decode"):
                decoded = decode_audio(path, audio, max_duration_s=long_call_s)
        except RecordingTooLongError:
            log.info("%s: longer than its header says; streaming it in windows", path.name)
        else:
            return _analyze_whole(
                decoded,
                transcribe,
                acoustics,
                lexicon,
                cached_segments,
                transfers_override,
                watch,
                roles=(roles or RoleOptions(), direction),
            )
    return _analyze_windows(
        path,
        audio,
        transcribe,
        acoustics,
        lexicon,
        cached_segments,
        transfers_override,
        window_s,
        watch,
        (roles or RoleOptions(), direction),
    )


def analyze_decoded(
    decoded: DecodedAudio,
    acoustics: AcousticsOptions,
    lexicon: Lexicon,
    segments: Sequence[Segment],
    transfers_override: int | None = None,
    *,
    tracks=None,
    before: StageTimes = StageTimes(),
) -> RecordingResult:
    """Keyword hits and measures of a recording decoded and transcribed elsewhere (the batch's
    cross-file groups). ``tracks``: role -> SpeechTrack when the VAD already ran; ``before``: the
    stage times already spent on this recording, which the result's timings start from."""
    watch = _Stopwatch.starting_from(before)
    return _analyze_whole(
        decoded, TranscribeOptions(), acoustics, lexicon, segments, transfers_override, watch, tracks
    )


def _analyze_whole(
    decoded: DecodedAudio,
    transcribe: TranscribeOptions,
    options: AcousticsOptions,
    lexicon: Lexicon,
    cached_segments: Sequence[Segment] | None,
    transfers_override: int | None,
    watch: _Stopwatch | None = None,
    tracks=None,
    roles: tuple[RoleOptions, str | None] | None = None,
) -> RecordingResult:
    """What a normal call gets: one decode, one Silero pass per channel (serving both the ASR
    gating and the talk-time measures), one transcription, measure_call on the whole channels.
    ``roles`` (options, call direction): a mono call is diarized into agent and customer first."""

    watch = watch or _Stopwatch()
    if tracks is None:
        with watch.stage("vad"):
            tracks = {role: speech_track(samples) for role, samples in decoded.channels.items()}
    split = _split_mono(decoded, tracks, options, roles, watch)
    if split is not None:  # the two voices share decoder windows, as the mixed channel did
        decoded, tracks = split.decoded, split.tracks
        if transcribe.packing == PACK_CHANNEL:
            transcribe = replace(transcribe, packing=PACK_CALL)
    segments = cached_segments
    if segments is None:
        segments = _transcribe(decoded, transcribe, tracks, watch)
    segments = tuple(segments)
    role_source, confidence = (SOURCE_MIXED, math.nan) if not decoded.is_stereo else (SOURCE_CHANNELS, 1.0)
    if split is not None:
        with watch.stage("diarize"):
            outcome = settle(split, segments, roles[1], roles[0])
        decoded, tracks, segments = outcome.decoded, outcome.tracks, outcome.segments
        role_source, confidence = outcome.source, outcome.confidence
    with watch.stage("text"):
        hits = tuple(find_hits(segments, lexicon))
    with watch.stage("vad"):
        measured = ac.measure_call(
            decoded.channels, segments, hits, options, transfers_override=transfers_override, tracks=tracks
        )
    return RecordingResult(
        segments,
        hits,
        measured,
        decoded.duration_s,
        decoded.warnings,
        timings=watch.frozen(),
        role_source=role_source,
        role_confidence=confidence,
    )


def _split_mono(decoded: DecodedAudio, tracks, options: AcousticsOptions, roles, watch: _Stopwatch):
    """speechchurn.call.roles.split_mono of a mono call when roles are asked for, else None."""
    if roles is None or decoded.is_stereo or not roles[0].diarize:
        return None
    with watch.stage("diarize"):
        track = tracks[ROLE_MIXED]
        speech = ac.speech_intervals(decoded.channels[ROLE_MIXED], options, track=track)
        return split_mono(decoded, track, speech, roles[0])


def _transcribe(
    decoded: DecodedAudio, options: TranscribeOptions, tracks, watch: _Stopwatch
) -> list[Segment]:
    """transcribe_audio, timed (model load apart), with the engine's encoder passes and decoder work
    added to ``watch``."""

    with watch.stage("startup"):  # the model loads once per process; later calls hit the cache
        engine = transcription.load_engine(options)
    before, work = getattr(engine, "encoder_passes", 0), engine_work(engine)
    with watch.stage("asr"):
        segments = transcription.transcribe_audio(decoded, options, engine, tracks=tracks)
    watch.encoder_passes += getattr(engine, "encoder_passes", 0) - before
    watch.add_decoder(work_columns(engine_work(engine).minus(work)))
    return segments


# --------------------------------------------------------------------------- the windowed path


@dataclass
class _Collected:
    """What survives of each window: call-clock speech intervals, speech energy, segments."""

    roles: tuple[str, ...] = ()
    speech: dict[str, list[Interval]] = field(default_factory=dict)
    energy: dict[str, float] = field(default_factory=dict)  # sum of squared speech samples
    speech_samples: dict[str, int] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    boundaries: list[float] = field(default_factory=list)  # s, where one window ends and the next begins
    samples: int = 0  # decoded so far, per channel at SAMPLE_RATE
    windows: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.samples / SAMPLE_RATE


def _analyze_windows(
    path: Path,
    audio: AudioOptions,
    transcribe: TranscribeOptions,
    options: AcousticsOptions,
    lexicon: Lexicon,
    cached_segments: Sequence[Segment] | None,
    transfers_override: int | None,
    window_s: float,
    watch: _Stopwatch,
    roles: tuple[RoleOptions, str | None] | None = None,
) -> RecordingResult:
    """Stream the recording window by window; a recording that fits one window is handled whole."""

    windows = iter_windows(path, audio, window_s)
    with watch.stage("decode"):
        first = next(windows)
        second = next(windows, None)
    if second is None:
        return _analyze_whole(
            first.audio, transcribe, options, lexicon, cached_segments, transfers_override, watch, roles=roles
        )
    log.info("%s: long recording, analysing it in %.0f-min windows", path.name, window_s / 60)
    collected = _Collected()
    asr = transcribe if cached_segments is None else None
    _collect(collected, first, asr, options, watch)
    _collect(collected, second, asr, options, watch)
    del first, second
    while (window := _next_window(windows, watch)) is not None:
        _collect(collected, window, asr, options, watch)
        del window
    segments = tuple(cached_segments) if cached_segments is not None else tuple(collected.segments)
    with watch.stage("text"):
        hits = tuple(find_hits(segments, lexicon))
    with watch.stage("vad"):
        measured = _call_acoustics(collected, segments, hits, options, transfers_override)
    mono = ROLE_MIXED in collected.roles
    return RecordingResult(
        segments,
        hits,
        measured,
        collected.duration_s,
        collected.warnings,
        collected.windows,
        watch.frozen(),
        role_source=SOURCE_MIXED if mono else SOURCE_CHANNELS,
        role_confidence=math.nan if mono else 1.0,
    )


def _next_window(windows: Iterator[AudioWindow], watch: _Stopwatch) -> AudioWindow | None:
    with watch.stage("decode"):
        return next(windows, None)


def _collect(
    collected: _Collected,
    window: AudioWindow,
    transcribe: TranscribeOptions | None,
    options: AcousticsOptions,
    watch: _Stopwatch,
) -> None:
    """Detect speech in one window (and transcribe it when asked) and keep only the call-clock results."""

    channels = window.audio.channels
    offset, length_s = window.offset_s, window.audio.duration_s
    if collected.windows:
        collected.boundaries.append(offset)
    collected.roles = tuple(sorted(channels, key=ROLE_ORDER.index))
    collected.warnings = window.audio.warnings
    collected.windows += 1
    collected.samples += max(len(samples) for samples in channels.values())
    with watch.stage("vad"):
        tracks = {role: speech_track(samples) for role, samples in channels.items()}
        speech = {role: ac.speech_intervals(s, options, track=tracks[role]) for role, s in channels.items()}
        if ROLE_MIXED not in channels and len(channels) == 2:
            speech = ac.reject_crosstalk(channels, speech, options)
    for role, samples in channels.items():
        local = ac.clip(speech.get(role, []), 0.0, length_s)
        energy, count = _speech_energy(samples, local)
        collected.energy[role] = collected.energy.get(role, 0.0) + energy
        collected.speech_samples[role] = collected.speech_samples.get(role, 0) + count
        collected.speech.setdefault(role, []).extend((s + offset, e + offset) for s, e in local)
    if transcribe is not None:
        collected.segments.extend(_transcribe_window(window, transcribe, tracks, watch))


def _transcribe_window(
    window: AudioWindow, options: TranscribeOptions, tracks, watch: _Stopwatch
) -> list[Segment]:
    """The window's segments on the call's clock."""
    offset = window.offset_s
    return [
        replace(seg, start=round(seg.start + offset, 2), end=round(seg.end + offset, 2))
        for seg in _transcribe(window.audio, options, tracks, watch)
    ]


def _speech_energy(samples: np.ndarray, intervals: Sequence[Interval]) -> tuple[float, int]:
    """Sum of squares and count of the samples under ``intervals`` (as acoustics.loudness_dbfs cuts them)."""
    energy, count = 0.0, 0
    for start, end in ac.union(intervals):
        piece = samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)].astype(np.float64)
        energy += float(np.dot(piece, piece))
        count += piece.size
    return energy, count


def stitch(intervals: Sequence[Interval], boundaries: Sequence[float], max_gap_s: float) -> list[Interval]:
    """Join intervals that a window boundary split: the gap holds a boundary and is below ``max_gap_s``."""
    joined: list[Interval] = []
    for start, end in ac.union(intervals):
        if joined and start - joined[-1][1] < max_gap_s:
            previous_end = joined[-1][1]
            if any(previous_end <= b <= start for b in boundaries):
                joined[-1] = (joined[-1][0], end)
                continue
        joined.append((start, end))
    return joined


# --------------------------------------------------------------------------- call-level measures


def _call_acoustics(
    collected: _Collected,
    segments: Sequence[Segment],
    hits: Sequence[KeywordHit],
    options: AcousticsOptions,
    transfers_override: int | None,
) -> CallAcoustics:
    """acoustics.measure_from_intervals on the stitched intervals, with loudness from energy sums."""
    duration_s = collected.duration_s
    max_gap_s = options.vad_min_silence_ms / 1000.0
    speech = {
        role: ac.clip(
            stitch(collected.speech.get(role, []), collected.boundaries, max_gap_s), 0.0, duration_s
        )
        for role in collected.roles
    }
    loudness = {role: _loudness(collected, role) for role in collected.roles}
    return ac.measure_from_intervals(
        speech, duration_s, segments, hits, loudness, options, transfers_override
    )


def _loudness(collected: _Collected, role: str) -> float:
    count = collected.speech_samples.get(role, 0)
    if not count:
        return math.nan
    rms = math.sqrt(collected.energy[role] / count)
    return 20.0 * math.log10(max(rms, ac.EPS_DB))
