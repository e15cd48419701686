"""Re-estimate the phonetic matcher's substitution costs from the project's own ASR confusions.

    python benchmarks/phonetic_costs.py [--cache DIR] [--limit N]

1. Transcribe the `tune` split of ../shared/realspeech (telephone band, made on the fly by
   ../shared/realspeech/make_telephone.sh into the cache dir) and of audio_samples/ with the
   project's transcriber (faster-whisper base, default TranscribeOptions). Hypotheses are cached
   in the cache dir (default ~/.cache/speechchurn-textdev), never in the repository.
2. Align each reference with its hypothesis character by character (normalised as for CER),
   turn aligned Chinese characters into pinyin (initial, final, tone) and count how often a spoken
   initial / final / tone comes out as another one.
3. Write the cost table speechchurn/data/phonetic_costs.tsv (kind, spoken, heard, cost, count):
   cost = -log P(heard | spoken) / -log P_FLOOR, clipped to [MIN_COST, 1], where P is the
   confusion rate of that spoken unit smoothed towards the kind's overall confusion rate spread
   evenly over its units (PRIOR_STRENGTH pseudo-observations), so that a unit seen only a few
   times cannot get a cheap confusion from one accident.

Only the small table is committed: no transcript and no audio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speechchurn.text import phonetic  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REALSPEECH = ROOT.parent / "shared" / "realspeech"
SAMPLES = ROOT / "audio_samples"
SPLITS = ROOT / "benchmarks" / "splits"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "speechchurn-textdev"
PRIOR_STRENGTH = 20.0  # pseudo-observations per spoken unit, spread by the kind's overall confusion rate
P_FLOOR = 1e-3  # a confusion this rare (or rarer) costs 1.0
MIN_COST = 0.05  # even the most common confusion costs something


def _split_names(name: str, split: str = "tune") -> list[str]:
    import csv

    with (SPLITS / name).open(encoding="utf-8", newline="") as fh:
        return [r["name"] for r in csv.DictReader(fh, delimiter="\t") if r["split"] == split]


def _transcriber():
    from speechchurn.asr.transcribe import TranscribeOptions, load_engine, transcribe_audio
    from speechchurn.call.audio import decode_audio

    options = TranscribeOptions()
    engine = load_engine(options)

    def run(path: Path) -> list[dict]:
        segs = transcribe_audio(decode_audio(path), options, engine)
        return [{"role": s.role, "start": s.start, "end": s.end, "text": s.text} for s in segs]

    return run, options.cache_key()


def _cached(cache: Path, key: str, path: Path, run) -> list[dict] | None:
    out = cache / "hyp" / f"{path.stem}.json"
    if out.exists():
        data = json.loads(out.read_text(encoding="utf-8"))
        if key is None or data["key"] == key:  # key None: --cached-only takes what is there
            return data["segments"]
    if run is None:  # --cached-only
        return None
    segments = run(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"key": key, "segments": segments}, ensure_ascii=False), encoding="utf-8")
    return segments


def telephone_copies(cache: Path) -> Path:
    folder = cache / "telephone"
    if not (
        folder.is_dir() and len(list(folder.glob("*.wav"))) == len(list((REALSPEECH / "audio").glob("*.wav")))
    ):
        subprocess.run(["bash", str(REALSPEECH / "make_telephone.sh"), str(folder)], check=True)
    return folder


def realspeech_pairs(cache: Path, run, key: str, limit: int | None) -> list[tuple[str, str]]:
    import csv

    with (REALSPEECH / "truth.tsv").open(encoding="utf-8", newline="") as fh:
        truth = {r["file"]: r["text"] for r in csv.DictReader(fh, delimiter="\t")}
    folder = telephone_copies(cache)
    pairs = []
    for name in _split_names("realspeech.tsv")[:limit]:
        segments = _cached(cache, key, folder / name, run)
        if segments is not None:
            pairs.append((truth[name], "".join(s["text"] for s in segments)))
    return pairs


def sample_pairs(cache: Path, run, key: str, limit: int | None) -> list[tuple[str, str]]:
    truth = json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))["calls"]
    pairs = []
    for name in _split_names("audio_samples.tsv")[:limit]:
        segments = _cached(cache, key, SAMPLES / name, run)
        for role in ("agent", "customer") if segments is not None else ():
            ref = "".join(t["text"] for t in truth[name]["turns"] if t["role"] == role)
            hyp = "".join(s["text"] for s in segments if s["role"] == role)
            pairs.append((ref, hyp))
    return pairs


# ---------------------------------------------------------------- counting


def aligned_syllables(
    reference: str, hypothesis: str
) -> Iterable[tuple[phonetic.Syllable, phonetic.Syllable]]:
    """(spoken, heard) syllables of Chinese characters aligned one-to-one (equal or substituted)."""
    from difflib import SequenceMatcher

    from speechchurn.dev.evaluation import normalize_for_cer

    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    ref_syl, hyp_syl = phonetic.syllables(ref), phonetic.syllables(hyp)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, ref, hyp, autojunk=False).get_opcodes():
        if tag in ("equal", "replace") and i2 - i1 == j2 - j1:
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                if ref_syl[i] is not None and hyp_syl[j] is not None:
                    yield ref_syl[i], hyp_syl[j]


def count_confusions(pairs: Iterable[tuple[str, str]]) -> dict[str, Counter]:
    counts = {kind: Counter() for kind in phonetic.KINDS}
    for reference, hypothesis in pairs:
        for spoken, heard in aligned_syllables(reference, hypothesis):
            counts[phonetic.INITIAL][spoken.initial, heard.initial] += 1
            counts[phonetic.FINAL][spoken.final, heard.final] += 1
            counts[phonetic.TONE][spoken.tone, heard.tone] += 1
    return counts


def costs_from_counts(counts: dict[str, Counter]) -> list:
    """Smoothed -log confusion rate, scaled so that P_FLOOR costs 1; only observed confusions listed."""
    rows = []
    for kind, counter in counts.items():
        units = {a for a, _ in counter} | {b for _, b in counter}
        spoken_total: Counter = Counter()
        for (a, _b), n in counter.items():
            spoken_total[a] += n
        total = sum(counter.values())
        confused = sum(n for (a, b), n in counter.items() if a != b)
        prior = (confused / total if total else 0.0) / max(1, len(units) - 1)
        for (a, b), n in sorted(counter.items()):
            if a == b:
                continue
            p = (n + PRIOR_STRENGTH * prior) / (spoken_total[a] + PRIOR_STRENGTH)
            cost = min(1.0, max(MIN_COST, math.log(p) / math.log(P_FLOOR)))
            rows.append(phonetic.CostRow(kind, a, b, round(cost, 3), n))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--limit", type=int, default=None, help="at most N files per set (quick look)")
    parser.add_argument("--transcribe-only", action="store_true")
    parser.add_argument(
        "--cached-only", action="store_true", help="use cached hypotheses, transcribe nothing"
    )
    args = parser.parse_args()
    if args.cached_only:
        run, key = None, None
    else:
        run, key = _transcriber()
    pairs = sample_pairs(args.cache, run, key, args.limit) + realspeech_pairs(
        args.cache, run, key, args.limit
    )
    if args.transcribe_only:
        print(f"transcribed {len(pairs)} reference/hypothesis pairs into {args.cache}")
        return
    counts = count_confusions(pairs)
    rows = costs_from_counts(counts)
    path = phonetic.write_cost_table(rows)
    aligned = sum(counts[phonetic.TONE].values())
    print(f"{len(pairs)} pairs, {aligned} aligned syllables, {len(rows)} cost rows -> {path}")


if __name__ == "__main__":
    main()
