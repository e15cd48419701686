"""A caller must look like a phone number before it becomes a customer key."""

from __future__ import annotations

import pandas as pd
import pytest

from speechchurn import outputs
from speechchurn.analyze import AnalyzeOptions, analyze
from speechchurn.call.metadata import load_manifest, meta_from_filename
from speechchurn.call.phones import UNKNOWN_CALLER, caller_key
from speechchurn.customers.aggregate import aggregate_callers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # mainland mobiles, any spelling
        ("13800000001", "13800000001"),
        ("+86 138 0000 0001", "13800000001"),
        ("0086-138-0000-0001", "13800000001"),
        ("8613800000001", "13800000001"),
        ("(138) 0000-0001", "13800000001"),
        ("１３８００００００01", "13800000001"),
        ("13800000001.0", "13800000001"),
        ("19912345678", "19912345678"),
        # landlines with area code, and a local caller ID
        ("010-12345678", "01012345678"),
        ("(0755) 8765 4321", "075587654321"),
        ("+86 10 1234 5678", "01012345678"),
        ("0571-8765432", "05718765432"),
        ("87654321", "87654321"),
        # service numbers
        ("10086", "10086"),
        ("10010", "10010"),
        ("12315", "12315"),
        ("95588", "95588"),
        ("95105588", "95105588"),
        ("400-810-8888", "4008108888"),
        ("800 820 8820", "8008208820"),
        # international
        ("+1 (415) 555-0100", "+14155550100"),
        # not a phone number
        ("=1+1", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("anonymous", None),
        ("abc", None),
        ("138abc00001", None),
        ("+cmd|' /C calc'!A0", None),
        ("@SUM(A1)", None),
        ("1380000000", None),  # 10 digits: a mobile with one digit lost
        ("138000000011", None),  # 12 digits
        ("12345678", None),
        ("00000000000", None),
        ("0", None),
        ("123", None),
    ],
)
def test_caller_key(raw, expected):
    assert caller_key(raw) == expected


MANIFEST_HEADER = "file,caller,agent,direction,started_at"


@pytest.mark.parametrize("bad", ["=1+1", "", "abc", "客户", "138-0000-000"])
def test_bad_manifest_caller_is_a_problem_naming_row_and_column(tmp_path, bad):
    path = tmp_path / "m.csv"
    rows = [
        MANIFEST_HEADER,
        "a.wav,13800000001,A1,in,2026-11-18 09:30",
        f"b.wav,{bad},A2,out,2026-11-18 10:00",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    manifest = load_manifest(path)
    assert manifest.rows["a.wav"].caller == "13800000001"
    assert manifest.rows["b.wav"].caller == UNKNOWN_CALLER  # time and direction still used
    assert manifest.rows["b.wav"].direction == "out"
    assert len(manifest.problems) == 1
    problem = manifest.problems[0]
    assert "m.csv" in problem and "row 3" in problem and "column 'caller'" in problem
    assert repr(bad) in problem


@pytest.mark.parametrize(
    ("stem", "caller"),
    [
        ("20261118_093012_13800000001_in", "13800000001"),
        ("20261118_093012_+8613800000001_in", "13800000001"),
        ("20261118_093012_10086_out", "10086"),
        ("20261118_093012_abc_in", UNKNOWN_CALLER),
        ("20261118_093012_=1+1_in", UNKNOWN_CALLER),
        ("20261118_093012_<img src=x onerror=alert(1)>_in", UNKNOWN_CALLER),
        ("20261118_093012_123_in", UNKNOWN_CALLER),
    ],
)
def test_file_name_caller_must_be_a_phone_number(stem, caller):
    meta = meta_from_filename(f"{stem}.wav")
    assert meta is not None and meta.caller == caller


def test_unknown_caller_is_never_a_customer():
    calls = pd.DataFrame(
        {
            "caller": ["13800000001", UNKNOWN_CALLER, UNKNOWN_CALLER],
            "started_at": ["2026-11-18T09:30:00+08:00"] * 3,
            "duration_s": [60.0, 30.0, 40.0],
            "direction": ["in", "in", "out"],
        }
    )
    callers = aggregate_callers(calls, "2026-11-30")
    assert list(callers["caller"]) == ["13800000001"]


def test_bad_callers_in_a_batch(calls_dir, tmp_path, fake_engine):
    """Manifest callers `=1+1` and empty: errors.csv names row and column; calls done, callers unkeyed."""
    files = sorted(p.name for p in calls_dir.glob("*.wav"))
    manifest = tmp_path / "manifest.csv"
    rows = [
        MANIFEST_HEADER,
        f"{files[0]},=1+1,A1,in,2026-11-02 09:30:12",
        f"{files[1]},,A2,in,2026-11-10 14:30:00",
        f"{files[2]},13998765402,A3,in,2026-11-11 14:30:00",
    ]
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = analyze(calls_dir, out, AnalyzeOptions(manifest=manifest))
    assert (result.done, result.failed) == (3, 0)
    errors = outputs.read_csv(out / "errors.csv")
    reasons = sorted(errors.loc[errors["stage"] == "manifest", "reason"])
    assert len(reasons) == 2
    assert "row 2, column 'caller'" in reasons[0] and "=1+1" in reasons[0]
    assert "row 3, column 'caller'" in reasons[1]
    calls = outputs.read_csv(out / "calls.csv").set_index("file")
    assert calls.loc[files[0], "caller"] == UNKNOWN_CALLER
    callers = outputs.read_csv(out / "callers.csv")
    assert list(callers["caller"].astype(str)) == ["13998765402"]
