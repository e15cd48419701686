"""QA appeals (复核 / 申诉): a reviewer overturns one criterion's result of one call, with a reason.

Appeals are reviewer marks: they live in their own table (``desk_qa_appeals``) of OUT_DIR's store next
to the other marks, so re-running ``analyze`` or ``speechchurn qa`` never touches them. An appeal is
keyed by the recording's sha256 and the criterion id, not the file name: a re-analysed or renamed
recording keeps its appeals. ``speechchurn.qa.run.run_qa`` applies them when it scores, and the
recomputed score carries the reviewer's name (``qa_reviewed_by``). Every appeal is also appended to
``desk_mark_log`` (who, when, what).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from speechchurn.errors import SpeechchurnError

STORE_NAME = "speechchurn.db"  # same file as batch.store.STORE_NAME
BUSY_TIMEOUT_S = 30.0  # s to wait for a write lock held by another reviewer or by analyze
RESULTS = (0, 1)  # an appeal sets a criterion to fail (0) or pass (1)
MAX_REASON_CHARS = 2000
MAX_NAME_CHARS = 64
LOG_KIND = "qa_appeal"  # desk_mark_log.kind of an appeal

SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_qa_appeals (
    sha256 TEXT NOT NULL, criterion TEXT NOT NULL,
    result INTEGER NOT NULL CHECK (result IN (0, 1)),
    reason TEXT NOT NULL, reviewer TEXT NOT NULL, appealed_at TEXT NOT NULL, file TEXT NOT NULL,
    PRIMARY KEY (sha256, criterion)
);
CREATE TABLE IF NOT EXISTS desk_mark_log (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    reviewer TEXT NOT NULL, at TEXT NOT NULL
);
"""


class AppealError(SpeechchurnError):
    """An appeal is invalid: unknown call, bad result, empty reason or reviewer."""


@dataclass(frozen=True)
class Appeal:
    file: str  # the recording's current name in the store
    criterion: str
    result: int  # 1 pass, 0 fail
    reason: str
    reviewer: str
    appealed_at: str  # ISO 8601 UTC


def _connect(out_dir: Path) -> sqlite3.Connection:
    path = Path(out_dir) / STORE_NAME
    if not path.is_file():
        raise AppealError(f"{out_dir}: no result store ({STORE_NAME}); run `speechchurn analyze` first")
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    return db


def _clean(value: object, limit: int, what: str) -> str:
    cleaned = str(value or "").strip()[:limit]
    if not cleaned:
        raise AppealError(f"an appeal needs a {what}")
    return cleaned


def _sha256_of(db: sqlite3.Connection, file: str) -> str:
    row = db.execute("SELECT sha256 FROM files WHERE file = ? AND status = 'done'", (file,)).fetchone()
    if row is None or not row[0]:
        raise AppealError(f"{file!r}: no analysed call of that name")
    return str(row[0])


def record_appeal(
    out_dir: Path, file: str, criterion_id: str, result: int, reason: str, reviewer: str
) -> Appeal:
    """Store (or replace) the reviewer's result for one criterion of one call; returns the appeal.

    The criterion id is not checked against a form here (forms change; an appeal for a criterion the
    current form lacks is simply not applied)."""
    if isinstance(result, bool) or result not in RESULTS:
        raise AppealError(f"appeal result must be 0 (fail) or 1 (pass), got {result!r}")
    reason = _clean(reason, MAX_REASON_CHARS, "reason")
    reviewer = _clean(reviewer, MAX_NAME_CHARS, "reviewer name")
    criterion_id = _clean(criterion_id, MAX_NAME_CHARS, "criterion id")
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    db = _connect(out_dir)
    try:
        sha = _sha256_of(db, file)
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT OR REPLACE INTO desk_qa_appeals VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sha, criterion_id, int(result), reason, reviewer, at, file),
        )
        value = {"file": file, "criterion": criterion_id, "result": int(result), "reason": reason}
        db.execute(
            "INSERT INTO desk_mark_log (kind, key, value, reviewer, at) VALUES (?, ?, ?, ?, ?)",
            (LOG_KIND, f"{sha}:{criterion_id}", json.dumps(value, ensure_ascii=False), reviewer, at),
        )
        db.execute("COMMIT")
    finally:
        db.close()
    return Appeal(file, criterion_id, int(result), reason, reviewer, at)


def load_appeals(out_dir: Path) -> dict[str, dict[str, Appeal]]:
    """file -> criterion id -> Appeal, for every analysed call (matched by content, so renamed and
    re-analysed recordings keep theirs). Empty when there is no store."""
    if not (Path(out_dir) / STORE_NAME).is_file():
        return {}
    db = _connect(out_dir)
    try:
        rows = db.execute(
            "SELECT f.file, a.criterion, a.result, a.reason, a.reviewer, a.appealed_at "
            "FROM desk_qa_appeals a JOIN files f ON f.sha256 = a.sha256 WHERE f.status = 'done' "
            "ORDER BY f.file, a.criterion"
        ).fetchall()
    finally:
        db.close()
    appeals: dict[str, dict[str, Appeal]] = {}
    for file, criterion, result, reason, reviewer, at in rows:
        appeals.setdefault(file, {})[criterion] = Appeal(file, criterion, int(result), reason, reviewer, at)
    return appeals
