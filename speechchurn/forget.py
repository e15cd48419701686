"""Forget customers (personal-data deletion, PIPL / GDPR) and purge old calls (retention).

`forget(out_dir, ForgetRequest(callers=("13800000001",)))` deletes, in one store transaction, every
trace of those customers: their calls, transcripts, keyword evidence and features, the reviewers'
marks, reviews and tier overrides (and their log lines), and the desk's index rows; it leaves a
tombstone of each caller (batch/tombstones.py) so that a rerun of `analyze` does not bring them back.
`ForgetRequest(before=date)` purges every call that started before that day the same way and leaves
a retention cut-off. The store is then vacuumed (SQLite's secure_delete on, FTS merged) so deleted
text does not linger in free pages, and every output is rewritten from what is left by the one
grading run (grading_run.run_grading with the last run's options), protected as the last run's were.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from speechchurn import outputs
from speechchurn.batch import tombstones
from speechchurn.batch.pipeline import export_outputs
from speechchurn.batch.store import Store, store_lock
from speechchurn.errors import ConfigError, ReportError, SpeechchurnError
from speechchurn.grading_run import last_options, last_privacy, run_grading
from speechchurn.privacy import PrivacyOptions
from speechchurn.qa.run import run_qa
from speechchurn.review.marks import EXPORT_COLUMNS, MARKS_CSV, connect, export_rows
from speechchurn.text.redact import hash_caller
from speechchurn.vocab import DEFAULT_TIMEZONE

log = logging.getLogger("speechchurn")

# desk tables (speechchurn/app) holding a caller or a file: deleted by name, when they exist
MARK_TABLES_BY_CALLER = ("desk_customer_reviews", "desk_tier_overrides")
DESK_INDEX_BY_FILE = "desk_calls"
DESK_INDEX_BY_CALLER = ("desk_hits", "desk_callers")
DESK_CALLERS_STAMP = "callers_stamp"  # desk_meta key: forces the desk to re-read callers.csv
# what the grading run writes (report/html.py REPORT_HTML, report/workbook.py WORKBOOK_XLSX: floor 4)
GRADED_OUTPUTS = (outputs.CALLERS_CSV, outputs.REVIEW_CSV, "report.html", "callers.xlsx")


@dataclass(frozen=True)
class ForgetRequest:
    callers: tuple[str, ...] = ()  # caller keys as written anywhere (normalised here)
    before: dt.date | None = None  # purge calls that started before this day (retention)
    timezone: str = DEFAULT_TIMEZONE  # the day `before` starts in
    delete_audio: bool = False  # also delete the recordings under audio_root
    audio_root: Path | None = None  # default: the folder `analyze` recorded
    privacy: PrivacyOptions | None = None  # as the analysis: --hash-callers SALT is needed when it hashed
    wait: bool = False  # wait for a run that holds OUT_DIR's lock instead of refusing


@dataclass(frozen=True)
class ForgetResult:
    callers: tuple[str, ...]
    files: tuple[str, ...]  # recordings whose calls were removed from the store
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    audio_deleted: tuple[Path, ...] = ()
    retention_before: dt.datetime | None = None
    rewritten: tuple[Path, ...] = ()  # the outputs written again without them


def caller_keys(raw: Iterable[str]) -> tuple[str, ...]:
    """Each --caller as the key `analyze` stores (phones.caller_key); ConfigError for an unusable one."""
    from speechchurn.call.phones import caller_key, normalize_phone

    keys = []
    for text in raw:
        key = caller_key(text) or normalize_phone(text)
        if key in ("", "unknown"):
            raise ConfigError(f"--caller {text!r}: not a caller key")
        keys.append(key)
    return tuple(dict.fromkeys(keys))


def forget(out_dir: Path, request: ForgetRequest) -> ForgetResult:
    """Delete the callers / old calls of `request` from the store and rewrite every output."""
    if not request.callers and request.before is None:
        raise ConfigError("name what to forget: --caller N and/or --before DATE")
    out_dir = Path(out_dir)
    callers = caller_keys(request.callers)
    privacy = _privacy(out_dir, request.privacy)  # checked before anything is deleted
    hashed = tuple(hash_caller(c, privacy.caller_salt) for c in callers) if privacy.caller_salt else ()
    cutoff = _day_start(request.before, request.timezone) if request.before else None
    with store_lock(out_dir, "forget", request.wait):
        return _forget_locked(out_dir, request, callers, privacy, hashed, cutoff)


def _forget_locked(out_dir, request, callers, privacy, hashed, cutoff) -> ForgetResult:
    with Store(out_dir, create=False) as store:
        db = store.db
        db.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not left in free pages
        root = _audio_root(db, request.audio_root) if request.delete_audio else None
        with store.transaction():
            files, shas = _doomed_files(db, callers, cutoff)
            counts = _delete(db, files, shas, callers + hashed)
            at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            for caller in callers:
                tombstones.bury(db, caller, at)
            retention = tombstones.set_retention(db, cutoff) if cutoff else None
        _compact(db)
    deleted = _delete_audio(root, files) if root is not None else ()
    log.info("forgot %d callers, %d recordings", len(callers), len(files))
    rewritten = rewrite_outputs(out_dir, privacy)
    return ForgetResult(callers, tuple(files), counts, deleted, retention, rewritten)


def _privacy(out_dir: Path, given: PrivacyOptions | None) -> PrivacyOptions:
    """The protection to rewrite with: the last run's redaction kept on; its hashing needs the salt."""
    given = given or PrivacyOptions()
    redacted, hashed = last_privacy(out_dir)
    if hashed and not given.caller_salt:
        raise ConfigError(
            f"{out_dir}: the outputs were written with --hash-callers; pass the same --hash-callers SALT "
            "so that they are rewritten hashed (nothing was deleted)"
        )
    return dataclasses.replace(given, redact=given.redact or redacted)


