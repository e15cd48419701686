"""Mono calls: agent and customer recovered by diarization, against the same calls in stereo.

    python benchmarks/diarization.py                        # held-out, writes docs/benchmarks.md
    python benchmarks/diarization.py --splits tune --no-write
    python benchmarks/diarization.py --diarize-only         # no Whisper: speaker turns only

Each two-channel call is mixed down to one channel (the mean of the two, as a switch that records
mono would hold it) and analysed by ``speechchurn.recording.analyze_recording`` like any mono
file; the stereo original is analysed too. Sets (splits in benchmarks/splits/):

* ``realspeech_calls``: the two-channel telephone calls of ``../shared/realspeech/make_telephone.sh
  --calls`` (written into ~/.cache/speechchurn-bench, never into the repository);
* ``audio_samples``: the bundled calls (all tune);
* ``synth_fast``: benchmarks/synth_fast.py, fast turn-taking with back-channels (held-out seed 4242;
  ``synth_fast_tune`` is seed 7, tune).

Reference: who speaks when comes from the stereo channels themselves (the project's VAD on each
channel with crosstalk rejection), so it needs no hand labels. Figures:

* role accuracy: share of the reference's single-speaker speech time that the mono run gives the
  right role (time on a call left ``mixed`` counts as wrong);
* DER: pyannote.metrics DiarizationErrorRate (collar 0.25 s, overlap skipped) of the speaker turns
  against the channel reference (missed and false speech included);
* keyword categories: calls whose customer-side categories (non-negated hits) on mono equal the
  stereo run's;
* time: diarization seconds over the whole mono call's processing time, and over its ASR time
  (measured on a loaded machine);
* 8 kHz cost (``--diarize-only``): oracle-mapped speaker accuracy on the realspeech calls rebuilt at
  16 kHz from the original clips versus their telephone copies.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._report import write_section  # noqa: E402

CACHE = Path.home() / ".cache" / "speechchurn-bench"
SHARED = REPO.parent / "shared"
SPLITS = REPO / "benchmarks" / "splits"
SETS = ("realspeech_calls", "audio_samples", "synth_fast")
COLLAR_S = 0.25
NOTE = (
    "`audio_samples` is all tune (its held-out row is empty); on it, tests/test_mono_roles.py (real "
    "weights) checks that the mono copies give every customer the stereo run's tier and churn risk. "
    '"Diarization time added" counts the diarization stage only; Whisper decoding the two voices of a '
    "diarized call (packed into shared windows) instead of one mixed channel was not timed separately."
)


@dataclass
class CallScore:
    set_name: str
    name: str
    ref_s: float = 0.0  # single-speaker reference speech
    right_s: float = 0.0  # of it, given the right role
    der: float = math.nan
    source: str = ""
    confidence: float = math.nan
    categories_equal: bool = False
    diarize_s: float = 0.0
    total_s: float = 0.0
    asr_s: float = 0.0


def read_split(name: str) -> dict[str, str]:
    with (SPLITS / f"{name}.tsv").open(encoding="utf-8", newline="") as f:
        return {row["name"]: row["split"] for row in csv.DictReader(f, delimiter="\t")}


def call_files(set_name: str, split: str) -> list[tuple[Path, str]]:
    """(stereo file, direction) of one set's calls in ``split``."""
    if set_name == "realspeech_calls":
        from benchmarks.accuracy import telephone_dir

        folder, names = telephone_dir(calls=True), read_split("realspeech_calls")
        return [(folder / n, "in") for n, s in sorted(names.items()) if s == split]
    if set_name == "audio_samples":
        names = read_split("audio_samples")
        return [
            (REPO / "audio_samples" / n, n.rsplit("_", 1)[1][:-4])
            for n, s in sorted(names.items())
            if s == split
        ]
    from benchmarks import synth_fast

    if split == "held-out":
        folder, names = CACHE / "synth_fast", read_split("synth_fast")
        if not (folder / "truth.json").exists():
            synth_fast.generate(folder)
        return [(folder / n, "in") for n, s in sorted(names.items()) if s == split]
    folder = CACHE / "synth_fast_tune"
    if not (folder / "truth.json").exists():
        synth_fast.generate(folder, 7, 6)
    return [(p, "in") for p in sorted(folder.glob("*.wav"))]


# --------------------------------------------------------------------------- reference and mixdown


def reference(decoded) -> dict[str, list]:
    """Per-channel speech of the stereo original: the project's VAD with crosstalk rejection."""
    from speechchurn.call import acoustics as ac
    from speechchurn.call.vad import speech_track

    channels = decoded.channels
    speech = {r: ac.speech_intervals(x, track=speech_track(x)) for r, x in channels.items()}
    return ac.reject_crosstalk(channels, speech)


