"""Call metadata: phone normalisation, timestamps, file-name pattern, manifests (encodings, errors)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from speechchurn.call.metadata import (
    DEFAULT_TZ,
    CallMeta,
    Manifest,
    load_manifest,
    meta_from_filename,
    meta_from_mtime,
    normalize_direction,
    parse_timestamp,
    resolve_meta,
)
from speechchurn.call.phones import UNKNOWN_CALLER, normalize_phone
from speechchurn.errors import ConfigError, ManifestError

SHANGHAI_OFFSET = timedelta(hours=8)
MANIFEST_HEADER = "file,caller,agent,direction,started_at,transfers,queue,备注"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800000001", "13800000001"),
        ("+86 138 0000 0001", "13800000001"),
        ("+8613800000001", "13800000001"),
        ("0086-138-0000-0001", "13800000001"),
        ("8613800000001", "13800000001"),
        ("86 138 0000 0001", "13800000001"),
        ("(138) 0000-0001", "13800000001"),
        ("１３８００００００01", "13800000001"),  # full-width digits from a Chinese IME
        ("13800000001.0", "13800000001"),  # went through Excel as a number
        ("010-12345678", "01012345678"),
        ("(0755) 8765 4321", "075587654321"),
        ("+86 10 1234 5678", "01012345678"),
        ("+86-755-87654321", "075587654321"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("95105588", "95105588"),  # service number: unchanged
        ("", UNKNOWN_CALLER),
        ("   ", UNKNOWN_CALLER),
        (None, UNKNOWN_CALLER),
        ("Anonymous", "anonymous"),
    ],
)
def test_normalize_phone(raw, expected):
    assert normalize_phone(raw) == expected


def test_same_customer_written_differently_aggregates_as_one():
    spellings = ["+86 138-0000-0001", "0086 13800000001", "8613800000001", "138 0000 0001"]
    assert {normalize_phone(s) for s in spellings} == {"13800000001"}


def _shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone(SHANGHAI_OFFSET))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-18T09:30:12", _shanghai(2026, 11, 18, 9, 30, 12)),
        ("2026-11-18 09:30:12", _shanghai(2026, 11, 18, 9, 30, 12)),
        ("2026-11-18 09:30", _shanghai(2026, 11, 18, 9, 30)),
        ("2026/11/18 9:30:12", _shanghai(2026, 11, 18, 9, 30, 12)),
        ("2026/11/18 09:30", _shanghai(2026, 11, 18, 9, 30)),
        ("2026/11/18", _shanghai(2026, 11, 18)),
        ("20261118_093012", _shanghai(2026, 11, 18, 9, 30, 12)),
        ("2026年11月18日 09:30", _shanghai(2026, 11, 18, 9, 30)),
        ("2026-11-18T01:30:12Z", _shanghai(2026, 11, 18, 9, 30, 12)),  # aware: converted
        ("2026-11-18T09:30:12+08:00", _shanghai(2026, 11, 18, 9, 30, 12)),
        ("2026-11-18T02:30:12+01:00", _shanghai(2026, 11, 18, 9, 30, 12)),
        ("2026/11/18 9:30:12 PM", _shanghai(2026, 11, 18, 21, 30, 12)),
        ("11/18/2026 09:30", _shanghai(2026, 11, 18, 9, 30)),
        ("46344.5", _shanghai(2026, 11, 18, 12, 0)),  # Excel serial day number
        ("46344", _shanghai(2026, 11, 18)),
        (datetime(2026, 11, 18, 9, 30), _shanghai(2026, 11, 18, 9, 30)),
    ],
)
def test_parse_timestamp(raw, expected):
    parsed = parse_timestamp(raw, DEFAULT_TZ)
    assert parsed == expected
    assert parsed.utcoffset() == SHANGHAI_OFFSET


def test_parse_timestamp_naive_gets_configured_zone():
    parsed = parse_timestamp("2026-07-01 12:00", "Europe/Berlin")
    assert parsed.utcoffset() == timedelta(hours=2)  # CEST in July
    assert parsed.astimezone(UTC).hour == 10


@pytest.mark.parametrize("raw", ["", "yesterday", "2026-13-01 10:00", "18.11.2026 x", "2026/02/30"])
def test_parse_timestamp_rejects_garbage(raw):
    with pytest.raises(ValueError):
        parse_timestamp(raw)


def test_unknown_timezone_is_a_config_error():
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        parse_timestamp("2026-11-18 09:30", "Mars/Olympus")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("in", "in"),
        ("IN", "in"),
        ("inbound", "in"),
        ("呼入", "in"),
        ("out", "out"),
        ("外呼", "out"),
        ("x", None),
    ],
)
def test_normalize_direction(raw, expected):
    assert normalize_direction(raw) == expected


@pytest.mark.parametrize(
    ("name", "caller", "direction", "started"),
    [
        ("20261118_093012_13800000001_in.wav", "13800000001", "in", _shanghai(2026, 11, 18, 9, 30, 12)),
        ("20260102_235959_8613900000002_out.WAV", "13900000002", "out", _shanghai(2026, 1, 2, 23, 59, 59)),
        ("20261118_093012_010-12345678_in.mp3", "01012345678", "in", _shanghai(2026, 11, 18, 9, 30, 12)),
        ("20261118_093012_13800000001_in_a007.wav", "13800000001", "in", _shanghai(2026, 11, 18, 9, 30, 12)),
    ],
)
def test_meta_from_filename_default_pattern(name, caller, direction, started):
    meta = meta_from_filename(Path("/calls") / name)
    assert meta is not None
    assert (meta.file, meta.caller, meta.direction, meta.started_at) == (name, caller, direction, started)
    assert meta.source == "filename"
    assert meta.transfers is None


@pytest.mark.parametrize(
    "name",
    [
        "call_0001.wav",
        "20261118_093012_13800000001_sideways.wav",
        "20261118-093012-13800000001-in.wav",
        "20261340_093012_13800000001_in.wav",  # month 13: matches the shape but is not a date
    ],
)
def test_meta_from_filename_no_match(name):
    assert meta_from_filename(name) is None


def test_meta_from_filename_custom_pattern():
    pattern = r"^(?P<direction>IN|OUT)-(?P<caller>\d+)-(?P<date>\d{4}-\d{2}-\d{2})$"
    meta = meta_from_filename("OUT-02088889999-2026-03-04.wav", pattern, "Asia/Shanghai")
    assert meta is not None
    assert (meta.caller, meta.direction, meta.started_at) == ("02088889999", "out", _shanghai(2026, 3, 4))


def test_invalid_pattern_is_a_config_error():
    with pytest.raises(ConfigError, match="pattern"):
        meta_from_filename("x.wav", r"(?P<date>[")


def test_meta_from_mtime_warns_and_uses_unknown_caller(tmp_path, caplog):
    audio = tmp_path / "recording.wav"
    audio.write_bytes(b"RIFF")
    stamp = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp()
    os.utime(audio, (stamp, stamp))
    with caplog.at_level(logging.WARNING, logger="speechchurn"):
        meta = meta_from_mtime(audio)
    assert meta.caller == UNKNOWN_CALLER
    assert meta.source == "mtime"
    assert meta.started_at == _shanghai(2026, 5, 6, 15, 8, 9)
    assert "recording.wav" in caplog.text


def _write_manifest(path: Path, rows: list[str], encoding: str, header: str = MANIFEST_HEADER) -> Path:
    path.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode(encoding))
    return path


GOOD_ROWS = [
    "20261118_093012_13800000001_in.wav,+86 138-0000-0001,王芳,呼入,2026/11/18 9:30,1,宽带,老客户",
    "b.wav,010-12345678,李雷,out,2026-11-19 10:00:00,,套餐,投诉升级",
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_manifest_encodings(tmp_path, encoding):
    manifest = load_manifest(_write_manifest(tmp_path / "m.csv", GOOD_ROWS, encoding))
    assert manifest.problems == []
    assert set(manifest.rows) == {"20261118_093012_13800000001_in.wav", "b.wav"}
    first = manifest.rows["20261118_093012_13800000001_in.wav"]
    assert (first.caller, first.agent, first.direction, first.transfers) == ("13800000001", "王芳", "in", 1)
    assert first.started_at == _shanghai(2026, 11, 18, 9, 30)
    assert dict(first.extra) == {"queue": "宽带", "备注": "老客户"}
    second = manifest.rows["b.wav"]
    assert (second.caller, second.direction, second.transfers) == ("01012345678", "out", None)
    assert second.as_columns()["备注"] == "投诉升级"
    assert second.as_columns()["started_at"] == "2026-11-19T10:00:00+08:00"


def test_manifest_without_optional_columns(tmp_path):
    path = _write_manifest(
        tmp_path / "m.csv",
        ["a.wav,13800000001,in,2026-11-18 09:30"],
        "utf-8",
        "File,Caller,Direction,Started_At",
    )
    meta = load_manifest(path).rows["a.wav"]
    assert (meta.agent, meta.transfers, meta.extra) == ("", None, ())


def test_manifest_undecodable_is_refused(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(MANIFEST_HEADER.encode("utf-8") + b"\r\n\xff\xfe\x80\x81\xff,\x00\x81\r\n")
    with pytest.raises(ManifestError, match="binary.csv.*neither UTF-8 nor GBK"):
        load_manifest(path)


def test_manifest_missing_file_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="nope.csv"):
        load_manifest(tmp_path / "nope.csv")


def test_manifest_missing_required_column_names_it(tmp_path):
    path = _write_manifest(tmp_path / "m.csv", ["a.wav,13800000001,in"], "utf-8", "file,caller,direction")
    with pytest.raises(
        ManifestError, match=r"m\.csv: row 1 \(header\): missing required column\(s\) started_at"
    ):
        load_manifest(path)


@pytest.mark.parametrize(
    ("bad_row", "column", "fragment"),
    [
        ("x.wav,13800000001,a,in,not-a-date,0,,", "started_at", "not-a-date"),
        ("x.wav,13800000001,a,sideways,2026-11-18 09:30,0,,", "direction", "sideways"),
        ("x.wav,13800000001,a,in,2026-11-18 09:30,two,,", "transfers", "two"),
        ("x.wav,13800000001,a,in,2026-11-18 09:30,1.5,,", "transfers", "1.5"),
        (",13800000001,a,in,2026-11-18 09:30,0,,", "file", "empty file name"),
    ],
)
def test_manifest_bad_row_is_skipped_and_named(tmp_path, bad_row, column, fragment):
    path = _write_manifest(tmp_path / "m.csv", [GOOD_ROWS[0], bad_row, GOOD_ROWS[1]], "utf-8")
    manifest = load_manifest(path)
    assert set(manifest.rows) == {"20261118_093012_13800000001_in.wav", "b.wav"}
    assert len(manifest.problems) == 1
    problem = manifest.problems[0]
    assert "m.csv" in problem
    assert "row 3" in problem  # spreadsheet row: header is row 1
    assert f"column {column!r}" in problem
    assert fragment in problem


def test_manifest_duplicate_keeps_first_and_records(tmp_path, caplog):
    duplicate = "20261118_093012_13800000001_in.wav,13900000009,赵六,out,2026-12-01 08:00,0,,"
    path = _write_manifest(tmp_path / "m.csv", [GOOD_ROWS[0], duplicate], "utf-8")
    with caplog.at_level(logging.WARNING, logger="speechchurn"):
        manifest = load_manifest(path)
    assert manifest.rows["20261118_093012_13800000001_in.wav"].caller == "13800000001"
    assert len(manifest.problems) == 1
    assert "row 3" in manifest.problems[0] and "duplicate" in manifest.problems[0]
    assert "duplicate" in caplog.text


def test_resolve_meta_order(tmp_path):
    manifest = load_manifest(_write_manifest(tmp_path / "m.csv", GOOD_ROWS, "utf-8"))
    in_manifest = resolve_meta(tmp_path / "20261118_093012_13800000001_in.wav", manifest)
    assert (in_manifest.source, in_manifest.agent) == ("manifest", "王芳")
    by_name = resolve_meta(tmp_path / "20261120_110000_13700000003_out.wav", manifest)
    assert (by_name.source, by_name.caller) == ("filename", "13700000003")
    odd = tmp_path / "odd name.wav"
    odd.write_bytes(b"")
    assert resolve_meta(odd, manifest).source == "mtime"
    assert resolve_meta(odd, None).caller == UNKNOWN_CALLER


def test_manifest_result_is_a_mapping_like(tmp_path):
    manifest = load_manifest(_write_manifest(tmp_path / "m.csv", GOOD_ROWS, "utf-8"))
    assert isinstance(manifest, Manifest)
    assert "b.wav" in manifest and len(manifest) == 2
    assert isinstance(manifest.get("b.wav"), CallMeta)
    assert manifest.extra_columns == ("queue", "备注")


SAMPLE_MANIFEST = Path(__file__).resolve().parent.parent / "audio_samples" / "manifest.csv"


@pytest.mark.skipif(not SAMPLE_MANIFEST.exists(), reason="audio_samples/manifest.csv not generated yet")
def test_sample_manifest_agrees_with_file_names():
    manifest = load_manifest(SAMPLE_MANIFEST)
    assert manifest.problems == []
    assert len(manifest) >= 10
    for name, meta in manifest.rows.items():
        from_name = meta_from_filename(name)
        assert from_name is not None, name
        assert (from_name.caller, from_name.direction, from_name.started_at) == (
            meta.caller,
            meta.direction,
            meta.started_at,
        )
        assert resolve_meta(SAMPLE_MANIFEST.parent / name, manifest) is meta


PHONE_COLUMN = [
    "13812345678",
    "8613812345678",
    "+86 138-1234-5678",
    "008613812345678",
    "+86 10 1234 5678",
    "010-12345678",
    "１３８１２３４５６７８",
    "13812345678.0",
    "anonymous",
    "10086",
    "861381234567",
    "+4420794600",
    "   ",
    "",
    None,
    float("nan"),
    "13812345678",
]


def test_normalize_phones_is_normalize_phone_per_cell_with_blank_as_empty():
    from speechchurn.call.phones import normalize_phones

    expected = [normalize_phone(v) if isinstance(v, str) and v.strip() else "" for v in PHONE_COLUMN]
    assert normalize_phones(pd.Series(PHONE_COLUMN, dtype=object)).tolist() == expected


def test_phone_codes_give_one_code_per_normalised_number():
    from speechchurn.call.phones import normalize_phones, phone_codes

    codes, numbers = phone_codes(pd.Series(PHONE_COLUMN, dtype=object))
    assert numbers[codes].tolist() == normalize_phones(pd.Series(PHONE_COLUMN, dtype=object)).tolist()
    assert len(set(numbers.tolist())) == len(numbers)  # every spelling of 13812345678 shares a code
