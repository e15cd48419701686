"""Helpers shared by the timing benchmarks: quiet-machine wait, sample truth, subprocess JSON."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "audio_samples"
QUIET_LOAD = 0.8  # 1-minute load average below which timings are trusted
POLL_S = 60.0  # s between load checks
MAX_WAIT_S = 25 * 60.0  # s; after this the benchmark runs anyway and says so


@dataclass(frozen=True)
class LoadReport:
    """Load average when the timed part began, and whether we had to give up waiting."""

    load_1min: float
    waited_s: float
    quiet: bool

    def describe(self) -> str:
        state = "quiet" if self.quiet else f"NOT quiet (waited {self.waited_s / 60:.0f} min, ran anyway)"
        return f"1-min load average at start {self.load_1min:.2f} ({state}; threshold {QUIET_LOAD})"


def wait_until_quiet(max_load: float = QUIET_LOAD, max_wait_s: float = MAX_WAIT_S) -> LoadReport:
    """Poll the 1-minute load average until it drops below `max_load` or `max_wait_s` passes."""
    started = time.monotonic()
    while True:
        load = os.getloadavg()[0]
        waited = time.monotonic() - started
        if load < max_load:
            return LoadReport(load, waited, True)
        if waited >= max_wait_s:
            return LoadReport(load, waited, False)
        print(f"load {load:.2f} >= {max_load}; waiting ({waited / 60:.0f} min so far)", file=sys.stderr)
        time.sleep(POLL_S)


def load_truth(samples: Path = SAMPLES) -> dict:
    """The `calls` mapping of truth.json (file name -> reference call)."""
    return json.loads((samples / "truth.json").read_text(encoding="utf-8"))["calls"]


def samples_fingerprint(samples: Path = SAMPLES) -> str:
    """Short sha256 of truth.json, so a table can be matched to the sample set it was measured on."""
    return hashlib.sha256((samples / "truth.json").read_bytes()).hexdigest()[:12]


def run_json(args: list[str], env: dict | None = None) -> dict:
    """Run `python ARGS` and parse the JSON object printed on its last stdout line."""
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"
