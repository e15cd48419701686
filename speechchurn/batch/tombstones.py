"""Tombstones of forgotten customers, so that re-running `analyze` does not bring them back.

`speechchurn forget --caller N` deletes a customer from OUT_DIR and leaves a tombstone: the caller key
as an HMAC-SHA256 under a random salt kept in the store (meta ``tombstone_salt``), never the number
itself. `analyze` skips every recording whose caller has a tombstone, however often it is re-run with
the audio still in the folder. `forget --before DATE` leaves a retention cut-off (meta
``retention_before``): recordings that started before it are skipped the same way.

Lifting: ``speechchurn forget OUT_DIR --caller N --lift`` removes the caller's tombstone and
``speechchurn forget OUT_DIR --lift-retention`` the cut-off; the next `analyze` analyses those
recordings again. A salted hash of a phone number can be matched by whoever holds the store and tries
every number; it keeps the number out of plain sight (dumps, backups, logs), it is not anonymity.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Callable

SALT_KEY = "tombstone_salt"  # store meta: hex salt of the tombstone hashes (made on first use)
RETENTION_KEY = "retention_before"  # store meta: ISO time; recordings started earlier are skipped
SALT_BYTES = 16
TOMBSTONE_TABLE = (
    "CREATE TABLE IF NOT EXISTS forgotten_callers (caller_hash TEXT PRIMARY KEY, forgotten_at TEXT NOT NULL)"
)


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _salt(db: sqlite3.Connection) -> str:
    salt = _meta(db, SALT_KEY)
    if salt is None:
        salt = secrets.token_hex(SALT_BYTES)
        db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (SALT_KEY, salt))
        salt = _meta(db, SALT_KEY) or salt  # another process may have made one first
    return salt


def tombstone_hash(db: sqlite3.Connection, caller: str) -> str:
    """The caller's tombstone key: HMAC-SHA256 of the caller key under the store's salt (hex)."""
    return hmac.new(bytes.fromhex(_salt(db)), str(caller).encode("utf-8"), hashlib.sha256).hexdigest()


def bury(db: sqlite3.Connection, caller: str, at: str) -> None:
    """Leave a tombstone for `caller` (inside the caller's transaction)."""
    db.execute(TOMBSTONE_TABLE)  # one statement: stays inside the caller's transaction
    db.execute("INSERT OR IGNORE INTO forgotten_callers VALUES (?, ?)", (tombstone_hash(db, caller), at))


def lift(db: sqlite3.Connection, caller: str) -> bool:
    """Remove `caller`'s tombstone; False when there was none."""
    if not _has_table(db) or _meta(db, SALT_KEY) is None:
        return False
    gone = db.execute("DELETE FROM forgotten_callers WHERE caller_hash = ?", (tombstone_hash(db, caller),))
    return gone.rowcount > 0


def count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM forgotten_callers").fetchone()[0] if _has_table(db) else 0


def set_retention(db: sqlite3.Connection, before: dt.datetime) -> dt.datetime:
    """Keep the later of `before` and an existing cut-off; the cut-off in force."""
    current = retention_cutoff(db)
    cutoff = before if current is None or before > current else current
    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (RETENTION_KEY, cutoff.isoformat()))
    return cutoff


def lift_retention(db: sqlite3.Connection) -> bool:
    return db.execute("DELETE FROM meta WHERE key = ?", (RETENTION_KEY,)).rowcount > 0


def retention_cutoff(db: sqlite3.Connection) -> dt.datetime | None:
    text = _meta(db, RETENTION_KEY)
    return dt.datetime.fromisoformat(text) if text else None


def excluder(db: sqlite3.Connection) -> Callable[[str, dt.datetime], bool]:
    """A test `(caller, started_at) -> True` for recordings `analyze` must skip (forgotten callers,
    recordings before the retention cut-off); one query for the whole batch."""
    hashes = (
        {r[0] for r in db.execute("SELECT caller_hash FROM forgotten_callers")} if _has_table(db) else set()
    )
    cutoff = retention_cutoff(db)
    salt = bytes.fromhex(_meta(db, SALT_KEY) or "") if hashes else b""

    def excluded(caller: str, started_at: dt.datetime) -> bool:
        if cutoff is not None and started_at < cutoff:
            return True
        if not hashes:
            return False
        return hmac.new(salt, str(caller).encode("utf-8"), hashlib.sha256).hexdigest() in hashes

    return excluded


def is_excluded(db: sqlite3.Connection, caller: str, started_at: str | None) -> bool:
    """Whether a finished call (its stored row's caller and ISO start) must not be stored: one indexed
    lookup, made inside the storing transaction so a `forget` that ran meanwhile is seen."""
    cutoff = retention_cutoff(db)
    if cutoff is not None and started_at:
        try:
            if dt.datetime.fromisoformat(started_at) < cutoff:
                return True
        except (TypeError, ValueError):  # a naive or odd time: the cut-off cannot judge it
            pass
    if not _has_table(db) or _meta(db, SALT_KEY) is None:
        return False
    found = db.execute("SELECT 1 FROM forgotten_callers WHERE caller_hash = ?", (tombstone_hash(db, caller),))
    return found.fetchone() is not None


def _has_table(db: sqlite3.Connection) -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'forgotten_callers'")
    return found.fetchone() is not None
