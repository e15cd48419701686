"""Call metadata: who called, when, in which direction, and how often the call was transferred.

Sources, in order of preference (see :func:`resolve_meta`):

1. a manifest CSV (``file, caller, agent, direction, started_at, transfers`` plus pass-through
   columns), exported from Excel in GBK/GB18030 or written as UTF-8 (with or without BOM);
2. the audio file name, parsed with a configurable regex with named groups
   (default ``YYYYMMDD_HHMMSS_<phone>_<in|out>``, e.g. ``20261118_093012_13800000001_in.wav``);
3. the file's modification time and an ``unknown`` caller (logged as a warning).

Phone numbers are normalised (speechchurn/call/phones.py) so that one customer aggregates as one; a
caller that is not a plausible phone number becomes ``unknown`` (a manifest problem naming row and
column when it came from a manifest), never a customer key. Timestamps
are parsed into timezone-aware datetimes in an explicit timezone (:func:`parse_timestamp`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from speechchurn.call.phones import UNKNOWN_CALLER, caller_key
from speechchurn.errors import ConfigError, ManifestError, SpeechchurnError
from speechchurn.vocab import (
    DEFAULT_TIMEZONE,
    DIRECTION_IN,
    DIRECTION_OUT,
    EARLIEST_CALL_YEAR,
    LATEST_CALL_YEAR,
)

log = logging.getLogger("speechchurn")

DEFAULT_TZ = DEFAULT_TIMEZONE
UNKNOWN_DIRECTION = "unknown"
DIRECTIONS = (DIRECTION_IN, DIRECTION_OUT)

# Matched with re.search against the file *stem* (name without extension). Named groups:
# date (YYYYMMDD, required), time (HHMMSS, optional), caller, direction, agent (all optional).
DEFAULT_FILENAME_PATTERN = (
    r"^(?P<date>\d{8})_(?P<time>\d{6})_(?P<caller>[^_]+)_(?P<direction>in|out)(?:_(?P<agent>[^_]+))?$"
)

# Manifest columns. Required ones must be in the header; optional ones may be absent or blank.
REQUIRED_COLUMNS = ("file", "caller", "direction", "started_at")
OPTIONAL_COLUMNS = ("agent", "transfers")
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MANIFEST_ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK/GB2312

_DIRECTION_ALIASES = {
    "in": "in",
    "inbound": "in",
    "incoming": "in",
    "i": "in",
    "呼入": "in",
    "来电": "in",
    "out": "out",
    "outbound": "out",
    "outgoing": "out",
    "o": "out",
    "呼出": "out",
    "去电": "out",
    "外呼": "out",
}

_TIMESTAMP_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y%m%d %H%M%S",
    "%Y%m%d_%H%M%S",
    "%Y%m%d%H%M%S",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y/%m/%d %I:%M:%S %p",  # Excel with a 12-hour clock
    "%Y/%m/%d %I:%M %p",
    "%m/%d/%Y %H:%M:%S",  # Excel's US default (month first)
    "%m/%d/%Y %H:%M",
)
EXCEL_EPOCH = datetime(1899, 12, 30)  # day 0 of Excel's 1900 date system (Lotus leap-year bug included)
EXCEL_SERIAL_MIN_DAYS = 1.0  # 1900-01-01
EXCEL_SERIAL_MAX_DAYS = 2_958_465.0  # 9999-12-31


@dataclass(frozen=True)
class CallMeta:
    """Metadata of one call. ``extra`` holds pass-through manifest columns as (column, value) pairs."""

    file: str
    caller: str
    agent: str
    direction: str  # "in" | "out" | "unknown"
    started_at: datetime  # timezone-aware
    transfers: int | None = None  # from the manifest; None means "detect from the agent's words"
    source: str = "manifest"  # "manifest" | "filename" | "mtime"
    extra: tuple[tuple[str, str], ...] = ()

    def as_columns(self) -> dict[str, object]:
        """Flat calls.csv columns: file, caller, agent, direction, started_at (ISO 8601) + extras."""
        columns: dict[str, object] = {
            "file": self.file,
            "caller": self.caller,
            "agent": self.agent,
            "direction": self.direction,
            "started_at": self.started_at.isoformat(),
        }
        for key, value in self.extra:
            columns.setdefault(key, value)
        return columns


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest: usable rows keyed by file name, and row-level problems (rows skipped)."""

    path: Path
    rows: dict[str, CallMeta] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    extra_columns: tuple[str, ...] = ()

    def __contains__(self, file_name: object) -> bool:
        return file_name in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, file_name: str) -> CallMeta | None:
        return self.rows.get(file_name)


