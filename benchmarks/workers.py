"""Workers benchmark: `speechchurn analyze` throughput for each cpu_threads x workers split.

    python benchmarks/workers.py                 # 1x2 vs 2x1 (workers x threads); writes section "workers"
    python benchmarks/workers.py --splits 1x2,2x1,1x1 --repeat 2 --no-write
    python benchmarks/workers.py --set long_calls --repeat 2 --section workers_long   # 3-8 min calls

Every run is the real CLI in a subprocess (`python -m speechchurn analyze SAMPLES --out FRESH_DIR
--workers W --threads T --quiet`) with a fresh output folder, so the transcript cache never skips
work. Throughput is audio seconds (sum of call durations) per wall second of the whole command,
model loading and report writing included: what a user waits for. Splits are interleaved when
repeated so a change in machine load hits every split alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from benchmarks.common import REPO, SAMPLES, LoadReport, load_truth, samples_fingerprint, wait_until_quiet  # noqa: E402

DEFAULT_SPLITS = "1x2,2x1"  # workers x threads on the 2-core target machine


@dataclass(frozen=True)
class Run:
    workers: int
    threads: int
    wall_s: float
    load_before: float  # 1-min load average just before the run


def parse_splits(spec: str) -> list[tuple[int, int]]:
    """'1x2,2x1' -> [(1, 2), (2, 1)] as (workers, threads)."""
    splits = []
    for part in spec.split(","):
        workers, _, threads = part.strip().partition("x")
        splits.append((int(workers), int(threads)))
    return splits


def run_analyze(samples: Path, workers: int, threads: int, engine: str) -> Run:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sc-workers-") as out:
        cmd = [
            sys.executable,
            "-m",
            "speechchurn",
            "analyze",
            str(samples),
            "--out",
            out,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--engine",
            engine,
            "--quiet",
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return Run(workers, threads, wall, load)


def render(runs: list[Run], audio_s: float, samples: str, load: LoadReport, load_end: float) -> str:
    """`samples` describes the sample set (count, fingerprint)."""
    lines = [
        "| workers x threads | runs | wall s (each) | audio s / wall s (best) | load avg before each |",
        "|---|---|---|---|---|",
    ]
    best: dict[tuple[int, int], float] = {}
    for key in dict.fromkeys((r.workers, r.threads) for r in runs):
        mine = [r for r in runs if (r.workers, r.threads) == key]
        best[key] = audio_s / min(r.wall_s for r in mine)
        lines.append(
            f"| {key[0]} x {key[1]} | {len(mine)} | {', '.join(f'{r.wall_s:.1f}' for r in mine)} "
            f"| {best[key]:.2f} | {', '.join(f'{r.load_before:.2f}' for r in mine)} |"
        )
    winner = max(best, key=best.get)
    intro = (
        "`python -m speechchurn analyze audio_samples --workers W --threads T --quiet`, "
        f"fresh `--out` each run "
        f"({samples}, {audio_s:.0f} s of audio, default engine, base). Whole command timed (model load "
        f"and reports included). {load.describe()}; at end {load_end:.2f}. The load before a run "
        "includes the tail of the run before it (the 1-min average lags).\n\n"
    )
    verdict = (
        f"\n\nFastest split: {winner[0]} worker(s) x {winner[1]} thread(s) "
        f"({best[winner]:.2f} audio s / wall s)."
    )
    return "## Workers x threads\n\n" + intro + "\n".join(lines) + verdict


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", default=DEFAULT_SPLITS, help="comma list of WORKERSxTHREADS")
    parser.add_argument("--repeat", type=int, default=1, help="runs per split (interleaved)")
    parser.add_argument("--engine", default="faster-whisper")
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--max-wait-min", type=float, default=25.0, help="wait this long for a quiet machine")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    parser.add_argument(
        "--set", default=None, help="a benchmarks/throughput.py set (long_calls, short_clips, ...) instead"
    )
    parser.add_argument("--section", default="workers", help="docs/benchmarks.md section to write")
    args = parser.parse_args()
    if args.set:
        args.samples, audio_s, samples = set_samples(args.set)
    else:
        truth = load_truth(args.samples)
        audio_s = sum(call["duration_s"] for call in truth.values())
        samples = f"{len(truth)} calls, truth.json sha256 {samples_fingerprint(args.samples)}"
    load = wait_until_quiet(max_wait_s=args.max_wait_min * 60)
    print(load.describe(), file=sys.stderr)
    runs = []
    for _ in range(args.repeat):
        for workers, threads in parse_splits(args.splits):
            runs.append(run_analyze(args.samples, workers, threads, args.engine))
            print(f"{workers}x{threads}: {runs[-1].wall_s:.1f} s", file=sys.stderr)
    text = render(runs, audio_s, samples, load, os.getloadavg()[0])
    if args.set:
        text = text.replace("analyze audio_samples", f"analyze {args.set}").replace(
            "## Workers x threads", f"## Workers x threads ({args.set})"
        )
    print(text)
    if not args.no_write:
        print(f"written to {write_section(args.section, text)}")


def set_samples(name: str) -> tuple[Path, float, str]:
    """Folder, audio seconds and a description of a throughput.py set (built in the cache)."""
    from benchmarks import throughput

    folder, items = throughput.set_folder(name, None)
    return folder, throughput.audio_seconds(items), f"set {name}: {len(items)} files"


if __name__ == "__main__":
    main()
