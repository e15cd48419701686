"""Accuracy benchmark on audio we did not tune on: speechchurn vs the plain faster-whisper peer.

    python benchmarks/accuracy.py                       # held-out splits of every set; writes "accuracy"
    python benchmarks/accuracy.py --splits tune --no-write --cache      # tuning runs (tune splits only)
    python benchmarks/accuracy.py --sets realspeech_tel --opt initial_prompt=null --systems speechchurn

Sets (split lists in benchmarks/splits/, see make_splits.py):

* ``audio_samples``: the bundled TTS calls (all ``tune``: the old defaults were tuned on them);
* ``synth``: the randomised synthetic calls of benchmarks/synth.py (all ``held-out``);
* ``synth_tune``: 8 more calls from the same generator with another seed (7), all ``tune``: the
  only tune material with short turns;
* ``realspeech``: ../shared/realspeech clips, 16 kHz mono;
* ``realspeech_tel``: the same clips through make_telephone.sh (300-3400 Hz, 8 kHz µ-law);
* ``realspeech_calls``: the two-channel telephone calls of ``make_telephone.sh --calls``.

Telephone versions are made on the fly into ~/.cache/speechchurn-bench (never into the repo).

Systems, on the same decoded audio (16 kHz float per channel), one after the other in this process:

* ``speechchurn``: ``TranscribeOptions()`` as shipped (plus any ``--opt`` overrides);
* ``previous``: the defaults of commit bd19c7e (no prompt, VAD pad/silence 500 ms, temperatures
  0/0.2/0.4, channels decoded alone, faster-whisper's own no-speech filter);
* ``peer``: ``WhisperModel.transcribe`` per channel, ``initial_prompt="以下是普通话的句子。"``,
  ``vad_filter=True`` with default VadOptions, beam 5, language zh, everything else default.

Scores per set and split: CER (role texts joined in time order, normalised by
speechchurn.dev.evaluation.normalize_for_cer: NFKC, simplified, punctuation and spaces removed,
Latin case folded, Arabic numbers spelled as read and 幺/两 unified), short-turn recall (share of
reference turns of at most 1.5 s with any transcript text of the same role overlapping the turn
+-0.3 s) and real-time factor (transcription wall s / audio s; model load excluded).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from benchmarks.common import REPO, SAMPLES, pct  # noqa: E402

SHARED = REPO.parent / "shared"
SPLITS = REPO / "benchmarks" / "splits"
CACHE = Path(os.environ.get("SPEECHCHURN_BENCH_CACHE", Path.home() / ".cache" / "speechchurn-bench"))
SETS = ("audio_samples", "synth", "realspeech", "realspeech_tel", "realspeech_calls")
SYSTEMS = ("speechchurn", "previous", "peer")
PEER_PROMPT = "以下是普通话的句子。"
SHORT_TURN_MAX_S = 1.5  # s, reference turns this short count for short-turn recall
SHORT_TURN_SLACK_S = 0.3  # s a transcript segment may sit outside the reference turn
THREADS = 2
TUNE_SYNTH = (7, 8)  # seed, calls of a small synthetic set for tuning (never the held-out seed)
TUNE_ALL = None  # call_items: every item is tune


@dataclass(frozen=True)
class RefTurn:
    role: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Item:
    set: str
    split: str
    name: str
    path: Path
    turns: tuple[RefTurn, ...]


# --- sets -------------------------------------------------------------------------------------------


def read_split(name: str) -> dict[str, str]:
    with (SPLITS / f"{name}.tsv").open(encoding="utf-8", newline="") as f:
        return {row["name"]: row["split"] for row in csv.DictReader(f, delimiter="\t")}


def telephone_dir(calls: bool, shared: Path = SHARED) -> Path:
    """make_telephone.sh output in the cache (made once; derivatives of shared audio stay out of the repo)."""
    out = CACHE / ("telephone_calls" if calls else "telephone")
    marker = out / ("calls_truth.json" if calls else ".complete")
    if not marker.exists():
        script = shared / "realspeech" / "make_telephone.sh"
        args = [str(script), "--calls", str(out)] if calls else [str(script), str(out)]
        subprocess.run(args, check=True, capture_output=True)
        if not calls:
            marker.write_text("ok\n")
    return out


def truth_calls(path: Path) -> dict:
    """file name -> call truth (truth.json maps names; make_telephone's calls_truth.json lists calls)."""
    calls = json.loads(path.read_text(encoding="utf-8"))["calls"]
    return {c["file"]: c for c in calls} if isinstance(calls, list) else calls


def call_items(set_name: str, folder: Path, calls: dict, split) -> list[Item]:
    return [
        Item(
            set_name,
            split.get(name, "held-out") if split else "tune",
            name,
            folder / name,
            _turns(calls[name]["turns"]),
        )
        for name in sorted(calls)
    ]


def _turns(turns) -> tuple[RefTurn, ...]:
    return tuple(RefTurn(t["role"], float(t["start"]), float(t["end"]), t["text"]) for t in turns)


def realspeech_items(set_name: str, folder: Path, shared: Path) -> list[Item]:
    split = read_split("realspeech")
    with (shared / "realspeech" / "truth.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        Item(
            set_name,
            split[r["file"]],
            r["file"],
            folder / r["file"],
            (RefTurn("mixed", 0.0, 1e9, r["text"]),),
        )
        for r in rows
    ]


