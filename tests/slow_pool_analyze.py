"""Run the real CLI whose local pool (2 worker processes) runs `crash_jobs.slow_job`, for kill tests.

Usage: python tests/slow_pool_analyze.py analyze AUDIO_DIR --out OUT ...
The workers are real spawned pool workers (`batch.pool.run_pool`); only the job is slow and fake.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import crash_jobs  # noqa: E402

from speechchurn.batch import executors  # noqa: E402
from speechchurn.cli import app  # noqa: E402

WORKERS = 2


class SlowPool:
    def map(self, jobs, options, lexicon):
        from speechchurn.batch.pool import run_pool

        yield from run_pool(jobs, options, lexicon, crash_jobs.slow_job, WORKERS)


if __name__ == "__main__":
    executors.choose_executor = lambda options, job_count: SlowPool()
    app(sys.argv[1:], prog_name="speechchurn")
