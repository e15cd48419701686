"""Where the jobs run: this process, a local process pool, or a Dask cluster.

Every executor maps a task function (default `groups.run_task`) over tasks (a `FileJob`, or a
`groups.GroupJob` of short files with packing "files") and yields each file's `CallRecord` /
`Failure` as soon as its task is done. Only the caller writes to the store. The batch's lexicon is
loaded once and passed to every task (inside each Dask task: a few KB).
"""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from speechchurn.asr.models import provision
from speechchurn.batch.groups import GroupJob, Task, TaskResults, members, run_task, with_members
from speechchurn.batch.options import EXECUTOR_DASK, AnalyzeOptions
from speechchurn.batch.pool import run_pool
from speechchurn.batch.worker import Failure, JobResult, warm_up
from speechchurn.errors import ClusterError
from speechchurn.text.lexicon import Lexicon

log = logging.getLogger("speechchurn")

MAX_IN_FLIGHT = 64  # Dask: files submitted but not finished; bounds the client's memory for audio bytes
DASK_CONNECT_TIMEOUT = "20s"
# A task that raises is retried once; a task whose worker dies is rescheduled by the scheduler until
# `distributed.scheduler.allowed-failures` workers died under it (set it to 1 on the scheduler, e.g.
# DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1, to match the local pool's "retried once").
DASK_RETRIES = 1

TaskFunction = Callable[[Task, AnalyzeOptions, object], TaskResults]  # one result per file of the task


class Executor(Protocol):
    def map(self, jobs: Sequence[Task], options: AnalyzeOptions, lexicon: Lexicon) -> Iterator[JobResult]: ...


def choose_executor(options: AnalyzeOptions, job_count: int) -> Executor:
    """Dask when asked; a process pool for more than one task and worker; else this process."""
    if options.executor == EXECUTOR_DASK:
        return DaskExecutor(options.scheduler)
    if options.workers > 1 and job_count > 1:
        return PoolExecutor(options.workers)
    return InProcessExecutor()


# --- this process ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InProcessExecutor:
    job: TaskFunction = run_task

    def map(self, jobs: Sequence[Task], options: AnalyzeOptions, lexicon: Lexicon) -> Iterator[JobResult]:
        for job in jobs:
            yield from self.job(job, options, lexicon)


# --- a local process pool ----------------------------------------------------------------------


def split_threads(options: AnalyzeOptions, workers: int) -> AnalyzeOptions:
    """Give each worker an equal share of the cores unless threads were set explicitly."""
    if options.transcribe.cpu_threads:
        return options
    threads = max(1, (os.cpu_count() or 1) // workers)
    return replace(options, transcribe=replace(options.transcribe, cpu_threads=threads))


def _init_worker(options: AnalyzeOptions) -> None:

    warm_up(options)  # model, jieba, snownlp once per worker; the seconds go to its first startup_s


@dataclass(frozen=True)
class PoolExecutor:
    """A spawn-context process pool in which each worker loads the Whisper model once.

    A worker that dies (segfault, OOM kill, SIGKILL) costs at most the file it was on: see `pool`.
    """

    workers: int
    job: TaskFunction = run_task
    warm: Callable[[AnalyzeOptions], None] | None = _init_worker  # runs once in each new worker

    def map(self, jobs: Sequence[Task], options: AnalyzeOptions, lexicon: Lexicon) -> Iterator[JobResult]:

        provision(options.transcribe.model, options.transcribe.engine)  # once, before any worker starts
        workers = min(self.workers, len(jobs))
        options = split_threads(options, workers)
        yield from run_pool(jobs, options, lexicon, self.job, workers, self.warm)


# --- a Dask cluster ----------------------------------------------------------------------------


def run_remote(
    task: Task, audio: tuple[bytes, ...], options: AnalyzeOptions, lexicon, function: TaskFunction
) -> TaskResults:
    """Dask worker side: materialise each file's audio in a temp folder and run the normal task.

    Each task travels with its audio bytes (one per file, in order), so workers need no shared file
    system. Each copy keeps its file's name, so error messages name the file.
    """
    with tempfile.TemporaryDirectory(prefix="speechchurn-") as folder:
        local = []
        for index, (job, data) in enumerate(zip(members(task), audio, strict=True)):
            path = Path(folder) / str(index) / Path(job.file).name
            path.parent.mkdir()
            path.write_bytes(data)
            local.append(replace(job, path=path))
        return function(with_members(task, local), options, lexicon)


@dataclass(frozen=True)
class DaskExecutor:
    """Scale-out on an existing Dask distributed cluster (`scheduler` = tcp://HOST:PORT)."""

    scheduler: str | None
    job: TaskFunction = run_task

    def map(self, jobs: Sequence[Task], options: AnalyzeOptions, lexicon: Lexicon) -> Iterator[JobResult]:
        try:
            from dask.distributed import Client
        except ImportError as e:
            raise ClusterError("--executor dask needs the dask extra: pip install 'speechchurn[dask]'") from e
        try:
            client = Client(self.scheduler, timeout=DASK_CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise ClusterError(f"cannot reach Dask scheduler {self.scheduler}: {e}") from e
        try:
            yield from self._stream(client, list(jobs), options, lexicon)
        finally:
            client.close()

    def _stream(
        self, client, jobs: list[Task], options: AnalyzeOptions, lexicon: Lexicon
    ) -> Iterator[JobResult]:
        """Keep a bounded window of tasks in flight so the client never holds every file's bytes.

        A group whose task failed (its workers died) is resubmitted as one task per member.
        """
        from dask.distributed import as_completed

        # The lexicon (a few KB) travels inside every task, so a --lexicons folder need not exist on the
        # workers. Not `client.scatter`: scattered data cannot be recomputed, so once the workers that
        # held it died (a poisoned file kills one per try) every waiting file was cancelled with it.
        deaths = _scheduler_deaths_per_task(client)
        pending = iter(jobs)
        by_key: dict[str, Task] = {}

        def submit(task: Task):
            audio = tuple(job.path.read_bytes() for job in members(task))
            future = client.submit(
                run_remote, task, audio, options, lexicon, self.job, pure=False, retries=DASK_RETRIES
            )
            by_key[future.key] = task
            return future

        window = as_completed([submit(task) for task in itertools.islice(pending, MAX_IN_FLIGHT)])
        for future in window:
            task = by_key.pop(future.key)
            results = _dask_results(future, task, deaths)
            if results is None:
                log.warning("%s: the group's task failed; each file again on its own", task.file)
                for job in members(task):
                    window.add(submit(job))
                continue
            yield from results
            following = next(pending, None)
            if following is not None:
                window.add(submit(following))


def _scheduler_deaths_per_task(client) -> int:
    """How many workers may die under one task before the scheduler fails it (allowed-failures + 1)."""
    try:
        return 1 + int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures))
    except Exception:  # noqa: BLE001 - only wording depends on it
        import dask

        return 1 + int(dask.config.get("distributed.scheduler.allowed-failures"))


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _dask_results(future, task: Task, deaths: int) -> TaskResults | None:
    """The task's results; when it failed: a `Failure` for a lone file, None for a group (to split)."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:  # the scheduler gave up after `allowed-failures` workers died running it
        reason = f"worker crashed {_times(deaths)} (dask: KilledWorker)"
    except Exception as e:  # noqa: BLE001 - a lost worker fails this file, not the batch
        reason = f"dask worker failed: {type(e).__name__}: {e}"
    if isinstance(task, GroupJob):
        return None
    log.warning("%s: %s", task.file, reason)
    return (Failure(task.file, reason),)
