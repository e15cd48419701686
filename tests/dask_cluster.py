"""A real Dask cluster for tests: `dask scheduler` + `dask worker` processes on 127.0.0.1.

Started on random free ports, stopped (and their output kept for a failing assert) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
STARTUP_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def dask_cluster(
    folder: Path, workers: int = 2, env: dict | None = None, nanny: bool = True
) -> Iterator[str]:
    """Yield the scheduler address; `env` is added to every process (e.g. SPEECHCHURN_HOME)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    base = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]),
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",  # a task is retried on one other worker
        "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",  # a worker holds only what it runs
        **(env or {}),
    }
    dask = [sys.executable, "-m", "dask"]
    commands = [
        [*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"]
    ]
    commands += [
        [
            *dask,
            "worker",
            address,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
            "--local-directory",
            str(folder / f"worker{i}"),
            *([] if nanny else ["--no-nanny"]),  # a nanny sets OMP_NUM_THREADS=1 in its worker
        ]
        for i in range(workers)
    ]
    logs = [open(folder / f"dask{i}.log", "wb") for i in range(len(commands))]  # noqa: SIM115
    processes = []
    try:
        for command, log in zip(commands, logs, strict=True):
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=base))
            if len(processes) == 1:
                time.sleep(1.0)  # let the scheduler bind before workers dial it
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=STARTUP_TIMEOUT_S)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


@contextlib.contextmanager
def in_process_cluster() -> Iterator:
    """A one-worker, one-thread Dask LocalCluster inside this process (tcp on 127.0.0.1, no dashboard)."""
    import distributed

    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=":0",
    ) as cluster:
        yield cluster
