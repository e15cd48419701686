"""Orchestration of `analyze`: discover files, plan jobs, run them, store, export, grade, report.

Data flows one way: `options` (settings and cache keys) -> `worker` (one file) -> `groups` (short
files transcribed together, packing "files") -> `executors` (where files run) -> `pipeline` (this
module). Only this process writes to the store, one
transaction per file.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from speechchurn.batch.options import AnalyzeOptions, GradeOptions
from speechchurn.batch.store import Store
from speechchurn.batch.worker import CallRecord, Failure, FileJob
from speechchurn.call.audio import AUDIO_EXTENSIONS, file_sha256
from speechchurn.errors import SpeechchurnError
from speechchurn.vocab import DEFAULT_TIMEZONE, QA_FAILED_COLUMN, QA_SCORE_COLUMN

log = logging.getLogger("speechchurn")


@dataclass(frozen=True)
class Progress:
    """Emitted after each file; `status` is done, failed or cached."""

    file: str
    status: str
    index: int
    total: int
    audio_s: float
    reason: str | None = None


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
    graded: object = None  # pandas DataFrame of graded customers
    problems: tuple[str, ...] = ()  # manifest rows that were skipped or point at missing files
    profile: RunProfile | None = None  # where the time of the files processed in this run went


STAGE_COLUMNS = ("decode_s", "vad_s", "asr_s", "text_s", "startup_s")  # calls.csv stage timings


@dataclass(frozen=True)
class RunProfile:
    """Stage seconds summed over the files processed in this run (across workers), and their audio."""

    audio_s: float = 0.0
    stages: tuple[tuple[str, float], ...] = ()  # (calls.csv column, seconds)
    encoder_passes: int = 0

    def add(self, record: CallRecord) -> RunProfile:
        row = record.row
        stages = dict(self.stages)
        for column in STAGE_COLUMNS:
            stages[column] = stages.get(column, 0.0) + float(row.get(column) or 0.0)
        passes = self.encoder_passes + int(row.get("encoder_passes") or 0)
        return RunProfile(self.audio_s + record.audio_s, tuple(stages.items()), passes)

    def summary(self, wall_s: float) -> str:
        """One line: achieved real-time factor and the share of worker time per stage."""
        busy = sum(seconds for _name, seconds in self.stages) or 1.0
        shares = ", ".join(f"{name[:-2]} {100 * seconds / busy:.0f}%" for name, seconds in self.stages)
        speed = self.audio_s / wall_s if wall_s > 0 else 0.0
        return (
            f"{self.audio_s:.0f} s of audio in {wall_s:.1f} s = {speed:.1f}x real time; worker time: {shares}"
        )

    def table(self, wall_s: float) -> list[str]:
        """--profile: seconds per stage (summed over workers), share, and s per audio minute."""
        minutes = self.audio_s / 60 or 1.0
        busy = sum(seconds for _name, seconds in self.stages)
        lines = [f"{'stage':<10}{'s':>9}{'share':>8}{'s/audio min':>13}"]
        for name, seconds in (*self.stages, ("total_s", busy)):
            share = 100 * seconds / busy if busy else 0.0
            lines.append(f"{name[:-2]:<10}{seconds:>9.1f}{share:>7.0f}%{seconds / minutes:>13.2f}")
        lines.append(f"encoder passes per audio minute: {self.encoder_passes / minutes:.2f}")
        lines.append(f"wall {wall_s:.1f} s; {self.summary(wall_s).split(';')[0]}")
        return lines


def discover(audio_dir: Path) -> tuple[list[Path], int]:
    """Audio files under `audio_dir` (recursive, sorted) and the count of ignored other files."""
    audio_dir = Path(audio_dir)
    files, ignored = [], 0
    for path in sorted(p for p in audio_dir.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            files.append(path)
        else:
            ignored += 1
    return files, ignored


def plan_jobs(
    audio_dir: Path, store: Store, options: AnalyzeOptions, lexicon
) -> tuple[list[FileJob], list[str], int]:
    """Jobs still to run, files skipped as already done, and the ignored-file count."""
    from speechchurn.call.metadata import DEFAULT_FILENAME_PATTERN, load_manifest, resolve_meta

    paths, ignored = discover(audio_dir)
    manifest = load_manifest(options.manifest, options.timezone) if options.manifest else None
    names = {_relative(p, audio_dir): p for p in paths}
    states = store.file_states()
    store.forget(sorted(set(states) - set(names)))
    analysis_key = options.analysis_key(lexicon)
    pattern = options.filename_pattern or DEFAULT_FILENAME_PATTERN
    jobs, cached = [], []
    for name, path in names.items():
        try:
            sha = file_sha256(path)
            meta = resolve_meta(path, manifest, pattern, options.timezone)
        except (OSError, SpeechchurnError) as e:
            store.record_failure(name, None, str(e))
            continue
        tkey = options.transcript_key(sha)
        rkey = options.run_key(tkey, analysis_key, meta)
        state = states.get(name)
        if state and state.status == "done" and state.run_key == rkey:
            cached.append(name)
            continue
        segments = store.cached_segments(tkey)
        jobs.append(FileJob(path, name, sha, meta, tkey, None if segments is None else tuple(segments), rkey))
    _record_manifest_problems(store, manifest, names)
    store.mark_pending((j.file, j.sha256) for j in jobs)
    return jobs, cached, ignored


def _record_manifest_problems(store: Store, manifest, names: dict) -> None:
    """Bad manifest rows and rows naming missing files go to errors.csv; the batch goes on."""
    problems = list(manifest.problems) if manifest is not None else []
    if manifest is not None:
        missing = sorted(set(manifest.rows) - {Path(n).name for n in names})
        problems += [f"{manifest.path}: row for {file!r} points at a missing file" for file in missing]
    for problem in problems:
        log.warning("manifest: %s", problem)
    store.set_meta("manifest_problems", json.dumps(problems, ensure_ascii=False))


def manifest_problems(store: Store) -> list[str]:
    return json.loads(store.get_meta("manifest_problems") or "[]")


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def analyze(
    audio_dir: Path,
    out_dir: Path,
    options: AnalyzeOptions | None = None,
    grade_options: GradeOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    privacy=None,
) -> AnalyzeResult:
    """The whole chain on a folder of recordings. Safe to re-run: finished files are skipped.

    `privacy` (speechchurn.privacy.PrivacyOptions) redacts / hashes callers in every exported file;
    the store keeps the raw data.
    """
    from speechchurn.qa.form import load_form
    from speechchurn.qa.run import run_qa
    from speechchurn.text.lexicon import load_lexicons

    audio_dir, out_dir = Path(audio_dir), Path(out_dir)
    options, grade_options = options or AnalyzeOptions(), grade_options or GradeOptions()
    if not audio_dir.is_dir():
        raise SpeechchurnError(f"{audio_dir}: not a folder of recordings")
    qa_form = load_form(grade_options.qa_form)  # a bad form is refused before the first transcription
    started = time.monotonic()
    lexicon = load_lexicons(options.lexicons)  # once per batch; every job gets this object
    with Store(out_dir) as store:
        store.set_meta("audio_dir", str(audio_dir.resolve()))  # where `speechchurn serve` finds recordings
        jobs, cached, ignored = plan_jobs(audio_dir, store, options, lexicon)
        if ignored:
            log.info("ignored %d non-audio files in %s", ignored, audio_dir)
        total = len(jobs) + len(cached)
        for i, name in enumerate(cached, 1):
            _notify(on_progress, Progress(name, "cached", i, total, 0.0))
        done, profile = _run_jobs(store, jobs, options, lexicon, len(cached), total, on_progress)
        export_outputs(store, out_dir)
        failures = tuple(store.failures())
        problems = tuple(manifest_problems(store))
    run_qa(out_dir, qa_form)  # qa_calls.csv, qa_agents.csv, QA evidence; grading reads the scores
    graded = grade(out_dir, grade_options)
    if privacy is not None and privacy.active:
        from speechchurn.privacy import protect_outputs

        graded = protect_outputs(out_dir, privacy).frame(graded)
    write_reports(out_dir)  # from the (protected) exported files
    wall_s = time.monotonic() - started
    return AnalyzeResult(
        out_dir, total, done, len(cached), len(failures), ignored, wall_s, failures, graded, problems, profile
    )


def _run_jobs(
    store: Store, jobs, options, lexicon, first_index: int, total: int, on_progress
) -> tuple[int, RunProfile]:
    """Run the jobs on the chosen executor, commit each result as it arrives; the count done.

    With packing "files", runs of consecutive short files travel as one task (batch/groups.py).
    """
    from speechchurn.batch.executors import choose_executor
    from speechchurn.batch.groups import group_jobs

    done, profile = 0, RunProfile()
    tasks = group_jobs(jobs, options)
    results = choose_executor(options, len(tasks)).map(tasks, options, lexicon)
    for i, result in enumerate(results, first_index + 1):
        if isinstance(result, CallRecord):
            store.record_call(result)
            done += 1
            profile = profile.add(result)
            _notify(on_progress, Progress(result.file, "done", i, total, result.audio_s))
        else:
            store.record_failure(result.file, None, result.reason)
            _notify(on_progress, Progress(result.file, "failed", i, total, 0.0, result.reason))
    return done, profile


def _notify(callback, event: Progress) -> None:
    if callback is not None:
        callback(event)


# --- exports and grading -----------------------------------------------------------------------


def export_outputs(store: Store, out_dir: Path) -> None:
    """Write calls.csv, transcripts.jsonl, evidence.jsonl and errors.csv from the store."""
    import pandas as pd

    from speechchurn import outputs

    calls = pd.DataFrame(store.call_rows())
    outputs.write_csv(calls, out_dir / outputs.CALLS_CSV)
    outputs.write_jsonl(
        ({"file": f, "segments": segs} for f, segs in store.transcripts()),
        out_dir / outputs.TRANSCRIPTS_JSONL,
    )
    outputs.write_jsonl(store.evidence_rows(), out_dir / outputs.EVIDENCE_JSONL)
    rows = [(f.file, "file", f.reason) for f in store.failures()]
    rows += [(problem.split(": ", 1)[0], "manifest", problem) for problem in manifest_problems(store)]
    outputs.write_csv(pd.DataFrame(rows, columns=["file", "stage", "reason"]), out_dir / outputs.ERRORS_CSV)


def load_calls(out_dir: Path, timezone: str = DEFAULT_TIMEZONE):
    """The per-call features from the store, typed for aggregation (times in `timezone`)."""
    import pandas as pd

    with Store(out_dir, create=False) as store:
        calls = pd.DataFrame(store.call_rows())
        qa = store.qa_scores()
    if not calls.empty and qa:  # the last QA run's results (speechchurn/qa): qa_failed_calls, qa_score_min
        files = calls["file"].astype(str)
        calls[QA_SCORE_COLUMN] = files.map(lambda f: qa.get(f, (None, 0))[0]).astype("float64")
        calls[QA_FAILED_COLUMN] = files.map(lambda f: qa.get(f, (None, 0))[1]).astype("int64")
    if not calls.empty:
        started = pd.to_datetime(calls["started_at"], format="ISO8601", utc=True)
        calls["started_at"] = started.dt.tz_convert(timezone)
    return calls


def load_evidence(out_dir: Path):
    import pandas as pd

    with Store(out_dir, create=False) as store:
        return pd.DataFrame(store.evidence_rows())


def grade(out_dir: Path, options: GradeOptions | None = None):
    """Aggregate stored calls per customer, grade them, write callers.csv and review.csv."""
    from speechchurn import outputs
    from speechchurn.app.overrides import apply_tier_overrides, load_tier_overrides, without_wrong_hits
    from speechchurn.customers.aggregate import aggregate_callers, load_roster
    from speechchurn.customers.grading import grade_callers, load_rules
    from speechchurn.customers.review import build_review_queue
    from speechchurn.outcomes.breaks import add_breaks

    out_dir, options = Path(out_dir), options or GradeOptions()
    rules = load_rules(options.rules)
    calls = load_calls(out_dir, options.timezone)
    roster = load_roster(options.customers) if options.customers else None
    as_of = _as_of_timestamp(options.as_of, calls, options.timezone)
    evidence = load_evidence(out_dir)
    if options.skip_wrong_hits:  # reviewers' "wrong" marks (speechchurn serve) take those hits out
        calls, evidence = without_wrong_hits(out_dir, calls, evidence)
    callers = add_breaks(aggregate_callers(calls, as_of, roster), calls, as_of)  # break_* (outcomes)
    graded = apply_tier_overrides(grade_callers(callers, rules), load_tier_overrides(out_dir))
    outputs.write_csv(graded, out_dir / outputs.CALLERS_CSV)
    review = build_review_queue(graded, evidence, top=options.top)
    outputs.write_csv(review, out_dir / outputs.REVIEW_CSV)
    return graded


def write_reports(out_dir: Path, title: str | None = None, privacy=None) -> tuple[Path, Path]:
    """report.html and callers.xlsx from the exported outputs (`privacy` applied as they are read)."""
    from speechchurn.report.html import write_report
    from speechchurn.report.workbook import write_workbook

    return write_report(out_dir, title, privacy), write_workbook(out_dir, privacy)


def _as_of_timestamp(as_of, calls, timezone: str):
    import pandas as pd

    from speechchurn.customers.aggregate import default_as_of

    if as_of is None:
        return default_as_of(calls)
    # the whole as-of day counts: calls up to its end are included
    return pd.Timestamp(as_of).tz_localize(timezone) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)


__all__ = ["AnalyzeOptions", "AnalyzeResult", "GradeOptions", "Progress", "analyze", "grade"]
