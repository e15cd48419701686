"""The batch part of `analyze`: discover files, plan jobs, run them, store, export.

Within the package: `options` (settings and cache keys) -> `worker` (one file) -> `groups` (short
files transcribed together, packing "files") -> `executors` (where files run) -> `pipeline` (this
module). Only this process writes to the store, one transaction per file. Grading and the report
come after, in `speechchurn/analyze.py` (a floor above).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from speechchurn.batch import executors
from speechchurn.batch.groups import group_jobs
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.batch.store import Store
from speechchurn.batch.worker import CallRecord, Failure, FileJob
from speechchurn.call.audio import AUDIO_EXTENSIONS, file_sha256
from speechchurn.call.metadata import DEFAULT_FILENAME_PATTERN, load_manifest, resolve_meta
from speechchurn.errors import SpeechchurnError
from speechchurn.text import lexicon as lexicons
from speechchurn.text.lexicon import Lexicon

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
class BatchRun:
    """What the batch did: counts, failures, manifest problems and where the time went."""

    total: int
    done: int
    cached: int
    ignored: int
    failures: tuple[Failure, ...] = field(default_factory=tuple)
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
    audio_dir: Path, store: Store, options: AnalyzeOptions, lexicon: Lexicon
) -> tuple[list[FileJob], list[str], int]:
    """Jobs still to run, files skipped as already done, and the ignored-file count."""

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


def run_batch(
    audio_dir: Path,
    out_dir: Path,
    options: AnalyzeOptions,
    on_progress: Callable[[Progress], None] | None = None,
) -> BatchRun:
    """Every recording of `audio_dir` into the store of `out_dir`, then the exports. Safe to re-run:
    finished files are skipped."""

    audio_dir, out_dir = Path(audio_dir), Path(out_dir)
    if not audio_dir.is_dir():
        raise SpeechchurnError(f"{audio_dir}: not a folder of recordings")
    lexicon = lexicons.load_lexicons(options.lexicons)  # once per batch; every job gets this object
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
    return BatchRun(
        total=total,
        done=done,
        cached=len(cached),
        ignored=ignored,
        failures=failures,
        problems=problems,
        profile=profile,
    )


def _run_jobs(
    store: Store,
    jobs: list[FileJob],
    options: AnalyzeOptions,
    lexicon: Lexicon,
    first_index: int,
    total: int,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[int, RunProfile]:
    """Run the jobs on the chosen executor, commit each result as it arrives; the count done.

    With packing "files", runs of consecutive short files travel as one task (batch/groups.py).
    """

    done, profile = 0, RunProfile()
    tasks = group_jobs(jobs, options)
    results = executors.choose_executor(options, len(tasks)).map(tasks, options, lexicon)
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


# --- exports ---------------------------------------------------------------------------------------


def export_outputs(store: Store, out_dir: Path) -> None:
    """Write calls.csv, transcripts.jsonl, evidence.jsonl and errors.csv from the store."""
    import pandas as pd

    from speechchurn import outputs  # lazy: pandas (start-up stays light)

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


__all__ = ["AnalyzeOptions", "BatchRun", "Progress", "run_batch"]