def load_items(set_name: str, shared: Path = SHARED) -> list[Item]:
    if set_name == "audio_samples":
        return call_items(set_name, SAMPLES, truth_calls(SAMPLES / "truth.json"), read_split("audio_samples"))
    if set_name in ("synth", "synth_tune"):
        from benchmarks import synth

        folder = CACHE / set_name
        seed, calls = (synth.DEFAULT_SEED, synth.DEFAULT_CALLS) if set_name == "synth" else TUNE_SYNTH
        if not (folder / "truth.json").exists():
            synth.generate(folder, seed, calls)
        split = read_split("synth") if set_name == "synth" else {}
        return call_items(set_name, folder, truth_calls(folder / "truth.json"), split or TUNE_ALL)
    if set_name == "realspeech":
        return realspeech_items(set_name, shared / "realspeech" / "audio", shared)
    if set_name == "realspeech_tel":
        return realspeech_items(set_name, telephone_dir(False, shared), shared)
    if set_name == "realspeech_calls":
        folder = telephone_dir(True, shared)
        return call_items(
            set_name, folder, truth_calls(folder / "calls_truth.json"), read_split("realspeech_calls")
        )
    raise ValueError(f"unknown set {set_name!r}")


# --- systems ----------------------------------------------------------------------------------------


def previous_options():
    """The transcription settings of commit bd19c7e, in today's option objects."""
    from speechchurn.asr.transcribe import TranscribeOptions, VadOptions

    fields = {f.name for f in dataclasses.fields(TranscribeOptions)}
    old = {"vad_options": VadOptions(min_silence_ms=500, speech_pad_ms=500), "cpu_threads": THREADS}
    old.update({k: v for k, v in PREVIOUS_EXTRA.items() if k in fields})
    return TranscribeOptions(**old)


# Fields added after bd19c7e, set to what bd19c7e did (ignored when a field does not exist).
PREVIOUS_EXTRA = {"packing": "channel", "initial_prompt": None, "hotwords": None, "no_speech_threshold": 0.6}
PREVIOUS_EXTRA |= {
    "log_prob_threshold": -1.0,
    "patience": 1.0,
    "beam_size": 5,
    "temperatures": (0.0, 0.2, 0.4),
}


