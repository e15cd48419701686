"""Named exceptions raised by library code. The CLI turns them into one-line messages."""


class SpeechchurnError(Exception):
    """Base class for every error speechchurn raises on purpose."""


class AudioDecodeError(SpeechchurnError):
    """An audio file could not be decoded (empty, truncated, not audio, ...)."""


class RecordingTooLongError(AudioDecodeError):
    """A recording is longer than the limit asked for (``limit_s``)."""

    def __init__(self, message: str, limit_s: float):
        super().__init__(message)
        self.limit_s = limit_s


class TranscriptionError(SpeechchurnError):
    """The engine failed on a recording."""


class ReportError(SpeechchurnError):
    """An input file of the report is unreadable, or the report cannot be written."""


class ModelNotFoundError(SpeechchurnError):
    """No offline source for the requested Whisper model."""


class ModelChecksumError(SpeechchurnError):
    """Assembled model weights do not match the recorded sha256."""


class ConfigError(SpeechchurnError):
    """A rules, lexicon or options file is invalid; the message names the key/row/file."""


class ManifestError(SpeechchurnError):
    """A manifest CSV is unreadable or has a bad row; the message names file, row, column."""


class StoreError(SpeechchurnError):
    """The result store in OUT_DIR is missing or unreadable."""


class ClusterError(SpeechchurnError):
    """The Dask scheduler could not be reached or used."""


class LeakageError(SpeechchurnError):
    """A feature was built from data after the training cutoff, or labels overlap the features' time."""


class HelperError(SpeechchurnError):
    """Grading's helper process stopped before it answered (killed, or out of memory)."""


class TrainingError(SpeechchurnError):
    """A churn model could not be fitted on the training customers (scikit-learn refused the data)."""


class FormError(ConfigError):
    """A QA evaluation form is invalid; the message names the file, the criterion and the key."""
