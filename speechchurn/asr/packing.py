"""Pack VAD speech from several channels (and files) into shared 30 s decoder windows.

Whisper's encoder always runs on a 30 s window. A short call decoded channel by channel costs at
least one encoder pass per channel even when each channel holds a few seconds of speech. Packing
lays the speech pieces of every channel, in time order, end to end into windows of at most
``WINDOW_S`` and decodes each window once. Every piece keeps its source (file), role (channel) and
original sample range, so decoded words map back to the right channel and clock:
:meth:`Window.locate` finds the piece a packed time falls in and :meth:`Window.original_time`
converts the time to the piece's own clock.

A piece longer than ``WINDOW_S`` gets a window of its own (the decoder then seeks through it).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from speechchurn.vocab import SAMPLE_RATE_HZ

WINDOW_S = 30.0  # s, Whisper's encoder input


@dataclass(frozen=True, order=True)
class Piece:
    """One VAD speech chunk of one channel of one file, in samples on that channel's clock."""

    start: int
    end: int
    role: str
    source: int = 0  # index of the file in a multi-file batch; 0 for a single call
    speech_start: int = -1  # where the VAD heard speech begin, before padding (-1: same as start)
    speech_end: int = -1  # where it heard speech end, before padding (-1: same as end)

    @property
    def speech_span_s(self) -> tuple[float, float]:
        """Unpadded speech of this piece in seconds on its own clock."""
        start = self.start if self.speech_start < 0 else self.speech_start
        end = self.end if self.speech_end < 0 else self.speech_end
        return start / SAMPLE_RATE_HZ, end / SAMPLE_RATE_HZ

    @property
    def samples(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Window:
    """Pieces laid end to end; packed time t (s) belongs to the piece whose packed span holds it.

    ``gap`` samples of silence separate consecutive pieces (0: none); a time inside a gap belongs to
    the nearer of the two pieces around it.
    """

    pieces: tuple[Piece, ...]
    gap: int = 0

    @cached_property
    def _packed_ends(self) -> list[int]:
        ends, total = [], 0
        for index, piece in enumerate(self.pieces):
            total += piece.samples + (self.gap if index else 0)
            ends.append(total)
        return ends

    @property
    def samples(self) -> int:
        return self._packed_ends[-1] if self.pieces else 0

    @property
    def speech_s(self) -> float:
        """Seconds of VAD speech (unpadded) in the window."""
        return sum(end - start for start, end in (piece.speech_span_s for piece in self.pieces))

    def packed_start(self, index: int) -> int:
        return self._packed_ends[index] - self.pieces[index].samples

    def locate(self, time_s: float) -> int:
        """Index of the piece under packed time ``time_s`` (clamped to the first/last piece)."""
        sample = int(round(time_s * SAMPLE_RATE_HZ))
        index = min(bisect.bisect_right(self._packed_ends, sample), len(self.pieces) - 1)
        in_gap = index and sample < self.packed_start(index)  # in the gap before piece `index`
        if in_gap and sample - self._packed_ends[index - 1] < self.packed_start(index) - sample:
            index -= 1
        return index

    def original_time(self, time_s: float, index: int) -> float:
        """Packed time ``time_s`` on piece ``index``'s own clock (s), kept inside the piece."""
        piece = self.pieces[index]
        offset = time_s * SAMPLE_RATE_HZ - self.packed_start(index)
        return (piece.start + min(max(offset, 0.0), piece.samples)) / SAMPLE_RATE_HZ

    def audio(self, channel: Callable[[Piece], np.ndarray]) -> np.ndarray:
        """The packed samples; ``channel(piece)`` returns the full channel the piece was cut from."""
        silence = np.zeros(self.gap, np.float32)
        parts = []
        for index, piece in enumerate(self.pieces):
            if index and self.gap:
                parts.append(silence)
            parts.append(channel(piece)[piece.start : piece.end])
        return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)


def pieces_from_chunks(
    chunks: dict[str, Sequence[dict]], cores: dict[str, Sequence[dict]] | None = None, source: int = 0
) -> list[Piece]:
    """Pieces of every role's VAD chunks (sample dicts), in time order across roles.

    ``cores``: the same chunks before padding (same count and order), kept as each piece's speech span.
    """
    pieces = []
    for role, padded in chunks.items():
        unpadded = (cores or {}).get(role) or [{"start": -1, "end": -1}] * len(padded)
        for chunk, core in zip(padded, unpadded, strict=True):
            pieces.append(Piece(chunk["start"], chunk["end"], role, source, core["start"], core["end"]))
    return sorted(pieces)


def pack(pieces: Iterable[Piece], window_s: float = WINDOW_S, gap_s: float = 0.0) -> list[Window]:
    """Greedy in-order packing: a piece joins the current window while the total (gaps of ``gap_s``
    seconds of silence between pieces included) stays <= window_s."""
    limit, gap = int(window_s * SAMPLE_RATE_HZ), int(round(gap_s * SAMPLE_RATE_HZ))
    windows: list[tuple[Piece, ...]] = []
    current: list[Piece] = []
    filled = 0
    for piece in pieces:
        if current and filled + gap + piece.samples > limit:
            windows.append(tuple(current))
            current, filled = [], 0
        filled += piece.samples + (gap if current else 0)
        current.append(piece)
    if current:
        windows.append(tuple(current))
    return [Window(w, gap) for w in windows]


def encoder_windows(windows: Sequence[Window], window_s: float = WINDOW_S) -> int:
    """Lower bound on encoder passes for ``windows`` (a window over window_s needs several)."""
    limit = window_s * SAMPLE_RATE_HZ
    return sum(max(1, int(np.ceil(w.samples / limit))) for w in windows)
