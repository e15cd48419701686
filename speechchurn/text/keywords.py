"""ASR-tolerant keyword spotting over transcript segments.

Matching runs on sliding character windows of each clause (text between punctuation marks), so
mis-segmented ASR output still matches. Per window and term length it tries, in order:

1. exact: the characters equal the term (single-character terms must also be a whole jieba token);
2. pinyin: toneless pinyin syllables equal (homophones: 连通 -> 联通, 章单 -> 账单);
3. fuzzy: syllables equal after merging the configured confusable pairs (h/f, n/l, zh/z, ...),
   with at most `MAX_FUZZY_SUBS_SHORT` differing syllables for terms of up to 3 characters, and
   never when the window is itself a common dictionary word (校服 is not 销户, 几张 is not 基站).

Pinyin and fuzzy matches need at least two Chinese characters and (by default) a window that starts
and ends on jieba token boundaries, which keeps them from firing inside unrelated words (一点心意
does not contain 点心 -> 电信). Overlaps are resolved longer > shorter, exact > pinyin > fuzzy: hits
of one category never overlap, a pinyin/fuzzy hit never overlaps another hit, and a complaint/churn/
praise hit inside a longer term of another category is dropped (满意 in 不满意; 扣费 in 乱扣费 stays).

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

from speechchurn.schema import ROLE_AGENT, KeywordHit, Segment
from speechchurn.text.lexicon import Lexicon, Term
from speechchurn.vocab import (
    CUSTOMER_SIDE_ROLES,
    NEGATABLE_CATEGORIES,
    STANCE_CATEGORIES,
    kw_agent_column,
    kw_column,
)

log = logging.getLogger("speechchurn")

DEFAULT_FUZZY_PAIRS: tuple[str, ...] = ("h/f", "n/l", "zh/z", "ch/c", "sh/s", "an/ang", "en/eng", "in/ing")
PINYIN_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x")
PINYIN_INITIALS += ("r", "z", "c", "s", "y", "w")

KIND_EXACT, KIND_PINYIN, KIND_FUZZY = "exact", "pinyin", "fuzzy"
KIND_RANK = {KIND_EXACT: 0, KIND_PINYIN: 1, KIND_FUZZY: 2}
BASE_CONFIDENCE = {KIND_EXACT: 1.0, KIND_PINYIN: 0.85, KIND_FUZZY: 0.7}
MIN_SOUND_MATCH_CHARS = 2  # pinyin/fuzzy matching only for terms of at least this many characters
MAX_FUZZY_SUBS_SHORT = 1  # differing syllables allowed for terms of <= 3 characters
MAX_FUZZY_SUBS_LONG = 2  # ... and for longer terms
SHORT_TERM_CHARS = 3
# jieba dictionary count from which a window is a real word (校服, 几张) and so no fuzzy hit
FUZZY_REAL_WORD_MIN_FREQ = 20
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
    pinyin: bool = True
    fuzzy: bool = True
    fuzzy_pairs: tuple[str, ...] = DEFAULT_FUZZY_PAIRS
    negation_window: int = 4  # characters before a hit searched for a negation cue
    align_tokens: bool = True  # pinyin/fuzzy windows must start and end on jieba token boundaries


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

    @property
    def length(self) -> int:
        return self.end - self.start

    def sort_key(self) -> tuple:
        return (-self.length, KIND_RANK[self.kind], -self.term.weight, self.start)


@dataclass(frozen=True)
class _Index:
    """Terms grouped by character length, keyed by exact text, pinyin and fuzzy pinyin."""

    lengths: tuple[int, ...]
    exact: dict = field(hash=False)
    pinyin: dict = field(hash=False)
    fuzzy: dict = field(hash=False)


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


# ---------------------------------------------------------------- pinyin


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def to_pinyin(text: str) -> tuple[str, ...]:
    """One toneless syllable per character (non-Chinese characters stand for themselves)."""
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors=lambda s: list(s)))


@functools.lru_cache(maxsize=4096)
def _split_syllable(syllable: str) -> tuple[str, str]:
    for initial in PINYIN_INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial) :]
    return "", syllable


@functools.lru_cache(maxsize=64)
def _fuzzy_rules(pairs: tuple[str, ...]) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """Initial merges ({'f': 'h'}) and final suffix merges (('ang', 'an')) from 'a/b' pairs."""
    initials, finals = {}, []
    for pair in pairs:
        a, sep, b = pair.partition("/")
        if not sep or not a or not b:
            raise ValueError(f"fuzzy pair {pair!r} must look like 'h/f'")
        if a in PINYIN_INITIALS and b in PINYIN_INITIALS:
            initials[b] = a
        else:
            short, long_ = sorted((a, b), key=len)
            finals.append((long_, short))
    return initials, tuple(sorted(finals, key=lambda f: -len(f[0])))


@functools.lru_cache(maxsize=16384)
def fuzzy_key(syllable: str, pairs: tuple[str, ...] = DEFAULT_FUZZY_PAIRS) -> str:
    """The syllable with confusable initials/finals merged (fu -> hu, lang -> lan, zhi -> zi)."""
    initials, finals = _fuzzy_rules(pairs)
    initial, final = _split_syllable(syllable)
    initial = initials.get(initial, initial)
    for long_, short in finals:
        if final.endswith(long_):
            final = final[: -len(long_)] + short
            break
    return initial + final


# ---------------------------------------------------------------- index


@functools.lru_cache(maxsize=16)
def _build_index(lexicon: Lexicon, pairs: tuple[str, ...]) -> _Index:
    exact: dict = {}
    pinyin: dict = {}
    fuzzy: dict = {}
    for term in lexicon.terms():
        text = term.text.lower()
        exact.setdefault(text, []).append(term)
        if len(text) >= MIN_SOUND_MATCH_CHARS and all(_is_han(c) for c in text):
            syllables = to_pinyin(text)
            pinyin.setdefault(syllables, []).append(term)
            fuzzy.setdefault(tuple(fuzzy_key(s, pairs) for s in syllables), []).append((term, syllables))
    lengths = tuple(sorted({len(t.text) for t in lexicon.terms()}))
    return _Index(lengths=lengths, exact=exact, pinyin=pinyin, fuzzy=fuzzy)


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


def _max_fuzzy_subs(n_chars: int) -> int:
    return MAX_FUZZY_SUBS_SHORT if n_chars <= SHORT_TERM_CHARS else MAX_FUZZY_SUBS_LONG


def is_common_word(text: str, lexicon: Lexicon) -> bool:
    """True when jieba's dictionary knows `text` as a word of at least FUZZY_REAL_WORD_MIN_FREQ."""
    return get_tokenizer(lexicon).FREQ.get(text, 0) >= FUZZY_REAL_WORD_MIN_FREQ


