"""Interval arithmetic on (start, end) pairs in seconds: the vocabulary of the acoustic measures."""

from __future__ import annotations

from collections.abc import Sequence

Interval = tuple[float, float]


def union(intervals: Sequence[Interval]) -> list[Interval]:
    """Sorted, merged intervals (touching intervals merge; empty/negative ones are dropped)."""
    merged: list[list[float]] = []
    for start, end in sorted(iv for iv in intervals if iv[1] > iv[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def total(intervals: Sequence[Interval]) -> float:
    """Covered time (overlaps counted once)."""
    return sum(e - s for s, e in union(intervals))


def clip(intervals: Sequence[Interval], start: float, end: float) -> list[Interval]:
    """Intervals cut to [start, end]."""
    return union([(max(s, start), min(e, end)) for s, e in intervals])


def gaps(intervals: Sequence[Interval], start: float, end: float) -> list[Interval]:
    """The parts of [start, end] not covered by ``intervals``."""
    result: list[Interval] = []
    cursor = start
    for s, e in clip(intervals, start, end):
        if s > cursor:
            result.append((cursor, s))
        cursor = max(cursor, e)
    if end > cursor:
        result.append((cursor, end))
    return result


def intersection(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Time covered by both ``a`` and ``b``."""
    ua, ub = union(a), union(b)
    result: list[Interval] = []
    i = j = 0
    while i < len(ua) and j < len(ub):
        s, e = max(ua[i][0], ub[j][0]), min(ua[i][1], ub[j][1])
        if e > s:
            result.append((s, e))
        if ua[i][1] < ub[j][1]:
            i += 1
        else:
            j += 1
    return result


def long_gaps_total(gap_list: Sequence[Interval], min_s: float) -> float:
    """Total of the gaps strictly longer than ``min_s``."""
    return sum(e - s for s, e in gap_list if e - s > min_s)


def count_interruptions(
    interrupter: Sequence[Interval], other: Sequence[Interval], min_overlap_s: float, backchannel_max_s: float
) -> int:
    """How often ``interrupter`` starts talking while ``other`` is mid-utterance (see module doc)."""
    count = 0
    others = union(other)
    for start, end in union(interrupter):
        for o_start, o_end in others:
            if not o_start < start < o_end:
                continue
            backchannel = end - start < backchannel_max_s and end <= o_end
            if min(o_end, end) - start >= min_overlap_s and not backchannel:
                count += 1
            break
    return count
