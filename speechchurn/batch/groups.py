"""Packing "files": runs of consecutive short files decoded through shared 30 s Whisper windows.

A short call holds a few seconds of speech, yet decoded alone it costs at least one 30 s encoder
pass. With ``TranscribeOptions.packing == "files"`` the batch puts consecutive files (in the batch's
sorted order) that still need a transcript and whose container declares at most
``CROSS_FILE_MAX_S`` into one `GroupJob` of at most ``CROSS_FILE_MAX_FILES`` files, and the group's
speech is decoded together by :func:`speechchurn.asr.cross_file.transcribe_recordings` (the
channels of each call share windows as with packing "call"). Files with a cached transcript, longer
files, files whose length the container does not declare, and every file when ``vad`` is off go
alone, transcribed as with packing "call". Grouping reads container headers only
(`call.audio.probe_duration`), never the audio, and runs in the parent before the jobs are sent out.

Each file of a group still gets its own `CallRecord` (or `Failure`), transcript cache entry and
calls.csv row. A bad file costs at most itself:

* a member that cannot be decoded (or VAD-tracked) in the group is run alone through
  `worker.run_job`, which records its failure exactly as without grouping;
* if the shared transcription fails, every member is run alone;
* a worker process that dies under a group has each member retried alone (`batch.pool`, and the
  Dask executor resubmits each member as its own task).

Stage timings of a member (calls.csv): ``decode_s``, ``vad_s`` and ``text_s`` are measured on the
file itself; the group's shared ``asr_s`` is split in proportion to the members' audio durations,
and its ``encoder_passes`` too (as whole numbers, largest remainders, so the members' passes add up
to the group's); loading the model (``startup_s``) counts for the first member.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from speechchurn.asr import transcribe as transcription  # engine looked up per call (tests swap in a fake)
from speechchurn.asr.cross_file import transcribe_recordings
from speechchurn.asr.decoder_work import engine_work, work_columns
from speechchurn.asr.transcribe import PACK_FILES
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.batch.worker import CallRecord, FileJob, JobResult, call_record, guarded, run_job
from speechchurn.call.acoustics import AcousticsOptions
from speechchurn.call.audio import decode_audio, probe_duration
from speechchurn.call.vad import speech_track
from speechchurn.recording import StageTimes, analyze_decoded
from speechchurn.text.lexicon import Lexicon

log = logging.getLogger("speechchurn")

CROSS_FILE_MAX_S = 20.0  # s; a file whose container declares at most this joins a group
CROSS_FILE_MAX_FILES = 8  # files per group
# s; a member that decodes longer than this (its header understated it) leaves the group and goes alone
CROSS_FILE_DECODE_LIMIT_S = 2 * CROSS_FILE_MAX_S


@dataclass(frozen=True)
class GroupJob:
    """Consecutive short files transcribed through shared decoder windows; one result per file."""

    jobs: tuple[FileJob, ...]

    @property
    def file(self) -> str:
        """The member files' names (logs and the pool's crash markers)."""
        return " + ".join(job.file for job in self.jobs)


Task = FileJob | GroupJob
TaskResults = tuple[JobResult, ...]


def members(task: Task) -> tuple[FileJob, ...]:
    """The files of a task: a group's members, or the one file."""
    return task.jobs if isinstance(task, GroupJob) else (task,)


def with_members(task: Task, jobs: Sequence[FileJob]) -> Task:
    """The same task over ``jobs`` (its members with other paths, e.g. a Dask worker's local copies)."""
    return GroupJob(tuple(jobs)) if isinstance(task, GroupJob) else jobs[0]


def group_jobs(jobs: Sequence[FileJob], options: AnalyzeOptions) -> list[Task]:
    """The batch's tasks: with packing "files", each run of consecutive short files becomes a group."""
    if options.transcribe.packing != PACK_FILES or not options.transcribe.vad:
        return list(jobs)
    tasks: list[Task] = []
    run: list[FileJob] = []
    for job in jobs:
        if not _short(job):
            tasks += _closed(run)
            tasks.append(job)
            run = []
            continue
        run.append(job)
        if len(run) == CROSS_FILE_MAX_FILES:
            tasks += _closed(run)
            run = []
    tasks += _closed(run)
    groups = [task for task in tasks if isinstance(task, GroupJob)]
    if groups:
        packed = sum(len(group.jobs) for group in groups)
        log.info("packing files: %d short files in %d groups", packed, len(groups))
    return tasks


def _closed(run: list[FileJob]) -> list[Task]:
    return [GroupJob(tuple(run))] if len(run) > 1 else list(run)


def _short(job: FileJob) -> bool:
    """Still to be transcribed, and short as its container declares (no decoding)."""

    if job.cached_segments is not None:
        return False
    declared = probe_duration(job.path)
    return declared is not None and declared <= CROSS_FILE_MAX_S


def run_task(task: Task, options: AnalyzeOptions, lexicon: Lexicon) -> TaskResults:
    """What every executor runs: one result per file of the task, in order; never raises for a bad file."""
    if isinstance(task, GroupJob):
        return run_group(task, options, lexicon)
    return (run_job(task, options, lexicon),)


