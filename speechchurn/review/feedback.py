"""Reviewer marks back into the lexicons: precision per term and match kind, and suggested edits.

Precision of a (term, match kind) = hits marked correct / hits marked (correct + wrong). With at least
MIN_MARKS marks a term is suggested for

* ``drop``: its overall precision is below DROP_BELOW (exact matches included: the word itself misleads);
* ``exact-only``: its exact matches are fine (precision >= KEEP_AT_LEAST, or none were marked) but its
  sound-alike (phonetic) matches, with MIN_MARKS marks of their own, are below DROP_BELOW (the ASR's
  homophones mislead).

`lexicon_diff` turns the suggestions into a unified diff against the lexicon files in use: dropped
terms are removed; exact-only terms get a trailing ``# review: exact-only`` comment (the lexicon format
has no exact-only switch yet, so a person applies that one by hand).
"""

from __future__ import annotations

import difflib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

MIN_MARKS = 3  # marks before a term gets a suggestion
DROP_BELOW = 0.5  # precision under which matches of a kind are suggested away
KEEP_AT_LEAST = 0.8  # exact-match precision that keeps a term (as exact-only)
FUZZY_KINDS = (
    "phonetic",
    "pinyin",
    "fuzzy",
)  # sound-alike kinds (phonetic now; pinyin/fuzzy in older stores)


@dataclass(frozen=True)
class TermStats:
    category: str
    term: str
    match: str  # exact | phonetic (older stores: pinyin, fuzzy) | all
    correct: int
    wrong: int

    @property
    def marked(self) -> int:
        return self.correct + self.wrong

    @property
    def precision(self) -> float:
        return self.correct / self.marked if self.marked else float("nan")


@dataclass(frozen=True)
class Suggestion:
    category: str
    term: str
    action: str  # drop | exact-only
    why: str


def term_stats(db: sqlite3.Connection) -> list[TermStats]:
    """Per (category, term, match kind) counts of correct / wrong marks, plus an `all` row per term."""
    rows = db.execute(
        "SELECT category, term, match, SUM(verdict = 'correct'), SUM(verdict = 'wrong') FROM desk_hit_marks "
        "GROUP BY category, term, match ORDER BY category, term, match"
    ).fetchall()
    stats = [TermStats(c, t, m, int(ok), int(bad)) for c, t, m, ok, bad in rows]
    totals: dict[tuple[str, str], list[int]] = {}
    for s in stats:
        pair = totals.setdefault((s.category, s.term), [0, 0])
        pair[0] += s.correct
        pair[1] += s.wrong
    stats += [TermStats(c, t, "all", ok, bad) for (c, t), (ok, bad) in totals.items()]
    return sorted(stats, key=lambda s: (s.category, s.term, s.match != "all", s.match))


def suggestions(stats: list[TermStats]) -> list[Suggestion]:
    by_term: dict[tuple[str, str], dict[str, TermStats]] = {}
    for s in stats:
        by_term.setdefault((s.category, s.term), {})[s.match] = s
    found = []
    for (category, term), kinds in sorted(by_term.items()):
        overall = kinds["all"]
        if overall.marked < MIN_MARKS:
            continue
        if overall.precision < DROP_BELOW:
            why = f"precision {overall.precision:.2f} over {overall.marked} marks"
            found.append(Suggestion(category, term, "drop", why))
            continue
        fuzzy = [kinds[k] for k in FUZZY_KINDS if k in kinds]
        fuzzy_ok = sum(k.correct for k in fuzzy)
        fuzzy_marked = sum(k.marked for k in fuzzy)
        exact = kinds.get("exact")
        exact_fine = exact is None or exact.precision >= KEEP_AT_LEAST
        if fuzzy_marked >= MIN_MARKS and fuzzy_ok / fuzzy_marked < DROP_BELOW and exact_fine:
            why = f"sound-alike precision {fuzzy_ok / fuzzy_marked:.2f} over {fuzzy_marked} marks"
            found.append(Suggestion(category, term, "exact-only", why))
    return found


def lexicon_diff(found: list[Suggestion], lexicon_dir: Path) -> str:
    """A unified diff applying `found` to the <category>.txt files in `lexicon_dir`."""
    chunks = []
    for category in sorted({s.category for s in found}):
        path = Path(lexicon_dir) / f"{category}.txt"
        if not path.is_file():
            continue
        old = path.read_text(encoding="utf-8").splitlines(keepends=True)
        new = _edited(old, {s.term: s for s in found if s.category == category})
        chunks.append("".join(difflib.unified_diff(old, new, f"a/{category}.txt", f"b/{category}.txt")))
    return "".join(chunks)


def _edited(lines: list[str], by_term: dict[str, Suggestion]) -> list[str]:
    out = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        suggestion = by_term.get(fields[0]) if fields else None
        if suggestion is None:
            out.append(line)
        elif suggestion.action == "exact-only":
            out.append(f"{line.rstrip()}  # review: exact-only ({suggestion.why})\n")
        # "drop": the line is left out
    return out
