"""ASR-tolerant keyword spotting over transcript segments.

Each segment is cut into clauses (text between punctuation marks). Each clause is tokenised once
(jieba, lexicon terms kept whole) and turned into syllables once (pypinyin); both serve every
term and the negation check. Per clause, a term is found

1. exact: the characters equal the term (single-character terms must also be a whole jieba token);
2. phonetic: a window sounds close enough to the term by the weighted syllable edit distance of
   `speechchurn.text.phonetic` (costs estimated from the project's own ASR confusions), which
   catches 连通讯 -> 联通, 献信 -> 电信, 写好转网 -> 携号转网, 消互 -> 销户 and keeps 科奇斯 from
   firing 气死. Terms of two or more Chinese characters only; no token-boundary gating.

Overlaps are resolved longer > shorter, exact > phonetic (then lower cost): hits of one category
never overlap, a phonetic hit never straddles another hit, and a complaint/churn/praise hit inside a
longer term of another category is dropped (满意 in 不满意; 扣费 in 乱扣费 stays, also as 扣非 in 乱扣非).

Negation: a hit of a category in `NEGATABLE_CATEGORIES` preceded within `negation_window` characters
(same clause) by a cue (不/没/别/不是/不想/...) is kept with negated=True and not counted. Cue
characters that belong to another matched term (不用了, 不满意, 没信号) or to a non-negating word
(不好, 不行, ...) are ignored.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from speechchurn.schema import ROLE_AGENT, KeywordHit, Segment
from speechchurn.text import phonetic as ph
from speechchurn.text.lexicon import Lexicon, Term
from speechchurn.vocab import (
    CUSTOMER_SIDE_ROLES,
    NEGATABLE_CATEGORIES,
    STANCE_CATEGORIES,
    kw_agent_column,
    kw_column,
)

log = logging.getLogger("speechchurn")

KIND_EXACT, KIND_PHONETIC = "exact", "phonetic"
KIND_RANK = {KIND_EXACT: 0, KIND_PHONETIC: 1}
SNIPPET_MAX_CHARS = 80  # longer segments are cut to a window around the hit
SNIPPET_CONTEXT_CHARS = 30  # characters kept either side of the hit in a cut snippet


def _words(spaced: str) -> tuple[str, ...]:
    return tuple(spaced.split())


# Stance categories: a hit of these inside a longer hit of another category is dropped
# (满意 inside 不满意, 耐心 inside 耐心等待); topic hits inside one are kept (扣费 inside 乱扣费).
# Longest first: 不打算 must win over 不.
NEGATION_CUES = _words("不打算 不需要 不用 无需 不是 不会 不想 不要 没有 不 没 别")
# Words that contain a cue character but do not negate what follows.
NON_NEGATING = _words(
    "不好 不行 不错 不对 不然 不了 不停 不少 不断 不到 不住 没法 没办法 不方便 不清 不能 没用 "
    "别再 别人 别的 别家 特别 区别 分别 是不是 能不能 要不要 会不会 有没有 用不用 差不多 不一定"
)
RHETORICAL_ENDINGS = ("吗", "嘛")  # 这不是骗人吗: an assertion, not a negation
CLAUSE_BREAK = re.compile(r"[，。！？、；：,.!?;:…~～\"“”'‘’()（）\[\]【】<>《》\n\r\t/|]")
CUSTOMER_ROLES = CUSTOMER_SIDE_ROLES


@dataclass(frozen=True)
class MatchOptions:
    phonetic: bool = True
    threshold: float = ph.DEFAULT_THRESHOLD  # mean phonetic cost per term syllable
    cost_table: Path = ph.COST_TABLE_PATH
    negation_window: int = 4  # characters before a hit searched for a negation cue
    # categories whose hits a preceding cue negates; None: NEGATABLE_CATEGORIES (the QA forms' phrase
    # lexicon negates all of its categories)
    negatable: frozenset[str] | None = None


@dataclass(frozen=True)
class _Clause:
    text: str  # normalised characters (simplified, lower-case, no whitespace)
    origin: tuple[int, ...]  # index of each character in the segment text


@dataclass(frozen=True)
class _Candidate:
    term: Term
    start: int  # clause character index, inclusive
    end: int  # exclusive
    kind: str
    cost: float = 0.0  # mean phonetic cost per term syllable (0 for exact)

    @property
    def length(self) -> int:
        return self.end - self.start

    def sort_key(self) -> tuple:
        return (-self.length, KIND_RANK[self.kind], self.cost, -self.term.weight, self.start)


@dataclass(frozen=True)
class _Index:
    """Terms by exact text, and their syllables for phonetic matching."""

    lengths: tuple[int, ...]
    exact: dict = field(hash=False)
    terms: tuple[Term, ...]
    sounds: ph.PhoneticIndex


@dataclass(frozen=True)
class _Analysed:
    """One clause, tokenised and turned into syllables once for every use."""

    clause: _Clause
    bounds: frozenset[int]  # jieba token boundaries (character offsets)
    syllables: tuple


# ---------------------------------------------------------------- segmentation (jieba)


@functools.lru_cache(maxsize=8)
def get_tokenizer(lexicon: Lexicon):
    """A jieba Tokenizer with every multi-character lexicon term as a user word; built once per lexicon."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for term in lexicon.terms():
        if len(term.text) > 1:
            tokenizer.add_word(term.text)
    log.debug("jieba dictionary loaded with %d lexicon terms", len(lexicon.terms()))
    return tokenizer


