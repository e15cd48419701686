"""Decode call recordings with PyAV into float32 16 kHz arrays, one per speaker role.

PyAV ships its own FFmpeg libraries (it comes with faster-whisper), so wav, mp3, m4a and AMR-NB
decode without a system ffmpeg. Both Whisper engines take the arrays.

Two ways in:

* :func:`decode_audio` decodes a whole call at once. It refuses recordings longer than
  ``max_duration_s`` (default ``LONG_CALL_S``, 20 min) so nobody materialises hours of audio by
  accident (16 kHz float32 is about 230 MB per hour and channel).
* :func:`iter_windows` streams a recording of any length (up to ``AudioOptions.max_duration_s``,
  24 h) as consecutive windows with their start offset; memory stays at about one window.

Channels: mono files give ``mixed``; stereo files give the two roles of ``channel_roles`` (left,
right), except when both channels carry the same signal (:func:`same_signal`: some switches export
a mono call that way), which is read as mono; files with more than two channels are mixed down
to ``mixed`` (equal weights) unless ``channel_select`` picks two of them (0-based), which then
map to ``channel_roles``.

Bad input: an empty file, a text file, a file without samples or a WAV whose header is cut off
fail with :class:`AudioDecodeError` naming the file. A WAV cut inside its data chunk (a recorder
that died mid-call) is decoded as far as it goes and carries a ``truncated`` warning in
``DecodedAudio.warnings``: the call up to the cut is real data worth analysing.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechchurn.errors import AudioDecodeError, RecordingTooLongError
from speechchurn.vocab import ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED, SAMPLE_RATE_HZ

log = logging.getLogger("speechchurn")

SAMPLE_RATE = SAMPLE_RATE_HZ  # Hz, what Whisper and the Silero VAD expect
HASH_CHUNK_BYTES = 1 << 20  # 1 MiB reads when hashing files
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".amr", ".flac", ".ogg", ".opus", ".aac", ".wma"})
DEFAULT_CHANNEL_ROLES = (ROLE_AGENT, ROLE_CUSTOMER)  # left, right
LONG_CALL_S = 20 * 60.0  # s; decode_audio refuses longer recordings (stream them with iter_windows)
WINDOW_S = 5 * 60.0  # s; window length when a long recording is streamed (~38 MB per stereo window)
MAX_DURATION_S = 24 * 3600.0  # s; recordings longer than this are refused altogether
RIFF_HEADER_BYTES = 12  # "RIFF" + size + "WAVE"
CHUNK_HEADER_BYTES = 8  # chunk id + little-endian size
WAV_FMT_MIN_BYTES = 16  # PCM fmt chunk body
SAME_SIGNAL_DB = 30.0  # dB; channels whose difference is this far below their level are one signal
SILENT_ENERGY_PER_SAMPLE = 1e-8  # mean square below this (-80 dBFS) is silence


@dataclass(frozen=True)
class AudioOptions:
    """How to read channels.

    ``channel_roles`` names the left and right channel of a stereo file. ``channel_select`` picks
    two channels (0-based) of a file with more than two channels as left and right; ``None`` mixes
    such files down to one ``mixed`` channel. ``max_duration_s`` refuses longer recordings.
    """

    channel_roles: tuple[str, str] = DEFAULT_CHANNEL_ROLES
    max_duration_s: float = MAX_DURATION_S  # s
    channel_select: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.channel_select is not None:
            first, second = self.channel_select
            if first == second or min(first, second) < 0:
                raise ValueError(
                    f"channel_select needs two different channel numbers, got {self.channel_select}"
                )


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded call: role -> float32 samples at SAMPLE_RATE in [-1, 1]."""

    path: Path
    channels: dict[str, np.ndarray] = field(repr=False)
    source_rate: int  # Hz
    source_channels: int
    warnings: tuple[str, ...] = ()  # problems that did not stop decoding (e.g. a truncated WAV)

    @property
    def duration_s(self) -> float:
        longest = max((len(x) for x in self.channels.values()), default=0)
        return longest / SAMPLE_RATE

    @property
    def is_stereo(self) -> bool:
        return ROLE_MIXED not in self.channels


@dataclass(frozen=True)
class AudioWindow:
    """One stretch of a streamed recording; ``audio`` times start at 0, call time is + ``offset_s``."""

    offset_s: float  # s from the start of the recording
    audio: DecodedAudio

    @property
    def end_s(self) -> float:
        return self.offset_s + self.audio.duration_s


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


# --------------------------------------------------------------------------- public decoders


