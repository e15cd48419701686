"""The result store: one SQLite database in OUT_DIR.

It holds per-file status (pending / done / failed with a reason), the content hash, cached
transcripts (keyed by audio sha256 + engine + model + decoding options), per-call features and
keyword evidence. Each file's results are committed in one transaction, so a killed run loses
at most the file in flight, and the CSV/JSONL outputs can always be re-exported from here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from speechchurn.batch import tombstones
from speechchurn.batch.worker import CallRecord, Failure
from speechchurn.errors import OutDirError, StoreError, StoreLockedError
from speechchurn.filenames import printable_text
from speechchurn.schema import Segment
from speechchurn.vocab import DEFAULT_TIMEZONE, QA_FAILED_COLUMN, QA_SCORE_COLUMN

STORE_NAME = "speechchurn.db"
LOCK_NAME = ".speechchurn.lock"  # held by the run writing OUT_DIR (store_lock)
HOLDER_NAME = ".speechchurn.lock.json"  # who holds it: command, pid, host, since
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
CREATE TABLE IF NOT EXISTS raw_names (file TEXT PRIMARY KEY, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS qa_scores (file TEXT PRIMARY KEY, qa_score REAL, qa_failed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS qa_text_hits (fingerprint TEXT NOT NULL, text TEXT NOT NULL, hits TEXT NOT NULL,
    PRIMARY KEY (fingerprint, text));
"""
# raw_names: the exact bytes of file names that are not UTF-8 (`file` is their printable form,
# speechchurn/filenames.py); valid UTF-8 names have no row.


@dataclass(frozen=True)
class FileState:
    file: str
    sha256: str | None
    status: str
    reason: str | None
    run_key: str | None


log = logging.getLogger("speechchurn")


