"""Transcript accuracy: character error rate (CER) for Mandarin, as used by benchmarks/asr.py.

CER compares texts after `normalize_for_cer`: Unicode NFKC (full-width digits and letters become
half-width), traditional -> simplified Chinese, Arabic numbers spelled as read and 幺/两 unified
(speechchurn.dev.numerals), upper case, and every punctuation mark and space removed, so only the
spoken characters count. CER = character-level Levenshtein edits divided by
the reference length. `rapidfuzz` computes the distance when installed; a plain dynamic program
gives the same numbers without it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from speechchurn.dev.numerals import normalize_numbers
from speechchurn.schema import Segment

_NON_WORD_RE = re.compile(r"[\W_]+", re.UNICODE)  # punctuation, symbols, whitespace


@dataclass(frozen=True)
class CerCount:
    """Edits against one reference; add counts and divide once for a corpus-level CER."""

    edits: int
    ref_chars: int

    @property
    def cer(self) -> float:
        return self.edits / self.ref_chars if self.ref_chars else float(self.edits > 0)

    def __add__(self, other: CerCount) -> CerCount:
        return CerCount(self.edits + other.edits, self.ref_chars + other.ref_chars)


@dataclass(frozen=True)
class EditOp:
    """One character-level difference: `kind` is replace, delete (missed) or insert (extra)."""

    kind: str
    ref_pos: int
    ref: str
    hyp: str


def normalize_for_cer(text: str) -> str:
    """Keep only the spoken characters: simplified, half-width, upper case, no punctuation/space.

    Numbers get one form (speechchurn.dev.numerals): Arabic digits spelled as read, 幺/两 -> 一/二.
    """
    import zhconv

    text = unicodedata.normalize("NFKC", text)
    text = normalize_numbers(zhconv.convert(text, "zh-cn")).upper()
    return _NON_WORD_RE.sub("", text)


def edit_distance(reference: str, hypothesis: str) -> int:
    """Character-level Levenshtein distance (unit cost substitute/insert/delete)."""
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError:
        return _levenshtein(reference, hypothesis)
    return Levenshtein.distance(reference, hypothesis)


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer_count(reference: str, hypothesis: str) -> CerCount:
    """Edits and reference length after normalising both texts."""
    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    return CerCount(edit_distance(ref, hyp), len(ref))


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of `hypothesis` against `reference` (0.0 = identical after normalising).

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    return cer_count(reference, hypothesis).cer


def corpus_cer(pairs: Iterable[tuple[str, str]]) -> float:
    """Total edits / total reference characters over (reference, hypothesis) pairs."""
    total = CerCount(0, 0)
    for reference, hypothesis in pairs:
        total = total + cer_count(reference, hypothesis)
    return total.cer


def edit_ops(reference: str, hypothesis: str) -> list[EditOp]:
    """The differences between the normalised texts, merged into runs, for error analysis."""
    from difflib import SequenceMatcher

    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    matcher = SequenceMatcher(None, ref, hyp, autojunk=False)
    return [
        EditOp(tag, i1, ref[i1:i2], hyp[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def reference_by_role(turns: Sequence[Mapping]) -> dict[str, str]:
    """truth.json turns of one call -> role -> all that role's text in time order."""
    return _join_by_role((t["role"], t["start"], t["text"]) for t in turns)


def hypothesis_by_role(segments: Sequence[Segment]) -> dict[str, str]:
    """Transcript segments of one call -> role -> all that role's text in time order."""
    return _join_by_role((s.role, s.start, s.text) for s in segments)


def _join_by_role(items: Iterable[tuple[str, float, str]]) -> dict[str, str]:
    texts: dict[str, list[tuple[float, str]]] = {}
    for role, start, text in items:
        texts.setdefault(role, []).append((start, text))
    return {role: "".join(text for _start, text in sorted(parts)) for role, parts in texts.items()}


def score_call(turns: Sequence[Mapping], segments: Sequence[Segment]) -> dict[str, CerCount]:
    """Per-role CER counts of one call; a role missing from the transcript counts as all deleted."""
    refs, hyps = reference_by_role(turns), hypothesis_by_role(segments)
    return {role: cer_count(ref, hyps.get(role, "")) for role, ref in sorted(refs.items())}
