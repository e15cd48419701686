"""Counting the Whisper decoder's work without changing what it decodes.

:class:`CountingModel` stands in for faster-whisper's ``WhisperModel.model`` (the CTranslate2
``Whisper`` object) and forwards every attribute to it; only ``generate`` is observed. Per call it
adds the tokens of the returned best hypothesis (timestamp tokens included, the prompt
not) and ``tokens x hypotheses per step`` as beam steps (beam size for beam search, ``best_of``
for sampling).
A window is one encoder output: the first ``generate`` on it counts the window; a sampling call
(temperature > 0, which faster-whisper makes only as a fallback) marks it as a fallback window once.
A beam re-decode of the same output (gated decoding) is one more pass, not one more window.

The counts go into :class:`DecoderWork`, a mutable tally held by the engine (like
``encoder_passes``); callers take differences before and after the work they want to count.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class DecoderWork:
    windows: int = 0  # encoder outputs the decoder ran on (30 s windows, seeks included)
    generate_calls: int = 0  # decoding passes (a temperature fallback is one more)
    fallback_windows: int = 0  # windows that needed at least one temperature fallback
    tokens: int = 0  # tokens of the returned hypotheses, every pass
    beam_steps: int = 0  # tokens x hypotheses kept per step
    speech_s: float = 0.0  # VAD speech (unpadded) in the windows handed to the engine
    gated_windows: int = 0  # confidence-gated decoding: windows decoded greedily first
    redecoded_windows: int = 0  # ...of which failed the gate and were decoded again with the beam

    def copy(self) -> DecoderWork:
        return DecoderWork(**{f.name: getattr(self, f.name) for f in fields(self)})

    def minus(self, before: DecoderWork) -> DecoderWork:
        return DecoderWork(**{f.name: getattr(self, f.name) - getattr(before, f.name) for f in fields(self)})


class CountingModel:
    """A CTranslate2 Whisper model whose ``generate`` calls are tallied into ``work``."""

    def __init__(self, model, work: DecoderWork) -> None:
        self._model, self.work = model, work
        self._last_output = None  # the encoder output of the previous generate call
        self._last_fell_back = False

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def generate(self, encoder_output, prompts, *args, **kwargs):
        results = self._model.generate(encoder_output, prompts, *args, **kwargs)
        sampled = float(kwargs.get("sampling_temperature", 0.0) or 0.0) > 0
        width = kwargs.get("num_hypotheses", 1) if sampled else kwargs.get("beam_size", 1)
        self._tally(encoder_output, results, int(width or 1), sampled)
        return results

    def _tally(self, encoder_output, results, hypotheses: int, sampled: bool) -> None:
        work = self.work
        work.generate_calls += 1
        if encoder_output is not self._last_output:  # a new window (a re-decode reuses the output)
            work.windows += len(results)
            self._last_output, self._last_fell_back = encoder_output, False
        if sampled and not self._last_fell_back:  # faster-whisper samples only as a fallback
            work.fallback_windows += len(results)
            self._last_fell_back = True
        for result in results:
            tokens = len(result.sequences_ids[0]) if result.sequences_ids else 0
            work.tokens += tokens
            work.beam_steps += tokens * hypotheses


# calls.csv columns of the decoder's work for one recording (DecoderWork field -> column)
DECODER_COLUMNS = {
    "windows": "decoder_windows",
    "fallback_windows": "fallback_windows",
    "tokens": "decoder_tokens",
    "beam_steps": "beam_steps",
    "redecoded_windows": "redecoded_windows",
    "speech_s": "asr_speech_s",
}


def work_columns(work: DecoderWork | None) -> tuple[tuple[str, float], ...]:
    """(calls.csv column, value) pairs of ``work`` (zeros when the engine does not count)."""
    return tuple(
        (column, round(getattr(work, name), 3) if work else 0) for name, column in DECODER_COLUMNS.items()
    )


def engine_work(engine) -> DecoderWork:
    """A snapshot of an engine's tally (an empty one for engines that do not count)."""
    work = getattr(engine, "work", None)
    return work.copy() if isinstance(work, DecoderWork) else DecoderWork()
