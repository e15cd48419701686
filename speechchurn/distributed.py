"""Scale-out on an existing Dask distributed cluster.

Each job travels with its audio bytes, so workers need no shared file system. A worker loads the
Whisper model once (the engine is cached per process) and returns the call's record; only the
client writes to the result store.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from .errors import SpeechchurnError

log = logging.getLogger("speechchurn")


class ClusterError(SpeechchurnError):
    """The Dask scheduler could not be reached or used."""


def run_remote(job, audio: bytes, options):
    """Worker side: materialise the audio in a temp file and run the normal per-file work."""
    from .pipeline import run_job

    suffix = Path(job.file).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(audio)
        handle.flush()
        return run_job(replace(job, path=Path(handle.name)), options)


def run_on_dask(jobs: Sequence, options) -> Iterator:
    """Submit every job to the scheduler and yield results as they complete."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError as e:
        raise ClusterError("--executor dask needs the dask extra: pip install 'speechchurn[dask]'") from e
    try:
        client = Client(options.scheduler, timeout="20s")
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"cannot reach Dask scheduler {options.scheduler}: {e}") from e
    try:
        futures = [client.submit(run_remote, job, job.path.read_bytes(), options, pure=False) for job in jobs]
        by_key = {f.key: job for f, job in zip(futures, jobs, strict=True)}
        for future in as_completed(futures):
            yield _result(future, by_key[future.key])
    finally:
        client.close()


def _result(future, job):
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001 - a lost worker fails this file, not the batch
        return job.file, f"dask worker failed: {type(e).__name__}: {e}"
