"""Long two-channel calls (3-8 min) built from held-out realspeech telephone clips, for throughput.

    python benchmarks/long_calls.py            # writes ~/.cache/speechchurn-bench/long_calls/

Real calls run 3-8 minutes; the other benchmark calls are under a minute, so per-call overhead
(process start, model load, VAD set-up) and per-minute cost cannot be told apart on them. Each
long call alternates agent turns (the MagicData customer-service voice, left channel) and customer
turns (the other speakers, right channel), GAP_S of silence between turns, until it reaches its
target length. Only clips of the ``held-out`` split are used (they repeat within and across calls),
taken from make_telephone.sh's mono copies (300-3400 Hz, 8 kHz mu-law) and written as 8 kHz 16-bit
PCM stereo WAV. ``long_truth.json`` has the make_telephone ``--calls`` format, so
benchmarks/accuracy.py scores them like ``realspeech_calls``. Derivatives of the shared audio stay
in the cache, never in the repository.
"""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import accuracy  # noqa: E402

LENGTHS_MIN = (3, 4, 5, 6, 8)  # target length of each call, minutes
QUICK_LENGTHS_MIN = (3,)
RATE_HZ = 8000
GAP_S = 0.7
LEAD_S = 0.5
TRUTH = "long_truth.json"


def folder() -> Path:
    return accuracy.CACHE / "long_calls"


def _clips() -> tuple[list, list]:
    """(agent items, customer items) of the held-out telephone clips, in name order."""
    items = [i for i in accuracy.load_items("realspeech_tel") if i.split == "held-out"]
    agents = [i for i in items if i.name.startswith("mdcs_")]
    return agents, [i for i in items if not i.name.startswith("mdcs_")]


def _samples(item) -> np.ndarray:
    from scipy.signal import resample_poly

    from speechchurn.call.audio import decode_audio

    mono = next(iter(decode_audio(item.path).channels.values()))  # 16 kHz float
    return resample_poly(mono, 1, 2).astype(np.float32)


def build_call(minutes: float, agents: list, customers: list, offset: int) -> tuple[np.ndarray, list]:
    """Stereo samples (n, 2) at RATE_HZ and the reference turns of one call of about ``minutes``."""
    left, right, turns = [], [], []
    t = LEAD_S
    pad = np.zeros(int(LEAD_S * RATE_HZ), np.float32)
    left.append(pad)
    right.append(pad)
    k = 0
    while t < minutes * 60:
        role, pool = ("agent", agents) if k % 2 == 0 else ("customer", customers)
        item = pool[(offset + k // 2) % len(pool)]
        clip = _samples(item)
        gap = np.zeros(int(GAP_S * RATE_HZ), np.float32)
        silent = np.zeros_like(clip)
        (left if role == "agent" else right).append(clip)
        (right if role == "agent" else left).append(silent)
        left.append(gap)
        right.append(gap)
        end = t + len(clip) / RATE_HZ
        turns.append(dict(role=role, start=round(t, 3), end=round(end, 3), text=item.turns[0].text))
        t, k = end + GAP_S, k + 1
    return np.stack([np.concatenate(left), np.concatenate(right)], axis=1), turns


def write_wav(path: Path, stereo: np.ndarray) -> None:
    pcm = (np.clip(stereo, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(RATE_HZ)
        f.writeframes(pcm.tobytes())


def ensure(lengths=LENGTHS_MIN) -> Path:
    """The long calls of ``lengths`` minutes in the cache (built once); their folder."""
    out = folder()
    truth_path = out / TRUTH
    names = [f"long_{m}min.wav" for m in lengths]
    if truth_path.exists() and all((out / n).exists() for n in names):
        return out
    out.mkdir(parents=True, exist_ok=True)
    agents, customers = _clips()
    calls = json.loads(truth_path.read_text(encoding="utf-8"))["calls"] if truth_path.exists() else []
    known = {c["file"] for c in calls}
    for minutes, name in zip(lengths, names, strict=True):
        if name in known and (out / name).exists():
            continue
        stereo, turns = build_call(minutes, agents, customers, offset=7 * minutes)
        write_wav(out / name, stereo)
        calls = [c for c in calls if c["file"] != name]
        calls.append(dict(file=name, duration=round(len(stereo) / RATE_HZ, 3), turns=turns))
    truth_path.write_text(json.dumps({"calls": calls}, ensure_ascii=False, indent=1), encoding="utf-8")
    return out


def load_items(lengths=LENGTHS_MIN) -> list:
    """accuracy.Item per long call (split ``held-out``: built from held-out clips only)."""
    out = ensure(lengths)
    calls = accuracy.truth_calls(out / TRUTH)
    names = {f"long_{m}min.wav" for m in lengths}
    chosen = {n: c for n, c in calls.items() if n in names}
    return accuracy.call_items("long_calls", out, chosen, {n: "held-out" for n in chosen})


if __name__ == "__main__":
    for item in load_items():
        print(item.path, len(item.turns), "turns")
