"""Agreement of the QA form's criterion results with hand labels, per call x criterion cell.

    B=~/.cache/speechchurn-bench
    speechchurn analyze $B/qa_synth -o $B/qa_out_synth
    ../shared/realspeech/make_telephone.sh --calls $B/telephone_calls
    speechchurn analyze $B/telephone_calls -o $B/qa_out_realspeech
    python benchmarks/qa.py --splits tune          # look at the tune set only (while editing the form)
    python benchmarks/qa.py --write                # held-out and tune tables into docs/benchmarks.md

Sets (their audio is made outside the repository, their OUT_DIRs are analysed with the real weights):

* ``synth``: benchmarks/qa_synth.py, scripted good / bad agent behaviour; labels = the script
  (``labels.json`` next to the audio); split benchmarks/splits/qa_synth.tsv;
* ``realspeech``: ../shared/realspeech/make_telephone.sh --calls; hand labels in
  benchmarks/labels/qa_realspeech.json (what the clips say); split benchmarks/splits/realspeech_calls.tsv.

Scores come from the stored transcripts and features (speechchurn.qa.run.score_calls, no appeals):
exactly what `speechchurn qa` computes. A cell agrees when the result equals the label (1, 0, or both
not applicable).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from _report import write_section  # noqa: E402

BENCH = Path.home() / ".cache" / "speechchurn-bench"
SPLITS = REPO / "benchmarks" / "splits"
SETS = {
    "synth": (BENCH / "qa_out_synth", BENCH / "qa_synth" / "labels.json", SPLITS / "qa_synth.tsv"),
    "realspeech": (
        BENCH / "qa_out_realspeech",
        REPO / "benchmarks" / "labels" / "qa_realspeech.json",
        SPLITS / "realspeech_calls.tsv",
    ),
}
TARGET = 0.95  # agreement the issue asks for on held-out cells


@dataclass(frozen=True)
class Cell:
    set: str
    split: str
    file: str
    criterion: str
    label: int | None
    got: int | None
    quote: str

    @property
    def agrees(self) -> bool:
        return self.label == self.got


def read_split(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row["name"]: row["split"] for row in csv.DictReader(f, delimiter="\t")}


def read_labels(path: Path) -> dict[str, dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data.get("calls", data)


def cells_of(name: str, out_dir: Path, labels_path: Path, split_path: Path, form) -> list[Cell]:
    from speechchurn.qa.run import read_store, score_calls

    if not (out_dir / "speechchurn.db").is_file():
        print(f"{name}: {out_dir} not analysed; skipped", file=sys.stderr)
        return []
    labels, split = read_labels(labels_path), read_split(split_path)
    rows, segments = read_store(out_dir)
    scores, _ = score_calls(form, rows, segments, {})
    cells = []
    for score in scores:
        wanted = labels.get(score.file)
        if wanted is None:
            continue
        for r in score.results:
            if r.id in wanted:
                cells.append(Cell(name, split[score.file], score.file, r.id, wanted[r.id], r.result, r.quote))
    return cells


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}%" if d else "-"


def agreement_table(cells: list[Cell]) -> list[str]:
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[(c.split, c.set)].append(c)
        groups[(c.split, "all")].append(c)
    lines = ["| split | set | calls | cells | agree | agreement |", "|---|---|---:|---:|---:|---:|"]
    for (split, name), group in sorted(
        groups.items(), key=lambda kv: (kv[0][0] != "held-out", kv[0][1] == "all", kv[0][1])
    ):
        agree = sum(c.agrees for c in group)
        calls = len({(c.set, c.file) for c in group})
        label = f"**{pct(agree, len(group))}**" if name == "all" else pct(agree, len(group))
        lines.append(f"| {split} | {name} | {calls} | {len(group)} | {agree} | {label} |")
    return lines


def criterion_table(cells: list[Cell], criteria: list[str]) -> list[str]:
    lines = ["| criterion | held-out agree / cells | tune agree / cells |", "|---|---:|---:|"]
    for cid in criteria:
        parts = []
        for split in ("held-out", "tune"):
            group = [c for c in cells if c.criterion == cid and c.split == split]
            parts.append(f"{sum(c.agrees for c in group)} / {len(group)}")
        lines.append(f"| {cid} | {parts[0]} | {parts[1]} |")
    return lines


def disagreements(cells: list[Cell], split: str) -> list[str]:
    wrong = [c for c in cells if c.split == split and not c.agrees]
    if not wrong:
        return [f"No {split} disagreements."]
    lines = [
        "| set | file | criterion | label | result | deciding quote / value |",
        "|---|---|---|---|---|---|",
    ]
    for c in wrong:
        quote = c.quote.replace("|", "/")[:60] or "(nothing heard)"
        lines.append(f"| {c.set} | {c.file} | {c.criterion} | {c.label} | {c.got} | {quote} |")
    return lines


def report(cells: list[Cell], form) -> str:
    held = [c for c in cells if c.split == "held-out"]
    agree = sum(c.agrees for c in held)
    verdict = "meets" if held and agree / len(held) >= TARGET else "does NOT meet"
    parts = [
        "## QA criteria vs hand labels (`benchmarks/qa.py`)",
        "",
        f"Form: `{form.source}` ({len(form.criteria)} criteria). Cells are call x criterion; a cell agrees "
        "when the automatic result equals the hand label (1 pass, 0 fail, or both not applicable). "
        "Synthetic calls: scripted agent behaviour (benchmarks/qa_synth.py, labels = the script); "
        "realspeech: "
        "hand labels of what the clips say (benchmarks/labels/qa_realspeech.json). Transcripts by the "
        "default analyze (faster-whisper base, real weights). The form was edited looking at the tune "
        f"split only. Held-out agreement {pct(agree, len(held))} ({agree}/{len(held)}) {verdict} the "
        f"{TARGET:.0%} target.",
        "",
        *agreement_table(cells),
        "",
        *criterion_table(cells, list(form.ids)),
        "",
        "Held-out disagreements:",
        "",
        *disagreements(cells, "held-out"),
        "",
        "Tune disagreements:",
        "",
        *disagreements(cells, "tune"),
    ]
    return "\n".join(parts)


def main() -> None:
    from speechchurn.qa.form import load_form

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--form", type=Path, default=None, help="QA form TOML (default: the shipped form)")
    parser.add_argument("--splits", choices=("tune", "held-out", "all"), default="all")
    parser.add_argument("--write", action="store_true", help="write the section into docs/benchmarks.md")
    args = parser.parse_args()
    form = load_form(args.form)
    cells = [c for name, paths in SETS.items() for c in cells_of(name, *paths, form)]
    if args.splits != "all":
        cells = [c for c in cells if c.split == args.splits]
    text = report(cells, form)
    print(text)
    if args.write:
        if args.splits != "all":
            sys.exit("--write needs --splits all: held-out figures are never reported without the tune ones")
        print(write_section("qa", text), file=sys.stderr)


if __name__ == "__main__":
    main()
