"""Batch survival: SIGKILL mid-batch then resume, Ctrl-C, and the Dask executor on loopback."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from speechchurn.analyze import AnalyzeOptions, analyze

FAKE_CLI = Path(__file__).resolve().parent / "fake_analyze.py"
COMPARED_OUTPUTS = (
    "calls.csv",
    "callers.csv",
    "review.csv",
    "transcripts.jsonl",
    "evidence.jsonl",
    "errors.csv",
)
DONE_POLL_S = 0.2  # s between store polls
KILL_DEADLINE_S = 120.0  # s to wait for the first file to finish
BATCH_FILES = 5  # after the first file is done, four slow files leave the signal seconds to arrive
SLOW_DECODE_S = 1.5  # s per fake decode (about 2 per file): ~12 s of batch left after the first file


def _fake_cli(delay_s: float, *args: str) -> list[str]:
    return [sys.executable, str(FAKE_CLI), str(delay_s), *args]


def _done_count(out: Path) -> int:
    try:
        with sqlite3.connect(out / "speechchurn.db", timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM files WHERE status = 'done'").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0


def _default_sigint() -> None:
    """In the child: Ctrl-C's default action, unblocked, even where pytest itself runs with SIGINT
    ignored (a shell's background job does), since Python only turns SIGINT into KeyboardInterrupt when
    it starts with the default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def _wait_for_done(out: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + KILL_DEADLINE_S
    while _done_count(out) < n:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no file finished in time"
        time.sleep(DONE_POLL_S)
    done = _done_count(out)
    assert proc.poll() is None, f"the run ended before it could be interrupted ({done} files done)"


def _outputs(out: Path, names=COMPARED_OUTPUTS) -> dict[str, bytes]:
    """Output bytes; calls.csv without its wall-clock stage timings, which differ from run to run."""
    return {
        name: _without_timings(out / name) if name == "calls.csv" else (out / name).read_bytes()
        for name in names
    }


def _without_timings(path: Path) -> bytes:
    import pandas as pd

    from speechchurn.batch.pipeline import STAGE_COLUMNS

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return frame.drop(columns=[c for c in STAGE_COLUMNS if c in frame.columns]).to_csv(index=False).encode()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, samples_dir):
    """Reference outputs of an uninterrupted run over a few sample calls."""
    import shutil

    folder = tmp_path_factory.mktemp("batch_calls")
    for path in sorted(samples_dir.glob("*.wav"))[:BATCH_FILES]:
        shutil.copy(path, folder / path.name)
    out = tmp_path_factory.mktemp("batch_reference")
    subprocess.run(_fake_cli(0, "analyze", str(folder), "--out", str(out), "-q"), check=True)
    return folder, _outputs(out)


def test_sigkill_mid_batch_then_resume_gives_identical_outputs(uninterrupted, tmp_path):
    folder, reference = uninterrupted
    out = tmp_path / "out"
    proc = subprocess.Popen(_fake_cli(SLOW_DECODE_S, "analyze", str(folder), "--out", str(out), "-q"))
    _wait_for_done(out, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_before = _done_count(out)
    assert 1 <= finished_before < BATCH_FILES
    resumed = subprocess.run(
        _fake_cli(0, "analyze", str(folder), "--out", str(out)), capture_output=True, text=True, check=True
    )
    assert f"{BATCH_FILES - finished_before} done, {finished_before} skipped (cached)" in resumed.stdout
    assert _outputs(out) == reference


def test_ctrl_c_stops_cleanly_with_a_resume_hint(uninterrupted, tmp_path):
    folder, reference = uninterrupted
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _fake_cli(SLOW_DECODE_S, "analyze", str(folder), "--out", str(out), "-q"),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    _wait_for_done(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "run the same command again to resume" in stderr
    with sqlite3.connect(out / "speechchurn.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    subprocess.run(_fake_cli(0, "analyze", str(folder), "--out", str(out), "-q"), check=True)
    assert _outputs(out) == reference


def test_dask_executor_matches_a_local_run(calls_dir, tmp_path, fake_engine, monkeypatch):
    pytest.importorskip("distributed")
    import speechchurn.batch.executors

    monkeypatch.setattr(speechchurn.batch.executors, "MAX_IN_FLIGHT", 2)  # 3 files: exercises the refill
    local = analyze(calls_dir, tmp_path / "local")
    from dask_cluster import in_process_cluster

    with in_process_cluster() as cluster:
        options = AnalyzeOptions(executor="dask", scheduler=cluster.scheduler_address)
        remote = analyze(calls_dir, tmp_path / "dask", options)
    assert remote.done == local.done == 3
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "local")


def test_unreachable_scheduler_is_a_clear_error(calls_dir, tmp_path, fake_engine):
    pytest.importorskip("distributed")
    from speechchurn.errors import SpeechchurnError

    options = AnalyzeOptions(executor="dask", scheduler="tcp://127.0.0.1:9")
    with pytest.raises(SpeechchurnError, match="cannot reach Dask scheduler"):
        analyze(calls_dir, tmp_path / "out", options)


@pytest.mark.slow
def test_two_local_workers_match_one(tmp_path, samples_dir, model_home):
    """Real model: worker processes load it once each and give the same transcripts as one process."""
    import shutil

    folder = tmp_path / "calls"
    folder.mkdir()
    for path in sorted(samples_dir.glob("*.wav"))[:2]:
        shutil.copy(path, folder / path.name)
    one = analyze(folder, tmp_path / "one", AnalyzeOptions(workers=1))
    two = analyze(folder, tmp_path / "two", AnalyzeOptions(workers=2))
    assert one.done == two.done == 2
    names = ("transcripts.jsonl", "calls.csv")
    assert _outputs(tmp_path / "two", names) == _outputs(tmp_path / "one", names)
