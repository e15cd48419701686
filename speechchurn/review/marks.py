"""Reviewer marks in OUT_DIR/speechchurn.db: hit verdicts, customer reviews and tier overrides.

Marks live in tables of their own (``desk_*``) next to the result store's tables, so re-running
``analyze`` never touches them. A hit mark is keyed by the audio's sha256, the hit's start time in
milliseconds and the canonical term, not by row ids or file names: a re-analysed or renamed recording
keeps its marks as long as its content and the hit's time are the same. Every change is also appended
to ``desk_mark_log`` (who, when, what), so concurrent reviewers never lose a decision silently.

This module imports no web framework: the desk (app/) and the grading run (tier overrides, skipping
wrong hits) both use it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from speechchurn.batch.store import STORE_NAME
from speechchurn.errors import SpeechchurnError

BUSY_TIMEOUT_S = 30.0  # s to wait for a write lock held by another reviewer or by analyze
VERDICTS = ("correct", "wrong")
OUTCOMES = ("retained", "escalated", "no_action")
MAX_NOTE_CHARS = 2000  # characters kept of a note or reason
MAX_NAME_CHARS = 64  # characters kept of a reviewer name

SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_hit_marks (
    sha256 TEXT NOT NULL, start_ms INTEGER NOT NULL, term TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('correct', 'wrong')),
    category TEXT, match TEXT, heard TEXT, role TEXT, file TEXT, caller TEXT,
    reviewer TEXT NOT NULL, marked_at TEXT NOT NULL,
    PRIMARY KEY (sha256, start_ms, term)
);
CREATE TABLE IF NOT EXISTS desk_customer_reviews (
    caller TEXT PRIMARY KEY,
    outcome TEXT NOT NULL CHECK (outcome IN ('retained', 'escalated', 'no_action')),
    note TEXT NOT NULL DEFAULT '', reviewer TEXT NOT NULL, reviewed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS desk_tier_overrides (
    caller TEXT PRIMARY KEY, tier TEXT NOT NULL, reason TEXT NOT NULL,
    reviewer TEXT NOT NULL, overridden_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS desk_mark_log (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    reviewer TEXT NOT NULL, at TEXT NOT NULL
);
"""


class MarkError(SpeechchurnError):
    """A mark is invalid (unknown verdict/outcome, empty reviewer or reason)."""


@dataclass(frozen=True)
class HitKey:
    """What identifies a keyword hit across re-analysis: audio content, time, term."""

    sha256: str
    start_ms: int
    term: str

    @classmethod
    def of(cls, sha256: str, start_s: float, term: str) -> HitKey:
        return cls(str(sha256), round(float(start_s) * 1000), str(term))


@dataclass(frozen=True)
class HitMark:
    key: HitKey
    verdict: str
    category: str
    match: str
    heard: str
    role: str
    file: str
    caller: str
    reviewer: str
    marked_at: str


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def connect(out_dir: Path) -> sqlite3.Connection:
    """A connection to OUT_DIR's store with the desk tables created (autocommit, WAL)."""
    path = Path(out_dir) / STORE_NAME
    if not path.is_file():
        raise SpeechchurnError(f"{out_dir}: no result store ({STORE_NAME}); run `speechchurn analyze` first")
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


def _clean(value: object, limit: int) -> str:
    return str(value or "").strip()[:limit]


def _reviewer(name: str) -> str:
    cleaned = _clean(name, MAX_NAME_CHARS)
    if not cleaned:
        raise MarkError("a reviewer name is required")
    return cleaned


def _log(db: sqlite3.Connection, kind: str, key: str, value: dict, reviewer: str, at: str) -> None:
    db.execute(
        "INSERT INTO desk_mark_log (kind, key, value, reviewer, at) VALUES (?, ?, ?, ?, ?)",
        (kind, key, json.dumps(value, ensure_ascii=False), reviewer, at),
    )


def mark_hit(db: sqlite3.Connection, hit: dict, sha256: str, verdict: str, reviewer: str) -> HitMark:
    """Record `verdict` (correct / wrong) for one evidence hit (a dict as in evidence.jsonl)."""
    if verdict not in VERDICTS:
        raise MarkError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    key = HitKey.of(sha256, hit["start"], hit["term"])
    mark = HitMark(
        key,
        verdict,
        str(hit.get("category", "")),
        str(hit.get("match", "")),
        str(hit.get("heard", "")),
        str(hit.get("role", "")),
        str(hit.get("file", "")),
        str(hit.get("caller", "")),
        _reviewer(reviewer),
        now_utc(),
    )
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT OR REPLACE INTO desk_hit_marks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key.sha256, key.start_ms, key.term, *_mark_fields(mark)),
        )
        _log(
            db,
            "hit",
            f"{key.sha256}|{key.start_ms}|{key.term}",
            {"verdict": verdict},
            mark.reviewer,
            mark.marked_at,
        )
    return mark


