"""Echo / bleed of the other party in a stereo call: which VAD speech chunks are not this side's voice.

A chunk on one channel is crosstalk when, in most of its audible 32 ms frames, the other channel is
louder by at least ``rejection_db`` (real talk-over is within a few dB; a line echo or headset bleed
is 15-30 dB down). Such chunks are left out of ASR, so the agent's words do not reappear as the
customer's (``VadOptions.crosstalk_rejection_db``). Talk time has its own, finer filter
(speechchurn.call.acoustics.reject_crosstalk).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("speechchurn")

CROSSTALK_FRAME_SAMPLES = 512  # 32 ms at SAMPLE_RATE
CROSSTALK_AUDIBLE_DBFS = -50.0  # frames where neither channel is louder than this are ignored
CROSSTALK_MAX_SHARE = 0.5  # a chunk with more of its audible frames being crosstalk is dropped


def _frame_db(samples: np.ndarray, start: int, end: int) -> np.ndarray:
    n = max(1, (end - start) // CROSSTALK_FRAME_SAMPLES)
    x = np.asarray(samples[start : start + n * CROSSTALK_FRAME_SAMPLES], dtype=np.float32)
    x = np.pad(x, (0, n * CROSSTALK_FRAME_SAMPLES - len(x))).reshape(n, CROSSTALK_FRAME_SAMPLES)
    return 10 * np.log10(np.mean(x**2, axis=1) + 1e-12)


def crosstalk_share(own: np.ndarray, other: np.ndarray, chunk: dict, rejection_db: float) -> float:
    """Share of a chunk's audible 32 ms frames in which ``other`` is ``rejection_db`` louder than ``own``."""
    own_db, other_db = (
        _frame_db(own, chunk["start"], chunk["end"]),
        _frame_db(other, chunk["start"], chunk["end"]),
    )
    audible = np.maximum(own_db, other_db) > CROSSTALK_AUDIBLE_DBFS
    if not audible.any():
        return 0.0
    return float(np.mean((other_db - own_db >= rejection_db)[audible]))


def drop_crosstalk_chunks(
    channels: dict, chunks: dict, cores: dict, rejection_db: float
) -> tuple[dict, dict]:
    """Stereo: leave out the chunks that are mostly the other party's voice echoed into this channel."""
    (a, b) = list(channels)
    kept_chunks, kept_cores = {}, {}
    for role, other in ((a, b), (b, a)):
        keep = [
            c
            for c in chunks[role]
            if crosstalk_share(channels[role], channels[other], c, rejection_db) <= CROSSTALK_MAX_SHARE
        ]
        if len(keep) < len(chunks[role]):
            log.debug(
                "%s: %d of %d speech chunks are crosstalk",
                role,
                len(chunks[role]) - len(keep),
                len(chunks[role]),
            )
        kept_chunks[role] = keep
        kept_cores[role] = [
            k for k in cores[role] if any(c["start"] <= k["start"] and k["end"] <= c["end"] for c in keep)
        ]
    return kept_chunks, kept_cores
