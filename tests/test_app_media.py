"""The desk's player back end: which recordings go out as they are, which are transcoded with PyAV
(channels kept), HTTP byte ranges, and paths that must never resolve."""

from __future__ import annotations

import io
import wave

import pytest
from audiofiles import encode, tone, write_wav

from speechchurn.app.media import NotFound, Player, RangeNotSatisfiable, byte_range, locate

SECONDS = 2.0  # s of tone per test file
STEREO = (0.3, 0.1)  # agent, customer amplitudes
BAD_PATHS = ["../outside.wav", "/etc/passwd", "sub/../../outside.wav", "missing.wav", "."]


@pytest.mark.parametrize(
    ("name", "make", "media_type", "channels"),
    [
        ("call.amr", lambda p: encode(p, "libopencore_amrnb", tone(SECONDS, 8000), 8000), "audio/wav", 1),
        ("call8k.wav", lambda p: write_wav(p, tone(SECONDS, 8000, STEREO), 8000), "audio/wav", 2),
        ("call16k.wav", lambda p: write_wav(p, tone(SECONDS, 16000, STEREO), 16000), "audio/wav", 2),
        (
            "call.mp3",
            lambda p: encode(p, "libmp3lame", tone(SECONDS, 8000, STEREO), 8000),
            "audio/mpeg",
            2,
        ),
    ],
)
def test_playable_audio(tmp_path, name, make, media_type, channels):
    make(tmp_path / name)
    audio = Player(tmp_path).audio(name)
    assert audio.media_type == media_type and audio.channels == channels
    body = audio.read(0, audio.size)
    assert len(body) == audio.size
    if audio.data is not None:  # transcoded: 16-bit PCM WAV at 16 kHz, channels kept
        with wave.open(io.BytesIO(body)) as w:
            assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (channels, 16_000, 2)
            assert abs(w.getnframes() / 16_000 - SECONDS) < 0.15
    else:
        assert audio.path == (tmp_path / name).resolve()


def test_transcoded_once_and_cached(tmp_path):
    write_wav(tmp_path / "a.wav", tone(SECONDS, 8000, STEREO), 8000)
    player = Player(tmp_path)
    assert player.audio("a.wav") is player.audio("a.wav")


@pytest.mark.parametrize(
    "file", ["../outside.wav", "/etc/passwd", "sub/../../outside.wav", "missing.wav", "."]
)
def test_locate_stays_inside_the_root(tmp_path, file):
    root = tmp_path / "root"
    root.mkdir()
    write_wav(tmp_path / "outside.wav", tone(0.1, 8000), 8000)
    with pytest.raises(NotFound):
        locate(root, file)


def test_undecodable_file_is_not_found(tmp_path):
    (tmp_path / "bad.amr").write_bytes(b"not audio at all")
    with pytest.raises(NotFound):
        Player(tmp_path).audio("bad.amr")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 1000)),
        ("bytes=-10", (990, 1000)),
        ("bytes=900-5000", (900, 1000)),
        ("bytes=0-1,5-6", None),  # multi-range: the whole file
        ("items=0-5", None),
    ],
)
def test_byte_range(header, expected):
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2"])
def test_unsatisfiable_range(header):
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, 1000)