def ours_options(overrides: dict):
    from speechchurn.asr.transcribe import TranscribeOptions

    vad = {k[4:]: v for k, v in overrides.items() if k.startswith("vad.")}
    top = {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items() if not k.startswith("vad.")
    }
    base = TranscribeOptions(cpu_threads=THREADS)
    if vad:
        top["vad_options"] = dataclasses.replace(base.vad_options, **vad)
    return dataclasses.replace(base, **top)


def describe_options(options) -> str:
    data = dataclasses.asdict(options)
    data.pop("cpu_threads", None)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


class OursRunner:
    def __init__(self, options) -> None:
        from speechchurn.asr.transcribe import load_engine

        self.options, self.engine = options, load_engine(options)
        self.settings = describe_options(options)

    def transcribe(self, audio) -> list[tuple[str, float, float, str]]:
        from speechchurn.asr.transcribe import transcribe_audio

        return [
            (s.role, s.start, s.end, s.text)
            for s in transcribe_audio(audio, self.options, engine=self.engine)
        ]


class PeerRunner:
    settings = (
        f'WhisperModel base int8, beam 5, initial_prompt="{PEER_PROMPT}", '
        "vad_filter=True (default VadOptions), language zh"
    )

    def __init__(self) -> None:
        from faster_whisper import WhisperModel

        from speechchurn.asr.models import ENGINE_FASTER, resolve_model

        path = resolve_model("base", ENGINE_FASTER)
        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=THREADS)

    def transcribe(self, audio) -> list[tuple[str, float, float, str]]:
        out = []
        for role, samples in audio.channels.items():
            segments, _info = self.model.transcribe(
                samples, language="zh", beam_size=5, initial_prompt=PEER_PROMPT, vad_filter=True
            )
            out.extend((role, s.start, s.end, s.text) for s in segments)
        return sorted(out, key=lambda s: (s[1], s[0]))


def make_runner(system: str, overrides: dict):
    if system == "peer":
        return PeerRunner()
    return OursRunner(previous_options() if system == "previous" else ours_options(overrides))


def run_system(runner, items: list[Item], cache: str | None) -> dict[str, dict]:
    """Transcript and wall time of every item (optionally reusing cached transcripts of these settings)."""
    from speechchurn.call.audio import decode_audio

    key = hashlib.sha256(runner.settings.encode()).hexdigest()[:16]
    store = CACHE / "hyps" / f"{key}.json"
    done = json.loads(store.read_text(encoding="utf-8")) if cache and store.exists() else {}
    results = {}
    for item in items:
        uid = f"{item.set}/{item.name}"
        if uid not in done:
            if cache == "only":
                raise SystemExit(f"{uid}: no cached transcript for {runner.settings}")
            audio = decode_audio(item.path)
            t0 = time.perf_counter()
            segments = runner.transcribe(audio)
            done[uid] = {
                "segments": segments,
                "wall_s": time.perf_counter() - t0,
                "audio_s": audio.duration_s,
            }
        results[uid] = done[uid]
    if cache:  # merge with what other runs of the same settings stored meanwhile
        store.parent.mkdir(parents=True, exist_ok=True)
        merged = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}
        store.write_text(json.dumps({**merged, **done}, ensure_ascii=False), encoding="utf-8")
    return results


# --- scores -----------------------------------------------------------------------------------------


def item_counts(item: Item, segments) -> tuple[int, int, int, int]:
    """(CER edits, reference chars, short turns, short turns with text) of one item."""
    from speechchurn.dev.evaluation import cer_count, normalize_for_cer

    edits = chars = 0
    for role in sorted({t.role for t in item.turns}):
        ref = "".join(t.text for t in sorted(item.turns, key=lambda t: t.start) if t.role == role)
        hyp = "".join(s[3] for s in sorted(segments, key=lambda s: s[1]) if s[0] == role)
        count = cer_count(ref, hyp)
        edits, chars = edits + count.edits, chars + count.ref_chars
    short = [t for t in item.turns if t.end - t.start <= SHORT_TURN_MAX_S]
    heard = sum(
        any(
            s[0] == t.role
            and s[1] < t.end + SHORT_TURN_SLACK_S
            and s[2] > t.start - SHORT_TURN_SLACK_S
            and normalize_for_cer(s[3])
            for s in segments
        )
        for t in short
    )
    return edits, chars, len(short), heard