def decode_audio(
    path: Path, options: AudioOptions = AudioOptions(), max_duration_s: float = LONG_CALL_S
) -> DecodedAudio:
    """Decode one whole recording (at most ``max_duration_s`` long, else RecordingTooLongError).

    Raises AudioDecodeError with a reason that starts with the file name on any failure.
    """
    path = Path(path)
    warnings = inspect_file(path)
    limit_s = min(max_duration_s, options.max_duration_s)
    limit = int(limit_s * SAMPLE_RATE)
    blocks, count, info = [], 0, {}
    for block in _decoded_blocks(path, options, info):
        blocks.append(block)
        count += block.shape[1]
        if count > limit:
            raise _too_long(path, limit_s)
    if count == 0:
        raise AudioDecodeError(f"{path.name}: zero-length audio (no samples)")
    planes = np.concatenate(blocks, axis=1)
    del blocks
    return _decoded(path, planes, options, info, warnings)


def iter_windows(
    path: Path, options: AudioOptions = AudioOptions(), window_s: float = WINDOW_S
) -> Iterator[AudioWindow]:
    """Stream a recording as consecutive windows of ``window_s`` (the last one shorter).

    Memory stays at about one window whatever the length; refuses recordings longer than
    ``options.max_duration_s``. Raises AudioDecodeError like :func:`decode_audio`.
    """
    path = Path(path)
    warnings = inspect_file(path)
    window = max(1, int(window_s * SAMPLE_RATE))
    limit = int(options.max_duration_s * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    held = emitted = 0
    info: dict = {}
    for block in _decoded_blocks(path, options, info):
        pending.append(block)
        held += block.shape[1]
        if emitted + held > limit:
            raise _too_long(path, options.max_duration_s)
        while held >= window:
            planes, pending, held = _split_pending(pending, window)
            yield AudioWindow(emitted / SAMPLE_RATE, _decoded(path, planes, options, info, warnings))
            emitted += window
            del planes
    if held:
        planes = np.concatenate(pending, axis=1)
        pending = []
        yield AudioWindow(emitted / SAMPLE_RATE, _decoded(path, planes, options, info, warnings))
    elif emitted == 0:
        raise AudioDecodeError(f"{path.name}: zero-length audio (no samples)")


def probe_duration(path: Path) -> float | None:
    """Duration (s) the container declares, without decoding; None when unknown or unreadable."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration:
                return container.duration / av.time_base
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is not None and stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, ValueError, OSError):
        return None
    return None


def inspect_file(path: Path) -> tuple[str, ...]:
    """Checks before decoding: the file exists and is not empty; a RIFF WAV's header is whole.

    Returns warnings (a WAV whose data chunk is cut short); raises AudioDecodeError when the file
    cannot be audio at all.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise AudioDecodeError(f"{path.name}: empty file (0 bytes)")
    with open(path, "rb") as handle:
        head = handle.read(RIFF_HEADER_BYTES)
        if not head.startswith(b"RIFF"):
            return ()
        if len(head) < RIFF_HEADER_BYTES:
            raise AudioDecodeError(f"{path.name}: truncated WAV header ({size} bytes)")
        if head[8:12] != b"WAVE":
            return ()
        return _check_wav_chunks(path, handle, size)


# --------------------------------------------------------------------------- WAV header checks


def _check_wav_chunks(path: Path, handle, size: int) -> tuple[str, ...]:
    """Walk the RIFF chunks up to `data`; the header must be complete, the data may be cut short."""
    byte_rate = 0
    while True:
        header = handle.read(CHUNK_HEADER_BYTES)
        if len(header) < CHUNK_HEADER_BYTES:
            raise AudioDecodeError(f"{path.name}: truncated WAV header (no data chunk in {size} bytes)")
        chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
        position = handle.tell()
        if chunk_id == b"data":
            return _data_chunk_warnings(path, size - position, chunk_size, byte_rate)
        body = handle.read(chunk_size) if chunk_id == b"fmt " else b""
        if chunk_id == b"fmt ":
            if len(body) < min(chunk_size, WAV_FMT_MIN_BYTES):
                raise AudioDecodeError(f"{path.name}: truncated WAV header (fmt chunk cut off)")
            byte_rate = struct.unpack("<I", body[8:12])[0]
        handle.seek(position + chunk_size + (chunk_size & 1))


def _data_chunk_warnings(path: Path, available: int, declared: int, byte_rate: int) -> tuple[str, ...]:
    if declared in (0, 0xFFFFFFFF) or available >= declared:  # 0 / max: size unknown (streamed WAV)
        return ()
    if byte_rate:
        detail = f"header declares {declared / byte_rate:.1f} s, file holds {available / byte_rate:.1f} s"
    else:
        detail = f"header declares {declared} bytes of audio, file holds {available}"
    message = f"{path.name}: truncated WAV ({detail}); decoded what is there"
    log.warning(message)
    return (message,)


# --------------------------------------------------------------------------- decoding core


def _decoded_blocks(path: Path, options: AudioOptions, info: dict) -> Iterator[np.ndarray]:
    """Float32 (n_out, k) blocks at SAMPLE_RATE, channels already selected or mixed down.

    Fills ``info`` with the source rate and channel count once the stream is open.
    """
    import av  # PyAV, bundled with faster-whisper

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path.name}: no audio stream")
            stream = container.streams.audio[0]
            if stream.codec_context is None:  # FFmpeg has no decoder for it (e.g. an unknown WAV format tag)
                raise AudioDecodeError(f"{path.name}: audio codec not supported{_wav_format_note(path)}")
            info.update(rate=int(stream.rate or 0), channels=int(stream.channels))
            pick = _channel_plan(path, int(stream.channels), options)
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=SAMPLE_RATE)
            for frame in _frames(container, stream):
                for out in resampler.resample(frame):
                    yield pick(out.to_ndarray())
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise AudioDecodeError(f"{path.name}: not a decodable audio file ({_decode_reason(e)})") from e