@contextmanager
def store_lock(out_dir: Path, command: str, wait: bool = False) -> Iterator[None]:
    """Hold OUT_DIR's exclusive lock for one run (`command` names it to anyone who finds it taken).

    A second run refuses with a one-line StoreLockedError naming the holder, or with `wait` logs that
    it waits and blocks until the holder ends. The lock is an OS file lock (flock), so a killed run
    leaves no stale lock behind.
    """
    from filelock import FileLock, Timeout

    out_dir = Path(out_dir)
    lock = FileLock(out_dir / LOCK_NAME, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _lock_holder(out_dir)
        if not wait:
            raise StoreLockedError(
                f"{out_dir} is in use by {holder}; run again when it has finished, or pass --wait to queue"
            ) from None
        log.warning("%s is in use by %s; waiting for it to finish (--wait)", out_dir, holder)
        lock.acquire()
    try:
        _write_holder(out_dir, command)
        yield
    finally:
        (out_dir / HOLDER_NAME).unlink(missing_ok=True)
        lock.release()


def _write_holder(out_dir: Path, command: str) -> None:
    holder = {"command": command, "pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
    (out_dir / HOLDER_NAME).write_text(json.dumps(holder), encoding="utf-8")


def _lock_holder(out_dir: Path) -> str:
    try:
        holder = json.loads((out_dir / HOLDER_NAME).read_text(encoding="utf-8"))
        where = f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
        return f"another `speechchurn {holder['command']}` ({where})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another speechchurn run"


def _json(value) -> str:
    """JSON text for a column; any undecodable file-name bytes inside are escaped, never fatal."""
    return json.dumps(_printable(value), ensure_ascii=False)


def _printable(value):
    if isinstance(value, str):
        return printable_text(value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    """Thin wrapper over the SQLite file. Use as a context manager."""

    def __init__(self, out_dir: Path, create: bool = True):
        self.path = Path(out_dir) / STORE_NAME
        if not create and not self.path.is_file():
            raise StoreError(f"{out_dir}: no result store ({STORE_NAME}); run `speechchurn analyze` first")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutDirError(f"{out_dir}: cannot create the output folder ({e.strerror or e})") from e
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
                [(printable_text(f), sha, _now()) for f, sha in files],
            )

    def record_raw_names(self, names: dict[str, bytes]) -> None:
        """Keep the exact bytes of file names that are not UTF-8, keyed by their printable name."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO raw_names VALUES (?, ?)", list(names.items()))

    def raw_name(self, file: str) -> bytes | None:
        row = self.db.execute("SELECT raw FROM raw_names WHERE file = ?", (file,)).fetchone()
        return None if row is None else bytes(row[0])

    def forget(self, files: Iterable[str]) -> None:
        """Drop files that no longer exist in the audio folder."""
        with self.transaction() as db:
            for file in files:
                for table in ("files", "calls", "evidence", "raw_names", "qa_scores"):
                    db.execute(f"DELETE FROM {table} WHERE file = ?", (file,))

    def record_failure(self, file: str, sha256: str | None, reason: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM calls WHERE file = ?", (file,))
            db.execute("DELETE FROM evidence WHERE file = ?", (file,))
            db.execute(
                "INSERT OR REPLACE INTO files (file, sha256, status, reason, updated_at) "
                "VALUES (?, ?, 'failed', ?, ?)",
                (printable_text(file), sha256, printable_text(reason), _now()),
            )

    def record_call(self, result: CallRecord) -> bool:
        """Commit one file's transcript, features and evidence together; False (nothing stored) when
        the caller was forgotten or the call is before the retention cut-off meanwhile (`forget`)."""
        with self.transaction() as db:
            if tombstones.is_excluded(db, str(result.row.get("caller", "")), result.row.get("started_at")):
                db.execute("DELETE FROM files WHERE file = ?", (result.file,))
                return False
            db.execute(
                "INSERT OR IGNORE INTO transcripts VALUES (?, ?, ?)",
                (
                    result.transcript_key,
                    _json([s.to_dict() for s in result.segments]),
                    _now(),
                ),
            )
            db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?)",
                (result.file, result.transcript_key, _json(result.row)),
            )
            db.execute("DELETE FROM evidence WHERE file = ?", (result.file,))
            db.executemany(
                "INSERT INTO evidence VALUES (?, ?, ?)",
                [(result.file, i, _json(h)) for i, h in enumerate(result.hits)],
            )
            db.execute(
                "INSERT OR REPLACE INTO files (file, sha256, status, reason, run_key, audio_s, updated_at) "
                "VALUES (?, ?, 'done', NULL, ?, ?, ?)",
                (result.file, result.sha256, result.run_key, result.audio_s, _now()),
            )
        return True

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

    # --- QA scores (speechchurn/qa): what grading needs of the last `speechchurn qa` run ----------

    def replace_qa_scores(self, rows: Iterable[tuple[str, float | None, int]]) -> None:
        """Replace every stored (file, qa_score, qa_failed) with `rows`."""
        with self.transaction() as db:
            db.execute("DELETE FROM qa_scores")
            db.executemany("INSERT INTO qa_scores VALUES (?, ?, ?)", rows)

    def qa_scores(self) -> dict[str, tuple[float | None, int]]:
        """file -> (qa_score, qa_failed) of the analysed calls (empty before the first QA run)."""
        rows = self.db.execute(
            "SELECT q.file, q.qa_score, q.qa_failed FROM qa_scores q JOIN files f USING (file) "
            "WHERE f.status = 'done'"
        )
        return {file: (score, failed) for file, score, failed in rows}

    def qa_text_hits(self, fingerprint: str, texts: Iterable[str]) -> dict[str, tuple]:
        """Cached QA phrase hits of segment texts for one phrase set (speechchurn/qa/run.py)."""
        wanted = set(texts)
        rows = self.db.execute("SELECT text, hits FROM qa_text_hits WHERE fingerprint = ?", (fingerprint,))
        return {t: tuple(tuple(h) for h in json.loads(h)) for t, h in rows if t in wanted}

    def add_qa_text_hits(self, fingerprint: str, items: Iterable[tuple[str, tuple]]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO qa_text_hits VALUES (?, ?, ?)",
                ((fingerprint, t, json.dumps(h, ensure_ascii=False)) for t, h in items),
            )

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, printable_text(value)))

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None


def load_calls(out_dir: Path, timezone: str = DEFAULT_TIMEZONE):
    """The per-call features of the store in `out_dir`, typed for aggregation (times in `timezone`)."""
    import pandas as pd  # heavy: only grading needs it, not the workers that import this module

    with Store(out_dir, create=False) as store:
        calls = pd.DataFrame(store.call_rows())
        qa = store.qa_scores()
    if not calls.empty and qa:  # the last QA run's results (speechchurn/qa): qa_failed_calls, qa_score_min
        files = calls["file"].astype(str)
        calls[QA_SCORE_COLUMN] = files.map(lambda f: qa.get(f, (None, 0))[0]).astype("float64")
        calls[QA_FAILED_COLUMN] = files.map(lambda f: qa.get(f, (None, 0))[1]).astype("int64")
    if not calls.empty:
        started = pd.to_datetime(calls["started_at"], format="ISO8601", utc=True)
        calls["started_at"] = started.dt.tz_convert(timezone)
    return calls


def load_evidence(out_dir: Path):
    """The stored keyword hits of the finished files (evidence.jsonl's rows) as a DataFrame."""
    import pandas as pd  # heavy: see load_calls

    with Store(out_dir, create=False) as store:
        return pd.DataFrame(store.evidence_rows())
