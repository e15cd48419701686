"""Agent and customer on a mono call: diarize, split into two role channels, decide who is who.

A mono recording holds both parties on one ``mixed`` channel. :func:`split_mono` diarizes it
(speechchurn.call.diarize) and returns two *provisional* channels, each the mixed signal with the
other speaker's turns silenced: speaker 0 (the first to speak) in the ``agent`` slot, speaker 1 in
the ``customer`` slot. Both are transcribed like the two sides of a stereo call. :func:`settle` then
reads who said what and decides the roles:

* cue score of a speaker: the weights of the agent phrases of ``data/role_cues.toml`` in the
  speaker's words (您好…为您服务, 工号, 请问还有什么可以帮您, 还有其他问题吗, ...) minus the
  weights of the customer phrases (我想, 帮我, 你们, ...);
* evidence that speaker 0 is the agent: cue score of speaker 0 minus that of speaker 1, plus
  ``first_speaker_weight`` on inbound calls (the agent answers);
* ``role_confidence`` = sigmoid(|evidence|) x the diarization's quality (0 when only one voice was
  found, rising from 0 at ``separation_floor`` to 1 at ``separation_full`` mean |LLR| per frame).

When ``role_confidence`` is at least ``min_confidence`` (default 0.75) the call gets per-role
channels and segments with ``role_source = "diarized"``; below it the call stays ``mixed``
(``role_source = "mixed"``, the confidence kept in calls.csv so the call is flagged, never guessed).
Stereo calls have ``role_source = "channels"`` and confidence 1.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from speechchurn.call.audio import DecodedAudio
from speechchurn.call.diarize import Diarization, DiarizeOptions, diarize
from speechchurn.call.intervals import Interval, intersection, total
from speechchurn.call.vad import VAD_FRAME_SAMPLES, SpeechTrack
from speechchurn.errors import ConfigError
from speechchurn.resources import DATA_DIR
from speechchurn.schema import ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED, Segment
from speechchurn.vocab import ROLE_SOURCE_CHANNELS, ROLE_SOURCE_DIARIZED, ROLE_SOURCE_MIXED, SAMPLE_RATE_HZ

log = logging.getLogger("speechchurn")

ROLE_CUES_PATH = DATA_DIR / "role_cues.toml"
SOURCE_CHANNELS = ROLE_SOURCE_CHANNELS
SOURCE_DIARIZED = ROLE_SOURCE_DIARIZED
SOURCE_MIXED = ROLE_SOURCE_MIXED
PROVISIONAL = (ROLE_AGENT, ROLE_CUSTOMER)  # slots of speaker 0 and speaker 1 before roles are known
GAP_CHARS = 12  # "…" in a cue matches up to this many characters
EDGE_S = 0.05  # s, each turn keeps this much of its neighbourhood in its own channel (word edges)
FADE_S = 0.01  # s, fade in / out at the edges of a kept turn (no clicks)
_STRIP = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class RoleOptions:
    """How mono calls get roles (the threshold is documented in README and docs/architecture.md)."""

    diarize: bool = True  # False: mono calls stay `mixed`, as before
    min_confidence: float = 0.75  # below this the call stays mixed (and is flagged in calls.csv)
    first_speaker_weight: float = 1.5  # cue points for answering first on an inbound call
    separation_floor: float = 0.5  # mean |LLR| per frame at which the diarization counts for nothing
    separation_full: float = 1.5  # mean |LLR| per frame from which it counts fully
    diarization: DiarizeOptions = DiarizeOptions()


@dataclass(frozen=True)
class RoleCues:
    agent: tuple[tuple[re.Pattern, float], ...]
    customer: tuple[tuple[re.Pattern, float], ...]
    fingerprint: str  # content hash, part of the transcript cache key


@dataclass(frozen=True)
class MonoSplit:
    """A mono call split into two provisional channels (speaker 0 -> agent slot, 1 -> customer)."""

    original: DecodedAudio
    original_track: object  # speechchurn.call.vad.SpeechTrack of the mixed channel
    diarization: Diarization
    decoded: DecodedAudio  # channels agent / customer (provisional)
    tracks: dict


@dataclass(frozen=True)
class RoleOutcome:
    """What the call ends up with: channels, tracks and segments with their final roles."""

    decoded: DecodedAudio
    tracks: dict
    segments: tuple[Segment, ...]
    source: str  # channels | diarized | mixed
    confidence: float  # 0..1; NaN when nothing was tried (diarization off, no speech)


# --------------------------------------------------------------------------- cues


def _pattern(phrase: str) -> re.Pattern:
    parts = [re.escape(_normalize(p)) for p in phrase.split("…")]
    return re.compile(f".{{0,{GAP_CHARS}}}?".join(parts))


def _normalize(text: str) -> str:
    import zhconv

    return _STRIP.sub("", zhconv.convert(text, "zh-cn"))


@functools.lru_cache(maxsize=8)
def load_cues(path: Path = ROLE_CUES_PATH) -> RoleCues:
    """Parse and validate a role-cue file (ConfigError naming the file and the bad key)."""
    import hashlib

    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path.name}: cannot read role cues ({e})") from e
    unknown = set(data) - {ROLE_AGENT, ROLE_CUSTOMER}
    if unknown or ROLE_AGENT not in data:
        raise ConfigError(f"{path.name}: tables must be [agent] and [customer], got {sorted(data)}")
    tables = {}
    for role in (ROLE_AGENT, ROLE_CUSTOMER):
        entries = []
        for phrase, weight in data.get(role, {}).items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
                raise ConfigError(f"{path.name}: [{role}] {phrase!r} needs a positive number, got {weight!r}")
            if not _normalize(phrase.replace("…", "")):
                raise ConfigError(f"{path.name}: [{role}] {phrase!r} has no characters to match")
            entries.append((_pattern(phrase), float(weight)))
        tables[role] = tuple(entries)
    return RoleCues(tables[ROLE_AGENT], tables[ROLE_CUSTOMER], hashlib.sha256(raw).hexdigest()[:16])


def cue_score(texts: Sequence[str], cues: RoleCues) -> float:
    """Agent cue weights minus customer cue weights found in ``texts`` (each cue once per text)."""
    score = 0.0
    for text in texts:
        plain = _normalize(text)
        score += sum(w for p, w in cues.agent if p.search(plain))
        score -= sum(w for p, w in cues.customer if p.search(plain))
    return score


# --------------------------------------------------------------------------- splitting


def split_mono(
    decoded: DecodedAudio, track, speech: Sequence[Interval], options: RoleOptions = RoleOptions()
) -> MonoSplit | None:
    """Diarize a mono call into two provisional channels; None when fewer than two voices speak."""
    samples = decoded.channels[ROLE_MIXED]
    found = diarize(samples, speech, options.diarization)
    if found.speakers < 2:
        log.info("%s: one voice found; the call stays mixed", decoded.path.name)
        return None
    channels, tracks = {}, {}
    for speaker, role in enumerate(PROVISIONAL):
        keep = _keep_mask(found, speaker, samples.size)
        channels[role] = (samples * keep).astype(np.float32)
        tracks[role] = _masked_track(track, keep)
    split = replace(decoded, channels=channels)
    return MonoSplit(decoded, track, found, split, tracks)


def _keep_mask(found: Diarization, speaker: int, n_samples: int) -> np.ndarray:
    """Gain per sample: 1 on the speaker's turns (widened by EDGE_S, never into the other's turns),
    0 elsewhere, with FADE_S ramps."""
    keep = np.zeros(n_samples, np.float32)
    for start, end in found.speech(speaker):
        keep[max(0, int((start - EDGE_S) * SAMPLE_RATE_HZ)) : int((end + EDGE_S) * SAMPLE_RATE_HZ)] = 1.0
    for start, end in found.speech(1 - speaker):
        keep[int(start * SAMPLE_RATE_HZ) : int(end * SAMPLE_RATE_HZ)] = 0.0
    fade = max(1, int(FADE_S * SAMPLE_RATE_HZ))
    return np.convolve(keep, np.ones(fade) / fade, "same").astype(np.float32)


def _masked_track(track, keep: np.ndarray):
    """The Silero track of the mixed channel with frames outside ``keep`` set to 0 (no new pass)."""
    n = track.probs.size
    padded = np.pad(keep, (0, max(0, n * VAD_FRAME_SAMPLES - keep.size)))[: n * VAD_FRAME_SAMPLES]
    frame_keep = padded.reshape(n, VAD_FRAME_SAMPLES).mean(1) >= 0.5
    return SpeechTrack(np.where(frame_keep, track.probs, 0.0).astype(np.float32), track.n_samples)


# --------------------------------------------------------------------------- deciding


def segment_speaker(segment: Segment, found: Diarization) -> int:
    """The speaker whose turns overlap the segment most (speaker 0 on a tie)."""
    span = [(segment.start, segment.end)]
    overlap = [total(intersection(span, found.speech(k))) for k in (0, 1)]
    return int(overlap[1] > overlap[0])


def role_evidence(
    texts: Mapping[int, Sequence[str]], direction: str | None, cues: RoleCues, options: RoleOptions
) -> float:
    """Evidence (log-odds) that speaker 0 is the agent."""
    evidence = cue_score(texts.get(0, ()), cues) - cue_score(texts.get(1, ()), cues)
    if direction == "in":
        evidence += options.first_speaker_weight
    return evidence


def role_confidence(evidence: float, found: Diarization, options: RoleOptions) -> float:
    """sigmoid(|evidence|) x diarization quality, in [0, 1]."""
    if found.speakers < 2:
        return 0.0
    span = max(options.separation_full - options.separation_floor, 1e-9)
    quality = min(1.0, max(0.0, (found.separation - options.separation_floor) / span))
    return round(quality / (1.0 + math.exp(-abs(evidence))), 3)


def settle(
    split: MonoSplit,
    segments: Sequence[Segment],
    direction: str | None,
    options: RoleOptions = RoleOptions(),
    cues: RoleCues | None = None,
) -> RoleOutcome:
    """Final roles of a split mono call from its segments' words (fresh or from the cache)."""
    cues = cues or load_cues()
    found = split.diarization
    speakers = [segment_speaker(s, found) for s in segments]
    texts = {k: [s.text for s, sp in zip(segments, speakers, strict=True) if sp == k] for k in (0, 1)}
    evidence = role_evidence(texts, direction, cues, options)
    confidence = role_confidence(evidence, found, options)
    if confidence < options.min_confidence:
        log.info(
            "%s: roles unsure (confidence %.2f); the call stays mixed", split.original.path.name, confidence
        )
        mixed = tuple(replace(s, role=ROLE_MIXED) for s in segments)
        return RoleOutcome(
            split.original, {ROLE_MIXED: split.original_track}, mixed, SOURCE_MIXED, confidence
        )
    agent = 0 if evidence >= 0 else 1
    role_of = {agent: ROLE_AGENT, 1 - agent: ROLE_CUSTOMER}
    relabelled = tuple(replace(s, role=role_of[k]) for s, k in zip(segments, speakers, strict=True))
    channels = {role_of[k]: split.decoded.channels[PROVISIONAL[k]] for k in (0, 1)}
    tracks = {role_of[k]: split.tracks[PROVISIONAL[k]] for k in (0, 1)}
    decoded = replace(split.decoded, channels=channels)
    return RoleOutcome(decoded, tracks, relabelled, SOURCE_DIARIZED, confidence)
