"""The faster-whisper engine: decoding settings, encoder and decoder work counts, gated beam.

``decoding="beam"`` decodes every window with the beam and temperature fallback. ``decoding="gated"``
decodes greedily first and re-decodes with the beam only the windows failing the confidence gate
(speechchurn.asr.gate); the re-decode reuses the window's encoder output (a one-entry memo on the
features), so it costs decoder work only. ``max_tokens_per_speech_s`` bounds the tokens a window may
decode by the VAD speech it holds; ``without_timestamps`` decodes text tokens only (segment and
word times then come from the word alignment alone).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from speechchurn.asr.decoder_work import CountingModel, DecoderWork
from speechchurn.asr.gate import gate_failures
from speechchurn.asr.models import ENGINE_FASTER, resolve_model, unavailable
from speechchurn.asr.segments import RawSegment, Word

DECODE_BEAM = "beam"  # every window: beam search with temperature fallback
DECODE_GATED = "gated"  # greedy first; the beam only where the greedy result fails the gate
DECODINGS = (DECODE_BEAM, DECODE_GATED)
MIN_NEW_TOKENS = 24  # a token bound never goes below this (short turns, timestamps, punctuation)
MAX_NEW_TOKENS = 440  # Whisper's 448-token context minus the start-of-transcript prompt


def token_bound(speech_s: float | None, tokens_per_s: float | None) -> int | None:
    """max_new_tokens for a window with ``speech_s`` of VAD speech (None: no bound)."""
    if not tokens_per_s or speech_s is None:
        return None
    return int(min(MAX_NEW_TOKENS, max(MIN_NEW_TOKENS, math.ceil(speech_s * tokens_per_s))))


@dataclass
class FasterWhisperEngine:
    options: object  # speechchurn.asr.transcribe.TranscribeOptions
    name: str = ENGINE_FASTER
    _model: object = field(default=None, repr=False)
    encoder_passes: int = 0  # 30 s encoder windows run so far (a batch of n counts n)
    work: DecoderWork = field(default_factory=DecoderWork)
    takes_speech_s: bool = True  # decode() accepts the window's VAD speech seconds
    _memo: tuple = field(default=(None, None), repr=False)  # (features digest, encoder output)

    def __post_init__(self) -> None:
        from faster_whisper import WhisperModel

        path = resolve_model(self.options.model, ENGINE_FASTER)
        try:
            self._model = WhisperModel(
                path,
                device="cpu",
                compute_type=self.options.compute_type,
                cpu_threads=self.options.cpu_threads,
            )
        except Exception as e:  # noqa: BLE001 - hub download or CT2 load errors come in many types
            raise unavailable(self.options.model, e) from e
        self._model.encode = self._counted(self._model.encode)
        self._model.model = CountingModel(self._model.model, self.work)

    def _counted(self, encode):
        """Wrap WhisperModel.encode: count every encoder window; reuse the last output for equal features."""

        def counted(features):
            digest = hashlib.blake2b(np.ascontiguousarray(features).tobytes(), digest_size=16).digest()
            if digest == self._memo[0]:
                return self._memo[1]
            self.encoder_passes += features.shape[0] if getattr(features, "ndim", 2) == 3 else 1
            output = encode(features)
            self._memo = (digest, output)
            return output

        return counted

    def decode(self, samples: np.ndarray, speech_s: float | None = None) -> list[RawSegment]:
        options = self.options
        if speech_s is not None:
            self.work.speech_s += speech_s
        bound = token_bound(speech_s, options.max_tokens_per_speech_s)
        if options.decoding == DECODE_GATED:
            self.work.gated_windows += 1
            greedy = self._decode(samples, 1, (0.0,), bound)
            if not gate_failures(greedy, options.gate):
                return greedy
            self.work.redecoded_windows += 1
        return self._decode(samples, options.beam_size, tuple(options.temperatures), bound)

    def _decode(self, samples, beam_size: int, temperatures, max_new_tokens) -> list[RawSegment]:
        options = self.options
        segments, _info = self._model.transcribe(
            samples,
            language=options.language,
            beam_size=beam_size,
            temperature=list(temperatures),
            condition_on_previous_text=False,
            vad_filter=False,
            word_timestamps=True,
            without_timestamps=options.without_timestamps,
            max_new_tokens=max_new_tokens,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
            patience=options.patience,
            no_speech_threshold=options.no_speech_threshold,
            log_prob_threshold=options.log_prob_threshold,
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
        )
        return [
            RawSegment(
                s.start,
                s.end,
                s.text,
                s.avg_logprob,
                s.no_speech_prob,
                tuple(Word(w.start, w.end, w.word) for w in s.words or ()),
                s.compression_ratio,
                s.temperature,
            )
            for s in segments
        ]
