"""Two-speaker diarization of a mono call: who of the two parties speaks when.

Spectral features, no neural speaker model (the benchmark in docs/benchmarks.md compares the
choices; this measured best and needs nothing beyond numpy, scipy and scikit-learn):

1. MFCCs (25 ms frames, 10 ms hop, mel filters inside the telephone band ``fmin_hz``..``fmax_hz``)
   of the speech frames only (VAD intervals), normalised over the call (mean and variance), so
   the line and codec colour cancels out and the voices remain.
2. Pieces: windows of ``window_s`` (hop ``window_hop_s``) inside each VAD interval, each embedded as
   the mean and standard deviation of its frames. Fast exchanges share one VAD interval, so the
   pieces cut across them; step 4 finds the exact change points.
3. The pieces are clustered into two speakers (Ward's agglomerative clustering of the standardised
   embeddings; measured better than 2-means on the tune split).
4. Resegmentation: one full-covariance Gaussian per speaker on the frames of its pieces; each speech frame's
   log-likelihood ratio, smoothed over ``smooth_s``, goes through a two-state Viterbi pass that pays
   ``switch_cost`` per speaker change (a quarter of it across a VAD pause). Speaker changes inside a
   VAD interval come out of this pass; the models are refit on its labels ``resegment_rounds`` times.

The result labels speakers 0 and 1 (0 speaks first); which of them is the agent is decided from the
words (speechchurn.call.roles).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from speechchurn.call.intervals import Interval
from speechchurn.vocab import SAMPLE_RATE_HZ

log = logging.getLogger("speechchurn")

FRAME_S = 0.025  # s, analysis frame
HOP_S = 0.010  # s, frame hop (the label resolution)
N_FFT = 512  # FFT points at 16 kHz
PRE_EMPHASIS = 0.97
BLOCK_FRAMES = 8192  # frames per FFT block (bounded memory on long calls)
LOG_FLOOR = 1e-10


@dataclass(frozen=True)
class DiarizeOptions:
    """Settings of the two-speaker diarization (defaults chosen on the tune split)."""

    fmin_hz: float = 200.0  # Hz, lowest mel filter edge (telephone band starts at 300 Hz)
    fmax_hz: float = 7600.0  # Hz, highest mel filter edge (measured better than 3.8 kHz on 8 kHz audio too)
    n_mels: int = 32
    n_ceps: int = 20  # cepstra c1..c20 (c0, the level, is left out: it follows loudness, not voice)
    window_s: float = 2.0  # s, piece length for the clustering
    window_hop_s: float = 1.0  # s
    min_piece_s: float = 0.3  # s, shorter VAD intervals are not clustered (labelled in step 4)
    smooth_s: float = 0.3  # s, moving average of the frame log-likelihood ratio
    switch_cost: float = 30.0  # log-likelihood units per speaker change inside speech
    resegment_rounds: int = 2
    min_speaker_s: float = 1.0  # s, a speaker with less speech than this is no speaker


@dataclass(frozen=True)
class Diarization:
    """Speech turns as (start s, end s, speaker 0|1); speaker 0 is the one who speaks first."""

    turns: tuple[tuple[float, float, int], ...]
    separation: float  # mean |LLR| per frame of the final models (0: the two models are the same voice)

    def speech(self, speaker: int) -> list[Interval]:
        return [(s, e) for s, e, k in self.turns if k == speaker]

    def talk_s(self, speaker: int) -> float:
        return sum(e - s for s, e in self.speech(speaker))

    @property
    def speakers(self) -> int:
        """How many speakers have real speech (0, 1 or 2)."""
        return len({k for _s, _e, k in self.turns})

    def change_points(self) -> list[float]:
        """Times (s) where the speaker changes between two adjacent turns."""
        return [b[0] for a, b in zip(self.turns, self.turns[1:], strict=False) if a[2] != b[2]]


# --------------------------------------------------------------------------- features


def mel_filterbank(n_mels: int, fmin_hz: float, fmax_hz: float, rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, N_FFT // 2 + 1)."""

    def to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def to_hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(fmin_hz), to_mel(fmax_hz), n_mels + 2))
    bins = np.fft.rfftfreq(N_FFT, 1.0 / rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def mfcc(samples: np.ndarray, options: DiarizeOptions = DiarizeOptions(), rate: int = SAMPLE_RATE_HZ):
    """MFCC frames (n_frames, n_ceps) of a 16 kHz channel, c0 left out; frame i starts at i * HOP_S."""
    from scipy.fft import dct

    frame, hop = int(FRAME_S * rate), int(HOP_S * rate)
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if x.size < frame:
        return np.zeros((0, options.n_ceps), np.float32)
    x = np.append(x[0], x[1:] - PRE_EMPHASIS * x[:-1]).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    window = np.hamming(frame).astype(np.float32)
    bank = mel_filterbank(options.n_mels, options.fmin_hz, options.fmax_hz, rate).astype(np.float32).T
    out = np.empty((frames.shape[0], options.n_ceps), np.float32)
    for start in range(0, frames.shape[0], BLOCK_FRAMES):
        block = frames[start : start + BLOCK_FRAMES] * window
        power = np.abs(np.fft.rfft(block, N_FFT)) ** 2
        logmel = np.log(power @ bank + LOG_FLOOR)
        out[start : start + BLOCK_FRAMES] = dct(logmel, type=2, norm="ortho", axis=1)[
            :, 1 : options.n_ceps + 1
        ]
    return out


def frame_mask(intervals: Sequence[Interval], n_frames: int) -> np.ndarray:
    """Boolean per frame: its centre lies inside one of ``intervals``."""
    mask = np.zeros(n_frames, bool)
    for start, end in intervals:
        first = max(0, int(math.ceil((start - FRAME_S / 2) / HOP_S)))
        last = min(n_frames, int(math.floor((end - FRAME_S / 2) / HOP_S)) + 1)
        mask[first:last] = True
    return mask


def pieces(speech_frames: np.ndarray, options: DiarizeOptions) -> list[tuple[int, int]]:
    """(first, stop) indices into the speech-frame sequence: windows inside each run of consecutive
    speech frames (``speech_frames``: the frame numbers, ascending)."""
    width = max(1, round(options.window_s / HOP_S))
    hop = max(1, round(options.window_hop_s / HOP_S))
    shortest = max(1, round(options.min_piece_s / HOP_S))
    breaks = np.flatnonzero(np.diff(speech_frames) > 1) + 1
    bounds = zip(np.r_[0, breaks], np.r_[breaks, speech_frames.size], strict=True)
    out = []
    for first, stop in bounds:
        if stop - first < shortest:
            continue
        if stop - first <= width:
            out.append((int(first), int(stop)))
            continue
        starts = list(range(int(first), int(stop) - width + 1, hop))
        if starts[-1] + width < stop:
            starts.append(int(stop) - width)
        out.extend((s, s + width) for s in starts)
    return out


# --------------------------------------------------------------------------- clustering


def embed_pieces(feats: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Each piece's mean and standard deviation of its frames, standardised over the call."""
    emb = np.array([np.r_[feats[a:b].mean(0), feats[a:b].std(0)] for a, b in spans])
    return (emb - emb.mean(0)) / (emb.std(0) + 1e-6)


def cluster_pieces(feats: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Two-way Ward clustering of the pieces' embeddings; a 0/1 label per piece."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(spans) < 2:
        return np.zeros(len(spans), int)
    tree = linkage(embed_pieces(feats, spans), method="ward")
    return (fcluster(tree, 2, criterion="maxclust") - 1).astype(int)


class Gaussian:
    """Full-covariance Gaussian of one speaker's frames (a little ridge keeps it invertible)."""

    def __init__(self, frames: np.ndarray, ridge: float = 1e-2) -> None:
        self.mean = frames.mean(0)
        cov = np.cov(frames, rowvar=False) + ridge * np.eye(frames.shape[1])
        self.inverse = np.linalg.inv(cov)
        self.log_det = float(np.linalg.slogdet(cov)[1])

    def log_likelihood(self, frames: np.ndarray) -> np.ndarray:
        centred = frames - self.mean
        return -0.5 * (np.einsum("ij,jk,ik->i", centred, self.inverse, centred) + self.log_det)


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average (edges averaged over what is there)."""
    if width <= 1 or values.size == 0:
        return values
    kernel = np.ones(width)
    return np.convolve(values, kernel, "same") / np.convolve(np.ones_like(values), kernel, "same")


def viterbi_two(llr: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Best 0/1 path: state 0 earns +llr/2, state 1 earns -llr/2 per frame; changing state before
    frame i costs ``costs[i]``."""
    n = llr.size
    back = np.zeros((n, 2), np.int8)
    score = np.array([llr[0] / 2, -llr[0] / 2]) if n else np.zeros(2)
    for i in range(1, n):
        stay0, move0 = score[0], score[1] - costs[i]
        stay1, move1 = score[1], score[0] - costs[i]
        back[i] = (int(move0 > stay0), int(move1 > stay1))
        score = np.array([max(stay0, move0) + llr[i] / 2, max(stay1, move1) - llr[i] / 2])
    path = np.zeros(n, np.int8)
    if n:
        path[-1] = int(score[1] > score[0])
        for i in range(n - 1, 0, -1):
            path[i - 1] = path[i] ^ back[i, path[i]]
    return path


def frame_llr(feats: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per frame: log-likelihood of speaker 0's model minus speaker 1's."""
    models = [Gaussian(feats[labels == k]) for k in (0, 1)]
    return models[0].log_likelihood(feats) - models[1].log_likelihood(feats)


def resegment(
    feats: np.ndarray, labels: np.ndarray, gap_before: np.ndarray, options: DiarizeOptions
) -> tuple[np.ndarray, float]:
    """Frame labels refined by per-speaker models and a Viterbi pass; and the mean |LLR| per frame."""
    costs = np.where(gap_before, options.switch_cost / 4, options.switch_cost)
    width = max(1, round(options.smooth_s / HOP_S))
    separation = 0.0
    for _round in range(options.resegment_rounds):
        if min((labels == 0).sum(), (labels == 1).sum()) < 20:
            break
        llr = frame_llr(feats, labels)
        labels = viterbi_two(smooth(llr, width), costs).astype(int)
        separation = float(np.mean(np.abs(llr)))
    return labels, separation


# --------------------------------------------------------------------------- the call


def diarize(
    samples: np.ndarray, speech: Sequence[Interval], options: DiarizeOptions = DiarizeOptions()
) -> Diarization:
    """Two-speaker turns of one 16 kHz mono channel whose speech intervals (s) are ``speech``."""
    feats_all = mfcc(samples, options)
    mask = frame_mask(speech, feats_all.shape[0])
    speech_frames = np.flatnonzero(mask)
    if speech_frames.size == 0:
        return Diarization((), 0.0)
    feats = feats_all[speech_frames]
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    spans = pieces(speech_frames, options)
    piece_labels = cluster_pieces(feats, spans)
    labels = _frame_labels(feats.shape[0], spans, piece_labels)
    gap_before = np.r_[False, np.diff(speech_frames) > 1]
    labels, separation = resegment(feats, labels, gap_before, options)
    turns = _turns(speech_frames, labels, speech)
    turns = _drop_minor_speaker(turns, options.min_speaker_s)
    return Diarization(tuple(_first_speaker_zero(turns)), round(separation, 3))


def _frame_labels(n: int, spans: Sequence[tuple[int, int]], piece_labels: np.ndarray) -> np.ndarray:
    """Each speech frame takes the majority label of the pieces covering it (nearest piece if none)."""
    votes = np.zeros((n, 2))
    for (a, b), k in zip(spans, piece_labels, strict=True):
        votes[a:b, int(k)] += 1
    covered = votes.sum(1) > 0
    if not covered.any():
        return np.zeros(n, int)
    idx = np.flatnonzero(covered)
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(n)), 0, idx.size - 1)]
    votes[~covered] = votes[nearest[~covered]]
    return (votes[:, 1] > votes[:, 0]).astype(int)


def _turns(speech_frames: np.ndarray, labels: np.ndarray, speech: Sequence[Interval]) -> list:
    """(start, end, speaker) runs of labelled frames, clipped to the VAD intervals."""
    change = np.flatnonzero((np.diff(speech_frames) > 1) | (np.diff(labels) != 0)) + 1
    turns = []
    for first, stop in zip(np.r_[0, change], np.r_[change, speech_frames.size], strict=True):
        start = speech_frames[first] * HOP_S + FRAME_S / 2 - HOP_S / 2
        end = speech_frames[stop - 1] * HOP_S + FRAME_S / 2 + HOP_S / 2
        turns.append((start, end, int(labels[first])))
    return _clip_to(turns, speech)


def _clip_to(turns: list, speech: Sequence[Interval]) -> list:
    """Snap turn edges that fall within a frame of a VAD edge onto it."""
    out = []
    for start, end, k in turns:
        for s, e in speech:
            if s - HOP_S <= start <= e:
                start = max(start, s)
                if abs(start - s) < HOP_S * 1.5:
                    start = s
            if s <= end <= e + HOP_S:
                end = min(end, e)
                if abs(end - e) < HOP_S * 1.5:
                    end = e
        out.append((round(start, 3), round(end, 3), k))
    return [t for t in out if t[1] > t[0]]


def _drop_minor_speaker(turns: list, min_speaker_s: float) -> list:
    """A 'speaker' with less than ``min_speaker_s`` of speech is folded into the other one."""
    talk = [sum(e - s for s, e, k in turns if k == spk) for spk in (0, 1)]
    for spk in (0, 1):
        if 0 < talk[spk] < min_speaker_s:
            return _merge_runs([(s, e, 1 - spk) for s, e, _k in turns])
    return turns


def _merge_runs(turns: list) -> list:
    out: list = []
    for s, e, k in turns:
        if out and out[-1][2] == k and s - out[-1][1] < HOP_S * 1.5:
            out[-1] = (out[-1][0], e, k)
        else:
            out.append((s, e, k))
    return out


def _first_speaker_zero(turns: list) -> list:
    if turns and turns[0][2] == 1:
        return [(s, e, 1 - k) for s, e, k in turns]
    return turns
