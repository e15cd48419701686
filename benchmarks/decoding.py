"""Decoding variants side by side: packing, beam / patience, compute type, batched decoding.

    python benchmarks/decoding.py                      # held-out realspeech calls + telephone clips
    python benchmarks/decoding.py --variants call,channel --sets realspeech_calls --no-write

ASR only (transcribe_audio on decoded audio, model load excluded), in one process. The variants
take turns file by file, so load from other processes hits them alike. Each variant is
``TranscribeOptions()`` as shipped with the overrides below, except ``batched-*``: faster-whisper's
``BatchedInferencePipeline`` per channel with its own VAD (batch of 8 windows), the library's way
of batching. Items and CER scoring come from benchmarks/accuracy.py (held-out split lists).
Reported per set: audio s per ASR wall s, encoder passes per audio minute, held-out CER.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import accuracy  # noqa: E402
from benchmarks._report import write_section  # noqa: E402

VARIANTS = {
    "channel": {"packing": "channel"},  # each channel alone: the encoder-pass baseline
    "call": {},  # the shipped defaults (both channels share windows)
    "beam1": {"beam_size": 1},
    "beam2-p2": {"beam_size": 2, "patience": 2.0},
    "int8_float32": {"compute_type": "int8_float32"},
    "batched-beam5": {"batched": 8, "beam_size": 5},
    "batched-beam1": {"batched": 8, "beam_size": 1},
}
DEFAULT_VARIANTS = "channel,call,beam1,beam2-p2,int8_float32,batched-beam5"
DEFAULT_SETS = "realspeech_calls,realspeech_tel"


class BatchedRunner:
    """BatchedInferencePipeline per channel (its own Silero VAD), words on, prompt as ours."""

    def __init__(self, options, batch_size: int) -> None:
        from faster_whisper import BatchedInferencePipeline

        from speechchurn.asr.transcribe import load_engine

        self.options, self.batch_size = options, batch_size
        self.engine = load_engine(options)
        self.pipeline = BatchedInferencePipeline(self.engine._model)

    def transcribe(self, audio) -> list[tuple[str, float, float, str]]:
        out = []
        for role, samples in audio.channels.items():
            segments, _info = self.pipeline.transcribe(
                samples,
                language=self.options.language,
                beam_size=self.options.beam_size,
                initial_prompt=self.options.initial_prompt,
                batch_size=self.batch_size,
                vad_filter=True,
            )
            out.extend((role, s.start, s.end, s.text) for s in segments)
        return out


def make_runner(name: str):
    overrides = dict(VARIANTS[name])
    batch = overrides.pop("batched", 0)
    options = accuracy.ours_options(overrides)
    return BatchedRunner(options, batch) if batch else accuracy.OursRunner(options)


def run(variants: list[str], items) -> dict[str, dict]:
    """Per variant: per set totals of audio s, ASR wall s, encoder passes, held-out CER counts."""
    from speechchurn.call.audio import decode_audio

    runners = {name: make_runner(name) for name in variants}
    totals = {name: {} for name in variants}
    for item in items:
        audio = decode_audio(item.path)
        for name, runner in runners.items():
            engine = runner.engine
            before = engine.encoder_passes
            started = time.perf_counter()
            segments = runner.transcribe(audio)
            wall = time.perf_counter() - started
            edits, chars, _s, _h = accuracy.item_counts(item, segments)
            t = totals[name].setdefault(item.set, dict(audio_s=0.0, wall_s=0.0, passes=0, edits=0, chars=0))
            t["audio_s"] += audio.duration_s
            t["wall_s"] += wall
            t["passes"] += engine.encoder_passes - before
            if item.split == "held-out":
                t["edits"] += edits
                t["chars"] += chars
        print(f"{item.set}/{item.name} done", file=sys.stderr, flush=True)
    return totals


def table(totals: dict[str, dict]) -> str:
    lines = [
        "| set | variant | audio s | audio s / ASR wall s | encoder passes / audio min | CER held-out |",
        "|---|---|---|---|---|---|",
    ]
    for set_name in sorted({s for t in totals.values() for s in t}):
        for name, per_set in totals.items():
            t = per_set[set_name]
            cer = f"{100 * t['edits'] / t['chars']:.1f}%" if t["chars"] else "-"
            lines.append(
                f"| {set_name} | {name} | {t['audio_s']:.0f} | {t['audio_s'] / t['wall_s']:.1f}× "
                f"| {t['passes'] / (t['audio_s'] / 60):.2f} | {cer} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    parser.add_argument("--sets", default=DEFAULT_SETS)
    parser.add_argument("--splits", default="held-out")
    parser.add_argument("--limit", type=int, default=0, help="at most this many items per set")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    items = []
    for set_name in args.sets.split(","):
        chosen = [i for i in accuracy.load_items(set_name) if i.split in args.splits.split(",")]
        items += chosen[: args.limit] if args.limit else chosen
    load, started = os.getloadavg()[0], time.perf_counter()
    totals = run(args.variants.split(","), items)
    minutes = (time.perf_counter() - started) / 60
    text = (
        "## Decoding variants (benchmarks/decoding.py)\n\n"
        f"`python benchmarks/decoding.py --variants {args.variants} --sets {args.sets}"
        f"{f' --limit {args.limit}' if args.limit else ''}`: ASR only, model load excluded, 2 cores "
        f"(CTranslate2 threads as shipped), variants take turns file by file. 1-minute load at start "
        f"{load:.2f}, at end {os.getloadavg()[0]:.2f}; whole run {minutes:.0f} min. "
        "`channel` decodes each channel alone (the encoder-pass baseline), `call` packs both channels "
        "into shared 30 s windows (shipped); the others change one setting from the shipped defaults; "
        "`batched-*` is faster-whisper's BatchedInferencePipeline per channel.\n\n" + table(totals) + "\n"
    )
    print(text)
    if not args.no_write:
        write_section("decoding", text)


if __name__ == "__main__":
    main()
