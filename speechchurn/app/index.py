"""The desk's read model: calls, segments, hits and customers copied from the store into ``desk_*``
tables, with an SQLite FTS5 index over jieba tokens of every transcript line.

The index lives in OUT_DIR/speechchurn.db beside the store's tables. `sync` is incremental: a call is
re-read only when its store ``run_key`` changed (re-analysis), and the customers only when callers.csv
changed, so a server over 10,000 calls starts in seconds after the first time and every page is a few
indexed queries. Call ids (``desk_calls.id``) stay the same for unchanged files.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from speechchurn.text.redact import hash_caller

log = logging.getLogger("speechchurn")

CALLERS_CSV = "callers.csv"  # outputs.CALLERS_CSV (kept literal: importing outputs pulls pandas)
SEARCH_LIMIT = 100  # transcript lines per search page
QUEUE_PAGE_SIZE = 50  # customers per queue page
MAX_QUERY_TOKENS = 12  # jieba tokens kept of a search query

SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS desk_calls (
    id INTEGER PRIMARY KEY, file TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, run_key TEXT,
    caller TEXT, started_at TEXT, duration_s REAL, direction TEXT, row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS desk_calls_caller ON desk_calls (caller, started_at);
CREATE INDEX IF NOT EXISTS desk_calls_sha ON desk_calls (sha256);
CREATE TABLE IF NOT EXISTS desk_segments (
    id INTEGER PRIMARY KEY, call_id INTEGER NOT NULL, seq INTEGER NOT NULL, role TEXT,
    start REAL, "end" REAL, text TEXT
);
CREATE INDEX IF NOT EXISTS desk_segments_call ON desk_segments (call_id, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS desk_fts USING fts5(tokens, tokenize = 'unicode61');
CREATE TABLE IF NOT EXISTS desk_hits (
    id INTEGER PRIMARY KEY, call_id INTEGER NOT NULL, seq INTEGER NOT NULL, caller TEXT,
    sha256 TEXT NOT NULL, start_ms INTEGER NOT NULL, term TEXT NOT NULL, hit TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS desk_hits_call ON desk_hits (call_id, seq);
CREATE INDEX IF NOT EXISTS desk_hits_caller ON desk_hits (caller);
CREATE TABLE IF NOT EXISTS desk_callers (
    caller TEXT PRIMARY KEY, queue_rank INTEGER, tier TEXT, score REAL, churn_risk TEXT,
    warning_level TEXT, calls INTEGER, row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS desk_callers_rank ON desk_callers (queue_rank);
"""


@dataclass(frozen=True)
class SyncResult:
    calls_updated: int
    calls_removed: int
    callers: int | None  # None: callers.csv unchanged


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def tokens(text: str) -> list[str]:
    """jieba search-mode tokens of `text`, lower-cased, without punctuation or spaces."""
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter is not ours to print
    words = (w.strip().lower() for w in jieba.cut_for_search(str(text)))
    return [w for w in words if w and re.search(r"\w", w)]


def sync(db: sqlite3.Connection, out_dir: Path, caller_salt: str | None = None) -> SyncResult:
    """Bring the desk tables up to date with the store and callers.csv.

    `caller_salt`: the `--hash-callers` salt the outputs were written with; callers.csv's hashed keys
    are mapped back to the store's callers so customers and their calls join again."""
    ensure_schema(db)
    updated, removed = _sync_calls(db)
    callers = _sync_callers(db, Path(out_dir), caller_salt)
    return SyncResult(updated, removed, callers)


def _sync_calls(db: sqlite3.Connection) -> tuple[int, int]:
    store = {
        f: (sha, key)
        for f, sha, key in db.execute(
            "SELECT f.file, f.sha256, f.run_key FROM files f JOIN calls c USING (file) "
            "WHERE f.status = 'done'"
        )
    }
    desk = {f: (i, key) for i, f, key in db.execute("SELECT id, file, run_key FROM desk_calls")}
    changed = [f for f, (_, key) in store.items() if f not in desk or desk[f][1] != key]
    gone = [desk[f][0] for f in desk if f not in store]
    db.execute("BEGIN IMMEDIATE")
    try:
        for call_id in gone:
            _drop_call(db, call_id)
        db.executemany("DELETE FROM desk_calls WHERE id = ?", [(i,) for i in gone])
        for file in changed:
            _index_call(db, file, *store[file], desk.get(file, (None, None))[0])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    if changed or gone:
        log.info("desk index: %d calls indexed, %d removed", len(changed), len(gone))
    return len(changed), len(gone)


def _drop_call(db: sqlite3.Connection, call_id: int) -> None:
    db.execute(
        "DELETE FROM desk_fts WHERE rowid IN (SELECT id FROM desk_segments WHERE call_id = ?)", (call_id,)
    )
    db.execute("DELETE FROM desk_segments WHERE call_id = ?", (call_id,))
    db.execute("DELETE FROM desk_hits WHERE call_id = ?", (call_id,))


