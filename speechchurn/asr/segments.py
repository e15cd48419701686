"""What an engine returns for one decoded window: raw segments with word times, and the Engine protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


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
    compression_ratio: float = 0.0  # gzip ratio of the text (faster-whisper; 0 when unknown)
    temperature: float = 0.0  # sampling temperature of the pass that produced it (> 0: a fallback)


class Engine(Protocol):
    name: str

    def decode(self, samples: np.ndarray) -> list[RawSegment]: ...
