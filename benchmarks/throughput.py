"""End-to-end throughput: the plain faster-whisper peer, the previous defaults and the new defaults.

    python benchmarks/throughput.py                 # four sets, peer / previous / new; writes "throughput"
    python benchmarks/throughput.py --quick         # 4 files per set, one 3-min long call (about 5-10 min)
    python benchmarks/throughput.py --sets realspeech_calls --systems peer,new --no-write

Systems, each a fresh process tree on the same folder, one after the other:

* ``peer``: a plain script: decode each file (speechchurn.call.audio.decode_audio), then per channel
  ``WhisperModel("base", int8).transcribe(..., language="zh", beam_size=5, vad_filter=True,
  initial_prompt="以下是普通话的句子。")``. One process, CTranslate2 using every core. ASR only.
* ``previous``: ``speechchurn analyze`` of commit 51e2c16 (the tree is exported with ``git archive``
  into the cache), its defaults (workers one per core). Everything: ASR, keywords, sentiment,
  acoustics, grading, report.
* ``new``: ``speechchurn analyze`` of this tree with its defaults; then ``rerun``: the same command
  again on the same output folder (every file already done).
* ``packed``, ``gated``, ``beam`` (opt-in, ``--systems``): ``new`` with ``--packing files``,
  ``--decoding gated`` or ``--decoding beam`` (one setting changed).

Sets: ``audio_samples`` (bundled two-channel TTS calls), ``realspeech_calls`` (the two-channel calls of
``../shared/realspeech/make_telephone.sh --calls``), ``short_clips`` (100 telephone-band mono
clips from ``make_telephone.sh``, 2-10 s each) and ``long_calls`` (five two-channel calls of 3-8
min built from held-out telephone clips by benchmarks/long_calls.py; ``--quick``: the 3 min one
ones). Derivatives of the shared audio are made in
SPEECHCHURN_BENCH_CACHE (default ~/.cache/speechchurn-bench), never in the repository.

Per system and set: audio seconds per wall second (process start to exit, model load included),
encoder passes per audio minute (every ``WhisperModel.encode`` call in any process of the tree is
counted through a ``sitecustomize`` probe; a batch of n windows counts n), peak RSS (sum over the
process tree, sampled every 0.2 s), CER on the held-out items (benchmarks/accuracy.py's split
lists and its scoring, so the figures compare with the accuracy table) and the 1-minute load
average at the start. Two cores shared with other work distort absolute figures; the ratios to
the peer in the same run are the comparison that holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import accuracy  # noqa: E402
from benchmarks._report import write_section  # noqa: E402
from benchmarks.common import REPO  # noqa: E402

PREVIOUS_COMMIT = "51e2c16"  # main when issue 27 began (its defaults: beam 5 everywhere)
SETS = ("audio_samples", "realspeech_calls", "short_clips", "long_calls")
SYSTEMS = ("peer", "previous", "new")
OPTIONAL_SYSTEMS = ("packed", "gated", "beam")  # --systems peer,previous,new,gated ...
# analyze options per speechchurn system (`new` with one setting changed)
SYSTEM_FLAGS = {
    "packed": ["--packing", "files"],
    "gated": ["--decoding", "gated"],
    "beam": ["--decoding", "beam"],
}
SHORT_CLIPS = 100
RSS_POLL_S = 0.2
PROBE = """
import os
_path = os.environ.get("SPEECHCHURN_ENCODE_LOG")
if _path:
    import faster_whisper.transcribe as _t

    def _log(line):
        fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, (line + "\\n").encode())
        os.close(fd)

    _encode = _t.WhisperModel.encode
    def _counted(self, features):
        n = features.shape[0] if getattr(features, "ndim", 2) == 3 else 1
        _log(f"encode {n}")
        return _encode(self, features)
    _t.WhisperModel.encode = _counted

    class _Counting:
        def __init__(self, model):
            self._model, self._last, self._fell = model, None, False
        def __getattr__(self, name):
            return getattr(self._model, name)
        def generate(self, output, prompts, *args, **kwargs):
            results = self._model.generate(output, prompts, *args, **kwargs)
            sampled = float(kwargs.get("sampling_temperature", 0) or 0) > 0
            width = int((kwargs.get("num_hypotheses", 1) if sampled else kwargs.get("beam_size", 1)) or 1)
            new = output is not self._last
            if new:
                self._last, self._fell = output, False
            fallback = sampled and not self._fell
            self._fell = self._fell or sampled
            tokens = sum(len(r.sequences_ids[0]) if r.sequences_ids else 0 for r in results)
            _log(f"generate {tokens} {tokens * width} {len(results) if new else 0} {int(fallback)}")
            return results

    _init = _t.WhisperModel.__init__
    def _init_counted(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self.model = _Counting(self.model)
    _t.WhisperModel.__init__ = _init_counted
"""
PEER_SCRIPT = """
import json, sys, time
from pathlib import Path
from faster_whisper import WhisperModel
from speechchurn.asr.models import ENGINE_FASTER, resolve_model
from speechchurn.call.audio import decode_audio
folder, out = Path(sys.argv[1]), Path(sys.argv[2])
model = WhisperModel(resolve_model("base", ENGINE_FASTER), device="cpu", compute_type="int8")
result = {}
for path in sorted(folder.glob("*.wav")):
    audio = decode_audio(path)
    segments = []
    for role, samples in audio.channels.items():
        segs, _ = model.transcribe(samples, language="zh", beam_size=5, vad_filter=True,
                                   initial_prompt=PROMPT)
        segments += [(role, s.start, s.end, s.text) for s in segs]
    result[path.name] = segments
out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
"""


@dataclass(frozen=True)
class Measure:
    system: str
    set: str
    files: int
    audio_s: float
    wall_s: float
    encoder_passes: int
    peak_rss_mb: float
    cer_held_out: float | None
    load_1min: float
    work: tuple[tuple[str, int], ...] = ()  # decoder work counted by PROBE (probe_counts but passes)
    speech_s: float = 0.0  # VAD speech in the set (the same for every system)

    def per_min(self, name: str) -> float:
        return dict(self.work).get(name, 0) / (self.audio_s / 60) if self.audio_s else float("nan")

    @property
    def speed(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s else float("nan")

    @property
    def passes_per_min(self) -> float:
        return self.encoder_passes / (self.audio_s / 60) if self.audio_s else float("nan")


# --- sets ------------------------------------------------------------------------------------------


def set_folder(name: str, limit: int | None) -> tuple[Path, list]:
    """A folder holding exactly the set's audio (symlinks into the cache) and its accuracy items."""
    if name == "long_calls":
        from benchmarks import long_calls

        items = long_calls.load_items(long_calls.QUICK_LENGTHS_MIN if limit else long_calls.LENGTHS_MIN)
    elif name == "short_clips":
        items = sorted(accuracy.load_items("realspeech_tel"), key=lambda i: i.name)[:SHORT_CLIPS]
    else:
        items = accuracy.load_items(name)
    items = items[:limit] if limit else items
    folder = accuracy.CACHE / "throughput" / f"{name}-{len(items)}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for item in items:
        (folder / item.name).symlink_to(item.path.resolve())
    write_manifest(folder, items)
    return folder, items


def manifest_path(folder: Path) -> Path:
    return folder.parent / f"{folder.name}.manifest.csv"


def write_manifest(folder: Path, items) -> None:
    """A caller per file (the realspeech names carry none; an empty callers table is not what is timed)."""
    lines = ["file,caller,agent,direction,started_at"]
    for index, item in enumerate(items):
        minute = f"{index // 60:02d}:{index % 60:02d}"
        lines.append(f"{item.name},1390000{index % 50:04d},A01,in,2026-11-02T09:{minute}+08:00")
    manifest_path(folder).write_text("\n".join(lines) + "\n", encoding="utf-8")


def audio_seconds(items) -> float:
    from speechchurn.call.audio import probe_duration

    return sum(probe_duration(item.path) or 0.0 for item in items)


def speech_seconds(items) -> float:
    """VAD speech (the decoder's gate, unpadded) summed over every channel of the items."""
    from speechchurn.asr.transcribe import SAMPLE_RATE, speech_chunks
    from speechchurn.call.audio import decode_audio

    total = 0
    for item in items:
        for samples in decode_audio(item.path).channels.values():
            total += sum(c["end"] - c["start"] for c in speech_chunks(samples, padded=False))
    return total / SAMPLE_RATE


# --- running one system ----------------------------------------------------------------------------


def previous_tree() -> Path:
    """The previous defaults' source tree, exported once with git archive."""
    tree = accuracy.CACHE / f"speechchurn-{PREVIOUS_COMMIT}"
    if not (tree / "speechchurn").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", PREVIOUS_COMMIT], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def command(system: str, folder: Path, out: Path) -> tuple[list[str], Path | None]:
    """The command line of a system and the source tree it must import from (None: this one)."""
    if system == "peer":
        script = PEER_SCRIPT.replace("PROMPT", repr(accuracy.PEER_PROMPT))
        return [sys.executable, "-c", script, str(folder), str(out / "peer.json")], None
    tree = previous_tree() if system == "previous" else None
    args = [sys.executable, "-m", "speechchurn", "analyze", str(folder), "--out", str(out / "run")]
    args += ["--manifest", str(manifest_path(folder))]
    return args + SYSTEM_FLAGS.get(system, []), tree


def timed(args: list[str], tree: Path | None, probe_dir: Path, encode_log: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, summed over the process tree) of one command."""
    import psutil

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (probe_dir, tree or REPO))
    env["SPEECHCHURN_ENCODE_LOG"] = str(encode_log)
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, cwd=str(tree or REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree_procs = [root, *root.children(recursive=True)]
            peak = max(peak, sum(_rss(p) for p in tree_procs))
        except psutil.NoSuchProcess:
            pass
        time.sleep(RSS_POLL_S)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, peak / 2**20


def _rss(process) -> int:
    import psutil

    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


GENERATE_FIELDS = ("tokens", "beam_steps", "windows", "fallback_windows")  # PROBE's generate lines


def probe_counts(log: Path) -> dict[str, int]:
    """Encoder passes and decoder work counted by PROBE in every process of one run."""
    counts = dict(encoder_passes=0, tokens=0, beam_steps=0, windows=0, fallback_windows=0)
    for line in log.read_text().splitlines() if log.exists() else []:
        kind, *values = line.split()
        if kind == "encode":
            counts["encoder_passes"] += int(values[0])
        elif kind == "generate":
            for name, value in zip(GENERATE_FIELDS, values, strict=True):
                counts[name] += int(value)
    return counts


def encoder_passes(log: Path) -> int:
    return probe_counts(log)["encoder_passes"]


def hypotheses(system: str, out: Path) -> dict[str, list]:
    """file name -> [(role, start, end, text)] from the system's output."""
    if system == "peer":
        return json.loads((out / "peer.json").read_text(encoding="utf-8"))
    result = {}
    with (out / "run" / "transcripts.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            result[Path(row["file"]).name] = [
                (s["role"], s["start"], s["end"], s["text"]) for s in row["segments"]
            ]
    return result


def held_out_cer(items, hyps: dict[str, list]) -> float | None:
    edits = chars = 0
    for item in items:
        if item.split == "held-out":
            e, c, _short, _heard = accuracy.item_counts(item, hyps.get(item.name, []))
            edits, chars = edits + e, chars + c
    return edits / chars if chars else None


def _work(log: Path) -> tuple[tuple[str, int], ...]:
    return tuple((k, v) for k, v in probe_counts(log).items() if k != "encoder_passes")


def measure(
    system: str, set_name: str, folder: Path, items, audio_s: float, work: Path, speech_s: float = 0.0
) -> list[Measure]:
    out = work / f"{system}-{set_name}"
    out.mkdir(parents=True)
    probe = work / "probe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    args, tree = command(system, folder, out)
    load = os.getloadavg()[0]
    log = out / "encode.log"
    wall, rss = timed(args, tree, probe, log)
    cer = held_out_cer(items, hypotheses(system, out))
    first = Measure(system, set_name, len(items), audio_s, wall, encoder_passes(log), rss, cer, load)
    rows = [replace(first, work=_work(log), speech_s=speech_s)]
    if system == "new":
        log2, load = out / "encode-rerun.log", os.getloadavg()[0]
        wall2, rss2 = timed(args, tree, probe, log2)
        again = Measure("rerun", set_name, len(items), audio_s, wall2, encoder_passes(log2), rss2, cer, load)
        rows.append(replace(again, work=_work(log2), speech_s=speech_s))
    return rows


# --- report ----------------------------------------------------------------------------------------


WORK_HEAD = (
    "decoder tokens / audio min | beam steps / audio min | fallback windows / audio min | tokens / speech s"
)


def table(rows: list[Measure]) -> str:
    lines = [
        "| set | system | files | audio s | wall s | audio s / wall s | × peer | encoder passes / audio min "
        f"| peak RSS MB | CER held-out | load at start | {WORK_HEAD} |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    peers = {r.set: r for r in rows if r.system == "peer"}
    for r in rows:
        peer = peers.get(r.set)
        ratio = f"{r.speed / peer.speed:.2f}" if peer and r.system != "rerun" else "-"
        if r.system == "rerun":
            first = next(x for x in rows if x.set == r.set and x.system == "new")
            ratio = f"rerun = {100 * r.wall_s / first.wall_s:.1f}% of first"
        cer = f"{100 * r.cer_held_out:.1f}%" if r.cer_held_out is not None else "-"
        tokens = dict(r.work).get("tokens", 0)
        per_speech = f"{tokens / r.speech_s:.2f}" if r.speech_s and r.work else "-"
        lines.append(
            f"| {r.set} | {r.system} | {r.files} | {r.audio_s:.0f} | {r.wall_s:.1f} | {r.speed:.1f}× "
            f"| {ratio} | {r.passes_per_min:.2f} | {r.peak_rss_mb:.0f} | {cer} | {r.load_1min:.2f} "
            f"| {r.per_min('tokens'):.0f} | {r.per_min('beam_steps'):.0f} "
            f"| {r.per_min('fallback_windows'):.2f} | {per_speech} |"
        )
    return "\n".join(lines)


def cost_split(rows: list[Measure]) -> str:
    """Per system, least squares over the sets: wall s = run + call x files + minute x audio min."""
    import numpy as np

    lines = ["| system | s per run | s per call | s per audio min | sets |", "|---|---|---|---|---|"]
    for system in dict.fromkeys(r.system for r in rows if r.system != "rerun"):
        mine = [r for r in rows if r.system == system]
        if len(mine) < 3:
            continue
        design = np.array([[1.0, r.files, r.audio_s / 60] for r in mine])
        coef, *_ = np.linalg.lstsq(design, np.array([r.wall_s for r in mine]), rcond=None)
        lines.append(f"| {system} | {coef[0]:.1f} | {coef[1]:.2f} | {coef[2]:.2f} | {len(mine)} |")
    return "\n".join(lines)


def _flags(args: argparse.Namespace) -> str:
    flags = " --quick" if args.quick else ""
    flags += f" --limit {args.limit}" if args.limit else ""
    flags += f" --sets {args.sets}" if args.sets != ",".join(SETS) else ""
    return flags + (f" --systems {args.systems}" if args.systems != ",".join(SYSTEMS) else "")


def render(rows: list[Measure], args: argparse.Namespace, elapsed_s: float) -> str:
    return (
        "## Throughput (benchmarks/throughput.py)\n\n"
        f"`python benchmarks/throughput.py{_flags(args)}` took {elapsed_s / 60:.0f} min. "
        "Wall time is process start to exit (model load, and for speechchurn keywords, sentiment, "
        "acoustics, grading and the report, included); `peer` is the plain faster-whisper script "
        "(ASR only, one process), `previous` is `speechchurn analyze` of commit 51e2c16, `new` of this "
        "tree (both with their default workers, one per core), `rerun` the same `new` command again on "
        "its output folder, `packed` / `gated` / `beam` the `new` command with `--packing files` / "
        "`--decoding gated` / `--decoding beam`. Decoder work (tokens, beam steps = tokens x beam "
        "width, windows needing a temperature fallback) is counted in every process by the same probe "
        "as the encoder passes; tokens per speech second divide by the set's VAD speech. CER on the held-out "
        "items of benchmarks/splits (scored as in "
        "benchmarks/accuracy.py); `short_clips` are (up to) 100 telephone-band realspeech clips. The load "
        "average is the machine's 1-minute load when each run started: with other work on the 2 cores "
        "the absolute speeds are low, the ratios in one run are what compares.\n\n"
        + table(rows)
        + "\n\nPer-call overhead and per-minute cost (least squares over the sets of one system: "
        "wall s = per run + per call x files + per audio minute x minutes; `long_calls` are 3-8 min "
        "calls built by benchmarks/long_calls.py):\n\n" + cost_split(rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--quick", action="store_true", help="4 files per set")
    parser.add_argument("--limit", type=int, default=None, help="at most this many files per set")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()
    limit = 4 if args.quick else args.limit
    started = time.perf_counter()
    rows: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="speechchurn-throughput-") as tmp:
        for set_name in args.sets.split(","):
            folder, items = set_folder(set_name, limit)
            audio_s, speech_s = audio_seconds(items), speech_seconds(items)
            for system in args.systems.split(","):
                print(f"{set_name}: {system} ...", file=sys.stderr, flush=True)
                rows.extend(measure(system, set_name, folder, items, audio_s, Path(tmp), speech_s))
                print(table(rows), file=sys.stderr, flush=True)
    markdown = render(rows, args, time.perf_counter() - started)
    print(markdown)
    if not args.no_write:
        write_section("throughput", markdown)


if __name__ == "__main__":
    main()