def segment_text(text: str, lexicon: Lexicon) -> list[str]:
    """jieba tokens of `text` (no HMM guessing), with lexicon terms kept whole."""
    return list(get_tokenizer(lexicon).cut(text, HMM=False))


def _token_bounds(text: str, lexicon: Lexicon) -> frozenset[int]:
    bounds, pos = {0}, 0
    for token in segment_text(text, lexicon):
        pos += len(token)
        bounds.add(pos)
    return frozenset(bounds)


# ---------------------------------------------------------------- index


@functools.lru_cache(maxsize=16)
def _build_index(lexicon: Lexicon) -> _Index:
    exact: dict = {}
    for term in lexicon.terms():
        exact.setdefault(term.text.lower(), []).append(term)
    terms = lexicon.terms()
    lengths = tuple(sorted({len(t.text) for t in terms}))
    return _Index(lengths, exact, terms, ph.build_index([t.text.lower() for t in terms]))


# ---------------------------------------------------------------- clauses


def _normalise(text: str) -> str:
    import zhconv

    simplified = zhconv.convert(text, "zh-cn")
    return simplified if len(simplified) == len(text) else text


def split_clauses(text: str) -> list[_Clause]:
    """Clauses between punctuation; whitespace is dropped (ASR often puts spaces inside words)."""
    norm = _normalise(text).lower()
    clauses, chars, origin = [], [], []
    for i, ch in enumerate(norm):
        if CLAUSE_BREAK.match(ch):
            if chars:
                clauses.append(_Clause("".join(chars), tuple(origin)))
            chars, origin = [], []
        elif not ch.isspace():
            chars.append(ch)
            origin.append(i)
    if chars:
        clauses.append(_Clause("".join(chars), tuple(origin)))
    return clauses


# ---------------------------------------------------------------- candidates


def _analyse(clause: _Clause, lexicon: Lexicon, options: MatchOptions) -> _Analysed:
    syllables = tuple(ph.syllables(clause.text)) if options.phonetic else ()
    return _Analysed(clause, _token_bounds(clause.text, lexicon), syllables)


def _exact_candidates(analysed: _Analysed, index: _Index) -> list[_Candidate]:
    text, bounds = analysed.clause.text, analysed.bounds
    found = []
    for n in index.lengths:
        for start in range(len(text) - n + 1):
            for term in index.exact.get(text[start : start + n], ()):
                if n > 1 or (start in bounds and start + n in bounds):
                    found.append(_Candidate(term, start, start + n, KIND_EXACT))
    return found


def _phonetic_candidates(
    analysed: _Analysed, lexicon: Lexicon, index: _Index, options: MatchOptions
) -> list[_Candidate]:
    text = analysed.clause.text
    matches = ph.find_matches(
        text,
        analysed.syllables,
        index.sounds,
        ph.load_cost_table(options.cost_table),
        get_tokenizer(lexicon).FREQ,
        options.threshold,
        analysed.bounds,
    )
    found = []
    for m in matches:
        term = index.terms[m.term_index]
        if text[m.start : m.end] != term.text.lower():
            found.append(_Candidate(term, m.start, m.end, KIND_PHONETIC, m.cost))
    return found


def _clause_candidates(
    analysed: _Analysed, lexicon: Lexicon, index: _Index, options: MatchOptions
) -> list[_Candidate]:
    found = _exact_candidates(analysed, index)
    if options.phonetic:
        found += _phonetic_candidates(analysed, lexicon, index, options)
    return found


def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
    """Greedy: longer first, then exact > phonetic (lower cost first); see _clashes for what is dropped."""
    accepted: list[_Candidate] = []
    for cand in sorted(candidates, key=_Candidate.sort_key):
        if not any(_clashes(cand, kept) for kept in accepted):
            accepted.append(cand)
    return sorted(accepted, key=lambda c: (c.start, c.end))


def _clashes(cand: _Candidate, kept: _Candidate) -> bool:
    """Same-category overlaps, partial overlaps of a phonetic hit, and stance terms inside longer
    terms clash; a topic term inside a longer hit stays (扣费 in 乱扣费, 扣非 in 乱扣非)."""
    if not (cand.start < kept.end and kept.start < cand.end):
        return False
    if kept.term.category == cand.term.category:
        return True
    inside = kept.start <= cand.start and cand.end <= kept.end
    if not inside:
        return cand.kind != KIND_EXACT
    return cand.term.category in STANCE_CATEGORIES


# ---------------------------------------------------------------- negation


