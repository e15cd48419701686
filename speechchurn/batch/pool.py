"""A local process pool that survives its workers dying.

A worker can die under a file without raising anything we could catch: a segfault in a native
decoder, the kernel's OOM killer, a SIGKILL. `concurrent.futures` then marks the whole pool broken
and fails every pending future. Here a broken pool costs at most the file that broke it:

1. each worker notes the file it is on in a marker file named by its pid (removed when done);
2. when the pool breaks, the files left in markers were running; every other unfinished file is
   resubmitted to a fresh pool;
3. each file that was running is retried once on its own, in a dedicated process; if that process
   dies too, the file fails with `worker crashed twice (signal N)` and the batch goes on. A group of
   short files (`batch.groups.GroupJob`) that was running is retried as its files, each on its own.

The job function returns one result per file of its job (`batch.groups.run_task`).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from speechchurn.batch.groups import members
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.batch.worker import Failure
from speechchurn.text.lexicon import Lexicon

log = logging.getLogger("speechchurn")


def run_pool(
    jobs: Sequence,
    options: AnalyzeOptions,
    lexicon: Lexicon,
    job_fn: Callable,
    workers: int,
    warm: Callable | None = None,
) -> Iterator:
    """Yield each job's result as it finishes; a job whose worker dies twice yields a Failure."""
    context = multiprocessing.get_context("spawn")  # no fork after native thread pools start
    pending = list(jobs)
    with tempfile.TemporaryDirectory(prefix="speechchurn-pool-") as markers:
        spec = _PoolSpec(job_fn, workers, warm, context, Path(markers))
        while pending:
            running: list = []
            yield from _round(spec, pending, running, options, lexicon)
            for job in (member for task in running for member in members(task)):
                yield from _alone(job, options, lexicon, job_fn, context)


@dataclass(frozen=True)
class _PoolSpec:
    job_fn: Callable
    workers: int
    warm: Callable | None
    context: object  # a multiprocessing context
    markers: Path  # folder of per-worker "file being processed" markers


def _round(
    spec: _PoolSpec, pending: list, running: list, options: AnalyzeOptions, lexicon: Lexicon
) -> Iterator:
    """Run `pending` on one pool until it finishes or breaks.

    Finished jobs leave `pending`; after a break, the jobs that were running move to `running`.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    tracked = functools.partial(_tracked, spec.job_fn, str(spec.markers))
    pool = ProcessPoolExecutor(
        min(spec.workers, len(pending)),
        mp_context=spec.context,
        initializer=spec.warm,
        initargs=(options,) if spec.warm else (),
    )
    try:
        futures = {pool.submit(tracked, job, options, lexicon): job for job in pending}
        for future in as_completed(futures):
            job = futures[future]
            try:
                results = future.result()
            except BrokenProcessPool:
                break
            except Exception as e:  # noqa: BLE001 - the job function should not raise; if it does, its files
                results = _failure(job, e)
            pending.remove(job)
            yield from results
    except BrokenProcessPool:
        pass  # broke while submitting
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if pending:
        _collect_running(pending, running, spec.markers)


def _collect_running(pending: list, running: list, markers: Path) -> None:
    by_file = {job.file: job for job in pending}
    names = set()
    for marker in markers.iterdir():
        names.add(marker.read_text(encoding="utf-8"))
        marker.unlink()
    running.extend(by_file[name] for name in sorted(names) if name in by_file)
    if not running:  # died before any file started (e.g. while loading the model): try each alone
        running.extend(pending)
    log.warning(
        "a worker process died; retrying alone: %s; resubmitting %d other file(s)",
        ", ".join(job.file for job in running),
        len(pending) - len(running),
    )
    for job in running:
        pending.remove(job)


def _tracked(job_fn: Callable, markers: str, job, options: AnalyzeOptions, lexicon: Lexicon):
    """Worker side: run the job with a marker naming it, so a death can be pinned on this file."""
    marker = Path(markers) / str(os.getpid())
    marker.write_text(job.file, encoding="utf-8")
    try:
        return job_fn(job, options, lexicon)
    finally:
        marker.unlink(missing_ok=True)


def _alone(job, options: AnalyzeOptions, lexicon: Lexicon, job_fn: Callable, context) -> tuple:
    """The second try: one file in one fresh process; its death is this file's failure."""

    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_alone_main, args=(job_fn, job, options, lexicon, sender), daemon=True)
    process.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        result = None
    finally:
        receiver.close()
        process.join()
    if result is None:
        reason = f"worker crashed twice ({exit_description(process.exitcode)})"
        log.warning("%s: %s", job.file, reason)
        return (Failure(job.file, reason),)
    return result


def _alone_main(job_fn: Callable, job, options: AnalyzeOptions, lexicon: Lexicon, sender) -> None:
    try:
        result = job_fn(job, options, lexicon)
    except Exception as e:  # noqa: BLE001 - reported as this file's failure
        result = _failure(job, e)
    sender.send(result)
    sender.close()


def _failure(job, error: Exception) -> tuple:
    """A `Failure` for each file of ``job`` (a file or a group of files)."""

    return tuple(Failure(member.file, f"{type(error).__name__}: {error}") for member in members(job))


def exit_description(exitcode: int | None) -> str:
    """`signal 9` for a process killed by a signal, else `exit code N`."""
    if exitcode is not None and exitcode < 0:
        return f"signal {-exitcode}"
    return f"exit code {exitcode}"
