"""Decoder levers of issue 27, one at a time, scored by CER and by the decoder's work (load-independent).

    python benchmarks/levers.py run --splits tune --out ~/.cache/speechchurn-bench/levers/tune.json
    python benchmarks/levers.py run --splits held-out --out .../held-out.json
    python benchmarks/levers.py report .../tune.json .../held-out.json        # tables; --write: docs

``run`` decodes every item of the chosen sets and splits (benchmarks/accuracy.py's lists) with:

* ``record``: the shipped beam decoding, and for every window also a greedy pass (beam 1, temperature
  0 only) on the same encoder output. The confidence gate (speechchurn/asr/gate.py) is then replayed
  offline for a grid of thresholds: windows passing keep the greedy text, the others the beam text;
  this is what ``decoding="gated"`` decodes (same windows, same passes), without decoding once per
  threshold. Per gate: CER, share of windows passing, tokens and beam steps (greedy pass of every
  window + beam pass of the failing ones), and the CER of each path (windows that passed / failed);
* ``bound``: ``max_tokens_per_speech_s`` (tokens per second of VAD speech in a window);
* ``nots``: ``without_timestamps=True``; segment times are compared with the beam's (share of
  segment edges within 0.1 s, roles);
* ``peer``: the plain faster-whisper loop of benchmarks/accuracy.py (its CER per speaker / corpus).

Work counts come from speechchurn.asr.decoder_work (tokens, beam steps = tokens x beam width,
windows, fallback windows, encoder passes); they do not depend on the machine's load. Wall seconds
are recorded too, but the machine these ran on was shared: they are labelled as such.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import accuracy  # noqa: E402

SETS = "realspeech_tel,realspeech_calls,realspeech,audio_samples"
GATES = tuple(
    (logprob, ratio) for logprob in (-0.2, -0.3, -0.4, -0.5, -0.6, -0.8, -1.0) for ratio in (2.0, 2.4)
)
BOUND_TOKENS_PER_S = 20.0  # ~6 Mandarin chars/s x ~1.5 tokens a char x 2 margin, + timestamps
COUNTS = ("windows", "generate_calls", "fallback_windows", "tokens", "beam_steps", "speech_s")


class RecordingEngine:
    """Decodes each window with the beam (returned) and greedily (kept aside), counting each path."""

    name = "faster-whisper"
    takes_speech_s = True

    def __init__(self, engine) -> None:
        self.engine, self.windows = engine, []

    def decode(self, samples, speech_s=None):
        eng = self.engine
        before = eng.work.copy()
        beam = eng.decode(samples, speech_s=speech_s)
        mid = eng.work.copy()
        greedy = eng._decode(samples, 1, (0.0,), None)
        after = eng.work.copy()
        self.windows.append(
            dict(beam=beam, greedy=greedy, beam_work=mid.minus(before), greedy_work=after.minus(mid))
        )
        return beam


class ReplayEngine:
    """Returns, window by window, what a gated decode would have kept."""

    name = "faster-whisper"

    def __init__(self, windows, gate) -> None:
        self.windows, self.gate, self.next = windows, gate, 0
        self.passed = []

    def decode(self, samples):
        from speechchurn.asr.gate import gate_failures

        window = self.windows[self.next]
        self.next += 1
        ok = not gate_failures(window["greedy"], self.gate)
        self.passed.append(ok)
        return window["greedy"] if ok else window["beam"]


def speaker_of(item) -> str:
    """Corpus and speaker of an item (realspeech truth.tsv; calls: the split list's unit)."""
    if item.set in ("realspeech", "realspeech_tel"):
        return _REALSPEECH.get(item.name, "?")
    if item.set == "realspeech_calls":
        return "call customer " + _CALL_UNITS.get(item.name, "?")
    return item.set


def _realspeech_speakers() -> dict[str, str]:
    path = accuracy.SHARED / "realspeech" / "truth.tsv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {
            r["file"]: f"{r['corpus'].split(' (')[0]} {r['speaker']}"
            for r in csv.DictReader(f, delimiter="\t")
        }


def _call_units() -> dict[str, str]:
    with (accuracy.SPLITS / "realspeech_calls.tsv").open(encoding="utf-8", newline="") as f:
        return {r["name"]: r["unit"] for r in csv.DictReader(f, delimiter="\t")}


_REALSPEECH = _realspeech_speakers()
_CALL_UNITS = _call_units()


def _tuples(segments) -> list:
    return [(s.role, s.start, s.end, s.text) for s in segments]


def _work(engine, before_work, before_passes) -> dict:
    work = dataclasses.asdict(engine.work.minus(before_work))
    work["encoder_passes"] = engine.encoder_passes - before_passes
    return work


