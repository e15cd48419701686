"""Run `speechchurn serve` as a real process on a free loopback port (browser and load tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120.0  # s for indexing + uvicorn start on a busy machine
POLL_S = 0.2  # s between readiness probes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_desk(out_dir: Path, audio_root: Path, *extra: str):
    """Yield the base URL of a `speechchurn serve` process; stop it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "speechchurn", "serve", str(out_dir), "--port", str(port)]
    command += ["--audio-root", str(audio_root), "--reviewer", "测试员", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = open(Path(out_dir) / "serve.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, Path(out_dir) / "serve.log")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_ready(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"speechchurn serve exited: {log.read_text(encoding='utf-8')[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(POLL_S)
    raise RuntimeError(f"speechchurn serve did not answer within {START_TIMEOUT_S} s")
