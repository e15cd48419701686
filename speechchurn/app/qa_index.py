"""The desk's read model of the QA (质检) results: qa_calls.csv rows, the QA rows of evidence.jsonl
and one id per agent, copied into ``desk_qa_*`` tables of OUT_DIR/speechchurn.db.

`sync` re-reads a file only when its modification time or size changed (like callers.csv in
`speechchurn.app.index`), so a desk over 10,000 calls checks two ``stat`` calls per refresh. Agent
pages are addressed by ``desk_agents.id``: an agent's id stays the same across syncs, and a request
never names an agent (or a file) directly.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from speechchurn.vocab import QA_UNKNOWN_AGENT

log = logging.getLogger("speechchurn")

QA_CALLS_CSV = "qa_calls.csv"  # outputs.QA_CALLS_CSV (kept literal: importing outputs pulls pandas)
EVIDENCE_JSONL = "evidence.jsonl"  # outputs.EVIDENCE_JSONL
EVIDENCE_KIND = "qa"  # outputs.QA_EVIDENCE_KIND: evidence.jsonl `kind` of QA rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS desk_agents (id INTEGER PRIMARY KEY, agent TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS desk_qa_calls (
    file TEXT PRIMARY KEY, agent_id INTEGER NOT NULL, started_at TEXT, qa_score REAL,
    auto_failed INTEGER NOT NULL, reviewed_by TEXT NOT NULL, row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS desk_qa_calls_agent ON desk_qa_calls (agent_id, started_at);
CREATE TABLE IF NOT EXISTS desk_qa_evidence (
    file TEXT NOT NULL, criterion TEXT NOT NULL, evidence TEXT NOT NULL, PRIMARY KEY (file, criterion)
);
CREATE INDEX IF NOT EXISTS desk_qa_evidence_criterion ON desk_qa_evidence (criterion);
"""


@dataclass(frozen=True)
class QASyncResult:
    calls: int | None  # qa_calls.csv rows indexed; None: unchanged
    evidence: int | None  # QA evidence rows indexed; None: unchanged


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def _stamp(path: Path) -> str:
    if not path.is_file():
        return "missing"
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def _changed(db: sqlite3.Connection, key: str, stamp: str) -> bool:
    seen = db.execute("SELECT value FROM desk_meta WHERE key = ?", (key,)).fetchone()
    return not seen or seen[0] != stamp


def sync(db: sqlite3.Connection, out_dir: Path, force: bool = False) -> QASyncResult:
    """Bring the QA tables up to date with qa_calls.csv and evidence.jsonl (`force`: re-read both)."""
    ensure_schema(db)
    out_dir = Path(out_dir)
    calls_path, evidence_path = out_dir / QA_CALLS_CSV, out_dir / EVIDENCE_JSONL
    calls_stamp, evidence_stamp = _stamp(calls_path), _stamp(evidence_path)
    calls = evidence = None
    if force or _changed(db, "qa_calls_stamp", calls_stamp):
        calls = _write(db, "qa_calls_stamp", calls_stamp, _replace_calls, _qa_rows(calls_path))
    if force or _changed(db, "qa_evidence_stamp", evidence_stamp):
        rows = _evidence(evidence_path)
        evidence = _write(db, "qa_evidence_stamp", evidence_stamp, _replace_evidence, rows)
    if calls is not None or evidence is not None:
        log.info("desk QA index: %s calls, %s evidence rows", calls, evidence)
    return QASyncResult(calls, evidence)


def _write(db: sqlite3.Connection, key: str, stamp: str, replace, rows: list) -> int:
    db.execute("BEGIN IMMEDIATE")
    try:
        replace(db, rows)
        db.execute("INSERT OR REPLACE INTO desk_meta VALUES (?, ?)", (key, stamp))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return len(rows)


def _qa_rows(path: Path) -> list[dict]:
    """qa_calls.csv as records (JSON-safe: missing cells are None); [] when there is none."""
    if not path.is_file():
        return []
    from speechchurn import outputs

    frame = outputs.read_csv(path)
    return json.loads(frame.to_json(orient="records", force_ascii=False)) if len(frame) else []


def _agent_ids(db: sqlite3.Connection, agents: set[str]) -> dict[str, int]:
    db.executemany("INSERT OR IGNORE INTO desk_agents (agent) VALUES (?)", [(a,) for a in sorted(agents)])
    return {agent: i for i, agent in db.execute("SELECT id, agent FROM desk_agents")}


def agent_name(value) -> str:
    text = "" if value is None else str(value).strip()
    return text or QA_UNKNOWN_AGENT


def _replace_calls(db: sqlite3.Connection, rows: list[dict]) -> None:
    db.execute("DELETE FROM desk_qa_calls")
    _replace_calls_of(db, rows)


def _replace_calls_of(db: sqlite3.Connection, rows: list[dict]) -> None:
    ids = _agent_ids(db, {agent_name(r.get("agent")) for r in rows})
    db.executemany(
        "INSERT OR REPLACE INTO desk_qa_calls VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                str(r.get("file", "")),
                ids[agent_name(r.get("agent"))],
                r.get("started_at"),
                r.get("qa_score"),
                int(bool(r.get("qa_auto_failed"))),
                str(r.get("qa_reviewed_by") or ""),
                json.dumps(r, ensure_ascii=False),
            )
            for r in rows
        ],
    )


def _evidence(path: Path) -> list[tuple[str, str, str]]:
    """(file, criterion, row JSON) of every QA row of evidence.jsonl (keyword rows are skipped)."""
    if not path.is_file():
        return []
    rows = []
    with path.open(encoding="utf-8-sig") as handle:
        for line in handle:
            if f'"{EVIDENCE_KIND}"' not in line:  # cheap pre-filter: keyword rows have no kind
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                log.warning("desk QA index: %s: skipped an unreadable line", path)
                continue
            if isinstance(record, dict) and record.get("kind") == EVIDENCE_KIND:
                rows.append((str(record.get("file", "")), str(record.get("criterion", "")), line.strip()))
    return rows


def _replace_evidence(db: sqlite3.Connection, rows: list[tuple[str, str, str]]) -> None:
    db.execute("DELETE FROM desk_qa_evidence")
    db.executemany("INSERT OR REPLACE INTO desk_qa_evidence VALUES (?, ?, ?)", rows)


def replace_call(db: sqlite3.Connection, record: dict, evidence: list[dict]) -> None:
    """One call's qa_calls.csv row and QA evidence rows, as re-scored after an appeal (the files
    themselves are rewritten by a full re-score in the background; their next sync supersedes this)."""
    file = str(record.get("file", ""))
    db.execute("BEGIN IMMEDIATE")
    try:
        _replace_calls_of(db, [record])
        db.execute("DELETE FROM desk_qa_evidence WHERE file = ?", (file,))
        db.executemany(
            "INSERT OR REPLACE INTO desk_qa_evidence VALUES (?, ?, ?)",
            [(file, str(e.get("criterion", "")), json.dumps(e, ensure_ascii=False)) for e in evidence],
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
