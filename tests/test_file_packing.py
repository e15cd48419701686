"""Packing "files" in the batch: consecutive short files transcribed through shared 30 s windows.

The short files are the opening exchange (one agent turn, one customer turn, about 8-12 s) cut from
sample calls, written as two-channel WAVs under their original names. A fake engine stands in for
Whisper where the test is about batching; one slow test runs the real model.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import replace

import numpy as np
import pytest
from audiofiles import write_wav
from typer.testing import CliRunner

from speechchurn import outputs
from speechchurn.analyze import analyze
from speechchurn.asr.transcribe import RawSegment, TranscribeOptions, Word, speech_chunks
from speechchurn.batch import executors
from speechchurn.batch.groups import GroupJob, apportion, group_jobs, members
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.batch.pipeline import STAGE_COLUMNS
from speechchurn.call.audio import SAMPLE_RATE, decode_audio

SHORT = (  # sample calls whose opening exchange becomes a short file
    "20260615_091245_15900003305_in.wav",
    "20261012_110530_13600001103_in.wav",
    "20261028_100012_13700002204_out.wav",
    "20261102_093012_13812345601_in.wav",
)
LONG = "20261105_101544_13998765402_in.wav"  # 47 s: longer than CROSS_FILE_MAX_S, always alone
CORRUPT = "20261020_090000_13500000000_in.wav"  # sorts between SHORT[1] and SHORT[2]
TAIL_S = 0.6  # s of line noise kept after the customer's turn (at most half the gap to the next turn)
WORD = "投诉"


def _files(**transcribe) -> AnalyzeOptions:
    return AnalyzeOptions(transcribe=TranscribeOptions(packing="files", **transcribe))


def write_short_calls(samples_dir, truth, folder, names=SHORT) -> list[str]:
    """The first agent and customer turns of each named sample call, as a two-channel WAV."""
    folder.mkdir(exist_ok=True)
    for name in names:
        audio = decode_audio(samples_dir / name)
        turns = truth[name]["turns"]
        end_s = min(turns[1]["end"] + TAIL_S, (turns[1]["end"] + turns[2]["start"]) / 2)  # before turn 3
        end = int(end_s * SAMPLE_RATE)
        stereo = np.stack([audio.channels["agent"][:end], audio.channels["customer"][:end]], axis=1)
        write_wav(folder / name, stereo, SAMPLE_RATE)
    return list(names)


def write_corrupt(path):
    """A WAV whose header declares 5 s of MP3 data (so it probes as short) but holds PCM: undecodable."""
    write_wav(path, np.zeros((5 * SAMPLE_RATE, 2)), SAMPLE_RATE)
    data = bytearray(path.read_bytes())
    data[20:22] = struct.pack("<H", 0x0055)  # fmt format tag: MPEG layer 3
    path.write_bytes(bytes(data))


class WordEngine:
    """Fake Whisper: one word per second of the audio it gets, so every packed piece gets text."""

    name = "fake"

    def __init__(self, fail_over_s: float | None = None, delay_s: float = 0.0):
        self.decodes = self.encoder_passes = 0
        self.fail_over_s = fail_over_s  # raise on windows longer than this (s)
        self.delay_s = delay_s  # s per decode, so ASR time is measurable

    def decode(self, samples):
        seconds = len(samples) / SAMPLE_RATE
        if self.fail_over_s is not None and seconds > self.fail_over_s:
            raise RuntimeError("simulated decoder failure")
        time.sleep(self.delay_s)
        self.decodes += 1
        self.encoder_passes += 1
        count = max(1, int(seconds))
        words = tuple(Word(float(i), min(i + 0.9, seconds), WORD) for i in range(count))
        return [RawSegment(0.0, seconds, WORD * count, -0.2, 0.01, words)]


@pytest.fixture
def word_engine(monkeypatch):
    import speechchurn.asr.transcribe as transcribe

    engine = WordEngine(delay_s=0.2)
    monkeypatch.setattr(transcribe, "load_engine", lambda options: engine)
    return engine


@pytest.fixture(scope="module")
def short_dir(tmp_path_factory, samples_dir, truth):
    folder = tmp_path_factory.mktemp("short") / "calls"
    write_short_calls(samples_dir, truth, folder)
    return folder


def _jobs(folder, options, tmp_path):
    from speechchurn.batch.pipeline import plan_jobs
    from speechchurn.batch.store import Store
    from speechchurn.text.lexicon import load_lexicons

    with Store(tmp_path / "plan") as store:
        return plan_jobs(folder, store, options, load_lexicons(None))[0]


def _without_timings(out):
    calls = outputs.read_csv(out / outputs.CALLS_CSV).sort_values("file").reset_index(drop=True)
    return calls.drop(columns=[c for c in STAGE_COLUMNS if c in calls.columns])


def _transcripts(out) -> dict:
    lines = (out / outputs.TRANSCRIPTS_JSONL).read_text(encoding="utf-8").splitlines()
    return {row["file"]: row["segments"] for row in map(json.loads, lines)}


# --------------------------------------------------------------------------- grouping


def test_only_runs_of_short_uncached_files_are_grouped(short_dir, samples_dir, tmp_path, monkeypatch):
    import shutil

    import speechchurn.batch.groups as groups

    folder = tmp_path / "calls"
    shutil.copytree(short_dir, folder)
    shutil.copy(samples_dir / LONG, folder / LONG)  # sorts between SHORT[3] and nothing: last
    jobs = _jobs(folder, _files(), tmp_path)
    tasks = group_jobs(jobs, _files())
    assert len(tasks) == 2 and isinstance(tasks[0], GroupJob) and not isinstance(tasks[1], GroupJob)
    assert [j.file for j in members(tasks[0])] == list(SHORT) and tasks[1].file == LONG
    monkeypatch.setattr(groups, "CROSS_FILE_MAX_FILES", 3)
    assert [len(members(t)) for t in group_jobs(jobs, _files())] == [3, 1, 1], "at most 3 per group"
    cached = [jobs[0], replace(jobs[1], cached_segments=()), *jobs[2:]]
    assert [len(members(t)) for t in group_jobs(cached, _files())] == [1, 1, 2, 1], "cached: alone"
    for options in (AnalyzeOptions(), _files(vad=False)):
        assert group_jobs(jobs, options) == jobs, "channel packing, or no VAD: every file alone"


@pytest.mark.parametrize(
    ("count", "weights", "shares"),
    [
        (5, [10.0, 10.0], [3, 2]),
        (3, [1.0, 1.0, 1.0], [1, 1, 1]),
        (7, [9.0, 1.0, 0.0], [6, 1, 0]),
        (2, [0, 0], [1, 1]),
    ],
)
def test_apportion_adds_up_to_the_count(count, weights, shares):
    assert sorted(apportion(count, weights)) == sorted(shares)
    assert sum(apportion(count, weights)) == count


# --------------------------------------------------------------------------- the batch, fake engine


def test_short_files_share_windows_and_each_keeps_its_own_row(short_dir, tmp_path, word_engine):
    alone = analyze(
        short_dir, tmp_path / "call", AnalyzeOptions(transcribe=TranscribeOptions(packing="call"))
    )
    decodes_alone, word_engine.decodes, word_engine.encoder_passes = word_engine.decodes, 0, 0
    together = analyze(short_dir, tmp_path / "files", _files())
    assert together.done == alone.done == len(SHORT) and together.failed == 0
    assert word_engine.decodes < decodes_alone, (word_engine.decodes, decodes_alone)
    calls = outputs.read_csv(tmp_path / "files" / outputs.CALLS_CSV)
    reference = outputs.read_csv(tmp_path / "call" / outputs.CALLS_CSV)
    assert list(calls.columns) == list(reference.columns) and sorted(calls["file"]) == sorted(SHORT)
    assert calls["encoder_passes"].sum() == word_engine.encoder_passes, "the group's passes, split"
    per_audio_s = calls["asr_s"] / calls["duration_s"]
    assert per_audio_s.max() / per_audio_s.min() < 1.02, "shared ASR time split by audio duration"
    transcripts = _transcripts(tmp_path / "files")
    for name in SHORT:
        assert {s["role"] for s in transcripts[name]} == {"agent", "customer"}, name
        assert (
            max(s["end"] for s in transcripts[name]) <= calls.set_index("file").loc[name, "duration_s"] + 0.01
        )


def test_a_rerun_decodes_nothing_and_cached_transcripts_are_not_regrouped(short_dir, tmp_path, word_engine):
    out = tmp_path / "out"
    analyze(short_dir, out, _files())
    decodes = word_engine.decodes
    rerun = analyze(short_dir, out, _files())
    assert (rerun.done, rerun.cached) == (0, len(SHORT))
    changed = analyze(
        short_dir, out, AnalyzeOptions(transcribe=TranscribeOptions(packing="files"), non_talk_min_s=2.0)
    )
    assert changed.done == len(SHORT), "analysis settings changed: every file again..."
    assert word_engine.decodes == decodes, "...from its cached transcript, without the engine"


def test_a_corrupt_file_in_a_group_fails_alone(short_dir, tmp_path, word_engine):
    import shutil

    folder = tmp_path / "calls"
    shutil.copytree(short_dir, folder)
    write_corrupt(folder / CORRUPT)
    tasks = group_jobs(_jobs(folder, _files(), tmp_path), _files())
    assert len(tasks) == 1 and CORRUPT in [j.file for j in members(tasks[0])], "the corrupt file is grouped"
    result = analyze(folder, tmp_path / "out", _files())
    assert (result.done, result.failed) == (len(SHORT), 1)
    errors = outputs.read_csv(tmp_path / "out" / outputs.ERRORS_CSV)
    assert list(errors["file"]) == [CORRUPT]
    assert errors.loc[0, "reason"].startswith(f"{CORRUPT}: not a decodable audio file")
    assert sorted(outputs.read_csv(tmp_path / "out" / outputs.CALLS_CSV)["file"]) == sorted(SHORT)


def test_when_decoding_together_fails_each_file_is_decoded_alone(short_dir, tmp_path, monkeypatch, caplog):
    import speechchurn.asr.transcribe as transcribe

    engine = WordEngine(fail_over_s=20.0)  # alone each call's speech fits 20 s; packed it does not
    monkeypatch.setattr(transcribe, "load_engine", lambda options: engine)
    result = analyze(short_dir, tmp_path / "out", _files())
    assert (result.done, result.failed) == (len(SHORT), 0)
    assert "decoding them together failed" in caplog.text
    monkeypatch.setattr(engine, "fail_over_s", None)
    reference = analyze(
        short_dir, tmp_path / "call", AnalyzeOptions(transcribe=TranscribeOptions(packing="call"))
    )
    assert reference.done == len(SHORT)
    assert _transcripts(tmp_path / "out") == _transcripts(tmp_path / "call"), "alone = as with packing call"


# --------------------------------------------------------------------------- every executor


def _with_corrupt(short_dir, tmp_path):
    import shutil

    folder = tmp_path / "calls"
    shutil.copytree(short_dir, folder)
    write_corrupt(folder / CORRUPT)
    return folder


def test_every_executor_accepts_packing_files(short_dir, tmp_path, fake_engine, monkeypatch, model_home):
    """In-process, a local pool (its spawned workers use crash_jobs.fake_job) and Dask agree."""
    pytest.importorskip("distributed")
    import crash_jobs

    folder = _with_corrupt(short_dir, tmp_path)
    runs = {"local": analyze(folder, tmp_path / "local", _files())}
    pool = executors.PoolExecutor(2, job=crash_jobs.fake_job, warm=None)
    with monkeypatch.context() as patch:
        patch.setattr(executors, "choose_executor", lambda options, count: pool)
        runs["pool"] = analyze(
            folder, tmp_path / "pool", AnalyzeOptions(transcribe=_files().transcribe, workers=2)
        )
    from dask_cluster import in_process_cluster

    with in_process_cluster() as cluster:
        options = AnalyzeOptions(
            transcribe=_files().transcribe, executor="dask", scheduler=cluster.scheduler_address
        )
        runs["dask"] = analyze(folder, tmp_path / "dask", options)
    for label, result in runs.items():
        assert (result.done, result.failed) == (len(SHORT), 1), label
        assert _transcripts(tmp_path / label) == _transcripts(tmp_path / "local"), label
        assert _without_timings(tmp_path / label).equals(_without_timings(tmp_path / "local")), label
        errors = outputs.read_csv(tmp_path / label / outputs.ERRORS_CSV)
        assert list(errors["file"]) == [CORRUPT] and "not a decodable" in errors.loc[0, "reason"], label


def test_a_worker_that_dies_under_a_group_costs_only_its_file(short_dir, tmp_path, monkeypatch, model_home):
    """The poisoned member SIGKILLs the worker running the group; each member is then retried alone."""
    import shutil

    import crash_jobs

    folder = tmp_path / "calls"
    shutil.copytree(short_dir, folder)
    (folder / "poison").mkdir()
    shutil.copy(short_dir / SHORT[0], folder / "poison" / SHORT[0])
    pool = executors.PoolExecutor(2, job=crash_jobs.fake_job, warm=None)
    monkeypatch.setattr(executors, "choose_executor", lambda options, count: pool)
    result = analyze(folder, tmp_path / "out", AnalyzeOptions(transcribe=_files().transcribe, workers=2))
    assert (result.total, result.done, result.failed) == (len(SHORT) + 1, len(SHORT), 1)
    errors = outputs.read_csv(tmp_path / "out" / outputs.ERRORS_CSV)
    assert list(errors["file"]) == [f"poison/{SHORT[0]}"]
    assert errors.loc[0, "reason"] == "worker crashed twice (signal 9)"


# --------------------------------------------------------------------------- CLI


def test_cli_accepts_packing_files_and_names_the_choices_on_a_bad_value(short_dir, tmp_path, fake_engine):
    from speechchurn.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["analyze", str(short_dir), "--out", str(tmp_path / "out"), "--packing", "files"]
    )
    assert result.exit_code == 0, result.output
    assert f"{len(SHORT)} done" in result.output
    bad = runner.invoke(  # a terminal wide enough that rich's error panel does not wrap the line
        app,
        ["analyze", str(short_dir), "--out", str(tmp_path / "bad"), "--packing", "spread"],
        env={"COLUMNS": "160"},
    )
    assert bad.exit_code == 2
    lines = [line for line in bad.output.splitlines() if "--packing must be one of" in line]
    assert len(lines) == 1 and "call, channel, files" in lines[0] and "'spread'" in lines[0], bad.output


# --------------------------------------------------------------------------- real model


def _utterances(segments: list[dict], audio, options: TranscribeOptions) -> dict:
    """(role, nearest VAD chunk) -> (first start, last end) of the text heard in that chunk."""
    spans: dict[tuple[str, int], tuple[float, float]] = {}
    for role, samples in audio.channels.items():
        chunks = speech_chunks(samples, options.vad_options)
        for seg in (s for s in segments if s["role"] == role):
            middle = (seg["start"] + seg["end"]) / 2 * SAMPLE_RATE
            index = min(
                range(len(chunks)), key=lambda i: abs((chunks[i]["start"] + chunks[i]["end"]) / 2 - middle)
            )
            start, end = spans.get((role, index), (seg["start"], seg["end"]))
            spans[(role, index)] = (min(start, seg["start"]), max(end, seg["end"]))
    return spans


@pytest.mark.slow
def test_packing_files_moves_no_role_or_timestamp_by_more_than_0_1_s(
    samples_dir, truth, tmp_path, model_home
):
    folder = tmp_path / "calls"
    names = write_short_calls(samples_dir, truth, folder, SHORT[:3])
    quick = {"beam_size": 1, "temperatures": (0.0,), "cpu_threads": 2}
    results = {}
    for packing in ("channel", "files"):
        options = AnalyzeOptions(transcribe=TranscribeOptions(packing=packing, **quick), workers=1)
        assert analyze(folder, tmp_path / packing, options).done == len(names)
        results[packing] = _transcripts(tmp_path / packing)
    passes = {p: outputs.read_csv(tmp_path / p / outputs.CALLS_CSV)["encoder_passes"].sum() for p in results}
    assert passes["files"] < passes["channel"], passes
    options = TranscribeOptions(**quick)
    for name in names:
        audio = decode_audio(folder / name)
        alone = _utterances(results["channel"][name], audio, options)
        packed = _utterances(results["files"][name], audio, options)
        assert alone and set(packed) == set(alone), (name, packed, alone)
        for key, (start, end) in alone.items():
            assert abs(packed[key][0] - start) <= 0.1 and abs(packed[key][1] - end) <= 0.1, (
                name,
                key,
                packed[key],
            )
