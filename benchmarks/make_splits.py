"""Write the tune / held-out split lists under benchmarks/splits/ (run once; the lists are committed).

    python benchmarks/make_splits.py [--shared ../shared] [--synth-calls 24 --synth-seed 2026]

A unit goes to `tune` when the first 8 hex digits of sha256("speechchurn-split:" + unit) are below
half the range, else to `held-out`, so the split depends on names alone, never on results.
Units keep speakers apart where we can:

* realspeech MagicData customer-service clips (one voice, 120 clips): split by clip;
* the other 15 realspeech clips: split by speaker, so no held-out voice is ever tuned on;
* the two-channel telephone calls of ``make_telephone.sh --calls``: one call per customer speaker,
  so a call follows its customer's speaker split (its agent turns are MagicData clips);
* ``audio_samples/``: all ``tune`` (the project's defaults were tuned on it);
* the randomised synthetic set (benchmarks/synth.py): all ``held-out``, never tuned on;
* the fast turn-taking synthetic set (benchmarks/synth_fast.py, diarization): all ``held-out``
  (tuning uses another seed of the same generator).

Only names are written: no audio, transcript or derivative of the shared data.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPLITS = REPO / "benchmarks" / "splits"
SALT = "speechchurn-split:"
TUNE, HELD_OUT = "tune", "held-out"
TUNE_SHARE = 0.5  # share of units that go to tune
MAGICDATA_PREFIX = "mdcs_"


def split_of(unit: str) -> str:
    digest = hashlib.sha256((SALT + unit).encode("utf-8")).hexdigest()
    return TUNE if int(digest[:8], 16) < TUNE_SHARE * 16**8 else HELD_OUT


def realspeech_rows(shared: Path) -> list[tuple[str, str, str]]:
    """(file, split, unit) for every realspeech clip."""
    with (shared / "realspeech" / "truth.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    for row in rows:
        unit = row["file"] if row["file"].startswith(MAGICDATA_PREFIX) else "speaker:" + row["speaker"]
        out.append((row["file"], split_of(unit), unit))
    return sorted(out)


def call_rows(shared: Path) -> list[tuple[str, str, str]]:
    """(call file, split, unit) for the two-channel calls, following the customer speaker's split."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [str(shared / "realspeech" / "make_telephone.sh"), "--calls", tmp],
            check=True,
            capture_output=True,
        )
        calls = json.loads((Path(tmp) / "calls_truth.json").read_text(encoding="utf-8"))["calls"]
    return sorted(
        (c["file"], split_of("speaker:" + c["customer_speaker"]), "speaker:" + c["customer_speaker"])
        for c in calls
    )


def write(name: str, rows: list[tuple[str, str, str]]) -> None:
    SPLITS.mkdir(parents=True, exist_ok=True)
    lines = ["name\tsplit\tunit", *("\t".join(r) for r in rows)]
    (SPLITS / f"{name}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = {s: sum(r[1] == s for r in rows) for s in (TUNE, HELD_OUT)}
    print(f"{name}: {counts}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    write("realspeech", realspeech_rows(args.shared))
    write("realspeech_calls", call_rows(args.shared))
    samples = sorted(p.name for p in (REPO / "audio_samples").glob("*.wav"))
    write("audio_samples", [(n, TUNE, n) for n in samples])
    sys.path.insert(0, str(REPO))
    from benchmarks import synth

    names = synth.call_names(synth.DEFAULT_SEED, synth.DEFAULT_CALLS)
    write("synth", [(n, HELD_OUT, f"seed:{synth.DEFAULT_SEED}") for n in names])
    from benchmarks import synth_fast

    fast = synth_fast.call_names(synth_fast.DEFAULT_SEED, synth_fast.DEFAULT_CALLS)
    write("synth_fast", [(n, HELD_OUT, f"seed:{synth_fast.DEFAULT_SEED}") for n in fast])


if __name__ == "__main__":
    main()
