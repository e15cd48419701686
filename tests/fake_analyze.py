"""Run the real CLI with a slow fake Whisper engine, for kill/resume tests in a subprocess.

Usage: python tests/fake_analyze.py SECONDS_PER_DECODE analyze AUDIO_DIR --out OUT ...
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conftest import FakeEngine  # noqa: E402

import speechchurn.asr.transcribe as transcribe  # noqa: E402
from speechchurn.cli import app  # noqa: E402


class SlowFakeEngine(FakeEngine):
    def __init__(self, delay_s: float):
        super().__init__()
        self.delay_s = delay_s

    def decode(self, samples):
        time.sleep(self.delay_s)
        return super().decode(samples)


if __name__ == "__main__":
    os.environ["SPEECHCHURN_WORKERS"] = "1"  # worker processes would load the real model
    engine = SlowFakeEngine(float(sys.argv[1]))
    transcribe.load_engine = lambda options: engine
    app(sys.argv[2:], prog_name="speechchurn")
