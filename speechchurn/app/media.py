"""Audio for the player: find a stored call's recording under the audio root, decide whether the
browser can play it as is, transcode it with PyAV when not, and answer HTTP Range requests.

A recording is only ever found through the store: the request names a call id, the id names a row of
``desk_calls``, the row names a file relative to the audio root. The resolved path must stay inside
the root and be a regular file; anything else is "not found". The request's path is never used.
"""

from __future__ import annotations

import io
import re
import threading
import wave
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

NATIVE_SUFFIXES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".ogg": "audio/ogg",
                   ".opus": "audio/ogg", ".flac": "audio/flac"}  # fmt: skip
WAV_NATIVE_MIN_RATE_HZ = 16_000  # WAV PCM at lower rates (8 kHz telephone audio) is transcoded
PLAYBACK_RATE_HZ = 16_000  # Hz, sample rate of transcoded audio (16-bit PCM WAV, channels kept)
PLAYBACK_SAMPLE_BYTES = 2  # 16-bit
CACHE_BYTES = 256 * 1024 * 1024  # bytes of transcoded audio kept in memory (LRU)
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_OFFSET_DIGITS = 19  # a Range offset longer than this is past the end (int() refuses > 4300 digits)


class NotFound(Exception):
    """No playable recording for this id (unknown id, outside the root, missing, undecodable)."""


class RangeNotSatisfiable(Exception):
    pass


@dataclass(frozen=True)
class Audio:
    """A playable recording: either a file on disk (served as is) or transcoded bytes."""

    media_type: str
    size: int
    path: Path | None = None
    data: bytes | None = None
    channels: int = 1

    def read(self, start: int, stop: int) -> bytes:
        if self.data is not None:
            return self.data[start:stop]
        with open(self.path, "rb") as handle:
            handle.seek(start)
            return handle.read(stop - start)


def locate(audio_root: Path, file: str) -> Path:
    """The recording of a stored call: `file` (from the store) under `audio_root`, or NotFound."""
    from speechchurn.filenames import filesystem_name

    root = Path(audio_root).resolve()
    try:
        path = (root / file).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        try:  # a name that is not UTF-8 is stored with \xNN escapes (speechchurn/filenames.py)
            path = (root / filesystem_name(file)).resolve(strict=True)
        except (OSError, RuntimeError, ValueError) as e:
            raise NotFound(file) from e
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(file)
    return path


class Player:
    """Serves recordings by store row; transcoded audio is cached by (path, mtime, size)."""

    def __init__(self, audio_root: Path, cache_bytes: int = CACHE_BYTES):
        self.audio_root = Path(audio_root)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple, Audio] = OrderedDict()
        self._lock = threading.Lock()
        self._busy: dict[tuple, threading.Lock] = {}

    def audio(self, file: str) -> Audio:
        path = locate(self.audio_root, file)
        stat = path.stat()
        media_type = native_type(path)
        if media_type is not None:
            return Audio(media_type, stat.st_size, path=path, channels=_channels(path))
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:  # one transcode per recording, however many requests ask for it at once
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            audio = transcode(path)
            with self._lock:
                self._cache[key] = audio
                self._busy.pop(key, None)
                while sum(a.size for a in self._cache.values()) > self.cache_bytes and len(self._cache) > 1:
                    self._cache.popitem(last=False)
        return audio


def native_type(path: Path) -> str | None:
    """The media type if a browser plays the file as is, else None (transcode)."""
    suffix = path.suffix.lower()
    if suffix in NATIVE_SUFFIXES:
        return NATIVE_SUFFIXES[suffix]
    if suffix == ".wav":
        try:
            with wave.open(str(path), "rb") as w:
                if w.getframerate() >= WAV_NATIVE_MIN_RATE_HZ and w.getsampwidth() == PLAYBACK_SAMPLE_BYTES:
                    return "audio/wav"
        except (wave.Error, EOFError, OSError):
            return None
    return None


def _channels(path: Path) -> int:
    try:
        import av

        with av.open(str(path)) as container:
            return container.streams.audio[0].codec_context.channels
    except Exception:  # noqa: BLE001 - only a hint for the player
        return 1


def transcode(path: Path) -> Audio:
    """Decode any recording PyAV reads into 16-bit PCM WAV at PLAYBACK_RATE_HZ, keeping 1 or 2 channels."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            channels = min(max(stream.codec_context.channels, 1), 2)
            layout = "stereo" if channels == 2 else "mono"
            resampler = av.AudioResampler(format="s16", layout=layout, rate=PLAYBACK_RATE_HZ)
            pcm = bytearray()
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pcm += bytes(out.planes[0])[: out.samples * channels * PLAYBACK_SAMPLE_BYTES]
            for out in resampler.resample(None):
                pcm += bytes(out.planes[0])[: out.samples * channels * PLAYBACK_SAMPLE_BYTES]
    except (av.error.FFmpegError, IndexError, OSError) as e:
        raise NotFound(str(path)) from e
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(PLAYBACK_SAMPLE_BYTES)
        w.setframerate(PLAYBACK_RATE_HZ)
        w.writeframes(bytes(pcm))
    data = buffer.getvalue()
    return Audio("audio/wav", len(data), data=data, channels=channels)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, stop) of a single `Range: bytes=a-b` request; None for no/ignored header."""
    if not header:
        return None
    match = RANGE_RE.match(header.strip())
    if match is None:
        return None  # multi-range or another unit: answer with the whole file
    first, last = (_offset(g) for g in match.groups())
    if first is None and last is None:
        return None
    if first is None:
        start, stop = max(size - last, 0), size
    else:
        start = first
        stop = min(last + 1, size) if last is not None else size
    if start >= size or start >= stop:
        raise RangeNotSatisfiable(header)
    return start, stop


def _offset(digits: str | None) -> int | None:
    """A byte offset from a Range header; past MAX_OFFSET_DIGITS it is simply past any file's end."""
    if not digits:
        return None
    return int(digits) if len(digits) <= MAX_OFFSET_DIGITS else 10**MAX_OFFSET_DIGITS