def rewrite_outputs(out_dir: Path, privacy: PrivacyOptions | None = None) -> tuple[Path, ...]:
    """Every output of `out_dir` again from the store: the exports, then the one grading run with the
    last run's options (callers.csv, review.csv, report.html, callers.xlsx, every output protected),
    then marks.csv when one was exported."""
    out_dir = Path(out_dir)
    with Store(out_dir, create=False) as store:
        export_outputs(store, out_dir)
    exported = (outputs.CALLS_CSV, outputs.TRANSCRIPTS_JSONL, outputs.EVIDENCE_JSONL, outputs.ERRORS_CSV)
    if (out_dir / outputs.QA_CALLS_CSV).exists():  # the scorecards (and their evidence rows) again
        exported += tuple(p.name for p in run_qa(out_dir).paths)
    options = dataclasses.replace(
        last_options(out_dir), privacy=privacy or PrivacyOptions(), privacy_tables=None, reports=True
    )
    try:
        result = run_grading(out_dir, options)
    except SpeechchurnError as e:  # a rules / model file of the last run is gone, ...
        stale = [out_dir / name for name in GRADED_OUTPUTS if (out_dir / name).exists()]
        for path in stale:  # they still name the forgotten: better no file than that one
            path.unlink()
        raise ReportError(
            f"{out_dir}: removed from the store, but the grading run failed ({e}); deleted "
            f"{', '.join(p.name for p in stale) or 'nothing'}: fix that and run `speechchurn grade` again"
        ) from e
    return (*(out_dir / name for name in exported), *result.written, *_rewrite_marks_export(out_dir))


