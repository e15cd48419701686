"""Synthetic calls with fast turn-taking and short back-channels, for the diarization benchmark.

    python benchmarks/synth_fast.py                 # 12 calls, seed 4242, into ~/.cache/speechchurn-bench
    python benchmarks/synth_fast.py --calls 4 --seed 5 --out /tmp/fast

Built on benchmarks/synth.py (same phrase banks, TTS step, channel model and truth format), with
what makes diarization hard:

* gaps between turns of 0.05-0.35 s, and some turns that start up to 0.3 s before the other
  party finishes (talk-over), so both parties often share one VAD chunk on a mono mix;
* short back-channels (嗯。/ 对。/ 好的。/ 嗯嗯。) said by the listener inside the other's long
  turn;
* customer and agent voices at least ``MIN_PITCH_GAP_ST`` semitones apart (the TTS has one voice;
  people differ more than that), no cross-channel echo (the mix already holds both parties).

The split list (benchmarks/splits/synth_fast.tsv) puts every call in ``held-out``. Output goes to
``~/.cache/speechchurn-bench/synth_fast`` with ``truth.json`` (turns per role, like synth.py's).
The TTS runs in the isolated TTS venv (``.venv-tts`` in the repository, or ``/work/venv-tts``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import synth  # noqa: E402

DEFAULT_OUT = Path.home() / ".cache" / "speechchurn-bench" / "synth_fast"
DEFAULT_SEED = 4242
DEFAULT_CALLS = 12
FAST_GAP_S = (0.05, 0.35)  # s, pause between turns
TALK_OVER_S = 0.3  # s, a turn may start this long before the previous one ends
TALK_OVER_SHARE = 0.2  # share of turns that start early
BACKCHANNELS = ("嗯。", "对。", "好的。", "嗯嗯。", "对对。")
BACKCHANNEL_SHARE = 0.5  # share of long turns that get a back-channel from the listener
MIN_PITCH_GAP_ST = 3.0  # semitones between the two voices at least
ALT_TTS_PYTHON = Path("/work/venv-tts/bin/python")


@dataclasses.dataclass(frozen=True)
class FastTurn:
    role: str
    text: str
    seed: int
    backchannel: bool = False  # said inside the previous turn of the other party
    early_s: float = 0.0  # starts this long before the previous turn ends


def call_names(seed: int, n_calls: int) -> list[str]:
    return [f"fast_{seed}_{i:02d}.wav" for i in range(n_calls)]


def draw_turns(rng: np.random.Generator) -> list[FastTurn]:
    """synth.py's script without dead air, plus back-channels and talk-over."""
    base = synth.draw_script(rng)
    out: list[FastTurn] = []
    for turn in base:
        early = float(rng.uniform(0.05, TALK_OVER_S)) if out and rng.random() < TALK_OVER_SHARE else 0.0
        out.append(FastTurn(turn.role, turn.text, turn.seed, early_s=early))
        if len(turn.text) >= 8 and rng.random() < BACKCHANNEL_SHARE:
            other = "customer" if turn.role == "agent" else "agent"
            text = BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]
            out.append(FastTurn(other, text, int(rng.integers(1, synth.SEED_MAX + 1)), backchannel=True))
    return out


def draw_channel(rng: np.random.Generator) -> synth.Channel:
    ch = synth.draw_channel(rng)
    agent = ch.pitch_st["agent"]
    customer = ch.pitch_st["customer"]
    if abs(agent - customer) < MIN_PITCH_GAP_ST:
        customer = agent + MIN_PITCH_GAP_ST if agent < 0 else agent - MIN_PITCH_GAP_ST
    return dataclasses.replace(ch, echo_db=None, pitch_st={"agent": agent, "customer": customer})


def plan(seed: int, n_calls: int):
    out = []
    for name in call_names(seed, n_calls):
        rng = np.random.default_rng(zlib.crc32(f"fast:{seed}:{name}".encode()))
        out.append((name, draw_turns(rng), draw_channel(rng)))
    return out


def layout(turns: list[FastTurn], clips: list[np.ndarray], rng: np.random.Generator):
    """Two-channel timeline: back-channels inside the previous turn, the rest after short gaps."""
    rate = synth.OUT_RATE_HZ
    cursor = float(rng.uniform(*synth.EDGE_S))
    placed, last_main = [], None  # last_main: (start, end) of the last non-back-channel turn
    for turn, clip in zip(turns, clips, strict=True):
        if turn.backchannel and last_main is not None:
            span = last_main[1] - last_main[0] - len(clip) / rate
            start_s = last_main[0] + float(rng.uniform(0.3, 0.7)) * max(span, 0.0)
        else:
            start_s = cursor + float(rng.uniform(*FAST_GAP_S)) - turn.early_s if placed else cursor
        start = max(0, round(start_s * rate))
        placed.append((turn, start, clip))
        if not turn.backchannel:
            last_main = (start / rate, (start + len(clip)) / rate)
            cursor = max(cursor, last_main[1])
    total = round((cursor + float(rng.uniform(*synth.EDGE_S))) * rate)
    channels = {"agent": np.zeros(total, np.float32), "customer": np.zeros(total, np.float32)}
    truth = []
    for turn, start, clip in placed:
        clip = clip[: total - start]
        channels[turn.role][start : start + len(clip)] += clip
        truth.append(
            {
                "role": turn.role,
                "start": round(start / rate, 3),
                "end": round((start + len(clip)) / rate, 3),
                "text": turn.text,
                "backchannel": turn.backchannel,
            }
        )
    return channels, truth, total / rate


def make_call(name: str, turns: list[FastTurn], ch: synth.Channel, tts: dict, out: Path) -> dict:
    rng = np.random.default_rng(zlib.crc32(("channel:" + name).encode()))
    clips = []
    for t in turns:
        raw = tts[synth.tts_key(t.text, synth.tts_speed(t.role, ch), t.seed)]
        level = ch.level_dbfs[t.role] + float(rng.uniform(-synth.TURN_LEVEL_DB, synth.TURN_LEVEL_DB))
        clips.append(synth.band_to_8k(synth.pitch_shift(raw, ch.pitch_st[t.role]), level))
    channels, truth, duration_s = layout(turns, clips, rng)
    degraded = synth.degrade(channels, truth, ch, rng)
    synth.write_wav(out / name, degraded["agent"], degraded["customer"], ch.codec)
    return {
        "duration_s": round(duration_s, 3),
        "direction": "in",
        "turns": truth,
        "keyword_categories": synth.categories(truth),
        "channel": dataclasses.asdict(ch),
    }


def generate(out: Path, seed: int = DEFAULT_SEED, n_calls: int = DEFAULT_CALLS) -> Path:
    if not synth.TTS_PYTHON.exists() and ALT_TTS_PYTHON.exists():
        synth.TTS_PYTHON = ALT_TTS_PYTHON
    calls = plan(seed, n_calls)
    out.mkdir(parents=True, exist_ok=True)
    tts = synth.render_all(calls, out / "work")
    truth = {name: make_call(name, turns, ch, tts, out) for name, turns, ch in calls}
    meta = {"seed": seed, "calls": truth}
    (out / "truth.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(truth)} calls in {out}", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    args = parser.parse_args()
    generate(args.out, args.seed, args.calls)


if __name__ == "__main__":
    main()