# --------------------------------------------------------------------------- one group


@dataclass(frozen=True)
class _Member:
    """A group member, decoded and VAD-tracked, with the seconds that took."""

    job: FileJob
    audio: object  # call.audio.DecodedAudio
    tracks: dict  # role -> call.vad.SpeechTrack
    decode_s: float
    vad_s: float


def run_group(group: GroupJob, options: AnalyzeOptions, lexicon: Lexicon) -> TaskResults:
    """Decode each member, transcribe them together, analyse each; a member that fails in the group
    (or every member, when the shared transcription fails) is run alone."""
    ready = [member for job in group.jobs if (member := _prepare(job, options)) is not None]
    done: dict[str, JobResult] = {}
    if ready:
        try:
            transcripts, times = _transcribe_together(ready, options)
        except Exception as e:  # noqa: BLE001 - each file alone then, where a bad one fails by itself
            log.warning(
                "%s: decoding them together failed (%s: %s); each file alone", group.file, type(e).__name__, e
            )
        else:
            for member, segments, before in zip(ready, transcripts, times, strict=True):
                done[member.job.file] = guarded(
                    member.job.file, _finish, member, segments, before, options, lexicon
                )
    return tuple(done[job.file] if job.file in done else run_job(job, options, lexicon) for job in group.jobs)


def _prepare(job: FileJob, options: AnalyzeOptions) -> _Member | None:
    """Decode a member and run its Silero pass; None when that fails (the file then goes alone)."""

    try:
        started = time.perf_counter()
        audio = decode_audio(job.path, options.audio, max_duration_s=CROSS_FILE_DECODE_LIMIT_S)
        if not audio.is_stereo and options.roles.diarize:  # diarized alone: its roles come before ASR
            return None
        decoded = time.perf_counter()
        tracks = {role: speech_track(samples) for role, samples in audio.channels.items()}
    except Exception as e:  # noqa: BLE001 - run alone, where its failure is recorded as usual
        log.info("%s: not packed with its neighbours (%s: %s)", job.file, type(e).__name__, e)
        return None
    return _Member(job, audio, tracks, decoded - started, time.perf_counter() - decoded)


def _transcribe_together(ready: list[_Member], options: AnalyzeOptions) -> tuple[list, list]:
    """The members' segment lists, and each member's stage times so far (shared ASR split by duration)."""

    started = time.perf_counter()
    engine = transcription.load_engine(options.transcribe)
    loaded = time.perf_counter()
    passes_before, work_before = getattr(engine, "encoder_passes", 0), engine_work(engine)
    transcripts = transcribe_recordings(
        [m.audio for m in ready], options.transcribe, engine, [m.tracks for m in ready]
    )
    asr_s = time.perf_counter() - loaded
    passes = getattr(engine, "encoder_passes", 0) - passes_before
    durations = [m.audio.duration_s for m in ready]
    total = sum(durations) or 1.0
    decoder = split_columns(work_columns(engine_work(engine).minus(work_before)), durations)
    times = [
        StageTimes(
            decode_s=m.decode_s,
            vad_s=m.vad_s,
            asr_s=asr_s * duration / total,
            startup_s=(loaded - started) if i == 0 else 0.0,
            encoder_passes=share,
            decoder=columns,
        )
        for i, (m, duration, share, columns) in enumerate(
            zip(ready, durations, apportion(passes, durations), decoder, strict=True)
        )
    ]
    log.info("%d files decoded together: %d encoder passes in %.1f s", len(ready), passes, asr_s)
    return transcripts, times


def _finish(member: _Member, segments, before, options: AnalyzeOptions, lexicon: Lexicon) -> CallRecord:
    """Keyword hits, measures and the calls.csv row of one member, from its shared transcript."""

    acoustics = AcousticsOptions(non_talk_min_s=options.non_talk_min_s)
    result = analyze_decoded(
        member.audio,
        acoustics,
        lexicon,
        segments,
        member.job.meta.transfers,
        tracks=member.tracks,
        before=before,
    )
    return call_record(member.job, result, lexicon)


def split_columns(columns: tuple[tuple[str, float], ...], weights: Sequence[float]) -> list[tuple]:
    """Per member, the group's (column, value) counts split in proportion to ``weights``."""
    shares = {
        name: apportion(int(value), weights)
        if float(value).is_integer()
        else [value * w / (sum(weights) or 1) for w in weights]
        for name, value in columns
    }
    return [tuple((name, shares[name][i]) for name, _ in columns) for i in range(len(weights))]


def apportion(count: int, weights: Sequence[float]) -> list[int]:
    """``count`` split in proportion to ``weights`` as whole numbers that add up to ``count``
    (largest remainders; equal weights when they are all zero)."""
    if not weights:
        return []
    total = sum(weights)
    exact = [count * w / total if total > 0 else count / len(weights) for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: shares[i] - exact[i])
    for i in by_remainder[: count - sum(shares)]:
        shares[i] += 1
    return shares
