"""The result store: one SQLite database in OUT_DIR.

It holds per-file status (pending / done / failed with a reason), the content hash, cached
transcripts (keyed by audio sha256 + engine + model + decoding options), per-call features and
keyword evidence. Each file's results are committed in one transaction, so a killed run loses
at most the file in flight, and the CSV/JSONL outputs can always be re-exported from here.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from speechchurn.batch.worker import CallRecord, Failure
from speechchurn.errors import StoreError
from speechchurn.schema import Segment
from speechchurn.vocab import DEFAULT_TIMEZONE

STORE_NAME = "speechchurn.db"
SCHEMA_VERSION = "1"
BUSY_TIMEOUT_S = 30.0  # s to wait for a lock held by another process

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    file TEXT PRIMARY KEY,
    sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    reason TEXT,
    run_key TEXT,
    audio_s REAL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transcripts (
    cache_key TEXT PRIMARY KEY,
    segments TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    file TEXT PRIMARY KEY,
    transcript_key TEXT NOT NULL,
    row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (file TEXT NOT NULL, seq INTEGER NOT NULL, hit TEXT NOT NULL,
    PRIMARY KEY (file, seq));
"""


@dataclass(frozen=True)
class FileState:
    file: str
    sha256: str | None
    status: str
    reason: str | None
    run_key: str | None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    """Thin wrapper over the SQLite file. Use as a context manager."""

    def __init__(self, out_dir: Path, create: bool = True):
        self.path = Path(out_dir) / STORE_NAME
        if not create and not self.path.is_file():
            raise StoreError(f"{out_dir}: no result store ({STORE_NAME}); run `speechchurn analyze` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: not a usable result store ({e})") from e

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- file status -------------------------------------------------------------------------

    def file_states(self) -> dict[str, FileState]:
        rows = self.db.execute("SELECT file, sha256, status, reason, run_key FROM files")
        return {r[0]: FileState(*r) for r in rows}

    def mark_pending(self, files: Iterable[tuple[str, str]]) -> None:
        """Register (file, sha256) pairs not yet done with this content as pending."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO files (file, sha256, status, updated_at) VALUES (?, ?, 'pending', ?) "
                "ON CONFLICT(file) DO UPDATE SET sha256=excluded.sha256, status='pending', reason=NULL, "
                "updated_at=excluded.updated_at WHERE files.sha256 IS NOT excluded.sha256 "
                "OR files.status != 'done'",
                [(f, sha, _now()) for f, sha in files],
            )

    def forget(self, files: Iterable[str]) -> None:
        """Drop files that no longer exist in the audio folder."""
        with self.transaction() as db:
            for file in files:
                for table in ("files", "calls", "evidence"):
                    db.execute(f"DELETE FROM {table} WHERE file = ?", (file,))

    def record_failure(self, file: str, sha256: str | None, reason: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM calls WHERE file = ?", (file,))
            db.execute("DELETE FROM evidence WHERE file = ?", (file,))
            db.execute(
                "INSERT OR REPLACE INTO files (file, sha256, status, reason, updated_at) "
                "VALUES (?, ?, 'failed', ?, ?)",
                (file, sha256, reason, _now()),
            )

    def record_call(self, result: CallRecord) -> None:
        """Commit one file's transcript, features and evidence together."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO transcripts VALUES (?, ?, ?)",
                (
                    result.transcript_key,
                    json.dumps([s.to_dict() for s in result.segments], ensure_ascii=False),
                    _now(),
                ),
            )
            db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?)",
                (result.file, result.transcript_key, json.dumps(result.row, ensure_ascii=False)),
            )
            db.execute("DELETE FROM evidence WHERE file = ?", (result.file,))
            db.executemany(
                "INSERT INTO evidence VALUES (?, ?, ?)",
                [(result.file, i, json.dumps(h, ensure_ascii=False)) for i, h in enumerate(result.hits)],
            )
            db.execute(
                "INSERT OR REPLACE INTO files (file, sha256, status, reason, run_key, audio_s, updated_at) "
                "VALUES (?, ?, 'done', NULL, ?, ?, ?)",
                (result.file, result.sha256, result.run_key, result.audio_s, _now()),
            )

    # --- transcript cache --------------------------------------------------------------------

    def cached_segments(self, cache_key: str) -> list[Segment] | None:
        row = self.db.execute("SELECT segments FROM transcripts WHERE cache_key = ?", (cache_key,)).fetchone()
        return None if row is None else [Segment.from_dict(d) for d in json.loads(row[0])]

    # --- exports -----------------------------------------------------------------------------

    def call_rows(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT c.row FROM calls c JOIN files f USING (file) WHERE f.status = 'done' ORDER BY c.file"
        )
        return [json.loads(r[0]) for r in rows]

    def transcripts(self) -> Iterator[tuple[str, list[dict]]]:
        rows = self.db.execute(
            "SELECT c.file, t.segments FROM calls c JOIN files f USING (file) "
            "JOIN transcripts t ON t.cache_key = c.transcript_key WHERE f.status = 'done' ORDER BY c.file"
        )
        for file, segments in rows:
            yield file, json.loads(segments)

    def evidence_rows(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT e.hit FROM evidence e JOIN files f USING (file) WHERE f.status = 'done' "
            "ORDER BY e.file, e.seq"
        )
        return [json.loads(r[0]) for r in rows]

    def failures(self) -> list[Failure]:
        rows = self.db.execute("SELECT file, reason FROM files WHERE status = 'failed' ORDER BY file")
        return [Failure(f, r) for f, r in rows]

    def status_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None


def load_calls(out_dir: Path, timezone: str = DEFAULT_TIMEZONE):
    """The per-call features of the store in `out_dir`, typed for aggregation (times in `timezone`)."""
    import pandas as pd  # heavy: only grading needs it, not the workers that import this module

    with Store(out_dir, create=False) as store:
        calls = pd.DataFrame(store.call_rows())
    if not calls.empty:
        started = pd.to_datetime(calls["started_at"], format="ISO8601", utc=True)
        calls["started_at"] = started.dt.tz_convert(timezone)
    return calls


def load_evidence(out_dir: Path):
    """The stored keyword hits of the finished files (evidence.jsonl's rows) as a DataFrame."""
    import pandas as pd  # heavy: see load_calls

    with Store(out_dir, create=False) as store:
        return pd.DataFrame(store.evidence_rows())
