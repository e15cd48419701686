"""Issue 24 ("First contact II"), rows 1-7 and 13: each probe of the issue replayed as a regression test.

Every probe must end in a finished batch or a one-line error with the documented exit code (README:
2 usage / bad input file or path, 1 other fatal error), never a traceback, a lost batch, a leftover
worker, or code run from a file.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from speechchurn import outputs
from speechchurn.cli import app

TESTS = Path(__file__).resolve().parent
FAKE_CLI = TESTS / "fake_analyze.py"
SLOW_POOL_CLI = TESTS / "slow_pool_analyze.py"
BAD_NAME = os.fsdecode(b"20261101_100000_13700002299_in_\xff\xfe.wav")  # not UTF-8
PRINTED_NAME = "20261101_100000_13700002299_in_\\xff\\xfe.wav"  # how the store and outputs show it
WAIT_S = 90.0  # s to wait for a subprocess to reach the state a test needs
POLL_S = 0.2

runner = CliRunner()


def _error_line(result) -> str:
    """The run's only `error:` line; no traceback."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def _done_count(out: Path) -> int:
    try:
        with sqlite3.connect(out / "speechchurn.db", timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM files WHERE status = 'done'").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0


def _wait_until(condition, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)


# --- row 1: a file name that is not UTF-8 ---------------------------------------------------------


def test_row1_a_non_utf8_file_name_is_processed_and_stored_losslessly(calls_dir, tmp_path, fake_engine):
    first = sorted(calls_dir.glob("*.wav"))[0]
    shutil.copy(first, os.path.join(os.fsencode(calls_dir), os.fsencode(BAD_NAME)))
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    calls = outputs.read_csv(out / "calls.csv")
    assert PRINTED_NAME in set(calls["file"]) and len(calls) == 4
    for name in ("calls.csv", "callers.csv", "transcripts.jsonl", "evidence.jsonl", "report.html"):
        (out / name).read_bytes().decode("utf-8")  # every output is valid UTF-8
    with sqlite3.connect(out / "speechchurn.db") as db:
        raw = db.execute("SELECT raw FROM raw_names WHERE file = ?", (PRINTED_NAME,)).fetchone()[0]
    assert raw == os.fsencode(BAD_NAME)  # the exact bytes are kept
    rerun = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out)])
    assert rerun.exit_code == 0 and "0 done, 4 skipped (cached)" in rerun.output, rerun.output


def test_row1_the_desk_finds_the_recording_of_a_printable_name(calls_dir):
    from speechchurn.app.media import locate

    first = sorted(calls_dir.glob("*.wav"))[0]
    target = os.path.join(os.fsencode(calls_dir), os.fsencode(BAD_NAME))
    shutil.copy(first, target)
    assert os.fsencode(locate(calls_dir, PRINTED_NAME)) == os.fsencode(Path(os.fsdecode(target)).resolve())


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        ("普通话_20261101.wav", "普通话_20261101.wav"),
        (os.fsdecode(b"a_\xff.wav"), "a_\\xff.wav"),
        (os.fsdecode(b"dir\xc3/\xe4\xb8.wav"), "dir\\xc3/\\xe4\\xb8.wav"),
    ],
)
def test_row1_printable_names_round_trip(name, printed):
    from speechchurn.filenames import filesystem_name, printable_name

    assert printable_name(name) == printed
    printed.encode("utf-8")
    assert filesystem_name(printed) == name


# --- row 2: --as-of before every call -------------------------------------------------------------


def test_row2_grade_as_of_before_every_call_is_one_line(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    assert runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out), "-q"]).exit_code == 0
    result = runner.invoke(app, ["grade", str(out), "--as-of", "2026-01-01"])
    assert result.exit_code == 2
    assert "--as-of 2026-01-01: before the first call" in _error_line(result)


def test_row2_analyze_as_of_before_every_call_fails_before_transcribing(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out), "--as-of", "2026-01-01"])
    assert result.exit_code == 2
    assert "before the first call" in _error_line(result)
    assert fake_engine.decodes == 0 and _done_count(out) == 0


# --- row 3: an unusable --out ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda base: _touch(base / "a_file"), "exists and is not a folder"),
        (lambda base: _touch(base / "a_file") / "sub", "which is a file"),
        (lambda base: _read_only(base / "ro") / "out", "is not writable"),
        (lambda base: Path("/proc/speechchurn-probe-out"), "cannot create"),  # refuses even root
    ],
    ids=["existing-file", "under-a-file", "read-only-parent", "unwritable-system-folder"],
)
def test_row3_an_unusable_out_is_a_usage_error(calls_dir, tmp_path, fake_engine, make, message):
    out = make(tmp_path)
    if "ro" in out.parts and os.access(out.parent, os.W_OK):
        pytest.skip("running as root: a read-only folder is still writable")
    result = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out)])
    assert result.exit_code == 2
    assert message in _error_line(result)
    assert fake_engine.decodes == 0


