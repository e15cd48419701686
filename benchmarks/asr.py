"""ASR benchmark: faster-whisper vs openai-whisper on audio_samples/ (accuracy, speed, memory).

    python benchmarks/asr.py                    # both engines, beam 5, 2 threads; writes section "asr"
    python benchmarks/asr.py --beam 1 --threads 1 --no-write --dump /tmp/asr.json
    python benchmarks/asr.py --sweep-pad 200,400,600   # default engine only; section "asr_vad_pad"

Each engine runs in its own subprocess (so peak RSS is that engine's alone), one after the other,
with the same decoding options except the engine. CER is per call and role: all reference turn
texts of a role joined, against all transcript segments of that role joined, both normalised by
`speechchurn.dev.evaluation.normalize_for_cer`; the overall CER is total edits / total reference
characters. Speed is audio seconds (call duration, both channels together) per wall second of
`transcribe_audio`; decoding the file and loading the model are timed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from benchmarks.common import (
    SAMPLES,
    LoadReport,
    load_truth,
    pct,
    run_json,
    samples_fingerprint,
    wait_until_quiet,
)  # noqa: E402
from speechchurn.asr.models import ENGINE_FASTER, ENGINE_OPENAI  # noqa: E402
from speechchurn.dev.evaluation import CerCount, edit_ops, score_call  # noqa: E402

ENGINE_ORDER = (ENGINE_FASTER, ENGINE_OPENAI)  # the default engine first
TARGET_CER = 0.07  # default engine, base model
TARGET_SPEEDUP = 3.0  # default engine vs openai-whisper at equal beam, 2 cores
TARGET_CER_GAP = 0.01  # default engine may be at most 1 point worse
TARGET_RSS_MB = 1536  # MiB peak RSS with base
TOP_DIFFERENCES = 15  # rows in the error-analysis table


# --- worker: one engine, in its own process ------------------------------------------------------


def run_engine(engine: str, beam: int, threads: int, samples: Path, vad_pad_ms: int | None = None) -> dict:
    """Transcribe every call in truth.json with one engine; timings, RSS and per-role CER counts.

    `vad_pad_ms` overrides VadOptions.speech_pad_ms, for the pad sweep.
    """
    import numpy as np

    from speechchurn.asr.transcribe import (
        TranscribeOptions,
        VadOptions,
        load_engine,
        speech_chunks,
        transcribe_audio,
    )
    from speechchurn.call.audio import decode_audio

    vad = VadOptions() if vad_pad_ms is None else VadOptions(speech_pad_ms=vad_pad_ms)
    options = TranscribeOptions(engine=engine, beam_size=beam, cpu_threads=threads, vad_options=vad)
    t0 = time.perf_counter()
    model = load_engine(options)
    speech_chunks(np.zeros(16_000, dtype=np.float32))  # load the VAD model too (1 s of silence)
    load_s = time.perf_counter() - t0
    calls, decode_s, transcribe_s = {}, 0.0, 0.0
    for name, truth in load_truth(samples).items():
        t0 = time.perf_counter()
        audio = decode_audio(samples / name)
        t1 = time.perf_counter()
        segments = transcribe_audio(audio, options, engine=model)
        t2 = time.perf_counter()
        decode_s, transcribe_s = decode_s + t1 - t0, transcribe_s + t2 - t1
        counts = score_call(truth["turns"], segments)
        calls[name] = {
            "duration_s": audio.duration_s,
            "wall_s": t2 - t1,
            "counts": {role: [c.edits, c.ref_chars] for role, c in counts.items()},
            "hyp": [[s.role, s.start, s.text] for s in segments],
        }
    return {
        "engine": engine,
        "beam": beam,
        "threads": threads,
        "load_s": load_s,
        "decode_s": decode_s,
        "transcribe_s": transcribe_s,
        "audio_s": sum(c["duration_s"] for c in calls.values()),
        "vad_pad_ms": vad.speech_pad_ms,
        "rss_mb": peak_rss_mib(),
        "calls": calls,
    }


def peak_rss_mib() -> float:
    """This process's own peak RSS (VmHWM); ru_maxrss would inherit a larger parent's peak at fork."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- summarising ----------------------------------------------------------------------------------


