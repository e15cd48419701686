"""`analyze`: the batch (transcription, features, exports) and then the grading run.

The floor above both `batch/` and `grading_run`: the batch fills the store and exports the per-call
files, the grading run writes the customer outputs and the report from them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from speechchurn.batch.options import AnalyzeOptions
from speechchurn.batch.pipeline import Progress, RunProfile, run_batch
from speechchurn.batch.worker import Failure
from speechchurn.grading_run import GradingOptions, run_grading
from speechchurn.privacy import PrivacyOptions


@dataclass(frozen=True)
class AnalyzeResult:
    out_dir: Path
    total: int
    done: int
    cached: int
    failed: int
    ignored: int
    wall_s: float
    failures: tuple[Failure, ...] = field(default_factory=tuple)
    graded: object = None  # pandas DataFrame of graded customers (as the written files show them)
    problems: tuple[str, ...] = ()  # manifest rows that were skipped or point at missing files
    profile: RunProfile | None = None  # where the time of the files processed in this run went


def analyze(
    audio_dir: Path,
    out_dir: Path,
    options: AnalyzeOptions | None = None,
    grading: GradingOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    privacy: PrivacyOptions | None = None,
) -> AnalyzeResult:
    """The whole chain on a folder of recordings. Safe to re-run: finished files are skipped.

    `privacy` redacts / hashes callers in every exported file; the store keeps the raw data. The
    grading run writes the report after it.
    """
    started = time.monotonic()
    out_dir = Path(out_dir)
    batch = run_batch(audio_dir, out_dir, options or AnalyzeOptions(), on_progress)
    grading = dataclasses.replace(
        grading or GradingOptions(), privacy=privacy, privacy_tables=None, reports=True
    )
    graded = run_grading(out_dir, grading).shown
    return AnalyzeResult(
        out_dir=out_dir,
        total=batch.total,
        done=batch.done,
        cached=batch.cached,
        failed=len(batch.failures),
        ignored=batch.ignored,
        wall_s=time.monotonic() - started,
        failures=batch.failures,
        graded=graded,
        problems=batch.problems,
        profile=batch.profile,
    )


__all__ = ["AnalyzeOptions", "AnalyzeResult", "GradingOptions", "Progress", "analyze"]
