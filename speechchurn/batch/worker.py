"""One file's work: a picklable `FileJob` in, a `CallRecord` or a `Failure` out.

`run_job` is the per-file function every executor runs (in this process, in a pool worker or on a
Dask worker), through `batch.groups.run_task`, which also runs the cross-file groups of packing
"files". It never raises for a bad file: the failure comes back as a typed `Failure`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from speechchurn.asr import transcribe as transcription  # engine looked up per call (tests swap in a fake)
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.call.acoustics import AcousticsOptions
from speechchurn.call.metadata import CallMeta
from speechchurn.errors import SpeechchurnError
from speechchurn.recording import RecordingResult, analyze_recording
from speechchurn.schema import Segment
from speechchurn.text import lexicon as lexicons
from speechchurn.text.keywords import find_hits, keyword_counts
from speechchurn.text.lexicon import Lexicon
from speechchurn.text.sentiment import call_sentiment

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
class FileJob:
    """One file's work order; everything a worker needs, nothing it must look up."""

    path: Path
    file: str
    sha256: str
    meta: CallMeta
    transcript_key: str
    cached_segments: tuple[Segment, ...] | None
    run_key: str


@dataclass(frozen=True)
class CallRecord:
    """Everything one processed file contributes to the store."""

    file: str
    sha256: str
    run_key: str
    transcript_key: str
    audio_s: float
    segments: tuple[Segment, ...]
    row: dict
    hits: tuple[dict, ...]


@dataclass(frozen=True)
class Failure:
    """A file that could not be analysed, and why (one line, goes to errors.csv)."""

    file: str
    reason: str


JobResult = CallRecord | Failure

_unreported_startup_s = 0.0  # warm_up seconds of this process, added to its first file's startup_s


def warm_up(options: AnalyzeOptions) -> None:
    """Load what every file needs once per worker process (Whisper, jieba + lexicon matcher, snownlp)
    and keep the seconds it took, so the worker's first calls.csv row reports them as startup_s."""
    global _unreported_startup_s
    started = time.perf_counter()
    transcription.load_engine(options.transcribe)
    probe = (Segment("customer", 0.0, 1.0, "你好", -0.1, 0.0),)
    find_hits(probe, lexicons.load_lexicons(options.lexicons))
    call_sentiment(probe, 1.0)
    _unreported_startup_s += time.perf_counter() - started
    log.info("worker ready in %.1f s", time.perf_counter() - started)


def _take_startup_s() -> float:
    global _unreported_startup_s
    seconds, _unreported_startup_s = _unreported_startup_s, 0.0
    return seconds


def process_file(job: FileJob, options: AnalyzeOptions, lexicon: Lexicon) -> CallRecord:
    """Decode, transcribe (unless cached), and compute every per-call feature of one file.

    Recordings longer than audio.LONG_CALL_S are streamed in windows (bounded memory).
    `lexicon` is the batch's `text.lexicon.Lexicon`, loaded once by the caller.
    """

    result = analyze_recording(
        job.path,
        options.audio,
        options.transcribe,
        AcousticsOptions(non_talk_min_s=options.non_talk_min_s),
        lexicon,
        job.cached_segments,
        job.meta.transfers,
        roles=options.roles,
        direction=job.meta.direction,
    )
    return call_record(job, result, lexicon)


def call_record(job: FileJob, result: RecordingResult, lexicon: Lexicon) -> CallRecord:
    """The CallRecord of one analysed recording (`call.recording.RecordingResult`): sentiment,
    keyword counts and the calls.csv row with its stage timings (this process's startup time goes
    to the first record it builds)."""

    started = time.perf_counter()
    sentiment = call_sentiment(result.segments, result.duration_s, hits=result.hits)
    counts = keyword_counts(result.hits, lexicon.names)
    timings = replace(
        result.timings,
        text_s=result.timings.text_s + time.perf_counter() - started,
        startup_s=result.timings.startup_s + _take_startup_s(),
    )
    row = call_row(job, result.acoustics.as_columns(), sentiment.as_columns(), counts)
    row["audio_warnings"] = "; ".join(result.warnings)
    row.update(result.role_columns())  # role_source, role_confidence
    row.update(timings.as_columns())  # decode_s, vad_s, asr_s, text_s, startup_s, encoder_passes
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


def call_row(job: FileJob, acoustic: dict, sentiment: dict, counts: dict) -> dict:
    """The calls.csv row: metadata, measures, then manifest pass-through columns.

    A pass-through column never replaces a measured one of the same name (it is dropped, logged).
    """
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
    for column, value in meta.extra:
        if column in row:
            log.warning(
                "%s: manifest column %r ignored: it would replace a measured column", job.file, column
            )
        else:
            row[column] = value
    ordered = {k: row[k] for k in LEADING_COLUMNS if k in row}
    ordered.update({k: v for k, v in row.items() if k not in ordered})
    return ordered


def run_job(job: FileJob, options: AnalyzeOptions, lexicon: Lexicon) -> JobResult:
    """Process one file; a failure comes back as a `Failure` instead of raising."""
    return guarded(job.file, process_file, job, options, lexicon)


def guarded(file: str, work: Callable[..., CallRecord], *args) -> JobResult:
    """``work(*args)``, or the `Failure` of ``file`` when it raises."""
    try:
        return work(*args)
    except SpeechchurnError as e:
        return Failure(file, str(e))
    except Exception as e:  # noqa: BLE001 - one bad file must never stop the batch
        log.exception("unexpected failure on %s", file)
        return Failure(file, f"{type(e).__name__}: {e}")