def test_row3_retention_out_that_is_a_file_is_a_usage_error(tmp_path):
    csvs = [_touch(tmp_path / f"{name}.csv") for name in ("warned", "contacted", "outcomes")]
    args = ["retention", "--warned", str(csvs[0]), "--contacted", str(csvs[1]), "--outcomes", str(csvs[2])]
    result = runner.invoke(app, [*args, "--out", str(_touch(tmp_path / "a_file"))])
    assert result.exit_code == 2
    assert "exists and is not a folder" in _error_line(result)


def _touch(path: Path) -> Path:
    path.write_text("x", encoding="utf-8")
    return path


def _read_only(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o555)
    return path


# --- rows 4 and 5: a bad input file stops analyze before the first transcription ------------------


def _gbk_rules(path: Path) -> Path:
    path.write_bytes("# 分级规则\n[tiers]\n".encode("gbk"))
    return path


def _broken_rules(path: Path) -> Path:
    path.write_text("[tiers\nvip = 1\n", encoding="utf-8")
    return path


def _broken_roster(path: Path) -> Path:
    path.write_text("name,phone\n张三,13800000001\n", encoding="utf-8")
    return path


def _broken_lexicons(path: Path) -> Path:
    path.mkdir()
    (path / "complaint.txt").write_bytes(b"\xff\xfe\x00bad")
    return path


def _broken_manifest(path: Path) -> Path:
    path.write_text("file,who\nx.wav,1\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("option", "make", "file_name"),
    [
        ("--rules", _broken_rules, "bad.toml"),  # row 4
        ("--rules", _gbk_rules, "gbk.toml"),  # row 5
        ("--customers", _broken_roster, "roster.csv"),
        ("--lexicons", _broken_lexicons, "lexicons"),
        ("--manifest", _broken_manifest, "manifest.csv"),
    ],
    ids=["rules-syntax", "rules-gbk", "roster", "lexicons", "manifest"],
)
def test_rows4_5_a_bad_input_file_stops_analyze_before_any_transcription(
    calls_dir, tmp_path, fake_engine, option, make, file_name
):
    bad = make(tmp_path / file_name)
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out), option, str(bad)])
    assert result.exit_code == 2, result.output
    assert bad.name in _error_line(result)
    assert fake_engine.decodes == 0 and _done_count(out) == 0


def test_row5_grade_with_a_gbk_rules_file_names_it(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    assert runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out), "-q"]).exit_code == 0
    result = runner.invoke(app, ["grade", str(out), "--rules", str(_gbk_rules(tmp_path / "gbk.toml"))])
    assert result.exit_code == 2
    assert "gbk.toml: rules file is not UTF-8" in _error_line(result)


# --- row 6: kill -9 of analyze --workers 2 leaves no process behind -------------------------------


