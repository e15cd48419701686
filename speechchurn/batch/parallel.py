"""Local parallelism: a process pool in which each worker loads the Whisper model once."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

log = logging.getLogger("speechchurn")


def split_threads(options, workers: int):
    """Give each worker an equal share of the cores unless threads were set explicitly."""
    if options.transcribe.cpu_threads:
        return options
    threads = max(1, (os.cpu_count() or 1) // workers)
    return replace(options, transcribe=replace(options.transcribe, cpu_threads=threads))


def _init_worker(options) -> None:
    from speechchurn.asr.transcribe import load_engine

    load_engine(options.transcribe)


def run_in_pool(jobs: Sequence, options, lexicon) -> Iterator:
    """Yield each job's result (CallRecord or (file, reason)) as soon as it finishes."""
    from speechchurn.batch.pipeline import run_job

    workers = min(options.workers, len(jobs))
    options = split_threads(options, workers)
    context = multiprocessing.get_context("spawn")  # no fork after native thread pools start
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(options,))
    try:
        futures = {pool.submit(run_job, job, options, lexicon): job for job in jobs}
        for future in as_completed(futures):
            yield _result(future, futures[future])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(future, job):
    try:
        return future.result()
    except BrokenProcessPool as e:
        return job.file, f"worker process died while processing this file ({e})"
