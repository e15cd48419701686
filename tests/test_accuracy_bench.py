"""The accuracy benchmark (benchmarks/accuracy.py): split lists, scoring, and a tiny real-model slice."""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import pytest

from benchmarks import accuracy, make_splits
from benchmarks.accuracy import Item, RefTurn, item_counts

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
needs_shared = pytest.mark.skipif(
    not (SHARED / "realspeech" / "truth.tsv").exists(),
    reason="../shared/realspeech (research-licence audio, never in the repo) is not present",
)
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="make_telephone.sh needs ffmpeg and ffprobe (Debian package ffmpeg; .ci/run installs it)",
)


@pytest.mark.parametrize("name", ["audio_samples", "realspeech", "realspeech_calls", "synth"])
def test_committed_split_lists_follow_the_hash_rule(name):
    rows = accuracy.read_split(name)
    assert rows and set(rows.values()) <= {"tune", "held-out"}
    if name in ("realspeech", "realspeech_calls"):
        with (accuracy.SPLITS / f"{name}.tsv").open(encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                assert make_splits.split_of(row["unit"]) == row["split"], row


def test_audio_samples_are_tune_and_synthetic_calls_held_out():
    assert set(accuracy.read_split("audio_samples").values()) == {"tune"}
    assert set(accuracy.read_split("synth").values()) == {"held-out"}


ITEM = Item(
    "x",
    "held-out",
    "a.wav",
    Path("a.wav"),
    (
        RefTurn("agent", 0.5, 3.0, "您好，请问有什么可以帮您？"),
        RefTurn("customer", 3.5, 4.6, "谢谢，辛苦了。"),
        RefTurn("customer", 6.0, 7.0, "好的。"),
    ),
)


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        # (role, start, end, text) -> (edits, ref chars, short turns, short turns heard)
        (
            [
                ("agent", 0.5, 3.0, "您好请问有什么可以帮您"),
                ("customer", 3.6, 4.5, "谢谢辛苦了"),
                ("customer", 6.1, 6.8, "好的"),
            ],
            (0, 18, 2, 2),
        ),
        ([("agent", 0.5, 3.0, "您好请问有什么可以帮您")], (7, 18, 2, 0)),
        # text on the wrong channel does not count for the customer's short turn
        ([("agent", 0.5, 3.0, "您好请问有什么可以帮您"), ("agent", 3.6, 4.5, "谢谢辛苦了")], (12, 18, 2, 0)),
        # a segment just outside the turn (within 0.3 s) still counts
        ([("customer", 7.2, 7.5, "好")], (17, 18, 2, 1)),
    ],
)
def test_item_counts(segments, expected):
    assert item_counts(ITEM, segments) == expected


@needs_shared
def test_realspeech_split_covers_every_clip():
    with (SHARED / "realspeech" / "truth.tsv").open(encoding="utf-8") as f:
        files = {row["file"] for row in csv.DictReader(f, delimiter="\t")}
    assert set(accuracy.read_split("realspeech")) == files


@needs_shared
@needs_ffmpeg
@pytest.mark.slow
def test_tiny_slice_runs_real_weights_against_the_peer(base_ct2, tmp_path, monkeypatch):
    monkeypatch.setattr(accuracy, "CACHE", tmp_path)
    args = argparse.Namespace(
        sets="realspeech_tel",
        splits="held-out",
        limit=2,
        limits="",
        shared=SHARED,
        systems="speechchurn,peer",
        opt=[],
        cache=None,
    )
    scores, settings = accuracy.run(args)
    ours, peer = (
        scores["speechchurn"][("realspeech_tel", "held-out")],
        scores["peer"][("realspeech_tel", "held-out")],
    )
    assert ours.items == peer.items == 2
    assert ours.chars > 20 and ours.cer < 0.5 and peer.cer < 0.5
    text = accuracy.render(scores, settings, ["speechchurn", "peer"], ("0", "0"), 1.0)
    assert "| realspeech_tel | held-out | 2 |" in text and "CER speechchurn / peer" in text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("speechchurn", '- `speechchurn`: `{"beam_size": 5}`'),
        (
            "previous",
            "- `previous`: the same settings as `speechchurn` "
            "(its transcripts are reused, not decoded again)",
        ),
        ("peer", "- `peer`: `WhisperModel base`"),
    ],
)
def test_a_system_with_the_same_settings_is_named_not_repeated(name, expected):
    settings = {
        "speechchurn": '{"beam_size": 5}',
        "previous": '{"beam_size": 5}',
        "peer": "WhisperModel base",
    }
    assert accuracy._settings_line(name, settings, ["speechchurn", "previous", "peer"]) == expected
