"""Score one call against a QA form: each criterion passes (1), fails (0) or does not apply (None).

Phrases are found by the keyword spotter (`speechchurn.text.keywords`): the form's phrases become a
lexicon with one category per criterion, so matching is exact or sound-alike (pinyin edit distance)
exactly like the keywords, and a phrase preceded by a negation cue (没有说你自己去查) does not count.

* ``say_any``: passes when a non-negated hit by the criterion's role lies in its window; ``at_s`` is
  the start of the first such segment.
* ``say_none``: fails at the first such hit; passes otherwise.
* ``when``: passes when the condition over the calls.csv row holds, fails when it does not; a missing
  or empty column makes the criterion not applicable.
* ``applies_when``: where it does not hold (or its column is missing) the criterion is not applicable.

Role ``agent`` searches agent segments, ``customer`` customer segments, ``any`` both; a mono call's
``mixed`` segments are searched for every role. ``within_first_s`` keeps segments starting at most
that many seconds after the call's start; ``within_last_s`` segments ending at most that many seconds
before its end (``duration_s`` of the row, else the last segment's end).

``qa_score`` = 100 x passed weight / applicable weight (None when nothing applies), 0 after a failed
``auto_fail`` criterion.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from speechchurn.customers.rules import OPS, Condition, fmt_number
from speechchurn.qa.form import ROLE_ANY, Criterion, QAForm
from speechchurn.schema import ROLE_MIXED, Segment
from speechchurn.text.lexicon import Category, Lexicon, Term
from speechchurn.vocab import QA_UNKNOWN_AGENT

SCORE_MAX = 100.0  # qa_score of a call that passes every applicable criterion
SCORE_DECIMALS = 1
PASS, FAIL = 1, 0
UNKNOWN_AGENT = QA_UNKNOWN_AGENT
TEXT_CACHE_SIZE = 200_000  # distinct segment texts whose phrase hits are remembered (scripted lines repeat)


@dataclass(frozen=True)
class PhraseHit:
    """A form phrase heard in one segment."""

    criterion: str
    phrase: str  # the form's phrase
    heard: str  # what the transcript says (may differ: sound-alike match)
    role: str
    start: float
    end: float
    match: str  # exact | phonetic
    confidence: float
    negated: bool
    snippet: str


@dataclass(frozen=True)
class CriterionResult:
    """One criterion of one call. ``result`` 1 pass, 0 fail, None not applicable."""

    id: str
    result: int | None
    at_s: float | None = None  # second at which the deciding phrase was heard (segment start)
    quote: str = ""  # the deciding segment's text, or the condition with the call's value
    evidence: tuple[PhraseHit, ...] = ()
    reviewed_by: str = ""  # reviewer whose appeal set `result` ('' = automatic)
    reason: str = ""  # the reviewer's reason


@dataclass(frozen=True)
class CallScore:
    file: str
    agent: str
    score: float | None  # qa_score; None when no criterion applies
    auto_failed: bool
    failed: bool  # auto-failed, or score below the form's fail_below
    results: tuple[CriterionResult, ...]

    @property
    def reviewed_by(self) -> str:
        """Reviewers whose appeals changed this call's results, ';'-joined ('' when none)."""
        return ";".join(dict.fromkeys(r.reviewed_by for r in self.results if r.reviewed_by))

    def result(self, criterion_id: str) -> CriterionResult:
        for r in self.results:
            if r.id == criterion_id:
                return r
        raise KeyError(criterion_id)


# ------------------------------------------------------------------------------------ phrase matching


class PhraseMatcher:
    """The form's phrases as a keyword lexicon (category ``qa_<id>`` per phrase criterion)."""

    def __init__(self, form: QAForm):
        from speechchurn.text.keywords import MatchOptions

        cats = tuple(
            Category(cr.column, tuple(Term(p, cr.column) for p in cr.phrases), form.source)
            for cr in form.criteria
            if cr.phrases
        )
        self.by_category = {cr.column: cr.id for cr in form.criteria}
        self.lexicon = Lexicon(tuple(sorted(cats, key=lambda c: c.name)))
        self.options = MatchOptions(negatable=frozenset(c.name for c in cats))
        self.roles = {cr.role for cr in form.criteria if cr.phrases}
        self.known: dict[str, tuple] = {}  # text -> hits, filled from the store's cache (qa/run.py)
        self._text_hits = functools.lru_cache(maxsize=TEXT_CACHE_SIZE)(self._hits_of_text)

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 of what decides a text's hits: the phrases per criterion and the match options."""
        import hashlib
        import json

        content = [[c.name, [t.text for t in c.terms]] for c in self.lexicon.categories]
        opts = [self.options.phonetic, self.options.threshold, self.options.negation_window]
        return hashlib.sha256(json.dumps([content, opts], ensure_ascii=False).encode()).hexdigest()

    def searched(self, segment: Segment) -> bool:
        """Whether a phrase criterion can use this segment's words (its role is searched)."""
        if not segment.text.strip():
            return False
        return segment.role == ROLE_MIXED or ROLE_ANY in self.roles or segment.role in self.roles

    def _hits_of_text(self, text: str) -> tuple:
        known = self.known.get(text)
        return known if known is not None else self.match_text(text)

    def match_text(self, text: str) -> tuple:
        """The phrase hits of one segment text: (criterion, phrase, heard, match, confidence,
        negated, snippet) tuples."""
        from speechchurn.text.keywords import find_hits

        if not self.lexicon.categories:
            return ()
        found = find_hits([Segment(ROLE_MIXED, 0.0, 0.0, text)], self.lexicon, self.options)
        return tuple(
            (self.by_category[h.category], h.term, h.heard, h.match, h.confidence, h.negated, h.snippet)
            for h in found
        )

    def hits(self, segments: Sequence[Segment]) -> list[PhraseHit]:
        """Every phrase hit in the segments, in segment order (negated ones included, flagged)."""
        out = []
        for seg in segments:
            if not self.searched(seg):
                continue
            for cid, phrase, heard, match, conf, negated, snippet in self._text_hits(seg.text.strip()):
                out.append(
                    PhraseHit(cid, phrase, heard, seg.role, seg.start, seg.end, match, conf, negated, snippet)
                )
        return out