def _shielded(text: str) -> set[int]:
    """Positions inside words that contain a cue character but do not negate (不好, 特别, 是不是)."""
    shielded: set[int] = set()
    for word in NON_NEGATING:
        start = text.find(word)
        while start >= 0:
            shielded.update(range(start, start + len(word)))
            start = text.find(word, start + 1)
    return shielded


def _cue_positions(text: str, covered: set[int], bounds: frozenset[int]) -> list[int]:
    """Start of every negation cue that begins a jieba token and is not part of a matched term,
    a non-negating word, or a rhetorical 不是...吗 question."""
    blocked = covered | _shielded(text)
    positions = []
    i = 0
    while i < len(text):
        cue = next((c for c in NEGATION_CUES if text.startswith(c, i)), None)
        if cue is None:
            i += 1
            continue
        rhetorical = cue == "不是" and text.endswith(RHETORICAL_ENDINGS)
        if i in bounds and not rhetorical and not any(j in blocked for j in range(i, i + len(cue))):
            positions.append(i)
        i += len(cue)
    return positions


def _negated(cand: _Candidate, cues: list[int], options: MatchOptions) -> bool:
    negatable = NEGATABLE_CATEGORIES if options.negatable is None else options.negatable
    if cand.term.category not in negatable:
        return False
    return any(cand.start - options.negation_window <= pos < cand.start for pos in cues)


# ---------------------------------------------------------------- hits


def _confidence(cand: _Candidate, threshold: float) -> float:
    """1 for exact hits; phonetic hits fall from 0.9 (a homophone) towards 0.5 at the threshold."""
    if cand.kind == KIND_EXACT:
        return 1.0
    return round(0.9 - 0.4 * min(1.0, cand.cost / threshold) if threshold > 0 else 0.9, 3)


def _snippet(text: str, first: int, last: int) -> str:
    if len(text) <= SNIPPET_MAX_CHARS:
        return text
    lo, hi = max(0, first - SNIPPET_CONTEXT_CHARS), min(len(text), last + 1 + SNIPPET_CONTEXT_CHARS)
    return ("…" if lo > 0 else "") + text[lo:hi] + ("…" if hi < len(text) else "")


def _segment_hits(
    segment: Segment, lexicon: Lexicon, index: _Index, options: MatchOptions
) -> list[KeywordHit]:
    hits = []
    for clause in split_clauses(segment.text):
        analysed = _analyse(clause, lexicon, options)
        accepted = _resolve(_clause_candidates(analysed, lexicon, index, options))
        covered = {i for c in accepted for i in range(c.start, c.end)}
        cues = _cue_positions(clause.text, covered, analysed.bounds)
        for cand in accepted:
            first, last = clause.origin[cand.start], clause.origin[cand.end - 1]
            hits.append(
                KeywordHit(
                    heard=segment.text[first : last + 1],
                    term=cand.term.text,
                    category=cand.term.category,
                    role=segment.role,
                    start=segment.start,
                    end=segment.end,
                    match=cand.kind,
                    confidence=_confidence(cand, options.threshold),
                    negated=_negated(cand, cues, options),
                    snippet=_snippet(segment.text, first, last),
                )
            )
    return hits


def find_hits(
    segments: Sequence[Segment], lexicon: Lexicon, options: MatchOptions = MatchOptions()
) -> list[KeywordHit]:
    """Every lexicon hit in the segments, in segment order then text order."""
    index = _build_index(lexicon)
    hits: list[KeywordHit] = []
    for segment in segments:
        if segment.text.strip():
            hits.extend(_segment_hits(segment, lexicon, index, options))
    return hits


def keyword_counts(hits: Iterable[KeywordHit], categories: Iterable[str]) -> dict[str, int]:
    """kw_<cat> (customer, or `mixed` for mono calls) and kw_<cat>_agent for every category.

    Negated hits are not counted; every category gets both keys, zeros included."""
    counts: dict[str, int] = {}
    for cat in categories:
        counts[kw_column(cat)] = 0
        counts[kw_agent_column(cat)] = 0
    for hit in hits:
        if hit.negated or kw_column(hit.category) not in counts:
            continue
        if hit.role in CUSTOMER_ROLES:
            counts[kw_column(hit.category)] += 1
        elif hit.role == ROLE_AGENT:
            counts[kw_agent_column(hit.category)] += 1
    return counts


def keyword_scores(hits: Iterable[KeywordHit], lexicon: Lexicon) -> dict[str, float]:
    """Customer-side sum of term weight x match confidence per category (`kwscore_<cat>`), negated skipped."""
    scores = {f"kwscore_{cat}": 0.0 for cat in lexicon.names}
    for hit in hits:
        if hit.negated or hit.role not in CUSTOMER_ROLES or hit.category not in lexicon.names:
            continue
        scores[f"kwscore_{hit.category}"] += lexicon.weight(hit.category, hit.term) * hit.confidence
    return {k: round(v, 3) for k, v in scores.items()}


def clear_caches() -> None:
    """Forget cached jieba tokenizers and term indexes (tests, or after editing lexicon files)."""
    get_tokenizer.cache_clear()
    _build_index.cache_clear()
    ph.load_cost_table.cache_clear()
