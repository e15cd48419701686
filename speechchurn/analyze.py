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

from speechchurn.batch import preflight
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.batch.pipeline import Progress, RunProfile, run_batch
from speechchurn.batch.store import store_lock
from speechchurn.batch.worker import Failure
from speechchurn.errors import ConfigError
from speechchurn.grading_run import GradingOptions, last_options, last_privacy, run_grading
from speechchurn.privacy import PrivacyOptions
from speechchurn.qa.form import load_form
from speechchurn.qa.run import QAResult, run_qa


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
    wait: bool = False,
    qa_form: Path | None = None,
) -> AnalyzeResult:
    """The whole chain on a folder of recordings. Safe to re-run: finished files are skipped.

    `privacy` redacts / hashes callers in every exported file; the store keeps the raw data. Before the
    first transcription every input file (rules, roster, lexicons, the QA form `qa_form`) is validated,
    OUT_DIR checked and `--as-of` compared with the calls (`batch.preflight`). Every call is then scored
    with the QA form (default: the shipped form) and the grading run writes the customer outputs and
    the report. One run at a time per OUT_DIR: another run's lock makes this one refuse
    (StoreLockedError), or with `wait` wait for it.
    """
    started = time.monotonic()
    options = options or AnalyzeOptions()
    grading = dataclasses.replace(
        grading or GradingOptions(), privacy=privacy, privacy_tables=None, reports=True
    )
    lexicon = preflight.load_inputs(options, grading.rules, grading.customers)
    form = load_form(qa_form)
    out_dir = preflight.make_out_dir(Path(out_dir))

    def check_as_of(store, jobs) -> None:
        if grading.as_of is not None:
            preflight.check_as_of(grading.as_of, preflight.first_starts(store, jobs), options.timezone)

    with store_lock(out_dir, "analyze", wait):
        batch = run_batch(audio_dir, out_dir, options, on_progress, lexicon, check_as_of)
        run_qa(out_dir, form)  # qa_calls.csv, qa_agents.csv, QA evidence; grading reads the scores
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


def rescore_qa(
    out_dir: Path, qa_form: Path | None = None, privacy: PrivacyOptions | None = None, wait: bool = False
) -> QAResult:
    """`speechchurn qa`: every stored call scored again with `qa_form`, then the last grading run again,
    so that callers.csv carries the new QA columns and every output is as protected as `analyze` left
    it (its redaction kept on; its caller hashing needs the same salt, checked before anything is
    written)."""
    out_dir = Path(out_dir)
    privacy = privacy or PrivacyOptions()
    redacted, hashed = last_privacy(out_dir)
    if hashed and not privacy.caller_salt:
        raise ConfigError(
            f"{out_dir}: the outputs were written with --hash-callers; pass the same --hash-callers SALT "
            "so that the QA results are written hashed too (nothing was written)"
        )
    privacy = dataclasses.replace(privacy, redact=privacy.redact or redacted)
    form = load_form(qa_form)
    with store_lock(out_dir, "qa", wait):
        result = run_qa(out_dir, form)
        last = last_options(out_dir)
        run_grading(out_dir, dataclasses.replace(last, privacy=privacy, privacy_tables=None, reports=True))
    return result


__all__ = ["AnalyzeOptions", "AnalyzeResult", "GradingOptions", "Progress", "analyze", "rescore_qa"]
