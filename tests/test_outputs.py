"""outputs.write_csv writes the same bytes as pandas' own float / zoned-time formatting, only faster."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from speechchurn import outputs

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kathmandu"]


def _zoned(zone: str, utc_times: list[str | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(utc_times, format="ISO8601", utc=True)).dt.tz_convert(zone)


def _pandas_bytes(frame: pd.DataFrame, path) -> bytes:
    from speechchurn.safety import neutralize_frame

    neutralize_frame(frame).to_csv(path, index=False, encoding=outputs.CSV_ENCODING, float_format="%.4g")
    return path.read_bytes()


FRAMES = {
    "floats": lambda: pd.DataFrame(
        {"x": [0.0, -0.0, 1e-9, 123456.789, math.nan, math.inf, -math.inf, 2.5], "n": range(8)}
    ),
    "float text neighbours": lambda: pd.DataFrame({"x": [1.5, math.nan], "t": ["=1+1", "-3.5"]}),
    "all NaN floats": lambda: pd.DataFrame({"x": [math.nan, math.nan]}),
    "empty": lambda: pd.DataFrame({"x": pd.Series([], dtype=float), "t": pd.Series([], dtype=object)}),
    "float32": lambda: pd.DataFrame({"x": np.array([0.1, 1 / 3, math.nan], dtype=np.float32)}),
    **{
        f"zoned {zone}": (
            lambda zone=zone: pd.DataFrame(
                {
                    "at": _zoned(
                        zone,
                        [
                            "2026-03-29 00:30:00",
                            None,
                            "2026-03-29 03:30:00",
                            "2026-11-01 05:30:00",
                            "2026-10-25 00:30:00",
                        ],
                    )
                }
            )
        )
        for zone in ZONES
    },
    "zoned midnights": lambda: pd.DataFrame(
        {"at": _zoned("Asia/Shanghai", ["2025-12-31 16:00:00", "2026-01-01 16:00:00"])}
    ),
    "zoned fractions": lambda: pd.DataFrame(
        {"at": _zoned("Asia/Shanghai", ["2026-01-01 00:00:00", "2026-01-01 00:00:00.5"])}
    ),
    "zoned all NaT": lambda: pd.DataFrame({"at": _zoned("Asia/Shanghai", [None, None])}),
    "naive times": lambda: pd.DataFrame({"at": pd.to_datetime(["2026-01-01 08:00:00", None])}),
    "text to quote": lambda: pd.DataFrame(
        {
            "t": ["a,b", 'say "hi"', "two\nlines", "cr\rinside", "", None, math.nan, " lead", "投诉；销户"],
            "n": range(9),
        }
    ),
    "header to quote": lambda: pd.DataFrame({'a,"b"': [1, 2], "c": ["x", "y"]}),
    "formulas": lambda: pd.DataFrame({"=HYPERLINK(1)": [1, 2], "c": ["+cmd", "-3.5"], "o": ["@x", None]}),
    "ints bools text": lambda: pd.DataFrame(
        {
            "i": np.array([0, -7, 2**40], dtype=np.int64),
            "u": np.array([1, 2, 3], dtype=np.uint8),
            "b": [True, False, True],
            "s": pd.Series(["x", None, "=cmd"], dtype="str"),
        }
    ),
    "mixed object": lambda: pd.DataFrame({"o": ["x", 1, True], "n": [1, 2, 3]}),
    "nullable ints": lambda: pd.DataFrame({"i": pd.array([1, None], dtype="Int64"), "s": ["a", "b"]}),
    "categories": lambda: pd.DataFrame({"c": pd.Categorical(["lo", "hi", None]), "n": [1, 2, 3]}),
    "one text column": lambda: pd.DataFrame({"t": ["", "x"]}),
    "no rows": lambda: pd.DataFrame({"i": pd.Series([], dtype=np.int64), "t": pd.Series([], dtype=object)}),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_write_csv_bytes_match_pandas(tmp_path, name):
    frame = FRAMES[name]()
    ours = outputs.write_csv(frame, tmp_path / "ours.csv").read_bytes()
    assert ours == _pandas_bytes(frame, tmp_path / "pandas.csv")


def test_write_csv_leaves_the_callers_frame_alone(tmp_path):
    frame = FRAMES["floats"]()
    before = frame.copy()
    outputs.write_csv(frame, tmp_path / "x.csv")
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    ("name", "row_by_row"),
    [
        ("floats", True),
        ("text to quote", True),
        ("header to quote", True),
        ("formulas", True),
        ("ints bools text", True),
        ("categories", True),
        ("no rows", True),
        ("zoned Asia/Kathmandu", False),  # single column: pandas quotes a lone empty cell
        ("mixed object", False),
        ("nullable ints", False),
        ("one text column", False),
    ],
)
def test_write_csv_formats_the_tools_own_columns_itself(tmp_path, monkeypatch, name, row_by_row):
    written_rows = []
    write_rows = outputs._write_rows
    monkeypatch.setattr(outputs, "_write_rows", lambda *a: written_rows.append(write_rows(*a)))
    outputs.write_csv(FRAMES[name](), tmp_path / "x.csv")
    assert bool(written_rows) == row_by_row


@pytest.mark.parametrize("lead", [["i"], ["i", "u", "b"], ["u"], ["i", "u", "b", "s"]])
def test_write_csv_takes_leading_columns_written_ahead(tmp_path, lead):
    frame = FRAMES["ints bools text"]()  # columns i, u, b, s
    ahead = outputs.csv_lines(frame[lead])
    written = outputs.write_csv(frame, tmp_path / "ahead.csv", ahead=ahead).read_bytes()
    assert written == _pandas_bytes(frame, tmp_path / "pandas.csv")  # ["u"] does not lead: ignored


@pytest.mark.parametrize(
    "times",
    [
        _zoned("Asia/Shanghai", ["2026-03-01 01:30:00", "2025-12-31 16:00:00"]),
        _zoned("Asia/Kathmandu", ["2026-03-01 01:30:00"]),
        _zoned("America/New_York", ["2026-03-08 06:59:59", "2026-03-08 07:00:00"]),
        _zoned("Asia/Shanghai", ["2026-03-01 01:30:00.25"]),  # fractions: pandas' own isoformat
        _zoned("Asia/Shanghai", ["2026-03-01 01:30:00", None]),  # NaT
        pd.Series(pd.to_datetime(["2026-03-01 09:30:00"])),  # naive
    ],
)
def test_iso_texts_are_isoformat(times):
    assert outputs.iso_texts(times).tolist() == [t.isoformat() for t in times]


@pytest.mark.parametrize(
    ("cells", "neutralised"),
    [
        (["plain", "a\x00=b", "c"], ["plain", "a\x00=b", "c"]),  # a false hit of the one-scan check
        (["plain", "=SUM(A1)"], ["plain", "'=SUM(A1)"]),
        (["x", 1, "@cmd"], ["x", 1, "'@cmd"]),  # not all text: per cell
    ],
)
def test_neutralize_frame_finds_formulas_among_distinct_cells(cells, neutralised):
    from speechchurn.safety import neutralize_frame

    frame = pd.DataFrame({"t": pd.Series(cells, dtype=object)})
    assert neutralize_frame(frame)["t"].tolist() == neutralised


def test_an_empty_table_with_a_time_column_is_written(tmp_path):
    # a folder whose file names carry no caller grades nobody: callers.csv is empty, not a crash
    empty = pd.DataFrame(
        {
            "caller": pd.Series([], dtype=object),
            "last_call": pd.Series([], dtype="datetime64[ns, Asia/Shanghai]"),
        }
    )
    outputs.write_csv(empty, tmp_path / "callers.csv")
    assert outputs.read_csv(tmp_path / "callers.csv").columns.tolist() == ["caller", "last_call"]