def _index_call(db: sqlite3.Connection, file: str, sha: str, run_key: str, call_id: int | None) -> None:
    row_json, segments_json = db.execute(
        "SELECT c.row, t.segments FROM calls c JOIN transcripts t ON t.cache_key = c.transcript_key "
        "WHERE c.file = ?",
        (file,),
    ).fetchone()
    row = json.loads(row_json)
    fields = (sha, run_key, str(row.get("caller", "")), row.get("started_at"), row.get("duration_s"))
    if call_id is None:
        call_id = db.execute(
            "INSERT INTO desk_calls (file, sha256, run_key, caller, started_at, duration_s, direction, row) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (file, *fields, row.get("direction"), row_json),
        ).lastrowid
    else:
        _drop_call(db, call_id)
        db.execute(
            "UPDATE desk_calls SET sha256=?, run_key=?, caller=?, started_at=?, duration_s=?, direction=?, "
            "row=? WHERE id=?",
            (*fields, row.get("direction"), row_json, call_id),
        )
    for seq, seg in enumerate(json.loads(segments_json)):
        seg_id = db.execute(
            'INSERT INTO desk_segments (call_id, seq, role, start, "end", text) VALUES (?, ?, ?, ?, ?, ?)',
            (call_id, seq, seg.get("role"), seg.get("start"), seg.get("end"), seg.get("text", "")),
        ).lastrowid
        db.execute(
            "INSERT INTO desk_fts (rowid, tokens) VALUES (?, ?)",
            (seg_id, " ".join(tokens(seg.get("text", "")))),
        )
    hits = db.execute("SELECT seq, hit FROM evidence WHERE file = ? ORDER BY seq", (file,)).fetchall()
    db.executemany(
        "INSERT INTO desk_hits (call_id, seq, caller, sha256, start_ms, term, hit) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [_hit_values(call_id, seq, text, sha) for seq, text in hits],
    )


def _hit_values(call_id: int, seq: int, text: str, sha: str) -> tuple:
    hit = json.loads(text)
    start_ms = round(float(hit.get("start", 0.0)) * 1000)
    return (call_id, seq, str(hit.get("caller", "")), sha, start_ms, str(hit.get("term", "")), text)


def _sync_callers(db: sqlite3.Connection, out_dir: Path, caller_salt: str | None) -> int | None:
    path = out_dir / CALLERS_CSV
    stamp = f"{path.stat().st_mtime_ns}:{path.stat().st_size}" if path.is_file() else "missing"
    stamp += f":{_salt_tag(caller_salt)}"
    seen = db.execute("SELECT value FROM desk_meta WHERE key = 'callers_stamp'").fetchone()
    if seen and seen[0] == stamp:
        return None
    unhash = _unhasher(db, caller_salt)
    rows = _caller_rows(path, unhash) if path.is_file() else []
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM desk_callers")
        db.executemany("INSERT INTO desk_callers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("INSERT OR REPLACE INTO desk_meta VALUES ('callers_stamp', ?)", (stamp,))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return len(rows)


def _salt_tag(salt: str | None) -> str:
    import hashlib

    return hashlib.sha256(salt.encode("utf-8")).hexdigest()[:8] if salt else "raw"


def _unhasher(db: sqlite3.Connection, salt: str | None) -> dict[str, str]:
    """hashed caller -> store caller, for outputs written with --hash-callers (empty without a salt)."""
    if not salt:
        return {}

    callers = [r[0] for r in db.execute("SELECT DISTINCT caller FROM desk_calls")]
    return {hash_caller(c, salt): c for c in callers}


def _caller_rows(path: Path, unhash: dict[str, str]) -> list[tuple]:
    """callers.csv as desk_callers rows; queue_rank follows the review queue's severity order."""
    from speechchurn import outputs  # lazy: numpy, pandas (start-up stays light)
    from speechchurn.customers.review import select_for_review  # lazy: numpy, pandas (start-up stays light)

    graded = outputs.read_csv(path)
    if graded.empty:
        return []
    graded["caller"] = graded["caller"].astype(str).map(lambda c: unhash.get(c, c))
    ranks = {c: i for i, c in enumerate(select_for_review(graded)["caller"].astype(str), 1)}
    records = json.loads(graded.to_json(orient="records", force_ascii=False))
    return [
        (
            r["caller"],
            ranks.get(r["caller"]),
            r.get("tier"),
            r.get("score"),
            r.get("churn_risk"),
            r.get("warning_level"),
            r.get("calls"),
            json.dumps(r, ensure_ascii=False),
        )
        for r in records
    ]


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression: every jieba token of `text` as a quoted phrase (AND), or None."""
    words = tokens(text)[:MAX_QUERY_TOKENS]
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)