# --------------------------------------------------------------------------- timestamps


def get_tz(tz: str | ZoneInfo | None) -> ZoneInfo:
    """A ZoneInfo from a name (default DEFAULT_TIMEZONE); ConfigError for an unknown zone."""
    if isinstance(tz, ZoneInfo):
        return tz
    name = tz or DEFAULT_TZ
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:  # tzdata: a folder name, a name too long
        raise ConfigError(f"unknown timezone {name!r} (use an IANA name such as {DEFAULT_TZ})") from e


def parse_timestamp(raw: object, tz: str | ZoneInfo | None = DEFAULT_TZ) -> datetime:
    """Parse a call start time into an aware datetime in ``tz``.

    Accepts ISO 8601 (``2026-11-18T09:30:12+08:00``, ``...Z``), ``YYYY/MM/DD HH:MM[:SS]``,
    ``YYYY-MM-DD HH:MM[:SS]``, ``YYYYMMDD_HHMMSS``, ``YYYY年MM月DD日 HH:MM[:SS]``, Excel exports
    (``2026/11/18 9:30:12 AM``, US ``11/18/2026 9:30``, serial day numbers like ``46344.396``) and
    datetime objects. Naive values are taken to be in ``tz``; aware
    values are converted to ``tz``. Raises ValueError when nothing matches, or the time is outside
    EARLIEST_CALL_YEAR..LATEST_CALL_YEAR.
    """
    zone = get_tz(tz)
    parsed = raw if isinstance(raw, datetime) else _parse_timestamp_text(str(raw))
    try:
        aware = parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed.astimezone(zone)
    except OverflowError as e:  # 0001-01-01T00:00+14:00 has no time in `zone`
        raise ValueError(f"timestamp {raw!r} is out of range") from e
    if not EARLIEST_CALL_YEAR <= aware.year <= LATEST_CALL_YEAR:
        raise ValueError(f"timestamp {raw!r} is not between {EARLIEST_CALL_YEAR} and {LATEST_CALL_YEAR}")
    return aware


def _parse_timestamp_text(raw: str) -> datetime:
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise ValueError("empty timestamp")
    serial = _excel_serial(text)
    if serial is not None:
        return serial
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"unrecognised timestamp {raw!r}")


def _excel_serial(text: str) -> datetime | None:
    """An Excel serial date (days since 1899-12-30, fraction = time of day), or None."""
    if not re.fullmatch(r"\d{1,7}(\.\d+)?", text):  # 8 digits is YYYYMMDD, not a serial
        return None
    days = float(text)
    if not EXCEL_SERIAL_MIN_DAYS <= days <= EXCEL_SERIAL_MAX_DAYS:
        return None
    return EXCEL_EPOCH + timedelta(days=days)


def normalize_direction(raw: object) -> str | None:
    """``in``/``out`` from common spellings (inbound, 呼入, OUT, ...); None when unrecognised."""
    key = unicodedata.normalize("NFKC", str(raw or "")).strip().lower()
    return _DIRECTION_ALIASES.get(key)


# --------------------------------------------------------------------------- manifest