def _rewrite_marks_export(out_dir: Path) -> tuple[Path, ...]:
    """marks.csv (`speechchurn marks export`) again, when there is one: the forgotten marks are gone."""
    import pandas as pd

    path = out_dir / MARKS_CSV
    if not path.is_file():
        return ()
    db = connect(out_dir)
    try:
        rows = export_rows(db)
    finally:
        db.close()
    outputs.write_csv(pd.DataFrame(rows, columns=list(EXPORT_COLUMNS)).astype(object), path)
    return (path,)


def lift(out_dir: Path, callers: Iterable[str] = (), retention: bool = False) -> dict[str, bool]:
    """Lift tombstones (and the retention cut-off): {what: whether there was one}."""
    lifted = {}
    with Store(out_dir, create=False) as store, store.transaction() as db:
        for caller in caller_keys(callers):
            lifted[caller] = tombstones.lift(db, caller)
        if retention:
            lifted["retention"] = tombstones.lift_retention(db)
    return lifted


def _day_start(day: dt.date, timezone: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(timezone))


def _doomed_files(
    db: sqlite3.Connection, callers: tuple[str, ...], cutoff: dt.datetime | None
) -> tuple[list[str], list[str]]:
    """(files, their sha256s): calls of `callers` or started before `cutoff`; for callers also the
    failed / pending files whose name carries the number (they have no call row to say whose)."""
    wanted = set(callers)
    files = []
    for file, text in db.execute("SELECT file, row FROM calls"):
        row = json.loads(text)
        if str(row.get("caller")) in wanted or (cutoff is not None and _started(row) < cutoff):
            files.append(file)
    called = {r[0] for r in db.execute("SELECT file FROM calls")}
    for (file,) in db.execute("SELECT file FROM files"):
        if file not in called and any(c in file for c in wanted):
            files.append(file)
    marks = ",".join("?" * len(files))
    shas = [
        r[0]
        for r in db.execute(f"SELECT sha256 FROM files WHERE file IN ({marks}) AND sha256 IS NOT NULL", files)
    ]
    return sorted(set(files)), sorted(set(shas))


def _started(row: dict) -> dt.datetime:
    try:
        started = dt.datetime.fromisoformat(str(row.get("started_at")))
    except ValueError:
        return dt.datetime.max.replace(tzinfo=dt.UTC)  # no usable time: never "older than"
    return started if started.tzinfo else started.replace(tzinfo=dt.UTC)


def _delete(
    db: sqlite3.Connection, files: list[str], shas: list[str], callers: tuple[str, ...]
) -> dict[str, int]:
    """Delete every row about `files` / `shas` / `callers`; rows deleted per table."""
    counts: dict[str, int] = {}

    def run(table: str, sql: str, values: Iterable) -> None:
        values = list(values)
        if values and _has(db, table):
            counts[table] = counts.get(table, 0) + sum(db.execute(sql, (v,)).rowcount for v in values)

    keys = [r[0] for f in files for r in db.execute("SELECT transcript_key FROM calls WHERE file = ?", (f,))]
    _delete_desk_index(db, files, callers, counts)
    run("evidence", "DELETE FROM evidence WHERE file = ?", files)
    run("qa_scores", "DELETE FROM qa_scores WHERE file = ?", files)
    run("raw_names", "DELETE FROM raw_names WHERE file = ?", files)
    run("desk_qa_appeals", "DELETE FROM desk_qa_appeals WHERE sha256 = ?", shas)
    run("desk_qa_calls", "DELETE FROM desk_qa_calls WHERE file = ?", files)  # the desk's QA index
    run("desk_qa_evidence", "DELETE FROM desk_qa_evidence WHERE file = ?", files)
    if _has(db, "qa_text_hits"):  # a cache of QA phrase hits per segment text: holds their words
        counts["qa_text_hits"] = db.execute("DELETE FROM qa_text_hits").rowcount
    run("calls", "DELETE FROM calls WHERE file = ?", files)
    run("files", "DELETE FROM files WHERE file = ?", files)
    used = {r[0] for r in db.execute("SELECT transcript_key FROM calls")}
    run("transcripts", "DELETE FROM transcripts WHERE cache_key = ?", [k for k in keys if k not in used])
    orphans = db.execute("DELETE FROM transcripts WHERE cache_key NOT IN (SELECT transcript_key FROM calls)")
    counts["transcripts"] = counts.get("transcripts", 0) + orphans.rowcount  # older options' copies too
    run("desk_hit_marks", "DELETE FROM desk_hit_marks WHERE sha256 = ?", shas)
    run("desk_hit_marks", "DELETE FROM desk_hit_marks WHERE caller = ?", callers)
    for table in MARK_TABLES_BY_CALLER:
        run(table, f"DELETE FROM {table} WHERE caller = ?", callers)
    run("desk_mark_log", "DELETE FROM desk_mark_log WHERE kind = 'hit' AND key LIKE ? || '|%'", shas)
    run("desk_mark_log", "DELETE FROM desk_mark_log WHERE kind != 'hit' AND key = ?", callers)
    run("desk_mark_log", "DELETE FROM desk_mark_log WHERE instr(value, ?) > 0", callers)
    return {table: n for table, n in counts.items() if n}