def total_count(result: dict, call: str | None = None, role: str | None = None) -> CerCount:
    total = CerCount(0, 0)
    for name, data in result["calls"].items():
        if call not in (None, name):
            continue
        for r, (edits, ref_chars) in data["counts"].items():
            if role in (None, r):
                total = total + CerCount(edits, ref_chars)
    return total


def speed(result: dict) -> float:
    """Audio seconds per wall second of transcription."""
    return result["audio_s"] / result["transcribe_s"]


def summary_table(results: dict[str, dict]) -> str:
    lines = [
        "| engine | CER | CER agent | CER customer | audio s / wall s | wall s (transcribe) "
        "| model load s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for engine, r in results.items():
        lines.append(
            f"| {engine} | {pct(total_count(r).cer)} | {pct(total_count(r, role='agent').cer)} "
            f"| {pct(total_count(r, role='customer').cer)} | {speed(r):.2f} | {r['transcribe_s']:.1f} "
            f"| {r['load_s']:.1f} | {r['rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def per_call_table(results: dict[str, dict]) -> str:
    engines = list(results)
    first = results[engines[0]]
    head = " | ".join(f"{e} CER (agent / customer)" for e in engines)
    lines = [f"| call | audio s | ref chars | {head} |", "|---|---|---|" + "---|" * len(engines)]
    for name, data in first["calls"].items():
        cells = []
        for engine in engines:
            r = results[engine]
            whole, agent, customer = (total_count(r, name, role) for role in (None, "agent", "customer"))
            cells.append(f"{pct(whole.cer)} ({pct(agent.cer)} / {pct(customer.cer)})")
        ref_chars = total_count(first, name).ref_chars
        lines.append(f"| {name} | {data['duration_s']:.1f} | {ref_chars} | {' | '.join(cells)} |")
    return "\n".join(lines)


def comparison(results: dict[str, dict]) -> str:
    """Ratios and the targets we quote, each marked met or missed."""
    fast, slow = results.get(ENGINE_FASTER), results.get(ENGINE_OPENAI)
    if fast is None:
        return ""
    fast_cer = total_count(fast).cer
    rows = [_target("default engine CER", pct(fast_cer), f"<= {pct(TARGET_CER)}", fast_cer <= TARGET_CER)]
    rows.append(
        _target(
            "default engine peak RSS",
            f"{fast['rss_mb']:.0f} MiB",
            f"<= {TARGET_RSS_MB} MiB",
            fast["rss_mb"] <= TARGET_RSS_MB,
        )
    )
    if slow is not None:
        ratio, gap = speed(fast) / speed(slow), fast_cer - total_count(slow).cer
        rows.append(
            _target(
                "speed faster / openai", f"{ratio:.2f}x", f">= {TARGET_SPEEDUP:.0f}x", ratio >= TARGET_SPEEDUP
            )
        )
        rows.append(
            _target(
                "CER faster - openai", f"{100 * gap:+.1f} points", "<= +1.0 points", gap <= TARGET_CER_GAP
            )
        )
    return "\n".join(["| measure | value | target | met |", "|---|---|---|---|", *rows])


def _target(name: str, value: str, target: str, met: bool) -> str:
    return f"| {name} | {value} | {target} | {'yes' if met else 'NO'} |"


def top_differences(result: dict, truth: dict, limit: int = TOP_DIFFERENCES) -> str:
    """Most frequent reference -> transcript differences, to see what kind of errors dominate."""
    from speechchurn.dev.evaluation import hypothesis_by_role, reference_by_role
    from speechchurn.schema import Segment

    counter: Counter = Counter()
    for name, data in result["calls"].items():
        hyps = hypothesis_by_role([Segment(role, start, 0.0, text) for role, start, text in data["hyp"]])
        for role, ref in reference_by_role(truth[name]["turns"]).items():
            counter.update((op.kind, op.ref, op.hyp) for op in edit_ops(ref, hyps.get(role, "")))
    lines = ["| kind | reference | transcript | times |", "|---|---|---|---|"]
    lines += [f"| {k} | {r or '-'} | {h or '-'} | {n} |" for (k, r, h), n in counter.most_common(limit)]
    return "\n".join(lines)


def render(results: dict[str, dict], load: LoadReport, load_end: float, samples: Path) -> str:
    any_result = next(iter(results.values()))
    truth = load_truth(samples)
    intro = (
        f"Samples: `{samples.name}/` ({len(any_result['calls'])} stereo calls, "
        f"truth.json sha256 {samples_fingerprint(samples)}, "
        f"{any_result['audio_s']:.0f} s of audio; TTS speech, 8 kHz telephone). Model `base`, "
        f"beam {any_result['beam']}, temperatures (0, 0.2, 0.4), VAD on, "
        f"cpu_threads={any_result['threads']}, "
        "faster-whisper int8, openai-whisper float32; each engine in its own process, run back to back. "
        f"{load.describe()}; at end {load_end:.2f}.\n\n"
    )
    return (
        "## ASR engines\n\n"
        + intro
        + summary_table(results)
        + "\n\n"
        + comparison(results)
        + "\n\n### Per call\n\n"
        + per_call_table(results)
        + f"\n\n### Most frequent differences ({ENGINE_FASTER})\n\n"
        + top_differences(results.get(ENGINE_FASTER, any_result), truth)
    )


def worker_args(engine: str, args: argparse.Namespace, vad_pad_ms: int | None = None) -> list[str]:
    cmd = ["benchmarks/asr.py", "--worker", engine, "--beam", str(args.beam), "--threads", str(args.threads)]
    cmd += ["--samples", str(args.samples)]
    return cmd + ([] if vad_pad_ms is None else ["--vad-pad-ms", str(vad_pad_ms)])


def compare_engines(args: argparse.Namespace, load: LoadReport) -> str:
    results = {}
    for engine in args.engines.split(","):
        results[engine] = run_json(worker_args(engine, args))
        print(f"{engine}: {speed(results[engine]):.2f} audio s / wall s", file=sys.stderr)
    if args.dump:
        args.dump.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return render(results, load, os.getloadavg()[0], args.samples)


def sweep_pad(args: argparse.Namespace, load: LoadReport) -> str:
    """Default engine at several VAD speech pads (ms kept around each speech chunk)."""
    lines = [
        "| VAD speech pad ms | CER | CER agent | CER customer | edits / ref chars | audio s / wall s |",
        "|---|---|---|---|---|---|",
    ]
    for pad in (int(p) for p in args.sweep_pad.split(",")):
        r = run_json(worker_args(ENGINE_FASTER, args, pad))
        total = total_count(r)
        lines.append(
            f"| {pad} | {pct(total.cer)} | {pct(total_count(r, role='agent').cer)} "
            f"| {pct(total_count(r, role='customer').cer)} | {total.edits} / {total.ref_chars} "
            f"| {speed(r):.2f} |"
        )
        print(lines[-1], file=sys.stderr)
    intro = (
        f"`python benchmarks/asr.py --sweep-pad {args.sweep_pad}`: {ENGINE_FASTER} base, beam {args.beam}, "
        f"cpu_threads={args.threads}, `VadOptions.speech_pad_ms` overridden per run "
        f"(truth.json sha256 {samples_fingerprint(args.samples)}). {load.describe()}.\n\n"
    )
    return "## ASR: VAD speech pad\n\n" + intro + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="cpu_threads per engine")
    parser.add_argument("--engines", default=",".join(ENGINE_ORDER))
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--max-wait-min", type=float, default=25.0, help="wait this long for a quiet machine")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    parser.add_argument("--dump", type=Path, help="write the raw results (transcripts included) as JSON")
    parser.add_argument("--sweep-pad", help="instead: default engine CER at these VAD pads, e.g. 200,400,600")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--vad-pad-ms", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = run_engine(args.worker, args.beam, args.threads, args.samples, args.vad_pad_ms)
        print(json.dumps(result, ensure_ascii=False))
        return
    load = wait_until_quiet(max_wait_s=args.max_wait_min * 60)
    print(load.describe(), file=sys.stderr)
    section, text = (
        ("asr_vad_pad", sweep_pad(args, load)) if args.sweep_pad else ("asr", compare_engines(args, load))
    )
    print(text)
    if not args.no_write:
        print(f"written to {write_section(section, text)}")


if __name__ == "__main__":
    main()
