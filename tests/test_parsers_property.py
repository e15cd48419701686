"""Property-based tests (hypothesis) of the parsers that read untrusted input (issue 24): the manifest
reader, phone normalisation, the rules and lexicon parsers, and time parsing (manifest times,
--as-of). Any input gives a value or the project's named error with a one-line message, never another
exception."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import tomllib
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from speechchurn.call import metadata, phones
from speechchurn.cli.options import parse_date
from speechchurn.customers import rules
from speechchurn.errors import ConfigError, ManifestError
from speechchurn.text import lexicon
from speechchurn.vocab import EARLIEST_CALL_YEAR, LATEST_CALL_YEAR

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)  # any Unicode text, NUL included
PHONE_CHARS = st.sampled_from(list("0123456789０１２３４５６７８９+-() .·/_\t\nx#*e８６"))
PHONES = st.one_of(
    st.text(PHONE_CHARS, max_size=24), TEXT, st.integers(), st.floats(), st.none(), st.booleans()
)
TIME_CHARS = st.sampled_from(list("0123456789-/:.T Z+年月日时分秒AMPampm_,") + ["\u3000", "\x00"])
TIMES = st.one_of(st.text(TIME_CHARS, max_size=30), TEXT, st.datetimes(timezones=st.timezones()))
ZONES = st.one_of(st.sampled_from(["Asia/Shanghai", "UTC", "Asia", "../etc/passwd", "", "Etc/GMT+14"]), TEXT)


def _one_line(error: BaseException) -> None:
    message = str(error)
    assert message and "\n" not in message.strip() and "Traceback" not in message, message


# --- phone numbers --------------------------------------------------------------------------------


@FAST
@given(PHONES)
def test_normalize_phone_gives_a_string_for_anything(raw):
    number = phones.normalize_phone(raw)
    assert isinstance(number, str) and number
    if re.fullmatch(r"\+?[0-9]+", number):  # a number is canonical: normalising again changes nothing
        assert phones.normalize_phone(number) == number
    key = phones.caller_key(raw)
    assert key is None or key == number


CELLS = st.one_of(st.text(PHONE_CHARS, max_size=24), TEXT, st.integers(), st.floats(), st.none())


@FAST
@given(st.lists(CELLS, max_size=12))  # no booleans: pandas factorizes True with 1 (no phone column has them)
def test_normalize_phones_matches_one_by_one(values):
    column = phones.normalize_phones(values)
    assert len(column) == len(values)
    for raw, number in zip(values, column, strict=True):
        blank = raw is None or (isinstance(raw, float) and raw != raw) or not str(raw).strip()
        assert number == ("" if blank else phones.normalize_phone(str(raw)))


# --- time parsing ----------------------------------------------------------------------------------


@FAST
@given(TIMES, ZONES)
def test_parse_timestamp_gives_an_aware_time_or_a_named_error(raw, zone):
    try:
        parsed = metadata.parse_timestamp(raw, zone)
    except ConfigError as e:  # an unknown zone
        _one_line(e)
        return
    except ValueError as e:  # the documented "nothing matches" (the manifest reports it per row)
        _one_line(e)
        return
    assert parsed.tzinfo is not None
    assert EARLIEST_CALL_YEAR <= parsed.year <= LATEST_CALL_YEAR


@FAST
@given(st.one_of(st.dates().map(dt.date.isoformat), st.text(TIME_CHARS, max_size=14), TEXT))
def test_as_of_gives_a_date_or_a_usage_error(raw):
    try:
        day = parse_date(raw)
    except typer.BadParameter as e:
        _one_line(e)
        return
    assert isinstance(day, dt.date)
    assert EARLIEST_CALL_YEAR <= day.year <= LATEST_CALL_YEAR


# --- the manifest reader ---------------------------------------------------------------------------

HEADER = "file,caller,agent,direction,started_at,transfers"
CELL = st.one_of(TEXT, st.text(TIME_CHARS, max_size=20), st.sampled_from(["in", "out", "呼入", "-1", "1e9"]))


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _load(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), "manifest.csv", data)
        try:
            return metadata.load_manifest(path)
        except ManifestError as e:
            _one_line(e)
            return None


@FAST
@given(
    st.lists(st.lists(CELL, min_size=0, max_size=8), max_size=6),
    st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_manifest_rows_of_anything_are_rows_or_problems(rows, encoding):
    lines = [HEADER] + [",".join('"' + c.replace('"', '""') + '"' for c in row) for row in rows]
    try:
        data = "\n".join(lines).encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    manifest = _load(data)
    if manifest is None:
        return
    for meta in manifest.rows.values():
        assert meta.started_at.tzinfo is not None and meta.direction in ("in", "out", "unknown")
    for problem in manifest.problems:
        assert "\n" not in problem


@FAST
@given(st.binary(max_size=300))
def test_manifest_of_any_bytes_is_read_or_refused(data):
    _load(data)


@FAST
@given(st.binary(max_size=200))
def test_manifest_with_a_header_and_any_bytes_is_read_or_refused(data):
    _load(HEADER.encode() + b"\n" + data)


# --- the rules parser ------------------------------------------------------------------------------

DEFAULT_RULES = tomllib.loads(rules.default_rules_path().read_text(encoding="utf-8"))
CONDITIONS = st.sampled_from(["calls >= 1", "score > nan", "calls == 1e999", "kw_x >= -0", "calls>=1"])
LEAVES = st.one_of(
    st.integers(), st.floats(), st.booleans(), TEXT, st.lists(TEXT, max_size=3), st.just({}),
    st.dictionaries(TEXT, st.integers(), max_size=2), CONDITIONS, st.lists(CONDITIONS, max_size=2),
)  # fmt: skip


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


RULE_PATHS = [p for p in _paths(DEFAULT_RULES) if p]


def _replaced(document, path, value):
    import copy

    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def _parse_or_config_error(document) -> None:
    try:
        parsed = rules.parse_rules(document, "rules.toml")
    except ConfigError as e:
        _one_line(e)
        assert str(e).startswith("rules.toml")
        return
    assert parsed.tiers or parsed.fallback_tier


@FAST
@given(st.sampled_from(RULE_PATHS), LEAVES)
def test_rules_with_any_value_anywhere_parse_or_name_the_key(path, value):
    _parse_or_config_error(_replaced(DEFAULT_RULES, path, value))


@FAST
@given(st.sampled_from(RULE_PATHS), st.sampled_from(RULE_PATHS))
def test_rules_with_one_part_moved_elsewhere_parse_or_name_the_key(source, target):
    value = DEFAULT_RULES
    for step in source:
        value = value[step]
    _parse_or_config_error(_replaced(DEFAULT_RULES, target, value))


@FAST
@given(st.dictionaries(TEXT, LEAVES, max_size=4))
def test_rules_of_any_table_parse_or_name_the_key(document):
    _parse_or_config_error(document)


@FAST
@given(st.one_of(st.binary(max_size=300), TEXT.map(lambda t: t.encode("utf-8"))))
def test_rules_file_of_any_bytes_loads_or_is_refused(data):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), "rules.toml", data)
        try:
            rules.load_rules(path)
        except ConfigError as e:
            _one_line(e)


# --- the lexicon parser ----------------------------------------------------------------------------

LEXICON_LINE = st.one_of(
    TEXT,
    st.tuples(TEXT, st.one_of(st.floats(), st.integers(), TEXT)).map(lambda p: f"{p[0]} {p[1]}"),
    st.sampled_from(
        ["投诉", "# comment", "销户 2.0", "x nan", "y inf", "z -1", "   ", "a 1 # c", "a\u3000b"]
    ),
)


@FAST
@given(st.lists(LEXICON_LINE, max_size=8), st.sampled_from(["complaint", "churn_intent", "x"]))
def test_lexicon_file_of_any_lines_parses_or_names_the_line(lines, name):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), f"{name}{lexicon.LEXICON_SUFFIX}", "\n".join(lines).encode("utf-8"))
        try:
            category = lexicon.parse_lexicon_file(path)
        except ConfigError as e:
            _one_line(e)
            assert str(path) in str(e)
            return
    assert category.terms
    for term in category.terms:
        assert term.text and not any(c.isspace() for c in term.text) and term.weight > 0


@FAST
@given(
    st.binary(max_size=200),
    st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=20),
)
def test_lexicon_file_of_any_bytes_and_name_parses_or_is_refused(data, name):
    assume(name not in (".", ".."))
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = _write(Path(folder), f"{name}{lexicon.LEXICON_SUFFIX}", data)
        except OSError:  # a name the file system refuses (too long in bytes)
            assume(False)
        try:
            lexicon.parse_lexicon_file(path)
        except ConfigError as e:
            _one_line(e)


@pytest.mark.parametrize(
    "zone", ["Asia", "Asia/", "/etc/localtime", "../../etc/passwd", "a" * 300, "UTC\x00"]
)
def test_odd_time_zone_names_are_config_errors(zone):
    with pytest.raises(ConfigError):
        metadata.get_tz(zone)


# --- the same through the CLI: one line, exit 2 ----------------------------------------------------


@pytest.fixture(scope="module")
def graded_out(tmp_path_factory):
    from desk_support import analyze_samples

    return analyze_samples(tmp_path_factory.mktemp("as_of") / "out")


@pytest.mark.parametrize("as_of", ["9999-12-31", "0001-01-01", "2026-02-30", "2026-1-1", "", "2026-01-01\n"])
def test_grade_as_of_out_of_range_is_a_one_line_usage_error(graded_out, as_of):
    from typer.testing import CliRunner

    from speechchurn.cli import app

    result = CliRunner().invoke(app, ["grade", str(graded_out), "--as-of", as_of, "-q"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "--as-of" in result.output


@pytest.mark.parametrize(
    "started_at", ["9999-12-31T00:00:00", "0001-01-01T00:00:00+14:00", "1899-12-31 23:59"]
)
def test_manifest_times_out_of_range_are_row_problems(tmp_path, started_at):
    path = tmp_path / "manifest.csv"
    path.write_text(f"{HEADER}\na.wav,13800000001,A1,in,{started_at},0\n", encoding="utf-8")
    manifest = metadata.load_manifest(path)
    assert not manifest.rows and len(manifest.problems) == 1 and "started_at" in manifest.problems[0]
