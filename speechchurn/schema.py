"""Typed records shared by every pipeline stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from speechchurn.vocab import ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED, ROLES

__all__ = ["ROLES", "ROLE_AGENT", "ROLE_CUSTOMER", "ROLE_MIXED", "KeywordHit", "Segment"]


@dataclass(frozen=True)
class Segment:
    """One transcribed stretch of speech on one channel. Times are seconds from call start."""

    role: str
    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Segment:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class KeywordHit:
    """A lexicon term found in a segment (heard text may differ from the canonical term)."""

    heard: str
    term: str
    category: str
    role: str
    start: float
    end: float
    match: str  # "exact" | "phonetic"
    confidence: float
    negated: bool
    snippet: str

    def to_dict(self) -> dict:
        return asdict(self)