def _delete_desk_index(
    db: sqlite3.Connection, files: list[str], callers: tuple[str, ...], counts: dict
) -> None:
    """The desk's read model (speechchurn/app/index.py): calls, their lines and hits, the customers."""
    if not _has(db, DESK_INDEX_BY_FILE):
        return
    marks = ",".join("?" * len(files))
    where = f"file IN ({marks})" + "".join(" OR caller = ?" for _ in callers)
    ids = [r[0] for r in db.execute(f"SELECT id FROM desk_calls WHERE {where}", [*files, *callers])]
    for call_id in ids:
        db.execute(
            "DELETE FROM desk_fts WHERE rowid IN (SELECT id FROM desk_segments WHERE call_id = ?)", (call_id,)
        )
        counts["desk_segments"] = (
            counts.get("desk_segments", 0)
            + db.execute("DELETE FROM desk_segments WHERE call_id = ?", (call_id,)).rowcount
        )
        db.execute("DELETE FROM desk_hits WHERE call_id = ?", (call_id,))
        db.execute("DELETE FROM desk_calls WHERE id = ?", (call_id,))
    counts["desk_calls"] = len(ids)
    for table in DESK_INDEX_BY_CALLER:
        if _has(db, table):
            for caller in callers:
                counts[table] = (
                    counts.get(table, 0)
                    + db.execute(f"DELETE FROM {table} WHERE caller = ?", (caller,)).rowcount
                )
    if _has(db, "desk_meta"):
        db.execute("DELETE FROM desk_meta WHERE key = ?", (DESK_CALLERS_STAMP,))


def _has(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None


def _compact(db: sqlite3.Connection) -> None:
    """Merge the FTS index (deleted tokens leave its segments) and vacuum, WAL included."""
    if _has(db, "desk_fts"):
        db.execute("INSERT INTO desk_fts (desk_fts) VALUES ('optimize')")
    try:
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError as e:  # a running desk reads the store: rows are gone, pages later
        log.warning("store not vacuumed (%s); run `speechchurn forget` again with no desk open", e)


def _audio_root(db: sqlite3.Connection, given: Path | None) -> Path:
    if given is not None:
        return Path(given).resolve()
    row = db.execute("SELECT value FROM meta WHERE key = 'audio_dir'").fetchone()
    if row is None or not Path(row[0]).is_dir():
        raise ConfigError("the recordings' folder is not known; pass --audio-root DIR")
    return Path(row[0]).resolve()


def _delete_audio(root: Path, files: Iterable[str]) -> tuple[Path, ...]:
    """Delete the recordings named by store rows, only inside `root` (a tampered row deletes nothing)."""
    deleted = []
    for name in files:
        path = (root / name).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()
            deleted.append(path)
    return tuple(deleted)
