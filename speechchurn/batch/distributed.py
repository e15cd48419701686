"""Scale-out on an existing Dask distributed cluster.

Each job travels with its audio bytes, so workers need no shared file system. A worker loads the
Whisper model once (the engine is cached per process) and returns the call's record; only the
client writes to the result store.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from speechchurn.errors import SpeechchurnError

log = logging.getLogger("speechchurn")

MAX_IN_FLIGHT = 64  # files submitted but not finished; bounds the client's memory for audio bytes


class ClusterError(SpeechchurnError):
    """The Dask scheduler could not be reached or used."""


def run_remote(job, audio: bytes, options, lexicon):
    """Worker side: materialise the audio in a temp file and run the normal per-file work."""
    from speechchurn.batch.pipeline import run_job

    suffix = Path(job.file).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(audio)
        handle.flush()
        return run_job(replace(job, path=Path(handle.name)), options, lexicon)


def run_on_dask(jobs: Sequence, options, lexicon) -> Iterator:
    """Submit jobs to the scheduler, at most MAX_IN_FLIGHT at a time, and yield results as they complete."""
    try:
        from dask.distributed import Client
    except ImportError as e:
        raise ClusterError("--executor dask needs the dask extra: pip install 'speechchurn[dask]'") from e
    try:
        client = Client(options.scheduler, timeout="20s")
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"cannot reach Dask scheduler {options.scheduler}: {e}") from e
    try:
        yield from _stream(client, list(jobs), options, lexicon)
    finally:
        client.close()


def _stream(client, jobs: list, options, lexicon) -> Iterator:
    """Keep a bounded window of jobs in flight so the client never holds every file's bytes at once."""
    from dask.distributed import as_completed

    # the client's lexicon is sent once, so a --lexicons folder need not exist on the workers
    lexicon = client.scatter(lexicon, broadcast=True)
    pending = iter(jobs)
    by_key = {}

    def submit(job):
        future = client.submit(run_remote, job, job.path.read_bytes(), options, lexicon, pure=False)
        by_key[future.key] = job
        return future

    window = as_completed([submit(job) for job in itertools.islice(pending, MAX_IN_FLIGHT)])
    for future in window:
        yield _result(future, by_key.pop(future.key))
        following = next(pending, None)
        if following is not None:
            window.add(submit(following))


def _result(future, job):
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001 - a lost worker fails this file, not the batch
        return job.file, f"dask worker failed: {type(e).__name__}: {e}"