def run_item(item, engines: dict, peer) -> dict:
    from speechchurn.asr.gate import GateOptions
    from speechchurn.asr.transcribe import transcribe_audio
    from speechchurn.call.audio import decode_audio
    from speechchurn.call.vad import speech_track

    audio = decode_audio(item.path)
    tracks = {role: speech_track(s) for role, s in audio.channels.items()}
    out = dict(set=item.set, split=item.split, name=item.name, speaker=speaker_of(item))
    out["audio_s"], out["variants"] = audio.duration_s, {}
    for name, engine in engines.items():
        real = engine.engine if name == "record" else engine
        before, passes, started = real.work.copy(), real.encoder_passes, time.perf_counter()
        segs = transcribe_audio(audio, real.options, engine=engine, tracks=tracks)
        wall = time.perf_counter() - started
        out["variants"][name] = dict(segments=_tuples(segs), work=_work(real, before, passes), wall_s=wall)
    record = engines["record"]
    windows, record.windows = record.windows, []
    for logprob, ratio in GATES:
        gate = GateOptions(min_avg_logprob=logprob, max_compression_ratio=ratio)
        replay = ReplayEngine(windows, gate)
        segs = transcribe_audio(audio, record.engine.options, engine=replay, tracks=tracks)
        out["variants"][f"gate{logprob}/{ratio}"] = dict(
            segments=_tuples(segs),
            passed=replay.passed,
            greedy_work=[dataclasses.asdict(w["greedy_work"]) for w in windows],
            beam_work=[dataclasses.asdict(w["beam_work"]) for w in windows],
        )
    if peer is not None:
        started = time.perf_counter()
        out["variants"]["peer"] = dict(segments=peer.transcribe(audio), wall_s=time.perf_counter() - started)
    return out


def make_engines(threads: int, bound: float, variants: list[str]):
    from speechchurn.asr.faster_engine import FasterWhisperEngine
    from speechchurn.asr.transcribe import TranscribeOptions

    base = TranscribeOptions(cpu_threads=threads)
    makers = {
        "record": lambda: RecordingEngine(FasterWhisperEngine(base)),
        "bound": lambda: FasterWhisperEngine(dataclasses.replace(base, max_tokens_per_speech_s=bound)),
        "nots": lambda: FasterWhisperEngine(dataclasses.replace(base, without_timestamps=True)),
    }
    return {name: makers[name]() for name in ["record", *(v for v in variants if v != "record")]}


def run(args: argparse.Namespace) -> None:
    accuracy.THREADS = args.threads
    engines = make_engines(args.threads, args.bound, args.variants.split(","))
    peer = accuracy.PeerRunner() if args.peer else None
    out = Path(args.out)
    done = json.loads(out.read_text(encoding="utf-8")) if out.exists() else []
    seen = {(d["set"], d["name"]) for d in done}
    for set_name in args.sets.split(","):
        items = [i for i in accuracy.load_items(set_name) if i.split in args.splits.split(",")]
        if args.mdcs_every > 1:  # every speaker but the dominant MagicData voice, and every n-th of its clips
            mdcs = [i for i in items if i.name.startswith("mdcs_")]
            items = [i for i in items if not i.name.startswith("mdcs_")] + mdcs[:: args.mdcs_every]
        for item in accuracy.spread(items, args.limit):
            if (item.set, item.name) in seen:
                continue
            done.append(run_item(item, engines, peer))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(done, ensure_ascii=False), encoding="utf-8")
            print(f"{item.set}/{item.name} done", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--sets", default=SETS)
    r.add_argument("--splits", default="tune")
    r.add_argument("--limit", type=int, default=0)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--bound", type=float, default=BOUND_TOKENS_PER_S)
    r.add_argument("--peer", action="store_true")
    r.add_argument("--mdcs-every", type=int, default=1, help="realspeech: keep every n-th mdcs-F01 clip")
    r.add_argument("--variants", default="record,bound,nots", help="record is always run")
    r.add_argument("--out", required=True)
    rep = sub.add_parser("report")
    rep.add_argument("files", nargs="+")
    rep.add_argument("--write", action="store_true")
    rep.add_argument("--note", default=None, help="markdown file appended to the section (a reading)")
    rep.add_argument(
        "--gate", default=None, help="the gate whose paths and speakers to show, e.g. gate-0.5/2.0"
    )
    args = parser.parse_args()
    if args.cmd == "run":
        run(args)
    else:
        from benchmarks import levers_report

        levers_report.main(args)


if __name__ == "__main__":
    main()
