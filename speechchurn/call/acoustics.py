"""Call acoustics: who talks when (Silero VAD per channel), silences, holds, overlaps, transfers.

Speech activity comes from the Silero voice-activity detector that faster-whisper ships as ONNX,
run on each channel (16 kHz float32), with an energy gate on top that drops detections no louder
than the line hiss and, on stereo calls, a crosstalk filter that drops the parts of a detection
that are only the other party's voice bleeding into this channel (``crosstalk_rejection_db`` below
it). Everything else is pure interval arithmetic on the per-role speech intervals.

Definitions (all times in seconds):

* ``non_talk_s``: total of the gaps in which nobody talks that last longer than
  ``non_talk_min_s`` (3 s, the Contact Lens definition), between the first and the last detected
  speech of the call. Silence before the first word and after the last one (ringing, a recorder
  started early or stopped late) is not non-talk unless ``non_talk_edges`` is set; a call with no
  speech at all then has 0 s non-talk. See docs/acoustics.md.
* ``silence_ratio``: share of the call in which nobody talks (gaps of any length).
* ``hold_count``: agent (or mixed-channel) keyword hits of category ``hold`` (请稍等, ...) that are
  followed, within ``hold_lookahead_s`` of the hit's end, by a silence of at least
  ``hold_silence_min_s``. One silence counts for one hold at most.
* ``overlap_s``: time in which agent and customer talk at once (stereo only).
* ``interruptions_<role>``: times that role starts talking while the other side is mid-utterance
  and the other side goes on talking for at least ``interruption_min_overlap_s`` (0.3 s) after
  that. A short utterance (< ``backchannel_max_s``) that starts and ends inside the other's speech
  (嗯, 对, 好的) is a backchannel, not an interruption. Stereo only.
* ``transfers``: the manifest value when given, else the number of distinct transfer events in
  the agent's (or mixed channel's) words: a ``transfer`` hit starting at most ``transfer_merge_s``
  after the previous one ended belongs to the same event. A customer asking to be transferred
  (能不能帮我转人工) is not a transfer.

Mono calls (one ``mixed`` channel): the speakers cannot be separated, so all talk goes to
``talk_s_mixed`` (also ``talk_speed_cpm_mixed``, ``loudness_dbfs_mixed``); the per-role talk,
speed, loudness, overlap and interruption columns are NaN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from speechchurn.call.intervals import (  # re-exported: the interval vocabulary of this module
    Interval,
    clip,
    count_interruptions,
    gaps,
    intersection,
    long_gaps_total,
    total,
    union,
)
from speechchurn.call.vad import SpeechSettings, speech_timestamps, speech_track
from speechchurn.schema import ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED, KeywordHit, Segment
from speechchurn.vocab import HOLD_CATEGORY, SAMPLE_RATE_HZ, SPEAKER_ROLES, TRANSFER_CATEGORY

log = logging.getLogger("speechchurn")

SAMPLE_RATE = SAMPLE_RATE_HZ  # Hz, every channel reaching this module
VAD_WINDOW_SAMPLES = 512  # Silero frame at 16 kHz (32 ms)
ENERGY_FRAME_S = 0.020  # s, frame length for the energy gate's noise-floor estimate
NOISE_FLOOR_PERCENTILE = 10.0  # %, frames this quiet are taken to be line noise
EPS_DB = 1e-10  # floor for log10 of an RMS of exact zeros


@dataclass(frozen=True)
class AcousticsOptions:
    """Tunable definitions and VAD settings. Defaults were tuned on audio_samples (8 kHz phone audio)."""

    non_talk_min_s: float = 3.0  # s, only silences longer than this count as non-talk
    non_talk_edges: bool = False  # also count silence before the first / after the last speech
    hold_silence_min_s: float = 3.0  # s, silence after a hold phrase that makes it a hold
    hold_lookahead_s: float = 10.0  # s, the silence must start this soon after the hold phrase
    # s, a transfer phrase starting less than this after the previous one ended is the same hand-off
    # (repeats like 为您转接…正在为您转接). The samples hold two real hand-offs 13 s apart, hence 10 s.
    transfer_merge_s: float = 10.0
    interruption_min_overlap_s: float = 0.3  # s, the interrupted side must keep talking this long
    backchannel_max_s: float = 1.0  # s, shorter utterances inside the other's speech are backchannels
    vad_threshold: float = 0.5  # Silero speech probability that starts speech
    vad_neg_threshold: float | None = None  # probability below which speech ends (None: threshold-0.15)
    vad_min_speech_ms: int = 150  # ms, shorter detections are dropped
    vad_min_silence_ms: int = 300  # ms, pauses shorter than this stay inside one utterance
    vad_speech_pad_ms: int = 60  # ms, padding added on both sides of each detection
    energy_gate_dbfs: float | None = -55.0  # dBFS, detections quieter than this are hiss (None: off)
    energy_gate_snr_db: float = 6.0  # dB, detections must be this much louder than the noise floor
    # dB, stereo: a detection this much quieter than the other channel over the same time is echo/bleed
    # of the other party, not speech (None: off). Real talk-over is within a few dB of the other side.
    crosstalk_rejection_db: float | None = 20.0


@dataclass(frozen=True)
class CallAcoustics:
    """Acoustic measures of one call. NaN marks a measure that does not apply (e.g. roles on mono)."""

    duration_s: float
    talk_s_agent: float
    talk_s_customer: float
    talk_s_mixed: float
    non_talk_s: float
    longest_silence_s: float
    silence_ratio: float
    hold_count: int
    overlap_s: float
    interruptions_agent: float
    interruptions_customer: float
    talk_speed_cpm_agent: float
    talk_speed_cpm_customer: float
    talk_speed_cpm_mixed: float
    loudness_dbfs_agent: float
    loudness_dbfs_customer: float
    loudness_dbfs_mixed: float
    transfers: int
    transfer_evidence: tuple[tuple[float, str], ...] = ()
    transfers_source: str = "keywords"  # "keywords" | "manifest"
    speech: tuple[tuple[str, tuple[Interval, ...]], ...] = ()  # (role, VAD intervals) per channel

    def as_columns(self) -> dict[str, float | int]:
        """Flat calls.csv columns (the contract's 15, then the 3 mono ``*_mixed`` columns)."""
        return {
            "duration_s": self.duration_s,
            "talk_s_agent": self.talk_s_agent,
            "talk_s_customer": self.talk_s_customer,
            "non_talk_s": self.non_talk_s,
            "longest_silence_s": self.longest_silence_s,
            "silence_ratio": self.silence_ratio,
            "hold_count": self.hold_count,
            "overlap_s": self.overlap_s,
            "interruptions_agent": self.interruptions_agent,
            "interruptions_customer": self.interruptions_customer,
            "talk_speed_cpm_agent": self.talk_speed_cpm_agent,
            "talk_speed_cpm_customer": self.talk_speed_cpm_customer,
            "loudness_dbfs_agent": self.loudness_dbfs_agent,
            "loudness_dbfs_customer": self.loudness_dbfs_customer,
            "transfers": self.transfers,
            "talk_s_mixed": self.talk_s_mixed,
            "talk_speed_cpm_mixed": self.talk_speed_cpm_mixed,
            "loudness_dbfs_mixed": self.loudness_dbfs_mixed,
        }


# --------------------------------------------------------------------------- keyword-driven measures


def _speaker_hits(hits: Sequence[KeywordHit], category: str) -> list[KeywordHit]:
    """Non-negated hits of ``category`` said by the agent (or on a mono channel), by time."""
    chosen = [
        h for h in hits if h.category == category and h.role in (ROLE_AGENT, ROLE_MIXED) and not h.negated
    ]
    return sorted(chosen, key=lambda h: (h.start, h.end))


def count_holds(
    hits: Sequence[KeywordHit], silences: Sequence[Interval], min_silence_s: float, lookahead_s: float
) -> int:
    """Agent hold phrases followed within ``lookahead_s`` by a silence of ``min_silence_s`` or more."""
    long_silences = [g for g in silences if g[1] - g[0] >= min_silence_s]
    used: set[Interval] = set()
    count = 0
    for hit in _speaker_hits(hits, HOLD_CATEGORY):
        for gap in long_silences:
            if gap not in used and hit.start <= gap[0] <= hit.end + lookahead_s:
                used.add(gap)
                count += 1
                break
    return count


def detect_transfers(hits: Sequence[KeywordHit], merge_s: float) -> tuple[int, tuple[tuple[float, str], ...]]:
    """Distinct transfer events in the agent's words, and every detection as (time, text)."""
    chosen = _speaker_hits(hits, TRANSFER_CATEGORY)
    events = 0
    previous_end: float | None = None
    for hit in chosen:
        if previous_end is None or hit.start - previous_end > merge_s:
            events += 1
        previous_end = hit.end if previous_end is None else max(previous_end, hit.end)
    evidence = tuple((round(h.start, 2), h.snippet or h.heard) for h in chosen)
    return events, evidence


def count_chars(text: str) -> int:
    """Spoken characters: Chinese characters, letters and digits (punctuation and spaces excluded)."""
    return sum(1 for ch in text if ch.isalnum())


def talk_speed_cpm(segments: Sequence[Segment], role: str, talk_s: float) -> float:
    """Characters per minute of VAD talk time for ``role``; NaN when the role never talks."""
    if not talk_s > 0:
        return math.nan
    chars = sum(count_chars(s.text) for s in segments if s.role == role)
    return chars / (talk_s / 60.0)


# --------------------------------------------------------------------------- signal measures


def loudness_dbfs(
    samples: np.ndarray, intervals: Sequence[Interval], sample_rate: int = SAMPLE_RATE
) -> float:
    """RMS level of the speech parts in dBFS (full-scale square wave = 0 dBFS); NaN without speech."""
    pieces = [samples[int(s * sample_rate) : int(e * sample_rate)] for s, e in union(intervals)]
    pieces = [p for p in pieces if p.size]
    if not pieces:
        return math.nan
    speech = np.concatenate(pieces).astype(np.float64)
    rms = float(np.sqrt(np.mean(speech**2)))
    return 20.0 * math.log10(max(rms, EPS_DB))


def _noise_floor_dbfs(samples: np.ndarray, sample_rate: int) -> float:
    """Level of the quietest frames (line hiss) in dBFS."""
    frame = max(1, int(ENERGY_FRAME_S * sample_rate))
    usable = samples[: samples.size // frame * frame].astype(np.float64)
    if usable.size == 0:
        return -math.inf
    rms = np.sqrt(np.mean(usable.reshape(-1, frame) ** 2, axis=1))
    return 20.0 * math.log10(max(float(np.percentile(rms, NOISE_FLOOR_PERCENTILE)), EPS_DB))


def _energy_gate(
    samples: np.ndarray, intervals: list[Interval], options: AcousticsOptions, sample_rate: int
) -> list[Interval]:
    """Drop detections that are no louder than the absolute gate or the channel's noise floor."""
    if options.energy_gate_dbfs is None or not intervals:
        return intervals
    floor = _noise_floor_dbfs(samples, sample_rate) + options.energy_gate_snr_db
    kept = []
    for interval in intervals:
        level = loudness_dbfs(samples, [interval], sample_rate)
        if level >= options.energy_gate_dbfs and level >= floor:
            kept.append(interval)
        else:
            log.debug("VAD detection %.2f-%.2f s at %.1f dBFS rejected as noise", *interval, level)
    return kept


def speech_intervals(
    samples: np.ndarray,
    options: AcousticsOptions = AcousticsOptions(),
    sample_rate: int = SAMPLE_RATE,
    track=None,
) -> list[Interval]:
    """Speech intervals (seconds) of one 16 kHz float32 channel: Silero VAD, then the energy gate.

    ``track`` (speechchurn.call.vad.SpeechTrack) reuses the Silero pass the ASR gating already ran.
    """

    audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    if audio.size < VAD_WINDOW_SAMPLES or not np.any(audio):
        return []
    settings = SpeechSettings(
        threshold=options.vad_threshold,
        neg_threshold=options.vad_neg_threshold,
        min_speech_ms=options.vad_min_speech_ms,
        min_silence_ms=options.vad_min_silence_ms,
        speech_pad_ms=options.vad_speech_pad_ms,
    )
    stamps = speech_timestamps(track or speech_track(audio), settings)
    intervals = union([(d["start"] / sample_rate, d["end"] / sample_rate) for d in stamps])
    return _energy_gate(audio, intervals, options, sample_rate)


def _frame_levels_db(samples: np.ndarray, start: int, stop: int) -> np.ndarray:
    """dBFS level of each VAD-sized frame of samples[start:stop] (the last frame may be short)."""
    piece = samples[start:stop].astype(np.float64)
    bounds = np.arange(0, piece.size, VAD_WINDOW_SAMPLES)
    energy = np.add.reduceat(piece**2, bounds) / np.diff(np.append(bounds, piece.size))
    return 10.0 * np.log10(np.maximum(energy, EPS_DB**2))


def _runs(keep: np.ndarray, start: int, stop: int, sample_rate: int) -> list[Interval]:
    """Intervals (s) of the consecutive True frames of ``keep``; frames start at sample ``start``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    result = []
    for first, last in zip(edges[::2], edges[1::2], strict=True):
        begin = start + int(first) * VAD_WINDOW_SAMPLES
        end = min(stop, start + int(last) * VAD_WINDOW_SAMPLES)
        result.append((begin / sample_rate, end / sample_rate))
    return result


def _close_small_gaps(intervals: list[Interval], options: AcousticsOptions) -> list[Interval]:
    """Re-join pieces split by pauses shorter than vad_min_silence_ms; drop too-short pieces."""
    joined: list[Interval] = []
    for start, end in union(intervals):
        if joined and start - joined[-1][1] < options.vad_min_silence_ms / 1000.0:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return [(s, e) for s, e in joined if e - s >= options.vad_min_speech_ms / 1000.0]


def _strip_crosstalk(
    own: np.ndarray, other: np.ndarray, interval: Interval, options: AcousticsOptions, sample_rate: int
) -> list[Interval]:
    """The parts of one detection on ``own`` that are not echo/bleed of ``other`` (see reject_crosstalk)."""
    start, stop = int(interval[0] * sample_rate), int(interval[1] * sample_rate)
    own_db, other_db = _frame_levels_db(own, start, stop), _frame_levels_db(other, start, stop)
    if own_db.size != other_db.size or options.crosstalk_rejection_db is None:
        return [interval]
    crosstalk = other_db - own_db >= options.crosstalk_rejection_db
    if not crosstalk.any():
        return [interval]
    audible = own_db >= _noise_floor_dbfs(own, sample_rate) + options.energy_gate_snr_db
    pad_s = options.vad_speech_pad_ms / 1000.0
    runs = _runs(audible & ~crosstalk, start, stop, sample_rate)
    return clip([(s - pad_s, e + pad_s) for s, e in runs], *interval)


def reject_crosstalk(
    channels: Mapping[str, np.ndarray],
    speech: Mapping[str, list[Interval]],
    options: AcousticsOptions = AcousticsOptions(),
    sample_rate: int = SAMPLE_RATE,
) -> dict[str, list[Interval]]:
    """Stereo: drop the parts of each detection that are ``crosstalk_rejection_db`` quieter than the
    other channel at the same moment (echo/bleed of the other party); re-join pauses shorter than
    ``vad_min_silence_ms`` and drop pieces shorter than ``vad_min_speech_ms``."""
    kept: dict[str, list[Interval]] = {}
    for role, other in ((ROLE_AGENT, ROLE_CUSTOMER), (ROLE_CUSTOMER, ROLE_AGENT)):
        pieces: list[Interval] = []
        for interval in speech.get(role, []):
            pieces.extend(_strip_crosstalk(channels[role], channels[other], interval, options, sample_rate))
        kept[role] = _close_small_gaps(pieces, options)
        removed = total(speech.get(role, [])) - total(kept[role])
        if removed > 0:
            log.debug("%s: %.2f s of crosstalk removed", role, removed)
    return kept


# --------------------------------------------------------------------------- per-call measures


def _check_roles(channels: Mapping[str, np.ndarray]) -> bool:
    """True for a mono call (one ``mixed`` channel); ValueError for anything else unexpected."""
    roles = set(channels)
    if roles == {ROLE_MIXED}:
        return True
    if roles and roles <= set(SPEAKER_ROLES):
        return False
    raise ValueError(f"channels must be {{'mixed'}} or agent/customer, got {sorted(roles)}")


def _silence_measures(speech: Sequence[Interval], duration_s: float, options: AcousticsOptions) -> dict:
    silent = gaps(speech, 0.0, duration_s)
    return {
        "non_talk_s": long_gaps_total(_non_talk_gaps(speech, silent, options), options.non_talk_min_s),
        "longest_silence_s": max((e - s for s, e in silent), default=0.0),
        "silence_ratio": total(silent) / duration_s if duration_s > 0 else math.nan,
        "silences": silent,
    }


def _non_talk_gaps(
    speech: Sequence[Interval], silent: list[Interval], options: AcousticsOptions
) -> list[Interval]:
    """The silences that may count as non-talk: interior ones, or all with ``non_talk_edges``."""
    if options.non_talk_edges:
        return silent
    if not speech:
        return []
    first, last = min(s for s, _e in speech), max(e for _s, e in speech)
    return [(s, e) for s, e in silent if s >= first and e <= last]


def _role_measures(
    speech: Mapping[str, list[Interval]], segments: Sequence[Segment], loudness: Mapping[str, float]
) -> dict[str, float]:
    """talk_s / talk_speed_cpm / loudness_dbfs for every role column (NaN where the role is absent)."""
    mono = ROLE_MIXED in speech
    measures: dict[str, float] = {}
    for role in (ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED):
        applies = (role == ROLE_MIXED) == mono
        talk = total(speech.get(role, [])) if applies else math.nan
        measures[f"talk_s_{role}"] = talk
        measures[f"talk_speed_cpm_{role}"] = talk_speed_cpm(segments, role, talk) if applies else math.nan
        measures[f"loudness_dbfs_{role}"] = loudness.get(role, math.nan)
    return measures


def _overlap_measures(speech: Mapping[str, list[Interval]], mono: bool, options: AcousticsOptions) -> dict:
    if mono:
        return {"overlap_s": math.nan, "interruptions_agent": math.nan, "interruptions_customer": math.nan}
    agent, customer = speech.get(ROLE_AGENT, []), speech.get(ROLE_CUSTOMER, [])
    min_overlap, backchannel = options.interruption_min_overlap_s, options.backchannel_max_s
    return {
        "overlap_s": total(intersection(agent, customer)),
        "interruptions_agent": count_interruptions(agent, customer, min_overlap, backchannel),
        "interruptions_customer": count_interruptions(customer, agent, min_overlap, backchannel),
    }


def measure_call(
    channels: Mapping[str, np.ndarray],
    segments: Sequence[Segment],
    hits: Sequence[KeywordHit],
    options: AcousticsOptions = AcousticsOptions(),
    transfers_override: int | None = None,
    tracks: Mapping | None = None,
) -> CallAcoustics:
    """All acoustic measures of one call from its 16 kHz channels, transcript segments and keyword hits.

    ``tracks``: role -> speechchurn.call.vad.SpeechTrack already computed (one Silero pass per channel).
    """
    mono = _check_roles(channels)
    tracks = tracks or {}
    speech = {
        role: speech_intervals(samples, options, track=tracks.get(role)) for role, samples in channels.items()
    }
    if not mono and len(channels) == 2:
        speech = reject_crosstalk(channels, speech, options)
    return measure_from_speech(channels, speech, segments, hits, options, transfers_override)


def measure_from_speech(
    channels: Mapping[str, np.ndarray],
    speech: Mapping[str, Sequence[Interval]],
    segments: Sequence[Segment],
    hits: Sequence[KeywordHit],
    options: AcousticsOptions = AcousticsOptions(),
    transfers_override: int | None = None,
) -> CallAcoustics:
    """The measures of :func:`measure_call` from already detected speech intervals per role."""
    _check_roles(channels)
    duration_s = max(len(samples) for samples in channels.values()) / SAMPLE_RATE
    speech = {role: clip(speech.get(role, []), 0.0, duration_s) for role in channels}
    loudness = {role: loudness_dbfs(channels[role], speech[role]) for role in channels}
    return measure_from_intervals(speech, duration_s, segments, hits, loudness, options, transfers_override)


def measure_from_intervals(
    speech: Mapping[str, list[Interval]],
    duration_s: float,
    segments: Sequence[Segment],
    hits: Sequence[KeywordHit],
    loudness: Mapping[str, float],
    options: AcousticsOptions = AcousticsOptions(),
    transfers_override: int | None = None,
) -> CallAcoustics:
    """Every measure from call-clock speech intervals per role (keys: the call's roles) and levels.

    Shared by whole calls and by long recordings streamed in windows (speechchurn.recording).
    """
    silence = _silence_measures([iv for ivs in speech.values() for iv in ivs], duration_s, options)
    detected, evidence = detect_transfers(hits, options.transfer_merge_s)
    transfers = detected if transfers_override is None else int(transfers_override)
    holds = count_holds(hits, silence["silences"], options.hold_silence_min_s, options.hold_lookahead_s)
    return CallAcoustics(
        duration_s=duration_s,
        non_talk_s=silence["non_talk_s"],
        longest_silence_s=silence["longest_silence_s"],
        silence_ratio=silence["silence_ratio"],
        hold_count=holds,
        transfers=transfers,
        transfer_evidence=evidence,
        transfers_source="keywords" if transfers_override is None else "manifest",
        speech=tuple((role, tuple(ivs)) for role, ivs in sorted(speech.items())),
        **_role_measures(speech, segments, loudness),
        **_overlap_measures(speech, ROLE_MIXED in speech, options),
    )