def _mark_fields(mark: HitMark) -> tuple:
    return (
        mark.verdict,
        mark.category,
        mark.match,
        mark.heard,
        mark.role,
        mark.file,
        mark.caller,
        mark.reviewer,
        mark.marked_at,
    )


def hit_verdicts(db: sqlite3.Connection, sha256s: Iterable[str]) -> dict[HitKey, tuple[str, str, str]]:
    """(verdict, reviewer, marked_at) per hit key for the given recordings."""
    wanted = sorted(set(sha256s))
    found: dict[HitKey, tuple[str, str, str]] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i : i + 500]
        rows = db.execute(
            "SELECT sha256, start_ms, term, verdict, reviewer, marked_at FROM desk_hit_marks "
            f"WHERE sha256 IN ({','.join('?' * len(part))})",
            part,
        )
        for sha, start_ms, term, verdict, reviewer, at in rows:
            found[HitKey(sha, start_ms, term)] = (verdict, reviewer, at)
    return found


def review_customer(db: sqlite3.Connection, caller: str, outcome: str, note: str, reviewer: str) -> None:
    if outcome not in OUTCOMES:
        raise MarkError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    name, at, note = _reviewer(reviewer), now_utc(), _clean(note, MAX_NOTE_CHARS)
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT OR REPLACE INTO desk_customer_reviews VALUES (?, ?, ?, ?, ?)",
            (str(caller), outcome, note, name, at),
        )
        _log(db, "review", str(caller), {"outcome": outcome, "note": note}, name, at)


def override_tier(db: sqlite3.Connection, caller: str, tier: str, reason: str, reviewer: str) -> None:
    """Set (or, with an empty `tier`, clear) a reviewer's tier for a customer; a reason is required."""
    name, at = _reviewer(reviewer), now_utc()
    tier, reason = _clean(tier, MAX_NAME_CHARS), _clean(reason, MAX_NOTE_CHARS)
    with db:
        db.execute("BEGIN IMMEDIATE")
        if not tier:
            db.execute("DELETE FROM desk_tier_overrides WHERE caller = ?", (str(caller),))
        else:
            if not reason:
                raise MarkError("a tier override needs a reason")
            db.execute(
                "INSERT OR REPLACE INTO desk_tier_overrides VALUES (?, ?, ?, ?, ?)",
                (str(caller), tier, reason, name, at),
            )
        _log(db, "tier", str(caller), {"tier": tier, "reason": reason}, name, at)


def customer_review(db: sqlite3.Connection, caller: str) -> dict | None:
    row = db.execute(
        "SELECT outcome, note, reviewer, reviewed_at FROM desk_customer_reviews WHERE caller = ?",
        (str(caller),),
    ).fetchone()
    return (
        None if row is None else dict(zip(("outcome", "note", "reviewer", "reviewed_at"), row, strict=True))
    )


def tier_overrides(db: sqlite3.Connection) -> dict[str, dict]:
    rows = db.execute("SELECT caller, tier, reason, reviewer, overridden_at FROM desk_tier_overrides")
    return {r[0]: {"tier": r[1], "reason": r[2], "reviewer": r[3], "at": r[4]} for r in rows}


def wrong_hit_keys(db: sqlite3.Connection) -> set[HitKey]:
    rows = db.execute("SELECT sha256, start_ms, term FROM desk_hit_marks WHERE verdict = 'wrong'")
    return {HitKey(*r) for r in rows}


EXPORT_COLUMNS = (
    "kind",
    "caller",
    "file",
    "sha256",
    "start_s",
    "term",
    "category",
    "match",
    "heard",
    "role",
    "decision",
    "note",
    "reviewer",
    "at",
)


def export_rows(db: sqlite3.Connection) -> list[dict]:
    """Every current mark as one flat row (hits, customer reviews, tier overrides)."""
    rows = [
        dict(
            zip(
                EXPORT_COLUMNS,
                ("hit", r[0], r[1], r[2], r[3] / 1000, *r[4:9], r[9], "", r[10], r[11]),
                strict=True,
            )
        )
        for r in db.execute(
            "SELECT caller, file, sha256, start_ms, term, category, match, heard, role, verdict, reviewer, "
            "marked_at FROM desk_hit_marks ORDER BY caller, file, start_ms"
        )
    ]
    for caller, outcome, note, reviewer, at in db.execute(
        "SELECT caller, outcome, note, reviewer, reviewed_at FROM desk_customer_reviews ORDER BY caller"
    ):
        rows.append(_blank_row("review", caller, outcome, note, reviewer, at))
    for caller, tier, reason, reviewer, at in db.execute(
        "SELECT caller, tier, reason, reviewer, overridden_at FROM desk_tier_overrides ORDER BY caller"
    ):
        rows.append(_blank_row("tier_override", caller, tier, reason, reviewer, at))
    return rows


def _blank_row(kind: str, caller: str, decision: str, note: str, reviewer: str, at: str) -> dict:
    row = dict.fromkeys(EXPORT_COLUMNS, "")
    row.update(kind=kind, caller=caller, decision=decision, note=note, reviewer=reviewer, at=at)
    return row
