"""Where the ASR's CPU time goes: VAD, encoder, decoder (beam or greedy), word alignment.

    python benchmarks/cpu_split.py --sets realspeech_calls,realspeech_tel --limit 6

One process, CTranslate2 with one thread (``cpu_threads=1``, OMP_NUM_THREADS=1 recommended), so the
process CPU time of each call is that call's work: on a machine shared with other work, CPU seconds
stretch far less than wall seconds (cache and memory contention remain). Each item is transcribed
with the shipped settings (beam 5) and with greedy decoding (beam 1, temperature 0 only); the
CTranslate2 ``encode``, ``generate`` and ``align`` calls and the Silero pass are timed by wrappers.
Printed: CPU seconds per audio minute per component and system, and the ratio beam / greedy.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import accuracy  # noqa: E402

COMPONENTS = ("vad", "encode", "generate", "align", "other")


class Timed:
    """Forwards to ``target``; the CPU time of the named methods goes into ``totals``."""

    def __init__(self, target, names: tuple[str, ...], totals: dict) -> None:
        self._target, self._names, self._totals = target, names, totals

    def __getattr__(self, name: str):
        attr = getattr(self._target, name)
        if name not in self._names:
            return attr

        def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return attr(*args, **kwargs)
            finally:
                self._totals[name] += time.process_time() - started

        return timed


def run(items, threads: int) -> dict:
    from speechchurn.asr.faster_engine import FasterWhisperEngine
    from speechchurn.asr.transcribe import TranscribeOptions, transcribe_audio
    from speechchurn.call.audio import decode_audio
    from speechchurn.call.vad import speech_track

    shipped = TranscribeOptions(cpu_threads=threads)
    systems = {
        "beam 5 (shipped)": shipped,
        "greedy": dataclasses.replace(shipped, beam_size=1, temperatures=(0.0,)),
    }
    totals = {name: defaultdict(float) for name in systems}
    engines = {}
    for name, options in systems.items():
        engine = FasterWhisperEngine(options)
        engine._model.model = Timed(engine._model.model, ("encode", "generate", "align"), totals[name])
        engines[name] = engine
    for item in items:
        audio = decode_audio(item.path)
        for name, engine in engines.items():
            t = totals[name]
            started = time.process_time()
            tracks = {role: speech_track(s) for role, s in audio.channels.items()}
            t["vad"] += time.process_time() - started
            transcribe_audio(audio, engine.options, engine=engine, tracks=tracks)
            t["all"] += time.process_time() - started
            t["audio_s"] += audio.duration_s
        print(f"{item.set}/{item.name} done", file=sys.stderr, flush=True)
    return totals


def table(totals: dict) -> str:
    lines = [
        "| system | " + " | ".join(f"{c} CPU s / audio min" for c in COMPONENTS) + " | total |",
        "|---|" + "---|" * (len(COMPONENTS) + 1),
    ]
    for name, t in totals.items():
        minutes = t["audio_s"] / 60 or 1.0
        t["other"] = t["all"] - sum(t[c] for c in COMPONENTS if c != "other")
        cells = [f"{t[c] / minutes:.2f} ({100 * t[c] / t['all']:.0f}%)" for c in COMPONENTS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {t['all'] / minutes:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="realspeech_calls,realspeech_tel")
    parser.add_argument("--splits", default="held-out")
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    items = []
    for set_name in args.sets.split(","):
        chosen = [i for i in accuracy.load_items(set_name) if i.split in args.splits.split(",")]
        items += accuracy.spread(chosen, args.limit)
    print(table(run(items, args.threads)))


if __name__ == "__main__":
    main()
