"""A crashing worker costs at most the file it was on (real crashes in real pool workers)."""

from __future__ import annotations

import shutil

import pytest

from speechchurn import outputs
from speechchurn.analyze import analyze
from speechchurn.batch import executors
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.batch.pool import exit_description


@pytest.fixture
def crashing_pool(monkeypatch, model_home):
    """Every pool worker runs crash_jobs.fake_job (FakeEngine, faults keyed on the file's path)."""
    import crash_jobs

    pool = executors.PoolExecutor(2, job=crash_jobs.fake_job, warm=None)
    monkeypatch.setattr(executors, "choose_executor", lambda options, job_count: pool)
    return pool


def _with_faults(calls_dir, *faults: str):
    """Copy the first sample call into a subfolder per fault (the file name pattern still matches)."""
    first = sorted(calls_dir.glob("*.wav"))[0]
    for fault in faults:
        (calls_dir / fault).mkdir()
        shutil.copy(first, calls_dir / fault / first.name)
    return calls_dir


def test_a_crashing_worker_costs_at_most_its_file(calls_dir, tmp_path, crashing_pool):
    """SIGKILL and a real segfault on every try: that file fails; a worker killed once: file done."""
    folder = _with_faults(calls_dir, "poison", "segv", "flaky")
    name = sorted(calls_dir.glob("*.wav"))[0].name
    out = tmp_path / "out"
    result = analyze(folder, out, AnalyzeOptions(workers=2))
    assert (result.total, result.done, result.failed) == (6, 4, 2)
    errors = outputs.read_csv(out / "errors.csv").sort_values("file")
    assert list(errors["file"]) == [f"poison/{name}", f"segv/{name}"]
    assert list(errors["reason"]) == ["worker crashed twice (signal 9)", "worker crashed twice (signal 11)"]
    calls = outputs.read_csv(out / "calls.csv")
    expected = [p.name for p in calls_dir.glob("*.wav")] + [f"flaky/{name}"]
    assert sorted(calls["file"]) == sorted(expected)


@pytest.mark.parametrize(("code", "text"), [(-9, "signal 9"), (-11, "signal 11"), (1, "exit code 1")])
def test_exit_description(code, text):
    assert exit_description(code) == text


def test_a_dask_worker_that_dies_costs_at_most_its_file(calls_dir, tmp_path, monkeypatch, model_home):
    """Real `dask scheduler` + 2 `dask worker`s; the poisoned task SIGKILLs each worker it lands on."""
    pytest.importorskip("distributed")
    import crash_jobs
    from dask_cluster import dask_cluster

    folder = _with_faults(calls_dir, "poison")
    name = sorted(calls_dir.glob("*.wav"))[0].name
    cluster_dir = tmp_path / "cluster"
    cluster_dir.mkdir()
    with dask_cluster(cluster_dir, env={"SPEECHCHURN_HOME": str(model_home)}) as address:
        executor = executors.DaskExecutor(address, job=crash_jobs.fake_job)
        monkeypatch.setattr(executors, "choose_executor", lambda options, job_count: executor)
        out = tmp_path / "out"
        result = analyze(folder, out, AnalyzeOptions(executor="dask", scheduler=address))
    assert (result.total, result.done, result.failed) == (4, 3, 1)
    errors = outputs.read_csv(out / "errors.csv")
    assert list(errors["file"]) == [f"poison/{name}"]
    assert errors.loc[0, "reason"] == "worker crashed twice (dask: KilledWorker)"


def test_the_lexicon_is_read_once_per_batch(calls_dir, tmp_path, fake_engine, monkeypatch):
    import speechchurn.text.lexicon as lexicons

    reads = []
    real = lexicons.load_lexicons
    monkeypatch.setattr(lexicons, "load_lexicons", lambda *a, **k: reads.append(a) or real(*a, **k))
    result = analyze(calls_dir, tmp_path / "out", AnalyzeOptions(workers=1))
    assert result.done == 3
    assert reads.count((None,)) == 1  # the batch's lexicon, once
    assert len(reads) < result.done  # besides it at most sentiment's cached bundled copy: not per file
