"""The confidence gate of ``decoding="gated"``: is a greedy decode of one window good enough to keep?

Gated decoding runs the cheap greedy pass (beam 1, temperature 0 only) first and keeps it when every
segment of the window passes all checks below; otherwise the window is decoded again with the full
beam and temperature fallback, reusing the encoder output. The checks, per segment:

* average log-probability at least ``min_avg_logprob`` (Whisper's own fallback threshold is -1.0);
* gzip compression ratio at most ``max_compression_ratio`` (Whisper's: 2.4; loops compress well);
* no run of a short unit repeated more than ``loops.MAX_REPEATS`` times (the loop guard would cut it);
* no-speech probability at most ``max_no_speech_prob``;

and the window must have some text when the VAD heard speech in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from speechchurn.asr.loops import collapse_loops
from speechchurn.asr.segments import RawSegment


@dataclass(frozen=True)
class GateOptions:
    min_avg_logprob: float = -0.5  # per segment, natural log per token
    max_compression_ratio: float = 2.0  # gzip ratio of a segment's text
    max_no_speech_prob: float = 0.5  # Whisper's probability that the window is silent


def gate_failures(raws: Sequence[RawSegment], gate: GateOptions) -> tuple[str, ...]:
    """Why a greedy window fails the gate (empty: keep it): logprob, compression, loop, no_speech, empty."""
    if not any(raw.text.strip() for raw in raws):
        return ("empty",)
    failed = set()
    for raw in raws:
        if raw.avg_logprob < gate.min_avg_logprob:
            failed.add("logprob")
        if raw.compression_ratio > gate.max_compression_ratio:
            failed.add("compression")
        if collapse_loops(raw.text) != raw.text:
            failed.add("loop")
        if raw.no_speech_prob > gate.max_no_speech_prob:
            failed.add("no_speech")
    return tuple(sorted(failed))
