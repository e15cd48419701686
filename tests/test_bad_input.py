"""A batch of real-world bad input: every file ends up done or in errors.csv with a clear reason.

Decision on truncated WAVs: a WAV cut inside its data chunk (recorder died mid-call) is analysed
with what is there and flagged by a logged warning (and `DecodedAudio.warnings`); a WAV whose
header itself is cut off fails with "truncated WAV header".
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from audiofiles import encode, tone, truncate_data, write_wav

from speechchurn import outputs
from speechchurn.analyze import analyze
from speechchurn.batch.pipeline import discover

RATE_8K = 8000  # Hz, telephone audio
SECONDS = 3.0  # s, length of every generated call


def _header_cut(path):
    write_wav(path, tone(SECONDS, RATE_8K), RATE_8K)
    path.write_bytes(path.read_bytes()[:30])


def _wav(rate, channels=2):
    return lambda path: write_wav(path, tone(SECONDS, rate, (0.3,) * channels), rate)


def _encoded(codec, channels):
    return lambda path: encode(path, codec, tone(SECONDS, RATE_8K, (0.3,) * channels), RATE_8K)


# name -> (writer, expected status, words the reason must hold / expected duration in s)
CASES = {
    "empty.wav": (lambda p: p.write_bytes(b""), "failed", "empty file"),
    "notes.wav": (
        lambda p: p.write_text("客户资料\n" * 100, encoding="utf-8"),
        "failed",
        "not a decodable audio",
    ),
    "zero.wav": (lambda p: write_wav(p, np.zeros((0, 2)), RATE_8K), "failed", "zero-length audio"),
    "header_cut.wav": (_header_cut, "failed", "truncated WAV header"),
    "data_cut.wav": (lambda p: truncate_data(_wav(RATE_8K)(p), 0.5), "done", SECONDS / 2),
    "quad.wav": (_wav(RATE_8K, channels=4), "done", SECONDS),
    "rate_8000.wav": (_wav(8000), "done", SECONDS),
    "rate_16000.wav": (_wav(16000), "done", SECONDS),
    "rate_44100.wav": (_wav(44100), "done", SECONDS),
    "rate_48000.wav": (_wav(48000), "done", SECONDS),
    "call.mp3": (_encoded("libmp3lame", 2), "done", SECONDS),
    "call.m4a": (_encoded("aac", 2), "done", SECONDS),
    "call.amr": (_encoded("libopencore_amrnb", 1), "done", SECONDS),
}
IGNORED = ("readme.txt", "cover.jpg", "notes.docx")
LOSSLESS_TOLERANCE_S = 0.010  # s
LOSSY_TOLERANCE_S = 0.15  # s, encoder priming/padding


@pytest.fixture(scope="module")
def batch(tmp_path_factory, samples_dir):
    """One analyze run over every case, a good sample call and some non-audio files."""
    from conftest import FakeEngine

    import speechchurn.asr.transcribe as transcribe

    folder = tmp_path_factory.mktemp("bad_input")
    for name, (write, _status, _expect) in CASES.items():
        write(folder / name)
    for name in IGNORED:
        (folder / name).write_bytes(b"not audio")
    good = sorted(samples_dir.glob("*.wav"))[0]
    shutil.copy(good, folder / good.name)
    out = tmp_path_factory.mktemp("bad_input_out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transcribe, "load_engine", lambda options: FakeEngine())
        records = _LogRecords()
        logging.getLogger("speechchurn").addHandler(records)
        try:
            result = analyze(folder, out)
        finally:
            logging.getLogger("speechchurn").removeHandler(records)
    calls = outputs.read_csv(out / "calls.csv").set_index("file")
    errors = outputs.read_csv(out / "errors.csv").set_index("file")
    return {
        "folder": folder,
        "result": result,
        "calls": calls,
        "errors": errors,
        "good": good.name,
        "log": records.messages,
    }


class _LogRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_file_is_done_or_failed_with_its_reason(batch, name):
    _write, status, expect = CASES[name]
    calls, errors = batch["calls"], batch["errors"]
    if status == "failed":
        assert name not in calls.index
        reason = errors.loc[name, "reason"]
        assert reason.startswith(f"{name}: ") and expect in reason
    else:
        assert name not in errors.index, errors.loc[name, "reason"] if name in errors.index else ""
        tolerance = LOSSLESS_TOLERANCE_S if name.endswith(".wav") else LOSSY_TOLERANCE_S
        assert abs(calls.loc[name, "duration_s"] - expect) < tolerance


def test_the_batch_goes_on_and_counts_add_up(batch):
    result = batch["result"]
    expected_failed = sum(1 for _w, status, _e in CASES.values() if status == "failed")
    assert result.failed == expected_failed
    assert result.done == len(CASES) - expected_failed + 1  # + the good sample call
    assert result.ignored == len(IGNORED)
    assert batch["good"] in batch["calls"].index


def test_a_wav_cut_in_its_data_is_flagged(batch):
    assert any("data_cut.wav: truncated WAV" in m and "decoded what is there" in m for m in batch["log"])


def test_mono_and_multichannel_calls_are_mixed(batch):
    calls = batch["calls"]
    for name in ("quad.wav", "call.amr"):
        assert not np.isnan(calls.loc[name, "silence_ratio"])
        assert np.isnan(calls.loc[name, "talk_s_agent"]), "a mixed channel has no per-role talk time"


def test_discover_ignores_non_audio_files_by_extension(batch):
    files, ignored = discover(batch["folder"])
    assert ignored == len(IGNORED)
    assert sorted(p.name for p in files) == sorted([*CASES, batch["good"]])