@functools.lru_cache(maxsize=8)
def matcher_for(form: QAForm) -> PhraseMatcher:
    """One matcher per form (its jieba dictionary and phonetic index are built once)."""
    return PhraseMatcher(form)


# --------------------------------------------------------------------------------------- criteria


def _value(row: Mapping, name: str) -> float | None:
    """The row's numeric value of `name`; None when missing, empty or not a number."""
    raw = row.get(name)
    if raw is None or isinstance(raw, bool) or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def holds(cond: Condition, row: Mapping) -> bool | None:
    """Whether the condition holds for the row; None when its column is missing or empty."""
    value = _value(row, cond.indicator)
    return None if value is None else bool(OPS[cond.op](value, cond.value))


def _role_matches(criterion: Criterion, role: str) -> bool:
    return criterion.role == ROLE_ANY or role == criterion.role or role == ROLE_MIXED


def _in_window(criterion: Criterion, hit: PhraseHit, duration_s: float) -> bool:
    if criterion.within_first_s is not None and hit.start > criterion.within_first_s:
        return False
    return criterion.within_last_s is None or hit.end >= duration_s - criterion.within_last_s


def _phrase_result(criterion: Criterion, hits: Sequence[PhraseHit], duration_s: float) -> CriterionResult:
    heard = [
        h
        for h in hits
        if h.criterion == criterion.id
        and not h.negated
        and _role_matches(criterion, h.role)
        and _in_window(criterion, h, duration_s)
    ]
    if not heard:
        return CriterionResult(criterion.id, FAIL if criterion.say_any else PASS)
    first = heard[0]
    result = PASS if criterion.say_any else FAIL
    return CriterionResult(criterion.id, result, round(first.start, 2), first.snippet, tuple(heard))


def _condition_result(criterion: Criterion, row: Mapping) -> CriterionResult:
    cond = criterion.when
    assert cond is not None
    ok = holds(cond, row)
    if ok is None:
        return CriterionResult(criterion.id, None)
    value = _value(row, cond.indicator)
    quote = f"{cond.indicator}={fmt_number(value)} ({cond.op} {fmt_number(cond.value)})"
    return CriterionResult(criterion.id, PASS if ok else FAIL, None, quote)


def criterion_result(
    criterion: Criterion, hits: Sequence[PhraseHit], row: Mapping, duration_s: float
) -> CriterionResult:
    """One criterion's result from the call's phrase hits and calls.csv row."""
    if criterion.applies_when is not None and not holds(criterion.applies_when, row):
        return CriterionResult(criterion.id, None)
    if criterion.kind == "when":
        return _condition_result(criterion, row)
    return _phrase_result(criterion, hits, duration_s)


# ------------------------------------------------------------------------------------------ totals


def total(form: QAForm, results: Sequence[CriterionResult]) -> tuple[float | None, bool, bool]:
    """(qa_score, auto_failed, failed) of a call's results (after any appeals)."""
    weights = {c.id: c.weight for c in form.criteria}
    auto = {c.id for c in form.criteria if c.auto_fail}
    auto_failed = any(r.result == FAIL and r.id in auto for r in results)
    applicable = sum(weights[r.id] for r in results if r.result is not None)
    if auto_failed:
        score: float | None = 0.0
    elif applicable <= 0:
        score = None
    else:
        passed = sum(weights[r.id] for r in results if r.result == PASS)
        score = round(SCORE_MAX * passed / applicable, SCORE_DECIMALS)
    failed = auto_failed or (score is not None and score < form.fail_below)
    return score, auto_failed, failed


def with_results(form: QAForm, call: CallScore, results: Sequence[CriterionResult]) -> CallScore:
    """`call` with its results replaced (an appeal) and the score recomputed."""
    score, auto_failed, failed = total(form, results)
    return replace(call, score=score, auto_failed=auto_failed, failed=failed, results=tuple(results))


def agent_of(row: Mapping) -> str:
    agent = str(row.get("agent") or "").strip()
    return agent if agent and agent.lower() != "nan" else UNKNOWN_AGENT


def score_call(
    form: QAForm, segments: Sequence[Segment], call_row: Mapping, matcher: PhraseMatcher | None = None
) -> CallScore:
    """Score one call: its transcript segments and its calls.csv row (a dict; numbers or strings).

    `matcher` defaults to the form's cached one (pass it in when scoring many calls)."""
    matcher = matcher or matcher_for(form)
    hits = matcher.hits(segments)
    duration = _value(call_row, "duration_s")
    if duration is None:
        duration = max((s.end for s in segments), default=0.0)
    results = tuple(criterion_result(c, hits, call_row, duration) for c in form.criteria)
    score, auto_failed, failed = total(form, results)
    return CallScore(str(call_row.get("file", "")), agent_of(call_row), score, auto_failed, failed, results)