@dataclass
class Score:
    edits: int = 0
    chars: int = 0
    short: int = 0
    heard: int = 0
    wall_s: float = 0.0
    audio_s: float = 0.0
    items: int = 0

    def add(self, item: Item, result: dict) -> None:
        e, c, s, h = item_counts(item, result["segments"])
        self.edits, self.chars, self.short, self.heard = (
            self.edits + e,
            self.chars + c,
            self.short + s,
            self.heard + h,
        )
        self.wall_s, self.audio_s, self.items = (
            self.wall_s + result["wall_s"],
            self.audio_s + result["audio_s"],
            self.items + 1,
        )

    @property
    def cer(self) -> float:
        return self.edits / self.chars if self.chars else 0.0

    @property
    def recall(self) -> float | None:
        return self.heard / self.short if self.short else None

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s if self.audio_s else 0.0


def score(items: list[Item], results: dict[str, dict]) -> dict[tuple[str, str], Score]:
    scores: dict[tuple[str, str], Score] = {}
    for item in items:
        scores.setdefault((item.set, item.split), Score()).add(item, results[f"{item.set}/{item.name}"])
    return scores


# --- report -----------------------------------------------------------------------------------------


def _recall(s: Score) -> str:
    return "-" if s.recall is None else f"{s.recall:.2f} ({s.heard}/{s.short})"


