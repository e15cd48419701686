"""Job functions for the crash-containment tests, importable by spawned pool workers.

`fake_job` is `groups.run_task` with the FakeEngine, except on tasks whose path names a fault (a
group of files: any member's): `poison` SIGKILLs its own worker every time, `segv` dereferences
NULL (a real segfault), and `flaky` SIGKILLs its worker only the first time (a marker file beside
the audio remembers). A worker that reads the lexicon files instead of using the batch's lexicon
fails its file.
"""

from __future__ import annotations

import ctypes
import os
import signal


def fake_job(job, options, lexicon):
    from speechchurn.batch.groups import members, run_task

    if "poison" in job.file:
        os.kill(os.getpid(), signal.SIGKILL)
    if "segv" in job.file:
        ctypes.string_at(0)
    for flaky in (member for member in members(job) if "flaky" in member.file):
        marker = flaky.path.with_name(flaky.path.name + ".crashed-once")
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    from conftest import FakeEngine

    import speechchurn.asr.transcribe as transcribe
    import speechchurn.text.lexicon as lexicons

    transcribe.load_engine = lambda options: FakeEngine()
    _warm_sentiment()  # sentiment's own bundled lexicon, once per process (as worker.warm_up loads it)
    lexicons.load_lexicons = _no_lexicon_reads  # the batch's lexicon travels with the job
    return run_task(job, options, lexicon)


def _warm_sentiment() -> None:
    from speechchurn.schema import Segment
    from speechchurn.text.sentiment import call_sentiment

    call_sentiment((Segment("customer", 0.0, 1.0, "你好", -0.1, 0.0),), 1.0)


def _no_lexicon_reads(*args, **kwargs):
    raise AssertionError("a worker re-read the lexicon files")


SLOW_JOB_S = 120.0  # s a `slow_job` sleeps before its file: long enough to be killed mid-batch


def slow_job(job, options, lexicon):
    """`fake_job` after a long sleep: a batch whose workers are busy when the test kills the parent."""
    import time

    time.sleep(SLOW_JOB_S)
    return fake_job(job, options, lexicon)