def test_row6_workers_and_resource_tracker_die_with_a_killed_analyze(calls_dir, tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    command = [sys.executable, str(SLOW_POOL_CLI), "analyze", str(calls_dir), "--out", str(out)]
    proc = subprocess.Popen([*command, "--workers", "2", "-q"])
    parent = psutil.Process(proc.pid)
    children = []

    def workers_busy() -> bool:  # both pool workers are on a file (their markers exist)
        busy = [c for c in parent.children() if any((Path(d) / str(c.pid)).exists() for d in _marker_dirs())]
        return len(busy) == 2

    try:
        _wait_until(workers_busy, proc, "the pool workers started a file")
        children = parent.children(recursive=True)  # 2 workers and multiprocessing's resource tracker
        assert len(children) >= 3, [c.cmdline() for c in children]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15.0
        while (alive := [c for c in children if _alive(c, psutil)]) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert not alive, f"still running after the parent was killed: {[c.cmdline() for c in alive]}"
    finally:
        for child in children:
            if _alive(child, psutil):
                child.kill()
        if proc.poll() is None:
            proc.kill()


def _marker_dirs() -> list[str]:
    import glob
    import tempfile

    return glob.glob(os.path.join(tempfile.gettempdir(), "speechchurn-pool-*"))


def _alive(process, psutil) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- row 7: one run at a time per OUT_DIR ---------------------------------------------------------


def test_row7_a_second_run_on_a_busy_out_dir_refuses_or_waits(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, str(FAKE_CLI), "1.0", "analyze", str(calls_dir), "--out", str(out), "-q"]
    )
    try:
        _wait_until(lambda: (out / ".speechchurn.lock.json").is_file(), first, "the first run took the lock")
        refused = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out)])
        assert refused.exit_code == 1
        line = _error_line(refused)
        assert f"in use by another `speechchurn analyze` (pid {first.pid}" in line and "--wait" in line
        assert fake_engine.decodes == 0
        regrade = runner.invoke(app, ["grade", str(out)])
        assert regrade.exit_code == 1 and "in use by another" in _error_line(regrade)
        waiting = subprocess.run(
            [sys.executable, str(FAKE_CLI), "0", "analyze", str(calls_dir), "--out", str(out), "--wait"],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
    finally:
        first.wait(timeout=WAIT_S)
    assert first.returncode == 0
    assert waiting.returncode == 0, waiting.stderr
    assert "waiting for it to finish (--wait)" in waiting.stderr
    assert "0 done, 3 skipped (cached)" in waiting.stdout  # nothing transcribed twice


# --- row 13: a model file cannot run code ---------------------------------------------------------


class _Payload:
    """A pickle that writes a file when it is unpickled."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "the payload ran"))


@pytest.fixture
def signing_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SPEECHCHURN_HOME", str(home))
    return home


def _evil_files(tmp_path: Path, target: Path) -> dict[str, Path]:
    import joblib

    from speechchurn.outcomes.signing import MAGIC

    files = {"pickle": tmp_path / "evil.pkl", "joblib": tmp_path / "evil.joblib"}
    files["pickle"].write_bytes(pickle.dumps(_Payload(target)))
    joblib.dump(_Payload(target), files["joblib"])
    forged = tmp_path / "forged.joblib"  # our magic line and a made-up signature
    forged.write_bytes(MAGIC + b"\0" * 32 + pickle.dumps(_Payload(target)))
    files["forged"] = forged
    return files


@pytest.mark.parametrize("kind", ["pickle", "joblib", "forged"])
def test_row13_a_model_file_with_a_payload_is_refused_unopened(tmp_path, signing_home, kind):
    from speechchurn.errors import ModelFileError
    from speechchurn.outcomes.train import load_model, save_model

    save_model({"format": 2}, tmp_path / "real.joblib")  # this installation has a key
    target = tmp_path / "pwned.txt"
    with pytest.raises(ModelFileError, match="not a speechchurn model file signed by this installation"):
        load_model(_evil_files(tmp_path, target)[kind])
    assert not target.exists()


def test_row13_grade_model_payload_is_one_line_and_never_runs(tmp_path, signing_home):
    target = tmp_path / "pwned.txt"
    evil = _evil_files(tmp_path, target)["joblib"]
    cdr = tmp_path / "cdr.csv"
    cdr.write_text(
        "caller,started_at,duration_s\n13800000001,2026-10-01T10:00:00+08:00,60\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["grade", str(tmp_path / "g"), "--calls", str(cdr), "--model", str(evil)])
    assert result.exit_code == 2
    assert "evil.joblib: not a speechchurn model file signed by this installation" in _error_line(result)
    assert not target.exists()


def test_row13_signed_models_round_trip_and_other_keys_are_refused(tmp_path, signing_home, monkeypatch):
    from speechchurn.errors import ModelFileError
    from speechchurn.outcomes.signing import key_path
    from speechchurn.outcomes.train import MODEL_FORMAT, load_model, save_model

    bundle = {"format": MODEL_FORMAT, "features": ["calls_30d"], "reference": {"calls_30d": 1.0}}
    path = save_model(bundle, tmp_path / "model.joblib")
    assert load_model(path) == bundle
    assert key_path().stat().st_mode & 0o077 == 0  # the key is private
    monkeypatch.setenv("SPEECHCHURN_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(ModelFileError, match="no signing key"):
        load_model(path)
    save_model(bundle, tmp_path / "other.joblib")  # makes a different key here
    with pytest.raises(ModelFileError, match="signature does not match"):
        load_model(path)


def test_row13_grade_help_says_model_files_are_signed():
    result = runner.invoke(app, ["grade", "--help"], terminal_width=200)
    assert "signed" in result.output and "unpickled" in result.output


# --- property tests of the name and --as-of parsers touched here ---------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAME_BYTES = st.binary(min_size=1, max_size=40).filter(lambda b: b"\0" not in b and b"\\x" not in b)


@given(NAME_BYTES)
def test_any_file_name_prints_as_utf8_and_maps_back_to_its_bytes(raw):
    from speechchurn.filenames import filesystem_name, printable_name

    name = os.fsdecode(raw)
    printed = printable_name(name)
    printed.encode("utf-8")  # never raises: valid for SQLite, CSV, JSON and the terminal
    assert os.fsencode(filesystem_name(printed)) == raw


@given(st.dates(), st.lists(st.one_of(st.none(), st.text(max_size=30), st.datetimes().map(str)), max_size=5))
def test_check_as_of_gives_nothing_or_one_line(as_of, starts):
    from speechchurn.batch.preflight import check_as_of
    from speechchurn.errors import ConfigError

    try:
        check_as_of(as_of, starts, "Asia/Shanghai")
    except ConfigError as e:
        assert "\n" not in str(e) and "before the first call" in str(e)
