"""Decode call recordings with PyAV into float32 16 kHz arrays, one per speaker role.

PyAV ships its own FFmpeg libraries (it comes with faster-whisper), so wav, mp3, m4a and AMR-NB
decode without a system ffmpeg. Each file is decoded once; both Whisper engines take the arrays.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import AudioDecodeError
from .schema import ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED

log = logging.getLogger("speechchurn")

SAMPLE_RATE = 16_000  # Hz, what Whisper and the Silero VAD expect
HASH_CHUNK_BYTES = 1 << 20  # 1 MiB reads when hashing files
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".amr", ".flac", ".ogg", ".opus", ".aac", ".wma"})
DEFAULT_CHANNEL_ROLES = (ROLE_AGENT, ROLE_CUSTOMER)  # left, right
MAX_DURATION_S = 4 * 3600.0  # s; longer recordings are refused to keep memory bounded


@dataclass(frozen=True)
class AudioOptions:
    """How to map channels to roles. `channel_roles` names the left and right channel."""

    channel_roles: tuple[str, str] = DEFAULT_CHANNEL_ROLES
    max_duration_s: float = MAX_DURATION_S


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded call: role -> float32 samples at SAMPLE_RATE in [-1, 1]."""

    path: Path
    channels: dict[str, np.ndarray] = field(repr=False)
    source_rate: int  # Hz
    source_channels: int

    @property
    def duration_s(self) -> float:
        longest = max((len(x) for x in self.channels.values()), default=0)
        return longest / SAMPLE_RATE

    @property
    def is_stereo(self) -> bool:
        return ROLE_MIXED not in self.channels


def parse_channel_roles(spec: str) -> tuple[str, str]:
    """Parse `agent,customer` or `customer,agent` (the --channels option)."""
    roles = tuple(part.strip() for part in spec.split(","))
    if sorted(roles) != sorted(DEFAULT_CHANNEL_ROLES):
        raise ValueError(f"--channels must be 'agent,customer' or 'customer,agent', got {spec!r}")
    return roles  # type: ignore[return-value]


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in chunks so large recordings stay out of memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def decode_audio(path: Path, options: AudioOptions = AudioOptions()) -> DecodedAudio:
    """Decode one recording. Raises AudioDecodeError with a readable reason on any failure."""
    path = Path(path)
    _check_file(path)
    import av  # PyAV, bundled with faster-whisper

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path.name}: no audio stream")
            stream = container.streams.audio[0]
            n_channels, rate = stream.channels, stream.rate
            planes = _decode_planes(container, stream, n_channels, options.max_duration_s)
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise AudioDecodeError(f"{path.name}: not a decodable audio file ({e})") from e
    if planes.shape[1] == 0:
        raise AudioDecodeError(f"{path.name}: zero-length audio (no samples)")
    return DecodedAudio(path, _assign_roles(planes, options), int(rate or 0), int(n_channels))


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise AudioDecodeError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path.name}: empty file (0 bytes)")


def _decode_planes(container, stream, n_channels: int, max_duration_s: float) -> np.ndarray:
    """Resample the stream to float32 planar at SAMPLE_RATE; >2 channels are mixed down to mono."""
    layout = "stereo" if n_channels == 2 else "mono"
    if n_channels > 2:
        log.warning("%s: %d channels, mixing down to mono", container.name, n_channels)
    max_samples = int(max_duration_s * SAMPLE_RATE)
    chunks, total = [], 0
    for chunk in _resampled_chunks(container, stream, layout):
        chunks.append(chunk)
        total += chunk.shape[1]
        if total > max_samples:
            raise AudioDecodeError(
                f"{Path(container.name).name}: longer than {max_duration_s / 3600:.1f} h; split the recording"
            )
    width = 2 if layout == "stereo" else 1
    if not chunks:
        return np.zeros((width, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


def _resampled_chunks(container, stream, layout: str) -> Iterator[np.ndarray]:
    import av

    resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            yield out.to_ndarray()
    for out in resampler.resample(None):
        yield out.to_ndarray()


def _assign_roles(planes: np.ndarray, options: AudioOptions) -> dict[str, np.ndarray]:
    if planes.shape[0] == 1:
        return {ROLE_MIXED: np.ascontiguousarray(planes[0])}
    left, right = options.channel_roles
    return {left: np.ascontiguousarray(planes[0]), right: np.ascontiguousarray(planes[1])}
