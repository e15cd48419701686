"""One result whatever the executor: in-process, a local pool and a real Dask cluster agree.

The runs differ in CTranslate2 intra-op threads per decode (workers=1: the engine's default, all
cores; workers=2: one each; Dask: the engine's default on each worker); measured, that changes no
result. OMP_NUM_THREADS does, and dask's nanny sets it to 1 in its worker, so these workers run
without a nanny (as the local run, OMP_NUM_THREADS unset). Tolerance: exact equality of
transcripts and of every feature column (stage wall times excepted).
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from speechchurn import outputs
from speechchurn.analyze import analyze
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.batch.pipeline import STAGE_COLUMNS

# the two shortest sample calls keep this real-model test short
CALLS = ("20261028_100012_13700002204_out.wav", "20260615_091245_15900003305_in.wav")


def _results(out):
    transcripts = {
        record["file"]: record["segments"]
        for record in map(
            json.loads, (out / outputs.TRANSCRIPTS_JSONL).read_text(encoding="utf-8").splitlines()
        )
    }
    calls = outputs.read_csv(out / outputs.CALLS_CSV).sort_values("file").reset_index(drop=True)
    return transcripts, calls.drop(columns=[c for c in STAGE_COLUMNS if c in calls.columns])  # wall times


@pytest.mark.slow
def test_workers_1_workers_2_and_dask_agree(tmp_path, samples_dir, model_home):
    pytest.importorskip("distributed")
    from dask_cluster import dask_cluster

    folder = tmp_path / "calls"
    folder.mkdir()
    for name in CALLS:
        shutil.copy(samples_dir / name, folder / name)
    runs = {}
    for label, options in {
        "workers=1": AnalyzeOptions(workers=1),
        "workers=2": AnalyzeOptions(workers=2),
    }.items():
        result = analyze(folder, tmp_path / label, options)
        assert result.done == len(CALLS), result.failures
        runs[label] = _results(tmp_path / label)
    cluster_dir = tmp_path / "cluster"
    cluster_dir.mkdir()
    # the Dask workers start from an empty model cache: each provisions under the lock
    home = {"SPEECHCHURN_HOME": str(tmp_path / "dask_home")}
    with dask_cluster(cluster_dir, env=home, nanny=False) as address:
        result = analyze(folder, tmp_path / "dask", AnalyzeOptions(executor="dask", scheduler=address))
    assert result.done == len(CALLS), result.failures
    runs["dask"] = _results(tmp_path / "dask")
    reference_transcripts, reference_calls = runs.pop("workers=1")
    assert all(reference_transcripts[name] for name in CALLS), "every call has words"
    for label, (transcripts, calls) in runs.items():
        assert transcripts == reference_transcripts, label
        pd.testing.assert_frame_equal(calls, reference_calls, check_exact=True, obj=label)