def table(scores: dict[str, dict], systems: list[str]) -> str:
    ours = scores.get("speechchurn", {})
    head = "| set | split | items | audio s | " + " | ".join(
        f"CER {s} | short-turn recall {s} | RTF {s}" for s in systems
    )
    ratios = [s for s in ("peer", "previous") if s in systems and "speechchurn" in systems]
    head += "".join(f" | CER speechchurn / {s}" for s in ratios) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for key in sorted(next(iter(scores.values()))):
        first = scores[systems[0]][key]
        cells = [f"{key[0]} | {key[1]} | {first.items} | {first.audio_s:.0f}"]
        for system in systems:
            s = scores[system][key]
            cells.append(f"{pct(s.cer)} | {_recall(s)} | {s.rtf:.3f}")
        for other in ratios:
            base = scores[other][key].cer
            cells.append(f"{ours[key].cer / base:.2f}" if base else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(
    scores: dict, settings: dict[str, str], systems: list[str], load: tuple[str, str], wall_s: float
) -> str:
    settings_lines = "\n".join(_settings_line(name, settings, systems) for name in systems)
    return (
        "## Accuracy on audio we did not tune on\n\n"
        "`python benchmarks/accuracy.py` (see its docstring for the sets, systems and scoring). "
        "CER is total edits / total reference characters after normalising both sides (NFKC, simplified, "
        "no punctuation or spaces, Latin case folded, Arabic numbers spelled as read, 幺/两 unified); "
        "short-turn recall is the share of reference turns of at most 1.5 s that get any text; "
        "RTF is transcription wall time / audio time with 2 CPU threads (the peer runs on the same "
        "decoded audio). Only `held-out` rows count as evidence; `audio_samples` is all `tune`.\n\n"
        + table(scores, systems)
        + f"\n\nSettings:\n\n{settings_lines}\n\n"
        f"Load (uptime) at start: {load[0]}; at end: {load[1]}. Other processes shared the 2 cores, so RTF "
        f"figures are upper bounds. Whole run {wall_s / 60:.1f} min.\n"
    )


def twin_of(name: str, settings: dict[str, str], systems: list[str]) -> str | None:
    """The first system before `name` with the same settings (its transcripts serve both), if any."""
    earlier = systems[: systems.index(name)]
    return next((other for other in earlier if settings[other] == settings[name]), None)


def _settings_line(name: str, settings: dict[str, str], systems: list[str]) -> str:
    twin = twin_of(name, settings, systems)
    if twin is not None:
        return f"- `{name}`: the same settings as `{twin}` (its transcripts are reused, not decoded again)"
    return f"- `{name}`: `{settings[name]}`"


def uptime_load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _json_or_text(value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def parse_overrides(pairs: list[str]) -> dict:
    return {key: _json_or_text(value) for key, _, value in (pair.partition("=") for pair in pairs)}


def spread(items: list[Item], n: int) -> list[Item]:
    """At most n items, evenly spaced through the list (so a slice spans every corpus and speaker)."""
    if not n or len(items) <= n:
        return items
    return [items[i * len(items) // n] for i in range(n)]


def select(args: argparse.Namespace) -> list[Item]:
    """Items of the chosen sets and splits; a set with none in them (audio_samples: all tune) comes whole."""
    limits = dict(pair.split("=") for pair in args.limits.split(",") if pair)
    items = []
    for set_name in args.sets.split(","):
        every = load_items(set_name, args.shared)
        chosen = [i for i in every if i.split in args.splits.split(",")] or every
        items += spread(chosen, int(limits.get(set_name, args.limit)))
    return items


def run(args: argparse.Namespace) -> tuple[dict, dict]:
    items = select(args)
    scores, settings = {}, {}
    for system in args.systems.split(","):
        runner = make_runner(system, parse_overrides(args.opt))
        settings[system] = runner.settings
        twin = twin_of(system, settings, list(settings))
        if twin is not None:  # same decoding settings, same code: the same transcripts, not decoded twice
            scores[system] = scores[twin]
            print(f"{system}: the same settings as {twin}; its scores are reused", file=sys.stderr)
            continue
        scores[system] = score(items, run_system(runner, items, args.cache))
        for key, s in sorted(scores[system].items()):
            print(
                f"{system} {key[0]} {key[1]}: CER {pct(s.cer)} recall {_recall(s)} RTF {s.rtf:.3f}",
                file=sys.stderr,
            )
    return scores, settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--splits", default="held-out", help="comma list of tune, held-out")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument(
        "--opt", action="append", default=[], help="override a TranscribeOptions field (vad.X for VadOptions)"
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="at most this many items per set (evenly spread)"
    )
    parser.add_argument("--limits", default="", help="per-set limits, e.g. synth=12,audio_samples=4")
    parser.add_argument(
        "--cache",
        nargs="?",
        const="yes",
        default=None,
        help="reuse transcripts (and their timings) of identical settings; --cache=only: never transcribe",
    )
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--section", default="accuracy", help="docs/benchmarks.md section to write")
    parser.add_argument("--title", default="", help="section title instead of the default")
    parser.add_argument("--label", default="", help="column name for the speechchurn system (with --opt)")
    parser.add_argument("--note", default="", help="paragraph appended to the section")
    args = parser.parse_args()
    started, load_start = time.perf_counter(), uptime_load()
    scores, settings = run(args)
    text = render(
        scores, settings, args.systems.split(","), (load_start, uptime_load()), time.perf_counter() - started
    )
    text = relabel(text, args)
    print(text)
    if not args.no_write:
        print(f"written to {write_section(args.section, text)}", file=sys.stderr)


def relabel(text: str, args: argparse.Namespace) -> str:
    """Section title, the name of the tuned column (e.g. a rejected candidate) and a closing note."""
    if args.title:
        text = text.replace("## Accuracy on audio we did not tune on", f"## {args.title}", 1)
    if args.label:
        for pattern in ("CER speechchurn", "recall speechchurn", "RTF speechchurn", "`speechchurn`"):
            text = text.replace(pattern, pattern.replace("speechchurn", args.label))
    return text + (f"\n{args.note}\n" if args.note else "")


if __name__ == "__main__":
    main()