def write_mono(decoded, path: Path) -> None:
    """The mean of the two channels as a 16-bit 16 kHz mono WAV."""
    import wave

    mono = (decoded.channels["agent"] + decoded.channels["customer"]) / 2
    pcm = np.clip(np.round(mono * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())


def single_speaker(ref: dict[str, list]) -> dict[str, list]:
    from speechchurn.call.intervals import intersection, union

    both = intersection(ref["agent"], ref["customer"])
    out = {}
    for role in ("agent", "customer"):
        kept = []
        for s, e in union(ref[role]):
            kept.extend(_minus((s, e), both))
        out[role] = kept
    return out


def _minus(interval, holes) -> list:
    pieces = [interval]
    for hs, he in holes:
        pieces = [p for s, e in pieces for p in ((s, min(e, hs)), (max(s, he), e)) if p[1] > p[0]]
    return pieces


def der(turns, ref: dict[str, list]) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    truth, hyp = Annotation(), Annotation()
    for role, ivs in ref.items():
        for s, e in ivs:
            truth[Segment(s, e)] = role
    for i, (s, e, k) in enumerate(turns):
        hyp[Segment(s, e), i] = f"spk{k}"
    return float(DiarizationErrorRate(collar=COLLAR_S, skip_overlap=True)(truth, hyp))


def customer_categories(hits) -> set[str]:
    return {h.category for h in hits if h.role in ("customer", "mixed") and not h.negated}


# --------------------------------------------------------------------------- runs


def run_call(set_name: str, path: Path, direction: str, ctx: dict) -> CallScore:
    from speechchurn.call.audio import decode_audio
    from speechchurn.call.intervals import intersection, total
    from speechchurn.recording import analyze_recording

    decoded = decode_audio(path)
    ref = reference(decoded)
    single = single_speaker(ref)
    mono_path = ctx["tmp"] / f"{set_name}_{path.name}"
    write_mono(decoded, mono_path)
    args = (ctx["audio"], ctx["transcribe"], ctx["acoustics"], ctx["lexicon"])
    mono = analyze_recording(mono_path, *args, direction=direction)
    stereo = analyze_recording(path, *args, direction=direction)
    score = CallScore(set_name, path.name, ref_s=sum(total(v) for v in single.values()))
    speech = dict(mono.acoustics.speech)
    if mono.role_source == "diarized":
        score.right_s = sum(total(intersection(single[r], list(speech.get(r, ())))) for r in single)
    score.source, score.confidence = mono.role_source, mono.role_confidence
    score.categories_equal = customer_categories(mono.hits) == customer_categories(stereo.hits)
    t = mono.timings
    score.diarize_s, score.asr_s = t.diarize_s, t.asr_s
    score.total_s = t.decode_s + t.vad_s + t.asr_s + t.text_s + t.diarize_s
    score.der = turns_der(decoded, ref, ctx)
    print(
        f"{set_name}/{path.name}: {score.source} conf={score.confidence:.2f} "
        f"acc={score.right_s / max(score.ref_s, 1e-9):.3f} der={score.der:.3f} "
        f"kw_equal={score.categories_equal} "
        f"diarize {score.diarize_s:.2f}s of {score.total_s:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    return score


def turns_der(decoded, ref, ctx) -> float:
    """DER of the diarization alone on the mixdown."""
    found = diarize_mix((decoded.channels["agent"] + decoded.channels["customer"]) / 2, ctx["acoustics"])
    return der(found.turns, ref) if ctx["pyannote"] else math.nan


def diarize_mix(mono: np.ndarray, acoustics, options=None):
    from speechchurn.call import acoustics as ac
    from speechchurn.call.diarize import DiarizeOptions, diarize
    from speechchurn.call.vad import speech_track

    speech = ac.speech_intervals(mono, acoustics, track=speech_track(mono))
    return diarize(mono, speech, options or DiarizeOptions())


def context(tmp: Path) -> dict:
    from speechchurn.asr.transcribe import TranscribeOptions
    from speechchurn.call.acoustics import AcousticsOptions
    from speechchurn.call.audio import AudioOptions
    from speechchurn.text.lexicon import load_lexicons

    try:
        import pyannote.metrics  # noqa: F401

        has_pyannote = True
    except ImportError:
        has_pyannote = False
        print("pyannote.metrics missing (pip install -e '.[bench]'): DER left out", file=sys.stderr)
    return {
        "tmp": tmp,
        "audio": AudioOptions(),
        "transcribe": TranscribeOptions(),
        "acoustics": AcousticsOptions(),
        "lexicon": load_lexicons(None),
        "pyannote": has_pyannote,
    }


# --------------------------------------------------------------------------- 8 kHz cost


def wideband_calls(split: str) -> list[tuple[np.ndarray, dict, np.ndarray]]:
    """(wideband mix, per-role reference turns, telephone mix) of the realspeech calls: the
    wideband version is rebuilt at 16 kHz from the original clips at the telephone call's times."""
    from benchmarks.accuracy import telephone_dir
    from speechchurn.call.audio import decode_audio

    folder = telephone_dir(calls=True)
    truth = json.loads((folder / "calls_truth.json").read_text(encoding="utf-8"))["calls"]
    names = read_split("realspeech_calls")
    out = []
    for call in truth:
        if names.get(call["file"]) != split:
            continue
        tel = decode_audio(folder / call["file"])
        n = len(tel.channels["agent"])
        wide = np.zeros(n, np.float32)
        for turn in call["turns"]:
            clip = decode_audio(SHARED / "realspeech" / "audio" / turn["source"]).channels["mixed"]
            start = int(turn["start"] * 16000)
            wide[start : start + clip.size] += clip[: max(0, n - start)]
        out.append((wide / 2, reference(tel), (tel.channels["agent"] + tel.channels["customer"]) / 2))
    return out


def band_rows(split: str) -> list[str]:
    from speechchurn.call.acoustics import AcousticsOptions
    from speechchurn.call.diarize import DiarizeOptions
    from speechchurn.call.intervals import intersection, total

    def accuracy(mix, ref, options) -> float:
        found = diarize_mix(mix, AcousticsOptions(), options)
        single = single_speaker(ref)
        best = max(
            sum(
                total(intersection(single[r], found.speech(k)))
                for r, k in zip(("agent", "customer"), m, strict=True)
            )
            for m in ((0, 1), (1, 0))
        )
        return best, sum(total(v) for v in single.values())

    calls = wideband_calls(split)
    narrow, wide = DiarizeOptions(fmax_hz=3800.0), DiarizeOptions(fmax_hz=7600.0)
    default = "default" if DiarizeOptions().fmax_hz == wide.fmax_hz else "not the default"
    variants = [
        ("16 kHz original, mel filters to 7.6 kHz", 0, wide),
        ("16 kHz original, mel filters to 3.8 kHz", 0, narrow),
        ("8 kHz telephone upsampled to 16 kHz, mel filters to 3.8 kHz", 2, narrow),
        (f"8 kHz telephone upsampled to 16 kHz, mel filters to 7.6 kHz ({default})", 2, wide),
    ]
    rows = []
    for label, index, options in variants:
        right = whole = 0.0
        for call in calls:
            r, w = accuracy(call[index], call[1], options)
            right, whole = right + r, whole + w
        rows.append(f"| {label} | {len(calls)} | {100 * right / max(whole, 1e-9):.1f}% |")
    return rows


# --------------------------------------------------------------------------- report


def summary_row(label: str, scores: list[CallScore]) -> str:
    if not scores:
        return f"| {label} | 0 | | | | | | |"
    acc = sum(s.right_s for s in scores) / max(sum(s.ref_s for s in scores), 1e-9)
    ders = [s.der for s in scores if not math.isnan(s.der)]
    der_text = f"{100 * float(np.mean(ders)):.1f}%" if ders else "n/a"
    kw = sum(s.categories_equal for s in scores) / len(scores)
    mixed = sum(s.source != "diarized" for s in scores)
    share = sum(s.diarize_s for s in scores) / max(sum(s.total_s - s.diarize_s for s in scores), 1e-9)
    of_asr = sum(s.diarize_s for s in scores) / max(sum(s.asr_s for s in scores), 1e-9)
    return (
        f"| {label} | {len(scores)} | {100 * acc:.1f}% | {der_text} | {100 * kw:.0f}% | {mixed} "
        f"| +{100 * share:.1f}% | {100 * of_asr:.1f}% |"
    )


def render(split: str, scores: list[CallScore], bands: list[str]) -> str:
    header = (
        "| set | calls | role accuracy (speech time) | DER | customer keyword categories = stereo "
        "| left mixed | diarization time added | of ASR time |\n|---|---|---|---|---|---|---|---|"
    )
    rows = [summary_row(name, [s for s in scores if s.set_name == name]) for name in SETS]
    rows.append(summary_row("all", scores))
    lines = [
        "## Mono calls: agent and customer by diarization (benchmarks/diarization.py)",
        "",
        f"Split: **{split}**. Two-channel calls mixed down to one channel, analysed as mono files "
        "(diarization, Whisper per speaker, roles from data/role_cues.toml and who answers first), "
        "compared with the channels of the stereo original. Targets: role accuracy >= 95%, keyword "
        "categories equal on >= 90% of calls, diarization <= +20% processing time. Time on a call "
        "left `mixed` (role_confidence below 0.75) counts as wrong. Timings measured on a loaded "
        "2-core machine.",
        "",
        header,
        *rows,
        "",
        NOTE,
    ]
    if bands:
        lines += [
            "",
            "Telephone band (realspeech calls, speaker turns only, oracle speaker mapping):",
            "",
            "| audio | calls | speaker accuracy |",
            "|---|---|---|",
            *bands,
        ]
    return "\n".join(lines)


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", choices=("tune", "held-out"), default="held-out")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--diarize-only", action="store_true", help="only the telephone-band table")
    args = parser.parse_args()
    bands = band_rows(args.splits)
    print("\n".join(bands), file=sys.stderr)
    if args.diarize_only:
        return
    scores: list[CallScore] = []
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(Path(tmp))
        for set_name in args.sets.split(","):
            for path, direction in call_files(set_name, args.splits):
                scores.append(run_call(set_name, path, direction, ctx))
    text = render(args.splits, scores, bands)
    print(text)
    if not args.no_write:
        write_section(f"diarization-{args.splits}", text)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
