"""Race-free model provisioning: several processes assemble / convert the bundled model at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from speechchurn.asr import models

PROCESSES = 4


def _install(home: str, engine: str, start, results) -> None:
    import os

    os.environ["SPEECHCHURN_HOME"] = home
    from speechchurn.asr.models import install_model

    start.wait()  # every process starts provisioning at the same moment
    try:
        results.put(("ok", str(install_model("base", engine))))
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        results.put(("error", f"{type(e).__name__}: {e}"))


def _race(home: Path, engine: str) -> list[tuple[str, str]]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    procs = [
        context.Process(target=_install, args=(str(home), engine, start, results)) for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    start.set()
    outcomes = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    return outcomes


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _leftovers(home: Path) -> list[str]:
    folder = home / "models"
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or ".staging" in p.name)


@pytest.mark.parametrize(
    "engine",
    [models.ENGINE_FASTER, pytest.param(models.ENGINE_OPENAI, marks=pytest.mark.slow)],
)
def test_concurrent_install_on_empty_home(tmp_path, engine):
    if engine == models.ENGINE_OPENAI:
        pytest.importorskip("whisper")
    outcomes = _race(tmp_path, engine)
    errors = [detail for status, detail in outcomes if status != "ok"]
    assert not errors, errors
    paths = {detail for _, detail in outcomes}
    assert len(paths) == 1, paths
    ct2 = tmp_path / "models" / "base-ct2"
    assert _sha256(ct2 / "model.bin") == models.BUNDLED["base"].sha256
    for side in models.CT2_SIDE_FILES:
        assert (ct2 / side).is_file()
    if engine == models.ENGINE_OPENAI:
        assert paths == {str(tmp_path / "models" / "base-openai.pt")}
        import torch

        checkpoint = torch.load(paths.pop(), map_location="cpu", weights_only=False)
        assert checkpoint["dims"] == models.BUNDLED["base"].dims
    assert _leftovers(tmp_path) == []


def test_staging_left_by_a_dead_process_is_cleared(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHCHURN_HOME", str(tmp_path))
    stale = tmp_path / "models" / ".base-ct2.otherhost-4242-0123456789ab.partial"
    stale.mkdir(parents=True)
    (stale / "model.bin").write_bytes(b"half written")
    assert models.install_model("base") == tmp_path / "models" / "base-ct2"
    assert _leftovers(tmp_path) == []


def test_parent_provisions_before_workers_start(tmp_path, monkeypatch):
    """The pool's workers find the model ready: the parent assembled it before starting them."""
    import concurrent.futures
    from types import SimpleNamespace

    from speechchurn.batch.executors import PoolExecutor
    from speechchurn.batch.options import AnalyzeOptions

    monkeypatch.setenv("SPEECHCHURN_HOME", str(tmp_path))

    class NoPool:
        def __init__(self, *args, **kwargs):
            assert models._ct2_ready(tmp_path / "models" / "base-ct2")
            raise RuntimeError("stop before spawning")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", NoPool)
    jobs = [SimpleNamespace(file="a.wav"), SimpleNamespace(file="b.wav")]
    with pytest.raises(RuntimeError, match="stop before spawning"):
        list(PoolExecutor(2).map(jobs, AnalyzeOptions(workers=2), lexicon=None))


@pytest.mark.slow
def test_first_analyze_with_two_workers_on_empty_home(tmp_path, calls_dir, monkeypatch):
    """A new user's first run: empty model cache, two worker processes, every file done."""
    import csv

    from typer.testing import CliRunner

    from speechchurn.cli import app

    home = tmp_path / "home"
    monkeypatch.setenv("SPEECHCHURN_HOME", str(home))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", str(calls_dir), "--out", str(out), "--workers", "2", "-q"])
    with open(out / "errors.csv", encoding="utf-8") as handle:
        errors = list(csv.DictReader(handle))
    assert errors == [], errors
    assert result.exit_code == 0, result.output
    with open(out / "calls.csv", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(list(calls_dir.glob("*.wav")))
    assert _leftovers(home) == []
