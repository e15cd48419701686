"""Phonetic matching of lexicon terms in ASR text: a weighted syllable edit distance.

Every Chinese character becomes a syllable (initial, final, tone) via pypinyin. The cost of hearing
syllable b where syllable a was spoken is the sum of three confusion costs, one per part:
``cost(a, b) = c_initial(a, b) + c_final(a, b) + c_tone(a, b)`` (0 where the part is the same).
The costs are -log confusion rates estimated from the project's own ASR errors (faster-whisper
``base`` on the tune splits, see benchmarks/phonetic_costs.py) and committed as data in
``speechchurn/data/phonetic_costs.tsv``; a confusion never observed costs ``UNSEEN_COST``. A
missing or extra syllable costs ``INDEL_COST`` (terms of at least ``INDEL_MIN_SYLLABLES`` only).

A window of a clause matches a term when

* at least one of its syllables is heard exactly as spoken (initial, final and tone): the anchor;
* its cost per term syllable, ``(edit distance + word cost + cut cost) / n``, is at most the
  threshold. The word cost is ``REAL_WORD_COST`` when the window is itself a dictionary word
  (短信 is a word, so it is not a mis-heard 电信); an exact homophone pays it only when it is a very
  common word (消耗 is not 销号; 连通 may be 联通). The cut cost is
  ``CUT_COST`` per window edge inside a word of the clause (到|现在 is not 掉线).

Token boundaries are a cost, never a gate: 连通讯 (连|通讯) still contains 连通 -> 联通.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from speechchurn.errors import ConfigError
from speechchurn.resources import DATA_DIR

INITIAL, FINAL, TONE = "initial", "final", "tone"
KINDS = (INITIAL, FINAL, TONE)
COST_TABLE_PATH = DATA_DIR / "phonetic_costs.tsv"
COST_COLUMNS = ("kind", "spoken", "heard", "cost", "count")
NO_INITIAL = "-"  # how the table writes the empty initial (an, e, ou ...)
INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x")
INITIALS += ("r", "z", "c", "s", "y", "w")
TONES = ("1", "2", "3", "4", "5")  # 5 = neutral
UNSEEN_COST = 1.0  # a confusion of one part never seen in the project's ASR output
INDEL_COST = 2.0  # a syllable missing from, or added to, the term
INDEL_MIN_SYLLABLES = 4  # shorter terms match syllable for syllable only (信号太差 is not 信号差)
MIN_SYLLABLES = 2  # single-character terms are matched exactly or not at all
REAL_WORD_COST = 1.0  # added when the window is itself a common word (jieba frequency)
REAL_WORD_MIN_FREQ = 1  # jieba dictionary count from which a window is a real word
HOMOPHONE_WORD_MIN_FREQ = 1000  # ... and from which even an exact homophone is that word (消耗, not 销号)
CUT_COST = 0.5  # added per window edge that falls inside a word of the clause (到|现在 is not 掉线)
# Mean cost per term syllable at or below which a window matches; chosen on the tune sets: it admits
# one common tone confusion in a two-syllable term (扣飞 -> 扣费: 4->1 costs 0.605) and keeps false
# alarms near 1 per 1,000 real sentences (docs/benchmarks.md, section "keywords").
DEFAULT_THRESHOLD = 0.31


class Syllable(NamedTuple):
    initial: str  # "" when the syllable has none
    final: str
    tone: str  # "1".."5"


@dataclass(frozen=True)
class CostRow:
    kind: str  # initial | final | tone
    spoken: str
    heard: str
    cost: float  # 0..1
    count: int  # how often the confusion was observed when the table was estimated


@dataclass(frozen=True)
class CostTable:
    """Confusion costs per part; pairs not listed cost UNSEEN_COST, identical parts cost 0."""

    costs: Mapping[tuple[str, str, str], float] = field(hash=False)
    _memo: dict = field(default_factory=dict, hash=False, compare=False, repr=False)

    def part(self, kind: str, spoken: str, heard: str) -> float:
        if spoken == heard:
            return 0.0
        return self.costs.get((kind, spoken, heard), UNSEEN_COST)

    def substitution(self, spoken: Syllable, heard: Syllable) -> float:
        key = (spoken, heard)
        cost = self._memo.get(key)
        if cost is None:
            cost = (
                self.part(INITIAL, spoken.initial, heard.initial)
                + self.part(FINAL, spoken.final, heard.final)
                + self.part(TONE, spoken.tone, heard.tone)
            )
            self._memo[key] = cost
        return cost


# ---------------------------------------------------------------- syllables


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


@functools.lru_cache(maxsize=4096)
def parse_syllable(toned: str) -> Syllable:
    """'xian4' -> Syllable('x', 'ian', '4'); a syllable without a tone digit gets the neutral tone."""
    tone = toned[-1] if toned and toned[-1] in TONES else "5"
    body = toned[:-1] if toned and toned[-1] in TONES else toned
    for initial in INITIALS:
        if body.startswith(initial) and len(body) > len(initial):
            return Syllable(initial, body[len(initial) :], tone)
    return Syllable("", body, tone)


def syllables(text: str) -> list[Syllable | None]:
    """One syllable per character of `text` (None for characters that are not Chinese)."""
    from pypinyin import Style, lazy_pinyin

    toned = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda s: [""] * len(s))
    if len(toned) != len(text):  # pypinyin keeps one item per character; be safe if it ever does not
        toned = [lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True)[0] for ch in text]
    return [parse_syllable(p) if is_han(ch) and p else None for ch, p in zip(text, toned, strict=True)]


# ---------------------------------------------------------------- cost table


def _row(raw: dict, where: str) -> CostRow:
    kind = (raw.get("kind") or "").strip()
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    spoken, heard = (raw.get("spoken") or "").strip(), (raw.get("heard") or "").strip()
    if not spoken or not heard or spoken == heard:
        raise ConfigError(f"{where}: needs two different units, got {spoken!r} -> {heard!r}")
    for unit in (spoken, heard):
        valid = unit in TONES if kind == TONE else unit == NO_INITIAL or unit.isalpha()
        if kind == INITIAL and unit != NO_INITIAL and unit not in INITIALS:
            valid = False
        if not valid:
            raise ConfigError(f"{where}: {unit!r} is not a pinyin {kind}")
    try:
        cost, count = float(raw.get("cost", "")), int(raw.get("count", ""))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: cost and count must be numbers: {e}") from e
    if not (math.isfinite(cost) and 0.0 <= cost <= 1.0) or count < 0:
        raise ConfigError(f"{where}: cost {cost} must lie in [0, 1] and count {count} must be >= 0")
    return CostRow(kind, spoken, heard, cost, count)


def read_cost_rows(path: Path = COST_TABLE_PATH) -> list[CostRow]:
    """Rows of a cost table; ConfigError names the file and line of the first bad row."""
    try:
        with Path(path).open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
            if tuple(reader.fieldnames or ()) != COST_COLUMNS:
                raise ConfigError(f"{path}: columns {reader.fieldnames} != {list(COST_COLUMNS)}")
            rows, seen = [], set()
            for number, raw in enumerate(reader, start=2):
                row = _row(raw, f"{path}: row {number}")
                key = (row.kind, row.spoken, row.heard)
                if key in seen:
                    raise ConfigError(f"{path}: row {number}: duplicate {' '.join(key)}")
                seen.add(key)
                rows.append(row)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read phonetic cost table: {e.strerror or e}") from e
    return rows


def _unit(kind: str, unit: str) -> str:
    return "" if kind == INITIAL and unit == NO_INITIAL else unit


@functools.lru_cache(maxsize=4)
def load_cost_table(path: Path = COST_TABLE_PATH) -> CostTable:
    """The committed cost table (cached per path)."""
    rows = read_cost_rows(path)
    return CostTable({(r.kind, _unit(r.kind, r.spoken), _unit(r.kind, r.heard)): r.cost for r in rows})


def write_cost_table(rows: Iterable[CostRow], path: Path = COST_TABLE_PATH) -> Path:
    lines = [
        "# Phonetic confusion costs of the project's ASR; written by benchmarks/phonetic_costs.py.",
        "\t".join(COST_COLUMNS),
    ]
    for r in sorted(rows, key=lambda r: (KINDS.index(r.kind), r.spoken, r.heard)):
        spoken = r.spoken or NO_INITIAL
        heard = r.heard or NO_INITIAL
        lines.append(f"{r.kind}\t{spoken}\t{heard}\t{r.cost:.3f}\t{r.count}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- distance


def edit_distance(
    spoken: Sequence[Syllable], heard: Sequence[Syllable], table: CostTable, indel: float = INDEL_COST
) -> float:
    """Weighted syllable edit distance (substitutions from the table, INDEL_COST per gap)."""
    previous = [j * indel for j in range(len(heard) + 1)]
    for i, a in enumerate(spoken, start=1):
        current = [i * indel]
        for j, b in enumerate(heard, start=1):
            current.append(
                min(previous[j] + indel, current[j - 1] + indel, previous[j - 1] + table.substitution(a, b))
            )
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class PhoneticMatch:
    term_index: int  # position of the term in the list given to PhoneticIndex
    start: int  # window start in the clause (character index), inclusive
    end: int  # exclusive
    cost: float  # mean cost per term syllable, word cost included


@dataclass(frozen=True)
class PhoneticIndex:
    """Term syllables, indexed by each exact syllable (the anchor a window must share)."""

    terms: tuple[tuple[Syllable, ...], ...]
    anchors: Mapping[Syllable, tuple[tuple[int, int], ...]] = field(hash=False)


def build_index(term_texts: Sequence[str]) -> PhoneticIndex:
    """Index the Chinese terms of at least MIN_SYLLABLES characters (others get an empty entry)."""
    terms: list[tuple[Syllable, ...]] = []
    anchors: dict[Syllable, list[tuple[int, int]]] = {}
    for index, text in enumerate(term_texts):
        syl = syllables(text) if len(text) >= MIN_SYLLABLES and all(is_han(c) for c in text) else []
        terms.append(tuple(s for s in syl if s is not None))
        for position, s in enumerate(terms[-1]):
            anchors.setdefault(s, []).append((index, position))
    return PhoneticIndex(tuple(terms), {k: tuple(v) for k, v in anchors.items()})


def _windows(anchor: int, position: int, n: int, length: int) -> Iterable[tuple[int, int]]:
    """Candidate (start, end) windows of a clause of `length` that put term syllable `position` on
    clause character `anchor`; with a gap allowed for long terms."""
    shifts = (-1, 0, 1) if n >= INDEL_MIN_SYLLABLES else (0,)
    sizes = (n - 1, n, n + 1) if n >= INDEL_MIN_SYLLABLES else (n,)
    for shift in shifts:
        start = anchor - position + shift
        for size in sizes:
            end = start + size
            if 0 <= start <= anchor < end <= length:
                yield start, end


def _window_cost(
    term: Sequence[Syllable],
    window: Sequence[Syllable | None],
    text: str,
    table: CostTable,
    word_freq: Mapping[str, int],
) -> float:
    """Mean cost per term syllable of hearing `window` for `term` (edit distance + word cost)."""
    if any(s is None for s in window):
        return math.inf
    if len(window) == len(term):
        cost = sum(table.substitution(a, b) for a, b in zip(term, window, strict=True))
        cost = min(cost, edit_distance(term, window, table)) if cost > 2 * INDEL_COST else cost  # type: ignore[arg-type]
    else:
        cost = edit_distance(term, window, table)  # type: ignore[arg-type]
    if word_freq.get(text, 0) >= (REAL_WORD_MIN_FREQ if cost > 0 else HOMOPHONE_WORD_MIN_FREQ):
        cost += REAL_WORD_COST
    return cost / len(term)


def find_matches(
    text: str,
    clause_syllables: Sequence[Syllable | None],
    index: PhoneticIndex,
    table: CostTable,
    word_freq: Mapping[str, int],
    threshold: float = DEFAULT_THRESHOLD,
    bounds: frozenset[int] | None = None,
) -> list[PhoneticMatch]:
    """Windows per (term, start, end) whose cost is at or below `threshold`. `bounds` are the
    clause's token boundaries (character offsets) for the cut cost; None charges no cut cost."""
    best: dict[tuple[int, int, int], float] = {}
    for anchor, syl in enumerate(clause_syllables):
        for term_index, position in index.anchors.get(syl, ()) if syl is not None else ():
            term = index.terms[term_index]
            for start, end in _windows(anchor, position, len(term), len(text)):
                key = (term_index, start, end)
                if key in best:
                    continue
                best[key] = _window_cost(term, clause_syllables[start:end], text[start:end], table, word_freq)
                if bounds is not None:
                    best[key] += CUT_COST * ((start not in bounds) + (end not in bounds)) / len(term)
    return [PhoneticMatch(t, s, e, round(c, 4)) for (t, s, e), c in sorted(best.items()) if c <= threshold]
