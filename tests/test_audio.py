"""Decoding: role mapping, sample rates, formats, multi-channel files, errors, streaming windows."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from audiofiles import encode, tone, truncate_data, write_wav

from speechchurn.call import audio as audio_mod
from speechchurn.call.audio import (
    SAMPLE_RATE,
    AudioOptions,
    RecordingTooLongError,
    decode_audio,
    file_sha256,
    iter_windows,
    parse_channel_roles,
    probe_duration,
)
from speechchurn.errors import AudioDecodeError

LOUD, QUIET = 0.5, 0.05  # tone amplitudes that tell channels apart


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


@pytest.mark.parametrize(
    ("roles", "loud_role"),
    [(("agent", "customer"), "agent"), (("customer", "agent"), "customer")],
)
def test_stereo_left_channel_goes_to_the_first_role(tmp_path, roles, loud_role):
    path = write_wav(tmp_path / "call.wav", tone(2.0, 8000, (LOUD, QUIET)), 8000)
    decoded = decode_audio(path, AudioOptions(channel_roles=roles))
    assert set(decoded.channels) == {"agent", "customer"} and decoded.is_stereo
    quiet_role = ({"agent", "customer"} - {loud_role}).pop()
    assert rms(decoded.channels[loud_role]) == pytest.approx(LOUD / np.sqrt(2), rel=0.05)
    assert rms(decoded.channels[quiet_role]) == pytest.approx(QUIET / np.sqrt(2), rel=0.05)
    assert all(x.dtype == np.float32 for x in decoded.channels.values())


def test_mono_file_is_one_mixed_channel(tmp_path):
    decoded = decode_audio(write_wav(tmp_path / "mono.wav", tone(1.5, 8000), 8000))
    assert list(decoded.channels) == ["mixed"] and not decoded.is_stereo
    assert decoded.source_channels == 1


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_sample_rates_decode_to_16k_with_the_right_duration(tmp_path, rate):
    seconds = 3.217
    # two different levels: identical channels are one mono signal (call.audio.same_signal)
    decoded = decode_audio(write_wav(tmp_path / f"r{rate}.wav", tone(seconds, rate, (0.3, 0.2)), rate))
    assert decoded.source_rate == rate
    assert abs(decoded.duration_s - seconds) < 0.010
    assert all(len(x) == len(decoded.channels["agent"]) for x in decoded.channels.values())
    assert rms(decoded.channels["agent"][SAMPLE_RATE // 10 : -SAMPLE_RATE // 10]) == pytest.approx(
        0.3 / np.sqrt(2), rel=0.05
    )


@pytest.mark.parametrize(
    ("suffix", "codec", "channels", "expected_roles"),
    [
        (".mp3", "libmp3lame", 2, {"agent", "customer"}),
        (".m4a", "aac", 2, {"agent", "customer"}),
        (".amr", "libopencore_amrnb", 1, {"mixed"}),  # AMR-NB is 8 kHz mono by definition
    ],
)
def test_compressed_formats_decode(tmp_path, suffix, codec, channels, expected_roles):
    seconds = 4.0
    levels = (0.3, 0.2)[:channels]  # different levels: identical channels would be read as mono
    path = encode(tmp_path / f"call{suffix}", codec, tone(seconds, 8000, levels), 8000)
    decoded = decode_audio(path)
    assert set(decoded.channels) == expected_roles
    assert abs(decoded.duration_s - seconds) < 0.15, "codec priming/padding is at most a few frames"
    assert rms(decoded.channels[sorted(expected_roles)[0]]) > 0.1


def four_channel_file(tmp_path):
    levels = (0.1, 0.2, 0.4, 0.05)
    return write_wav(tmp_path / "quad.wav", tone(2.0, 8000, levels), 8000), levels


def test_more_than_two_channels_mix_down_to_mono(tmp_path):
    path, levels = four_channel_file(tmp_path)
    decoded = decode_audio(path)
    assert list(decoded.channels) == ["mixed"] and decoded.source_channels == 4
    assert rms(decoded.channels["mixed"]) == pytest.approx(np.mean(levels) / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize(
    ("select", "roles"), [((2, 0), ("agent", "customer")), ((1, 3), ("customer", "agent"))]
)
def test_channel_select_picks_two_channels_of_a_multichannel_file(tmp_path, select, roles):
    path, levels = four_channel_file(tmp_path)
    decoded = decode_audio(path, AudioOptions(channel_roles=roles, channel_select=select))
    left, right = roles
    assert rms(decoded.channels[left]) == pytest.approx(levels[select[0]] / np.sqrt(2), rel=0.05)
    assert rms(decoded.channels[right]) == pytest.approx(levels[select[1]] / np.sqrt(2), rel=0.05)


def test_channel_select_out_of_range_names_the_file(tmp_path):
    path, _ = four_channel_file(tmp_path)
    with pytest.raises(AudioDecodeError, match=r"^quad\.wav: channel_select \(0, 4\) is out of range"):
        decode_audio(path, AudioOptions(channel_select=(0, 4)))


@pytest.mark.parametrize("select", [(1, 1), (-1, 0)])
def test_channel_select_needs_two_different_channels(select):
    with pytest.raises(ValueError, match="channel_select"):
        AudioOptions(channel_select=select)


def _wav_header_only(path):
    write_wav(path, tone(1.0, 8000), 8000)
    path.write_bytes(path.read_bytes()[:30])  # cut inside the fmt chunk


def _unknown_format_tag(path):
    write_wav(path, tone(1.0, 8000), 8000)
    data = bytearray(path.read_bytes())
    data[20:22] = (0x1234).to_bytes(2, "little")  # fmt chunk's format tag: no codec has it
    path.write_bytes(bytes(data))


BAD_FILES = {
    "empty.wav": (lambda p: p.write_bytes(b""), "empty file"),
    "odd_codec.wav": (_unknown_format_tag, r"audio codec not supported \(WAV format tag 0x1234\)$"),
    "notes.wav": (
        lambda p: p.write_text("这不是音频\n" * 40, encoding="utf-8"),
        r"not a decodable audio file \(invalid data\)$",  # no raw [Errno 1094995529]
    ),
    "zero.wav": (lambda p: write_wav(p, np.zeros((0, 2)), 8000), "zero-length audio"),
    "header.wav": (_wav_header_only, "truncated WAV header"),
    "riff.wav": (lambda p: p.write_bytes(b"RIFF\x00\x01"), "truncated WAV header"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_fail_with_a_reason_that_names_the_file(tmp_path, name):
    make, reason = BAD_FILES[name]
    make(tmp_path / name)
    with pytest.raises(AudioDecodeError, match=f"^{name}: {reason}"):
        decode_audio(tmp_path / name)
    with pytest.raises(AudioDecodeError, match=f"^{name}: {reason}"):
        list(iter_windows(tmp_path / name))


def test_missing_file_is_an_audio_error(tmp_path):
    with pytest.raises(AudioDecodeError, match="no such file"):
        decode_audio(tmp_path / "gone.wav")


def test_wav_cut_inside_the_data_is_decoded_and_flagged(tmp_path, caplog):
    path = truncate_data(write_wav(tmp_path / "cut.wav", tone(4.0, 8000, (0.3, 0.3)), 8000), 0.5)
    decoded = decode_audio(path)
    assert abs(decoded.duration_s - 2.0) < 0.010
    assert len(decoded.warnings) == 1 and "cut.wav: truncated WAV" in decoded.warnings[0]
    assert "declares 4.0 s, file holds 2.0 s" in decoded.warnings[0]
    assert "truncated WAV" in caplog.text


def test_decode_audio_refuses_more_than_its_limit(tmp_path):
    path = write_wav(tmp_path / "long.wav", tone(3.0, 8000), 8000)
    with pytest.raises(RecordingTooLongError, match=r"^long\.wav: longer than .*stream it in windows"):
        decode_audio(path, max_duration_s=1.0)
    assert decode_audio(path, max_duration_s=3.5).duration_s == pytest.approx(3.0)


def test_default_limit_is_the_long_call_threshold():
    assert audio_mod.LONG_CALL_S < audio_mod.MAX_DURATION_S
    assert AudioOptions().max_duration_s >= 24 * 3600


@pytest.mark.parametrize(("seconds", "window_s", "expected"), [(5.0, 2.0, 3), (4.0, 2.0, 2), (1.0, 2.0, 1)])
def test_iter_windows_tiles_the_recording(tmp_path, seconds, window_s, expected):
    path = write_wav(tmp_path / "w.wav", tone(seconds, 8000, (0.3, 0.1)), 8000)
    whole = decode_audio(path)
    windows = list(iter_windows(path, AudioOptions(), window_s))
    assert len(windows) == expected
    assert [w.offset_s for w in windows] == [i * window_s for i in range(expected)]
    assert windows[-1].end_s == pytest.approx(seconds)
    for role in ("agent", "customer"):
        joined = np.concatenate([w.audio.channels[role] for w in windows])
        np.testing.assert_array_equal(joined, whole.channels[role])


def test_iter_windows_refuses_more_than_the_hard_limit(tmp_path):
    path = write_wav(tmp_path / "long.wav", tone(3.0, 8000), 8000)
    with pytest.raises(RecordingTooLongError, match="long.wav: longer than"):
        list(iter_windows(path, AudioOptions(max_duration_s=2.0), window_s=1.0))


def test_probe_duration_reads_the_header_only(tmp_path):
    assert probe_duration(write_wav(tmp_path / "p.wav", tone(2.5, 8000), 8000)) == pytest.approx(2.5)
    (tmp_path / "t.wav").write_text("text")
    assert probe_duration(tmp_path / "t.wav") is None


def test_file_sha256_streams_in_chunks(tmp_path, monkeypatch):
    data = np.random.default_rng(0).bytes(50_000)
    path = tmp_path / "blob.wav"
    path.write_bytes(data)
    reads: list[int] = []
    real_open = open

    class SpyingHandle:
        def __init__(self, *args, **kwargs):
            self.handle = real_open(*args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def read(self, size=-1):
            reads.append(size)
            return self.handle.read(size)

    monkeypatch.setattr(audio_mod, "HASH_CHUNK_BYTES", 4096)
    monkeypatch.setattr(audio_mod, "open", SpyingHandle, raising=False)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert reads and max(reads) == 4096 and len(reads) >= 50_000 // 4096


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("agent,customer", ("agent", "customer")), (" customer , agent", ("customer", "agent"))],
)
def test_parse_channel_roles(spec, expected):
    assert parse_channel_roles(spec) == expected


@pytest.mark.parametrize("spec", ["agent", "agent,agent", "left,right", "agent,customer,agent"])
def test_parse_channel_roles_rejects_other_specs(spec):
    with pytest.raises(ValueError, match="--channels"):
        parse_channel_roles(spec)
