"""Orchestration of `analyze`: discover files, process each one, store, export, grade.

Per-file work (`process_file`) is a pure function of a picklable `FileJob`, so it runs the same
in this process, in a local process pool, or on a Dask cluster. Only the calling process writes
to the store, one transaction per file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from speechchurn.asr.transcribe import TranscribeOptions
from speechchurn.batch.store import CallRecord, Store
from speechchurn.call.audio import AUDIO_EXTENSIONS, AudioOptions, file_sha256
from speechchurn.errors import SpeechchurnError
from speechchurn.schema import Segment

log = logging.getLogger("speechchurn")

LEADING_COLUMNS = (
    "file",
    "caller",
    "agent",
    "direction",
    "started_at",
    "duration_s",
    "transfers",
    "sentiment_mean",
    "sentiment_min",
    "negative_share",
    "sentiment_end",
)


@dataclass(frozen=True)
class AnalyzeOptions:
    transcribe: TranscribeOptions = TranscribeOptions()
    audio: AudioOptions = AudioOptions()
    manifest: Path | None = None
    lexicons: Path | None = None
    filename_pattern: str | None = None
    timezone: str = "Asia/Shanghai"
    non_talk_min_s: float = 3.0  # s; Contact Lens definition of non-talk time
    workers: int = 1
    executor: str = "local"  # local | dask
    scheduler: str | None = None  # dask scheduler address, tcp://HOST:PORT

    def analysis_key(self) -> str:
        """What, besides the transcript, changes a call's features."""
        from speechchurn.text.lexicon import load_lexicons

        fields = {
            "lexicons": hashlib.sha256(repr(load_lexicons(self.lexicons)).encode()).hexdigest(),
            "non_talk_min_s": self.non_talk_min_s,
            "channels": list(self.audio.channel_roles),
            "timezone": self.timezone,
        }
        return json.dumps(fields, sort_keys=True)


@dataclass(frozen=True)
class FileJob:
    """One file's work order; everything a worker needs, nothing it must look up."""

    path: Path
    file: str
    sha256: str
    meta: object  # metadata.CallMeta
    transcript_key: str
    cached_segments: tuple[Segment, ...] | None
    run_key: str


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
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    graded: object = None  # pandas DataFrame of graded customers
    problems: tuple[str, ...] = ()  # manifest rows that were skipped or point at missing files


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


def transcript_key(sha256: str, options: TranscribeOptions, audio: AudioOptions) -> str:
    payload = f"{sha256}|{options.cache_key()}|{','.join(audio.channel_roles)}|{audio.channel_select}"
    return hashlib.sha256(payload.encode()).hexdigest()


