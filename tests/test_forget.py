"""`speechchurn forget` end to end (issue 24): after it, a customer is in no output file, no store
table and no desk page; a rerun of `analyze` with their audio still there does not bring them back
until the tombstone is lifted; `--before DATE` purges old calls the same way; --delete-audio."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from conftest import SAMPLES
from desk_support import analyze_samples
from typer.testing import CliRunner

from speechchurn import outputs
from speechchurn.cli import app as cli_app
from speechchurn.cli.options import EXIT_USAGE
from speechchurn.resources import default_rules_path

pytest.importorskip("starlette.testclient")
from starlette.testclient import TestClient  # noqa: E402

from speechchurn.app.web import DeskConfig, create_app  # noqa: E402
from speechchurn.review import marks  # noqa: E402

GONE = "13998765402"  # the complainer: two calls, keyword hits, in the review queue
KEPT = "13812345601"  # the loyal customer: three calls
DORMANT_FILE = "20260615_091245_15900003305_in.wav"  # the only call before 2026-07-01
runner = CliRunner()


def _audio_copy(tmp_path: Path) -> Path:
    audio = tmp_path / "audio"
    audio.mkdir()
    for wav in SAMPLES.glob("*.wav"):
        shutil.copy(wav, audio / wav.name)
    return audio


def _desk(out: Path, audio: Path) -> TestClient:
    return TestClient(create_app(DeskConfig(out, audio, allowed_hosts=("testserver",), reviewer="王主管")))


def _mark_everything(out: Path, audio: Path, caller: str) -> None:
    """A reviewer marks the caller's hits, reviews them and overrides their tier (desk tables filled)."""
    client = _desk(out, audio)
    page = client.get(f"/customer/{caller}").text
    db = marks.connect(out)
    try:
        for hit_id in re.findall(r'data-hit="(\d+)"', page):
            hit, sha = db.execute("SELECT hit, sha256 FROM desk_hits WHERE id = ?", (int(hit_id),)).fetchone()
            marks.mark_hit(db, json.loads(hit), sha, "wrong", "王主管")
        marks.review_customer(db, caller, "escalated", f"客户 {caller} 要求销户", "王主管")
        marks.override_tier(db, caller, "VIP", f"{caller} 是大客户", "王主管")
    finally:
        db.close()
    assert runner.invoke(cli_app, ["marks", "export", str(out)]).exit_code == 0


def _file_texts(out: Path) -> dict[str, str]:
    """Every file of OUT_DIR as text (the workbook's XML parts joined; the store separately)."""
    texts = {}
    for path in out.rglob("*"):
        if not path.is_file() or path.name.startswith("speechchurn.db"):  # the store: _store_dump
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                texts[path.name] = "".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())
        else:
            texts[path.name] = path.read_bytes().decode("utf-8", "replace")
    return texts


def _store_dump(out: Path) -> str:
    db = sqlite3.connect(out / "speechchurn.db")
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


def _store_bytes(out: Path) -> bytes:
    return b"".join(p.read_bytes() for p in out.glob("speechchurn.db*"))


def _desk_pages(out: Path, audio: Path) -> str:
    client = _desk(out, audio)
    pages = [
        client.get("/").text,
        client.get("/", params={"all": "1"}).text,
        client.get("/search?q=投诉").text,
    ]
    db = marks.connect(out)
    try:
        ids = [r[0] for r in db.execute("SELECT id FROM desk_calls")]
    finally:
        db.close()
    pages += [client.get(f"/call/{i}").text for i in ids]
    assert client.get(f"/customer/{GONE}").status_code == 404
    return "\n".join(pages)


