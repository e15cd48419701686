"""Page data for the desk: each function is a few indexed queries over the desk_* and marks tables."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from speechchurn.app.index import QUEUE_PAGE_SIZE, SEARCH_LIMIT, fts_query
from speechchurn.call.acoustics import HOLD_CATEGORY, AcousticsOptions, gaps, union
from speechchurn.review.marks import HitKey, customer_review, hit_verdicts, tier_overrides


@dataclass(frozen=True)
class Timeline:
    """Everything the call page draws on its time axis, in seconds."""

    duration_s: float
    speech: tuple[tuple[str, float, float], ...]  # (role, start, end)
    silences: tuple[tuple[float, float], ...]  # mutual silences of at least the non-talk threshold
    holds: tuple[tuple[float, float], ...]  # hold phrase start .. end of the silence that follows
    hits: tuple[dict, ...]


def queue_page(
    db: sqlite3.Connection, page: int = 1, only_open: bool = False, everyone: bool = False
) -> tuple[list[dict], int]:
    """One page of the review queue (severity order; `everyone`: all customers, queue first, then by
    score) and the number of customers listed."""
    where = "1 = 1" if everyone else "c.queue_rank IS NOT NULL"
    where += " AND r.caller IS NULL" if only_open else ""
    base = f"FROM desk_callers c LEFT JOIN desk_customer_reviews r USING (caller) WHERE {where}"
    total = db.execute(f"SELECT COUNT(*) {base}").fetchone()[0]
    rows = db.execute(
        f"SELECT c.caller, c.queue_rank, c.tier, c.score, c.churn_risk, c.warning_level, c.calls, c.row, "
        f"r.outcome, r.reviewer {base} ORDER BY c.queue_rank IS NULL, c.queue_rank, c.score DESC, c.caller "
        "LIMIT ? OFFSET ?",
        (QUEUE_PAGE_SIZE, (max(page, 1) - 1) * QUEUE_PAGE_SIZE),
    ).fetchall()
    overrides = tier_overrides(db)
    items = []
    for caller, rank, tier, score, risk, warning, calls, row, outcome, reviewer in rows:
        data = json.loads(row)
        items.append(
            {
                "caller": caller,
                "rank": rank,
                "tier": tier,
                "score": score,
                "churn_risk": risk,
                "warning_level": warning,
                "calls": calls,
                "risk_reason": data.get("risk_reason") or "",
                "churn_prob": data.get("churn_prob"),  # grade --model only
                "outcome": outcome,
                "reviewer": reviewer,
                "override": overrides.get(caller),
            }
        )
    _add_hit_counts(db, items)
    return items, total


def _add_hit_counts(db: sqlite3.Connection, items: list[dict]) -> None:
    callers = [i["caller"] for i in items]
    if not callers:
        return
    marks = ",".join("?" * len(callers))
    counts = dict(
        db.execute(
            f"SELECT caller, COUNT(*) FROM desk_hits WHERE caller IN ({marks}) GROUP BY caller", callers
        )
    )
    marked = dict(
        db.execute(
            f"SELECT h.caller, COUNT(*) FROM desk_hits h JOIN desk_hit_marks m ON m.sha256 = h.sha256 "
            f"AND m.start_ms = h.start_ms AND m.term = h.term WHERE h.caller IN ({marks}) GROUP BY h.caller",
            callers,
        )
    )
    for item in items:
        item["hits"] = counts.get(item["caller"], 0)
        item["marked"] = marked.get(item["caller"], 0)


def customer(db: sqlite3.Connection, caller: str) -> dict | None:
    """A customer's graded row, calls, hits (with marks), review and tier override; None if unknown."""
    row = db.execute("SELECT row, queue_rank FROM desk_callers WHERE caller = ?", (caller,)).fetchone()
    calls = db.execute(
        "SELECT id, file, sha256, started_at, duration_s, direction FROM desk_calls WHERE caller = ? "
        "ORDER BY started_at, file",
        (caller,),
    ).fetchall()
    if row is None and not calls:
        return None
    call_list = [
        dict(zip(("id", "file", "sha256", "started_at", "duration_s", "direction"), c, strict=True))
        for c in calls
    ]
    hits = _hits(db, "h.caller = ?", (caller,))
    return {
        "caller": caller,
        "row": json.loads(row[0]) if row else {},
        "queue_rank": row[1] if row else None,
        "calls": call_list,
        "hits": hits,
        "review": customer_review(db, caller),
        "override": tier_overrides(db).get(caller),
    }


