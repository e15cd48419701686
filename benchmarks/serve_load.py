"""Load test of the desk: N concurrent clients against `speechchurn serve` on loopback for S seconds.

Each client is a thread with one keep-alive HTTP connection that cycles through a mix of what a
reviewer's browser asks for: the queue, customer pages, call pages, transcript searches and 64 KiB
ranges of recordings. Reports requests/s and latency percentiles; any status other than 200/206,
and any connection error, counts as an error.

    python benchmarks/serve_load.py OUT_DIR [--audio-root DIR] [--clients 20] [--seconds 30] [--write]

The server is started as a separate process (`python -m speechchurn serve`), bound to 127.0.0.1.
The helpers `running_desk` and `run_load` are used by tests/test_app_load.py (a short CI run).
`--write` puts the table into docs/benchmarks.md (section serve_load).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AUDIO_RANGE_BYTES = 64 * 1024  # bytes per audio request, like a player's buffered read
SEARCH_TERMS = ("投诉", "销户", "话费", "信号")
REQUEST_TIMEOUT_S = 30.0
MAX_CUSTOMERS = 20  # customer pages in the URL mix
MAX_CALLS = 20  # call pages / recordings in the URL mix
START_TIMEOUT_S = 120.0  # s for indexing + uvicorn start on a busy machine
POLL_S = 0.2  # s between readiness probes


@dataclass(frozen=True)
class LoadResult:
    clients: int
    seconds: float
    requests: int
    errors: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    error_samples: tuple[str, ...] = ()


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


def url_mix(base: str, with_audio: bool = True) -> list[tuple[str, dict]]:
    """(path, headers) pairs discovered from the running desk: queue, customers, calls, search, audio."""
    listing = _fetch(base + "/?all=1")  # every customer, queue first
    customers = list(dict.fromkeys(re.findall(r'href="(/customer/[^"/]+)"', listing)))[:MAX_CUSTOMERS]
    calls: list[str] = []
    for path in customers:
        calls += re.findall(r'href="(/call/\d+)"', _fetch(base + path))
        if len(calls) >= MAX_CALLS:
            break
    calls = list(dict.fromkeys(calls))[:MAX_CALLS]
    mix: list[tuple[str, dict]] = [("/", {}), ("/?all=1", {})]
    mix += [(p, {}) for p in customers] + [(p, {}) for p in calls]
    mix += [("/search?q=" + urllib.parse.quote(t), {}) for t in SEARCH_TERMS]
    if with_audio:
        ranged = {"Range": f"bytes=0-{AUDIO_RANGE_BYTES - 1}"}
        mix += [(p.replace("/call/", "/audio/"), ranged) for p in calls]
    return mix


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:
        return response.read().decode("utf-8")


def run_load(base: str, mix: list[tuple[str, dict]], clients: int, seconds: float) -> LoadResult:
    """`clients` threads request `mix` round-robin (each from its own offset) for `seconds`, after one
    untimed warm-up pass over the mix (first transcodes of recordings are cached by the server)."""
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    _client(host, port, mix, 0, time.monotonic() + 3600, [], [], stop_after=len(mix))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[list[str]] = [[] for _ in range(clients)]
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_client, args=(host, port, mix, i, deadline, latencies[i], errors[i]))
        for i in range(clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return _summary(clients, elapsed, [x for part in latencies for x in part], [e for p in errors for e in p])


def _client(host, port, mix, offset, deadline, latencies, errors, stop_after: int | None = None) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
    i = offset
    while time.monotonic() < deadline and (stop_after is None or i - offset < stop_after):
        path, headers = mix[i % len(mix)]
        i += 1
        began = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append((time.perf_counter() - began) * 1000)
            if response.status not in (200, 206):
                errors.append(f"{response.status} {path}")
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"{type(e).__name__} {path}")
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
    connection.close()


def _summary(clients: int, elapsed: float, latencies: list[float], errors: list[str]) -> LoadResult:
    if len(latencies) < 2:
        latencies = latencies * 2 or [float("nan")] * 2
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return LoadResult(
        clients=clients,
        seconds=round(elapsed, 1),
        requests=len(latencies),
        errors=len(errors),
        requests_per_s=round(len(latencies) / elapsed, 1),
        p50_ms=round(cuts[49], 1),
        p95_ms=round(cuts[94], 1),
        p99_ms=round(cuts[98], 1),
        max_ms=round(max(latencies), 1),
        error_samples=tuple(errors[:5]),
    )


def render(result: LoadResult, what: str) -> str:
    load = os.getloadavg()[0]
    return (
        "## Desk load test (`benchmarks/serve_load.py`)\n\n"
        f"{what}; {result.clients} concurrent keep-alive clients on 127.0.0.1 for {result.seconds} s, "
        "cycling through queue, customer pages, call pages, FTS searches and 64 KiB audio ranges "
        "(after one untimed warm-up pass over the URLs).\n"
        f"1-minute load average at the end: {load:.1f} (2 cores shared with other work).\n\n"
        "| clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| {result.clients} | {result.requests} | {result.errors} | {result.requests_per_s} | "
        f"{result.p50_ms} | {result.p95_ms} | {result.p99_ms} | {result.max_ms} |\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--audio-root", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-audio", action="store_true", help="leave recordings out of the mix")
    parser.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args(argv)
    with running_desk(args.out_dir, args.audio_root or args.out_dir) as base:
        mix = url_mix(base, with_audio=not args.no_audio)
        result = run_load(base, mix, args.clients, args.seconds)
    print(json.dumps(asdict(result), ensure_ascii=False, indent=1))
    calls = _count_calls(args.out_dir)
    table = render(result, f"Store with {calls} calls, {len(mix)} distinct URLs")
    print(table)
    if args.write:
        sys.path.insert(0, str(REPO))
        from benchmarks._report import write_section

        print(f"-> {write_section('serve_load', table)}")
    return 1 if result.errors else 0


def _count_calls(out_dir: Path) -> int:
    import sqlite3

    with sqlite3.connect(Path(out_dir) / "speechchurn.db") as db:
        return db.execute("SELECT COUNT(*) FROM files WHERE status = 'done'").fetchone()[0]


if __name__ == "__main__":
    raise SystemExit(main())