def _wav_format_note(path: Path) -> str:
    """`` (WAV format tag 0x1234)`` for a RIFF/WAVE file whose fmt chunk opens the file, else ''."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(22)
    except OSError:
        return ""
    if len(head) < 22 or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt ":
        return ""
    return f" (WAV format tag 0x{struct.unpack('<H', head[20:22])[0]:04x})"


def _decode_reason(error: Exception) -> str:
    """FFmpeg's reason in words, without its raw error code (`[Errno 1094995529]`) or the path."""
    import av

    if isinstance(error, av.error.InvalidDataError):
        return "invalid data"
    reason = getattr(error, "strerror", None) or str(error)
    return reason[:1].lower() + reason[1:]


def _frames(container, stream) -> Iterator:
    """Decoded frames, then None to flush the resampler."""
    yield from container.decode(stream)
    yield None


def _channel_plan(path: Path, n_channels: int, options: AudioOptions):
    """A function mapping decoded (n_channels, k) planes to the 1 or 2 planes that become roles."""
    if n_channels <= 2:
        return _as_float32
    if options.channel_select is None:
        log.warning("%s: %d channels, mixing down to mono", path.name, n_channels)
        return _mix_down
    chosen = list(options.channel_select)
    if max(chosen) >= n_channels:
        raise AudioDecodeError(
            f"{path.name}: channel_select {tuple(chosen)} is out of range for {n_channels} channels "
            f"(channels are numbered from 0)"
        )
    log.info("%s: %d channels, using channels %d and %d", path.name, n_channels, *chosen)
    return lambda planes: _as_float32(planes[chosen])


def _as_float32(planes: np.ndarray) -> np.ndarray:
    return np.asarray(planes, dtype=np.float32)


def _mix_down(planes: np.ndarray) -> np.ndarray:
    return planes.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)


def _split_pending(pending: list[np.ndarray], window: int) -> tuple[np.ndarray, list[np.ndarray], int]:
    """The first ``window`` samples of the pending blocks, and what is left over (less than a block)."""
    joined = np.concatenate(pending, axis=1)
    pending.clear()
    if joined.shape[1] == window:
        return joined, [], 0
    rest = joined[:, window:].copy()
    return joined[:, :window], [rest], rest.shape[1]


def _decoded(path: Path, planes: np.ndarray, options: AudioOptions, info: dict, warnings) -> DecodedAudio:
    return DecodedAudio(
        path, _assign_roles(planes, options), info.get("rate", 0), info.get("channels", 0), warnings
    )


def _assign_roles(planes: np.ndarray, options: AudioOptions) -> dict[str, np.ndarray]:
    if planes.shape[0] == 1:
        return {ROLE_MIXED: np.ascontiguousarray(planes[0])}
    if same_signal(planes[0], planes[1]):
        log.info("both channels carry the same signal: read as mono")
        return {ROLE_MIXED: np.ascontiguousarray(planes.mean(axis=0, dtype=np.float64).astype(np.float32))}
    left, right = options.channel_roles
    return {left: np.ascontiguousarray(planes[0]), right: np.ascontiguousarray(planes[1])}


def same_signal(left: np.ndarray, right: np.ndarray) -> bool:
    """True when two channels hold one mixed signal (a switch that exports mono as "stereo"): their
    difference is at least ``SAME_SIGNAL_DB`` below their level. Silent channels are not the same
    signal (nothing to compare)."""
    level = float(np.dot(left, left) + np.dot(right, right)) / 2
    if level <= SILENT_ENERGY_PER_SAMPLE * left.size:
        return False
    diff = left.astype(np.float64) - right
    return float(np.dot(diff, diff)) <= level * 10 ** (-SAME_SIGNAL_DB / 10)


def _too_long(path: Path, limit_s: float) -> RecordingTooLongError:
    span = f"{limit_s / 3600:g} h" if limit_s >= 3600 else f"{limit_s / 60:g} min"
    return RecordingTooLongError(
        f"{path.name}: longer than {span}; stream it in windows "
        "(speechchurn.recording.analyze_recording) or split the recording",
        limit_s,
    )