def _forget(*args: str):
    result = runner.invoke(cli_app, ["forget", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _analyze_again(audio: Path, out: Path) -> None:
    analyze_samples(out, audio)


def test_forget_removes_a_customer_everywhere_and_stays_forgotten(tmp_path):
    audio = _audio_copy(tmp_path)
    out = analyze_samples(tmp_path / "out", audio)
    _mark_everything(out, audio, GONE)
    texts = _file_texts(out)
    assert GONE in texts["calls.csv"] and GONE in texts["callers.csv"] and GONE in texts["marks.csv"]
    assert GONE in _store_dump(out) and GONE.encode() in _store_bytes(out)
    assert _desk(out, audio).get(f"/customer/{GONE}").status_code == 200

    printed = _forget(str(out), "--caller", f"+86 {GONE[:3]}-{GONE[3:7]}-{GONE[7:]}")  # any spelling
    assert f"forgot caller {GONE}" in printed and "20261105_101544_13998765402_in.wav" in printed
    assert "desk_hit_marks" in printed and "--lift" in printed

    for name, text in _file_texts(out).items():
        assert GONE not in text, name
    assert KEPT in _file_texts(out)["callers.csv"]  # the others stay
    assert GONE not in _store_dump(out)
    assert GONE.encode() not in _store_bytes(out)  # vacuumed: not even in free pages
    assert GONE not in _desk_pages(out, audio)

    _analyze_again(audio, out)  # the recordings are still in the folder
    for name, text in _file_texts(out).items():
        assert GONE not in text, name
    assert GONE not in _store_dump(out)
    assert KEPT in _file_texts(out)["calls.csv"]

    assert "lifted 13998765402" in _forget(str(out), "--caller", GONE, "--lift")
    _analyze_again(audio, out)
    assert GONE in _file_texts(out)["callers.csv"]  # back after the tombstone is lifted


def test_forget_before_a_date_purges_old_calls_and_deletes_audio(tmp_path):
    audio = _audio_copy(tmp_path)
    out = analyze_samples(tmp_path / "out", audio)
    printed = _forget(str(out), "--before", "2026-07-01", "--delete-audio")
    assert DORMANT_FILE in printed and "purged calls before 2026-07-01" in printed
    assert not (audio / DORMANT_FILE).exists() and (audio / "20261105_101544_13998765402_in.wav").exists()
    calls = outputs.read_csv(out / "calls.csv")
    assert DORMANT_FILE not in set(calls["file"]) and len(calls) == 10
    assert "15900003305" not in _file_texts(out)["callers.csv"]

    shutil.copy(SAMPLES / DORMANT_FILE, audio / DORMANT_FILE)  # the recording comes back from a backup
    _analyze_again(audio, out)
    assert DORMANT_FILE not in set(outputs.read_csv(out / "calls.csv")["file"])  # the cut-off holds
    assert "lifted retention" in _forget(str(out), "--lift-retention")
    _analyze_again(audio, out)
    assert DORMANT_FILE in set(outputs.read_csv(out / "calls.csv")["file"])


def test_forget_with_hashed_outputs_removes_the_hashed_key_too(tmp_path):
    from speechchurn.text.redact import hash_caller

    audio = _audio_copy(tmp_path)
    out = analyze_samples(tmp_path / "out", audio)
    hashed = hash_caller(GONE, "pepper")
    db = marks.connect(out)
    marks.override_tier(db, hashed, "VIP", "大客户", "王主管")  # the desk writes under the hashed key
    db.close()
    _forget(str(out), "--caller", GONE, "--hash-callers", "pepper")
    texts = _file_texts(out)
    for name, text in texts.items():
        assert GONE not in text and hashed not in text, name
    assert KEPT not in texts["callers.csv"] and hash_caller(KEPT, "pepper") in texts["callers.csv"]
    assert hashed not in _store_dump(out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--caller N and/or --before DATE"),
        (["--caller", "   "], "not a caller key"),
        (["--caller", "unknown"], "not a caller key"),
        (["--before", "2026-13-01"], "YYYY-MM-DD"),
        (["--lift"], "--lift needs the --caller"),
    ],
)
def test_forget_usage_errors_are_one_line(tmp_path, args, message):
    out = analyze_samples(tmp_path / "out")
    result = runner.invoke(cli_app, ["forget", str(out), *args])
    assert result.exit_code == EXIT_USAGE and message in result.output
    assert "Traceback" not in result.output


def test_forget_refuses_to_unhash_outputs_without_the_salt(tmp_path):
    out = analyze_samples(tmp_path / "out")
    assert runner.invoke(cli_app, ["grade", str(out), "-q", "--hash-callers", "pepper"]).exit_code == 0
    result = runner.invoke(cli_app, ["forget", str(out), "--caller", GONE])
    assert result.exit_code == EXIT_USAGE and "--hash-callers" in result.output
    assert GONE in _store_dump(out)  # nothing was deleted
    assert KEPT not in _file_texts(out)["callers.csv"]  # and nothing rewritten unhashed


def test_a_failed_grading_run_leaves_no_output_naming_them(tmp_path):
    rules = tmp_path / "rules.toml"
    shutil.copy(default_rules_path(), rules)
    out = analyze_samples(tmp_path / "out")
    assert runner.invoke(cli_app, ["grade", str(out), "-q", "--rules", str(rules)]).exit_code == 0
    rules.unlink()  # the last run's rules file is gone: its grading run cannot be repeated
    result = runner.invoke(cli_app, ["forget", str(out), "--caller", GONE])
    assert result.exit_code == 1 and "speechchurn grade" in result.output and "Traceback" not in result.output
    assert GONE not in _store_dump(out)
    for name, text in _file_texts(out).items():
        assert GONE not in text, name
    assert not (out / "callers.csv").exists()


def test_a_call_finished_after_forget_is_not_stored(tmp_path):
    """`forget` while `analyze` is transcribing: the call that finishes afterwards stays out."""
    from speechchurn.batch.store import Store
    from speechchurn.batch.worker import CallRecord

    out = analyze_samples(tmp_path / "out")
    _forget(str(out), "--caller", GONE)
    row = {"file": "late.wav", "caller": GONE, "started_at": "2026-11-30T10:00:00+08:00"}
    kept = {"file": "kept.wav", "caller": KEPT, "started_at": "2026-11-30T10:00:00+08:00"}
    with Store(out) as store:
        assert store.record_call(CallRecord("late.wav", "ab" * 32, "run", "tlate", 1.0, (), row, ())) is False
        assert store.record_call(CallRecord("kept.wav", "cd" * 32, "run", "tkept", 1.0, (), kept, ())) is True
    assert GONE not in _store_dump(out)