def _run_key(tkey: str, analysis_key: str, meta) -> str:
    payload = json.dumps({"t": tkey, "a": analysis_key, "m": _meta_dict(meta)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _meta_dict(meta) -> dict:
    data = asdict(meta)
    data["started_at"] = meta.started_at.isoformat()
    return data


# --- per-file work (runs in workers) ------------------------------------------------------------


def process_file(job: FileJob, options: AnalyzeOptions, lexicon=None) -> CallRecord:
    """Decode, transcribe (unless cached), and compute every per-call feature of one file.

    Recordings longer than audio.LONG_CALL_S are streamed in windows (bounded memory).
    """
    from speechchurn.call.acoustics import AcousticsOptions
    from speechchurn.call.recording import analyze_recording
    from speechchurn.text.keywords import keyword_counts
    from speechchurn.text.lexicon import load_lexicons
    from speechchurn.text.sentiment import call_sentiment

    lexicon = lexicon or load_lexicons(options.lexicons)
    result = analyze_recording(
        job.path,
        options.audio,
        options.transcribe,
        AcousticsOptions(non_talk_min_s=options.non_talk_min_s),
        lexicon,
        job.cached_segments,
        job.meta.transfers,
    )
    sentiment = call_sentiment(result.segments, result.duration_s)
    counts = keyword_counts(result.hits, lexicon.names)
    row = _call_row(job, result.acoustics.as_columns(), sentiment.as_columns(), counts)
    row["audio_warnings"] = "; ".join(result.warnings)
    hit_dicts = tuple({"file": job.file, "caller": job.meta.caller, **h.to_dict()} for h in result.hits)
    return CallRecord(
        job.file,
        job.sha256,
        job.run_key,
        job.transcript_key,
        result.duration_s,
        tuple(result.segments),
        row,
        hit_dicts,
    )


def _call_row(job: FileJob, acoustic: dict, sentiment: dict, counts: dict) -> dict:
    meta = job.meta
    row = {
        "file": job.file,
        "caller": meta.caller,
        "agent": meta.agent,
        "direction": meta.direction,
        "started_at": meta.started_at.isoformat(),
        "meta_source": meta.source,
    }
    row.update(acoustic)
    row.update(sentiment)
    row.update(counts)
    row.update(dict(meta.extra))
    ordered = {k: row[k] for k in LEADING_COLUMNS if k in row}
    ordered.update({k: v for k, v in row.items() if k not in ordered})
    return ordered


def run_job(job: FileJob, options: AnalyzeOptions, lexicon=None) -> CallRecord | tuple[str, str]:
    """Process one file; a failure comes back as (file, reason) instead of raising."""
    try:
        return process_file(job, options, lexicon)
    except SpeechchurnError as e:
        return job.file, str(e)
    except Exception as e:  # noqa: BLE001 - one bad file must never stop the batch
        log.exception("unexpected failure on %s", job.file)
        return job.file, f"{type(e).__name__}: {e}"


# --- the batch ---------------------------------------------------------------------------------


def plan_jobs(audio_dir: Path, store: Store, options: AnalyzeOptions) -> tuple[list[FileJob], list[str], int]:
    """Jobs still to run, files skipped as already done, and the ignored-file count."""
    from speechchurn.call.metadata import DEFAULT_FILENAME_PATTERN, load_manifest, resolve_meta

    paths, ignored = discover(audio_dir)
    manifest = load_manifest(options.manifest, options.timezone) if options.manifest else None
    names = {_relative(p, audio_dir): p for p in paths}
    states = store.file_states()
    store.forget(sorted(set(states) - set(names)))
    analysis_key = options.analysis_key()
    jobs, cached = [], []
    for name, path in names.items():
        try:
            sha = file_sha256(path)
            pattern = options.filename_pattern or DEFAULT_FILENAME_PATTERN
            meta = resolve_meta(path, manifest, pattern, options.timezone)
        except (OSError, SpeechchurnError) as e:
            store.record_failure(name, None, str(e))
            continue
        tkey = transcript_key(sha, options.transcribe, options.audio)
        rkey = _run_key(tkey, analysis_key, meta)
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


def execute(jobs: Sequence[FileJob], options: AnalyzeOptions) -> Iterator[CallRecord | tuple[str, str]]:
    """Run jobs in this process, a process pool, or on Dask; yield results as they finish.

    The lexicon is loaded once here and handed to every job (and to remote workers).
    """
    from speechchurn.text.lexicon import load_lexicons

    lexicon = load_lexicons(options.lexicons)
    if options.executor == "dask":
        from speechchurn.batch.distributed import run_on_dask

        yield from run_on_dask(jobs, options, lexicon)
    elif options.workers > 1 and len(jobs) > 1:
        from speechchurn.batch.parallel import run_in_pool

        yield from run_in_pool(jobs, options, lexicon)
    else:
        for job in jobs:
            yield run_job(job, options, lexicon)


def analyze(
    audio_dir: Path,
    out_dir: Path,
    options: AnalyzeOptions = AnalyzeOptions(),
    grade_options: GradeOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> AnalyzeResult:
    """The whole chain on a folder of recordings. Safe to re-run: finished files are skipped."""
    audio_dir, out_dir = Path(audio_dir), Path(out_dir)
    if not audio_dir.is_dir():
        raise SpeechchurnError(f"{audio_dir}: not a folder of recordings")
    started = time.monotonic()
    with Store(out_dir) as store:
        jobs, cached, ignored = plan_jobs(audio_dir, store, options)
        if ignored:
            log.info("ignored %d non-audio files in %s", ignored, audio_dir)
        total = len(jobs) + len(cached)
        for i, name in enumerate(cached, 1):
            _notify(on_progress, Progress(name, "cached", i, total, 0.0))
        done = failed = 0
        for i, result in enumerate(execute(jobs, options), len(cached) + 1):
            if isinstance(result, CallRecord):
                store.record_call(result)
                done += 1
                _notify(on_progress, Progress(result.file, "done", i, total, result.audio_s))
            else:
                store.record_failure(result[0], None, result[1])
                failed += 1
                _notify(on_progress, Progress(result[0], "failed", i, total, 0.0, result[1]))
        export_outputs(store, out_dir)
        failures = tuple(store.failures())
        problems = tuple(manifest_problems(store))
    graded = grade(out_dir, grade_options or GradeOptions())
    write_reports(out_dir)
    return AnalyzeResult(
        out_dir,
        total,
        done,
        len(cached),
        len(failures),
        ignored,
        time.monotonic() - started,
        failures,
        graded,
        problems,
    )


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
    rows = [(file, "file", reason) for file, reason in store.failures()]
    rows += [(problem.split(": ", 1)[0], "manifest", problem) for problem in manifest_problems(store)]
    outputs.write_csv(pd.DataFrame(rows, columns=["file", "stage", "reason"]), out_dir / outputs.ERRORS_CSV)


@dataclass(frozen=True)
class GradeOptions:
    rules: Path | None = None
    as_of: dt.date | None = None
    customers: Path | None = None
    top: int = 20
    timezone: str = "Asia/Shanghai"


def load_calls(out_dir: Path, timezone: str = "Asia/Shanghai"):
    """The per-call features from the store, typed for aggregation (times in `timezone`)."""
    import pandas as pd

    with Store(out_dir, create=False) as store:
        calls = pd.DataFrame(store.call_rows())
    if not calls.empty:
        started = pd.to_datetime(calls["started_at"], format="ISO8601", utc=True)
        calls["started_at"] = started.dt.tz_convert(timezone)
    return calls


def load_evidence(out_dir: Path):
    import pandas as pd

    with Store(out_dir, create=False) as store:
        return pd.DataFrame(store.evidence_rows())


def grade(out_dir: Path, options: GradeOptions = GradeOptions()):
    """Aggregate stored calls per customer, grade them, write callers.csv and review.csv."""
    from speechchurn import outputs
    from speechchurn.customers.aggregate import aggregate_callers, load_roster
    from speechchurn.customers.grading import grade_callers, load_rules
    from speechchurn.customers.review import build_review_queue

    out_dir = Path(out_dir)
    rules = load_rules(options.rules)
    calls = load_calls(out_dir, options.timezone)
    roster = load_roster(options.customers) if options.customers else None
    as_of = _as_of_timestamp(options.as_of, calls, options.timezone)
    callers = aggregate_callers(calls, as_of, roster)
    graded = grade_callers(callers, rules)
    outputs.write_csv(graded, out_dir / outputs.CALLERS_CSV)
    review = build_review_queue(graded, load_evidence(out_dir), top=options.top)
    outputs.write_csv(review, out_dir / outputs.REVIEW_CSV)
    return graded


def write_reports(out_dir: Path, title: str | None = None) -> tuple[Path, Path]:
    """report.html and callers.xlsx from the exported outputs."""
    from speechchurn.report.render import write_report, write_workbook

    return write_report(out_dir, title), write_workbook(out_dir)


def _as_of_timestamp(as_of: dt.date | None, calls, timezone: str):
    import pandas as pd

    from speechchurn.customers.aggregate import default_as_of

    if as_of is None:
        return default_as_of(calls)
    # the whole as-of day counts: calls up to its end are included
    return pd.Timestamp(as_of).tz_localize(timezone) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)


__all__ = ["AnalyzeOptions", "AnalyzeResult", "GradeOptions", "Progress", "analyze", "grade"]