def load_manifest(path: str | os.PathLike, tz: str | ZoneInfo | None = DEFAULT_TZ) -> Manifest:
    """Read a manifest CSV. File-level failures raise ManifestError; bad rows become ``problems``.

    Row numbers in messages are spreadsheet rows (the header is row 1, the first data row is row 2).
    """
    manifest_path = Path(path)
    zone = get_tz(tz)
    text = read_table_text(manifest_path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration as e:
        raise ManifestError(f"{manifest_path}: manifest is empty (no header row)") from e
    columns = _header_columns(manifest_path, header)
    manifest = Manifest(path=manifest_path, extra_columns=tuple(c for c in columns if c not in KNOWN_COLUMNS))
    for index, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        record = dict(zip(columns, (cell.strip() for cell in cells), strict=False))
        _add_row(manifest, index, record, zone)
    return manifest


def read_table_text(path: Path, kind: str = "manifest") -> str:
    """A CSV as Excel saves it (UTF-8, UTF-8 BOM or GBK/GB18030) as text; `kind` names it in errors."""
    data, encoding = read_table_bytes(path, kind)
    return data.decode(encoding)


def read_table_bytes(path: Path, kind: str = "manifest") -> tuple[bytes, str]:
    """(bytes, encoding) of a CSV as Excel saves it (UTF-8, UTF-8 BOM or GBK/GB18030), so pandas can
    parse the bytes itself; `kind` names the file in errors."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ManifestError(f"{path}: cannot read {kind}: {e.strerror or e}") from e
    for encoding in MANIFEST_ENCODINGS:
        try:
            data.decode(encoding)
            return data, encoding
        except UnicodeDecodeError:
            continue
    raise ManifestError(
        f"{path}: {kind} is neither UTF-8 nor GBK/GB18030 text; save it as 'CSV UTF-8' from Excel"
    )


def _header_columns(path: Path, header: list[str]) -> list[str]:
    """Header names, stripped; known columns are matched case-insensitively and lower-cased."""
    columns = []
    for name in header:
        clean = unicodedata.normalize("NFKC", name).strip().lstrip("\ufeff")
        columns.append(clean.lower() if clean.lower() in KNOWN_COLUMNS else clean)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ManifestError(
            f"{path}: row 1 (header): missing required column(s) {', '.join(missing)}; "
            f"found {', '.join(columns) or 'nothing'}"
        )
    return columns


def _add_row(manifest: Manifest, row: int, record: dict[str, str], zone: ZoneInfo) -> None:
    """Validate one data row and add it to ``manifest`` (or record why it was skipped)."""
    try:
        meta = _row_meta(record, zone, manifest.extra_columns)
    except _RowError as e:
        problem = f"{manifest.path}: row {row}, column {e.column!r}: {e.message}; row skipped"
        log.warning(problem)
        manifest.problems.append(problem)
        return
    if meta.caller == UNKNOWN_CALLER:
        problem = (
            f"{manifest.path}: row {row}, column 'caller': {record.get('caller', '')!r} is not a phone "
            f"number; caller set to {UNKNOWN_CALLER!r}"
        )
        log.warning(problem)
        manifest.problems.append(problem)
    if meta.file in manifest.rows:
        problem = (
            f"{manifest.path}: row {row}, column 'file': duplicate entry for {meta.file!r}; kept the first"
        )
        log.warning(problem)
        manifest.problems.append(problem)
        return
    manifest.rows[meta.file] = meta


class _RowError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _row_meta(record: dict[str, str], zone: ZoneInfo, extra_columns: tuple[str, ...]) -> CallMeta:
    file_cell = record.get("file", "")
    if not file_cell:
        raise _RowError("file", "empty file name")
    raw_time = record.get("started_at", "")
    try:
        started_at = parse_timestamp(raw_time, zone)
    except ValueError as e:
        raise _RowError("started_at", f"cannot parse date/time {raw_time!r}") from e
    direction = normalize_direction(record.get("direction"))
    if direction is None:
        raise _RowError("direction", f"direction {record.get('direction', '')!r} is not in/out")
    return CallMeta(
        file=Path(file_cell.replace("\\", "/")).name,
        caller=caller_key(record.get("caller")) or UNKNOWN_CALLER,
        agent=record.get("agent", ""),
        direction=direction,
        started_at=started_at,
        transfers=_parse_transfers(record.get("transfers", "")),
        source="manifest",
        extra=tuple((c, record.get(c, "")) for c in extra_columns),
    )


def _parse_transfers(raw: str) -> int | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError as e:
        raise _RowError("transfers", f"transfers {raw!r} is not a whole number") from e
    if not value.is_integer() or value < 0:
        raise _RowError("transfers", f"transfers {raw!r} is not a whole number >= 0")
    return int(value)


# --------------------------------------------------------------------------- file name / mtime


def meta_from_filename(
    path: str | os.PathLike,
    pattern: str | re.Pattern[str] = DEFAULT_FILENAME_PATTERN,
    tz: str | ZoneInfo | None = DEFAULT_TZ,
) -> CallMeta | None:
    """Metadata parsed from the file name, or None when the name does not match ``pattern``.

    ``pattern`` is searched in the file stem and must define a ``date`` group (YYYYMMDD or any form
    :func:`parse_timestamp` accepts); ``time`` (HHMMSS), ``caller``, ``direction`` and ``agent`` are
    optional groups.
    """
    file_path = Path(path)
    regex = _compile_pattern(pattern)
    match = regex.search(file_path.stem)
    if match is None:
        return None
    groups = {k: v for k, v in match.groupdict().items() if v}
    if "date" not in groups:
        return None
    stamp = groups["date"] + ("_" + groups["time"] if "time" in groups else "")
    try:
        started_at = parse_timestamp(stamp, tz)
    except ValueError:
        log.warning("file name %s matches the pattern but its date/time %r is invalid", file_path.name, stamp)
        return None
    caller = caller_key(groups.get("caller"))
    if caller is None and groups.get("caller"):
        log.warning(
            "%s: caller %r in the file name is not a phone number; caller unknown",
            file_path.name,
            groups["caller"],
        )
    return CallMeta(
        file=file_path.name,
        caller=caller or UNKNOWN_CALLER,
        agent=groups.get("agent", ""),
        direction=normalize_direction(groups.get("direction")) or UNKNOWN_DIRECTION,
        started_at=started_at,
        transfers=None,
        source="filename",
    )


def _compile_pattern(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"invalid file-name pattern {pattern!r}: {e}") from e


def meta_from_mtime(path: str | os.PathLike, tz: str | ZoneInfo | None = DEFAULT_TZ) -> CallMeta:
    """Last resort: file modification time as start time and an ``unknown`` caller (logs a warning)."""
    file_path = Path(path)
    try:
        mtime = file_path.stat().st_mtime
    except OSError as e:
        raise SpeechchurnError(f"{file_path}: cannot read file modification time: {e.strerror or e}") from e
    log.warning(
        "%s: no manifest row and the file name does not match the pattern; "
        "using file mtime as start time and caller %r",
        file_path.name,
        UNKNOWN_CALLER,
    )
    return CallMeta(
        file=file_path.name,
        caller=UNKNOWN_CALLER,
        agent="",
        direction=UNKNOWN_DIRECTION,
        started_at=datetime.fromtimestamp(mtime, get_tz(tz)),
        transfers=None,
        source="mtime",
    )


def resolve_meta(
    path: str | os.PathLike,
    manifest: Manifest | Mapping[str, CallMeta] | None = None,
    pattern: str | re.Pattern[str] = DEFAULT_FILENAME_PATTERN,
    tz: str | ZoneInfo | None = DEFAULT_TZ,
) -> CallMeta:
    """Metadata for one audio file: manifest row, else file-name pattern, else file mtime."""
    file_path = Path(path)
    rows = manifest.rows if isinstance(manifest, Manifest) else (manifest or {})
    meta = rows.get(file_path.name)
    if meta is not None:
        return meta
    meta = meta_from_filename(file_path, pattern, tz)
    if meta is not None:
        return meta
    return meta_from_mtime(file_path, tz)