def _sound_candidates(
    window: tuple[str, ...], start: int, index: _Index, options: MatchOptions, real_word: bool
) -> Iterable[_Candidate]:
    end = start + len(window)
    if options.pinyin:
        for term in index.pinyin.get(window, ()):
            yield _Candidate(term, start, end, KIND_PINYIN)
    if options.fuzzy and not real_word:
        key = tuple(fuzzy_key(s, options.fuzzy_pairs) for s in window)
        for term, syllables in index.fuzzy.get(key, ()):
            subs = sum(a != b for a, b in zip(window, syllables, strict=True))
            if 0 < subs <= _max_fuzzy_subs(len(syllables)):
                yield _Candidate(term, start, end, KIND_FUZZY)


def _clause_candidates(
    clause: _Clause, lexicon: Lexicon, index: _Index, options: MatchOptions
) -> list[_Candidate]:
    text = clause.text
    bounds = _token_bounds(text, lexicon)
    syllables = to_pinyin(text) if options.pinyin or options.fuzzy else ()
    found: list[_Candidate] = []
    for n in index.lengths:
        for start in range(len(text) - n + 1):
            end = start + n
            for term in index.exact.get(text[start:end], ()):
                if n > 1 or (start in bounds and end in bounds):
                    found.append(_Candidate(term, start, end, KIND_EXACT))
            if n < MIN_SOUND_MATCH_CHARS or not syllables or not all(_is_han(c) for c in text[start:end]):
                continue
            if options.align_tokens and not (start in bounds and end in bounds):
                continue
            real_word = is_common_word(text[start:end], lexicon)
            found.extend(_sound_candidates(syllables[start:end], start, index, options, real_word))
    return found


def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
    """Greedy: longer first, then exact > pinyin > fuzzy; see _clashes for what is dropped."""
    accepted: list[_Candidate] = []
    for cand in sorted(candidates, key=_Candidate.sort_key):
        if not any(_clashes(cand, kept) for kept in accepted):
            accepted.append(cand)
    return sorted(accepted, key=lambda c: (c.start, c.end))


def _clashes(cand: _Candidate, kept: _Candidate) -> bool:
    """Same-category overlaps, sound-alike overlaps and stance terms inside longer terms clash."""
    if not (cand.start < kept.end and kept.start < cand.end):
        return False
    if kept.term.category == cand.term.category or cand.kind != KIND_EXACT:
        return True
    inside = kept.start <= cand.start and cand.end <= kept.end
    return inside and cand.term.category in STANCE_CATEGORIES


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


def _negated(cand: _Candidate, cues: list[int], window: int) -> bool:
    if cand.term.category not in NEGATABLE_CATEGORIES:
        return False
    return any(cand.start - window <= pos < cand.start for pos in cues)


# ---------------------------------------------------------------- hits


def _confidence(kind: str, n_chars: int) -> float:
    length_factor = min(1.0, 0.7 + 0.1 * n_chars)  # short sound-alike matches are less certain
    return 1.0 if kind == KIND_EXACT else round(BASE_CONFIDENCE[kind] * length_factor, 3)


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
        accepted = _resolve(_clause_candidates(clause, lexicon, index, options))
        covered = {i for c in accepted for i in range(c.start, c.end)}
        cues = _cue_positions(clause.text, covered, _token_bounds(clause.text, lexicon))
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
                    confidence=_confidence(cand.kind, cand.length),
                    negated=_negated(cand, cues, options.negation_window),
                    snippet=_snippet(segment.text, first, last),
                )
            )
    return hits


def find_hits(
    segments: Sequence[Segment], lexicon: Lexicon, options: MatchOptions = MatchOptions()
) -> list[KeywordHit]:
    """Every lexicon hit in the segments, in segment order then text order."""
    index = _build_index(lexicon, tuple(options.fuzzy_pairs))
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