def _hits(db: sqlite3.Connection, where: str, params: tuple) -> list[dict]:
    rows = db.execute(
        "SELECT h.id, h.call_id, h.sha256, h.hit, c.file FROM desk_hits h "
        "JOIN desk_calls c ON c.id = h.call_id "
        f"WHERE {where} ORDER BY c.started_at, c.file, h.seq",
        params,
    ).fetchall()
    verdicts = hit_verdicts(db, (r[2] for r in rows))
    hits = []
    for hit_id, call_id, sha, text, file in rows:
        hit = json.loads(text)
        mark = verdicts.get(HitKey.of(sha, hit.get("start", 0.0), hit.get("term", "")))
        hit.update(id=hit_id, call_id=call_id, file=file, verdict=None, marked_by=None, marked_at=None)
        if mark:
            hit.update(verdict=mark[0], marked_by=mark[1], marked_at=mark[2])
        hits.append(hit)
    return hits


def hit_by_id(db: sqlite3.Connection, hit_id: int) -> tuple[dict, str] | None:
    """(hit dict, audio sha256) of one indexed hit."""
    row = db.execute(
        "SELECT h.hit, h.sha256, c.file FROM desk_hits h JOIN desk_calls c ON c.id = h.call_id "
        "WHERE h.id = ?",
        (hit_id,),
    ).fetchone()
    if row is None:
        return None
    hit = json.loads(row[0])
    hit["file"] = row[2]
    return hit, row[1]


def call(db: sqlite3.Connection, call_id: int) -> dict | None:
    row = db.execute(
        "SELECT id, file, sha256, caller, started_at, duration_s, direction, row FROM desk_calls "
        "WHERE id = ?",
        (call_id,),
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "file", "sha256", "caller", "started_at", "duration_s", "direction")
    info = dict(zip(keys, row[:7], strict=True))
    info["row"] = json.loads(row[7])
    segments = [
        dict(zip(("seq", "role", "start", "end", "text"), s, strict=True))
        for s in db.execute(
            'SELECT seq, role, start, "end", text FROM desk_segments WHERE call_id = ? ORDER BY start, seq',
            (call_id,),
        )
    ]
    info["segments"] = segments
    info["hits"] = _hits(db, "h.call_id = ?", (call_id,))
    info["timeline"] = timeline(info)
    return info


def timeline(info: dict) -> Timeline:
    """Speech per role, long mutual silences, holds and hits of one call (from its stored segments)."""

    options = AcousticsOptions()
    segments = info["segments"]
    end_of_speech = max((s["end"] for s in segments), default=0.0)
    duration = float(info.get("duration_s") or end_of_speech or 0.0)
    speech = tuple((s["role"], s["start"], s["end"]) for s in segments)
    silent = gaps(union([(s, e) for _, s, e in speech]), 0.0, duration)
    silences = tuple(g for g in silent if g[1] - g[0] >= options.non_talk_min_s)
    holds = []
    for hit in info["hits"]:
        if hit.get("category") != HOLD_CATEGORY or hit.get("role") == "customer" or hit.get("negated"):
            continue
        follow = [g for g in silences if hit["start"] <= g[0] <= hit["end"] + options.hold_lookahead_s]
        if follow and follow[0][1] - follow[0][0] >= options.hold_silence_min_s:
            holds.append((hit["start"], follow[0][1]))
    return Timeline(duration, speech, silences, tuple(holds), tuple(info["hits"]))


def search(db: sqlite3.Connection, text: str) -> list[dict]:
    """Transcript lines matching every jieba token of `text`, best match first."""
    match = fts_query(text)
    if match is None:
        return []
    rows = db.execute(
        "SELECT s.call_id, c.caller, c.file, c.started_at, s.role, s.start, s.text FROM desk_fts f "
        "JOIN desk_segments s ON s.id = f.rowid JOIN desk_calls c ON c.id = s.call_id "
        "WHERE desk_fts MATCH ? ORDER BY rank LIMIT ?",
        (match, SEARCH_LIMIT),
    ).fetchall()
    keys = ("call_id", "caller", "file", "started_at", "role", "start", "text")
    return [dict(zip(keys, r, strict=True)) for r in rows]
