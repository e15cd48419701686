"""Test helpers that write audio files: PCM WAV with the stdlib `wave`, compressed formats with PyAV."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

TONE_HZ = 300.0  # Hz, well inside telephone bandwidth
FULL_SCALE = 32767  # int16


def tone(seconds: float, rate: int, amplitudes: tuple[float, ...] = (0.3,)) -> np.ndarray:
    """(n, channels) float tone, one amplitude per channel."""
    t = np.arange(int(round(seconds * rate))) / rate
    wave_ = np.sin(2 * np.pi * TONE_HZ * t)
    return np.stack([a * wave_ for a in amplitudes], axis=1)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit PCM WAV from (n, channels) floats in [-1, 1]."""
    frames = np.clip(samples * FULL_SCALE, -FULL_SCALE, FULL_SCALE).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames.tobytes())
    return path


def encode(path: Path, codec: str, samples: np.ndarray, rate: int) -> Path:
    """Encode (n, channels) floats with PyAV (libmp3lame, aac, libopencore_amrnb, ...)."""
    import av

    channels = samples.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    step = 1024  # samples per frame handed to the encoder (PyAV re-frames for the codec)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        for i in range(0, len(samples), step):
            block = (samples[i : i + step] * FULL_SCALE).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="s16", layout=layout)
            frame.sample_rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def truncate_data(path: Path, keep_share: float) -> Path:
    """Cut a WAV inside its data chunk (the header still declares the full length)."""
    data = path.read_bytes()
    header = data.index(b"data") + 8
    path.write_bytes(data[: header + int((len(data) - header) * keep_share) // 4 * 4])
    return path
