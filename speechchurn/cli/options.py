"""Shared CLI vocabulary: exit codes, logging set-up, the one library-error mapping, option aliases.

Every command declares its options with these aliases (sqlite-utils style), so a flag means the
same thing and is checked the same way everywhere. Checks live in the option parsers: a bad value
is a usage error (exit 2) that names the option. Library errors reach the user through
`library_errors()`, one line on stderr and a non-zero exit code.

Exit status: 0 everything succeeded; 1 a fatal error (nothing or not all could run);
2 usage error (bad option, missing path, invalid rules/manifest/lexicon file);
3 the batch finished but some files failed (listed in OUT_DIR/errors.csv); 5 `serve` cannot listen on
its address (port in use, or not permitted); 130 interrupted.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from speechchurn.asr.models import ENGINE_FASTER, ENGINES
from speechchurn.errors import ConfigError, ManifestError, SpeechchurnError
from speechchurn.vocab import DEFAULT_TIMEZONE, EARLIEST_CALL_YEAR, LATEST_CALL_YEAR

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_CANNOT_LISTEN = 5  # serve: the host:port is taken or not ours to bind
EXIT_INTERRUPTED = 130
LOGGER = "speechchurn"
LOG_FORMAT = "%(levelname)s %(message)s"


# --------------------------------------------------------------------------------------------- logging


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """-v: speechchurn's own DEBUG lines; third-party libraries stay at WARNING. -q: errors only.

    Default: warnings and errors from everyone. The stderr handler also filters by logger, so a
    library that sets its own logger level (dask's `distributed` sets INFO) stays at WARNING too.
    """
    others = logging.ERROR if quiet else logging.WARNING
    ours = logging.DEBUG if verbose else others
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(_ThirdPartyAtLeast(others))
    logging.basicConfig(level=others, handlers=[handler], force=True)
    logging.getLogger(LOGGER).setLevel(ours)


class _ThirdPartyAtLeast(logging.Filter):
    """Pass every speechchurn record (its logger level decides) and other records from `level` up."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == LOGGER or record.name.startswith(LOGGER + ".")
        return ours or record.levelno >= self.level


# ------------------------------------------------------------------------------------------------ help


def _plain_params(params: list) -> list:
    """Plain flags get an empty metavar (typer shows it instead of `<bool>`), arguments their
    upper-case name."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperArgument) and param.metavar is None and param.name:
            param.metavar = param.name.upper()
    return params


class PlainCommand(TyperCommand):
    """A command whose --help shows a plain flag as a flag (no `<bool>` value after it) and an argument
    by its upper-case name, `OUT_DIR` rather than `{out_dir}`, in the usage line and the table."""

    def get_params(self, ctx) -> list:
        return _plain_params(super().get_params(ctx))

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or ""
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class PlainGroup(TyperGroup):
    """A command group whose --help shows plain flags as flags (see PlainCommand)."""

    def get_params(self, ctx) -> list:
        return _plain_params(super().get_params(ctx))


class PlainTyper(typer.Typer):
    """typer.Typer with PlainGroup and PlainCommands (unless a command names its own class)."""

    def __init__(self, *args, cls: type[TyperGroup] | None = None, **kwargs):
        super().__init__(*args, cls=cls or PlainGroup, **kwargs)

    def command(self, *args, cls: type[TyperCommand] | None = None, **kwargs):
        return super().command(*args, cls=cls or PlainCommand, **kwargs)


# --------------------------------------------------------------------------------------------- errors


def fail(message: str, code: int) -> typer.Exit:
    """Print `error: message` on stderr; the caller raises the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def error_code(error: SpeechchurnError) -> int:
    """Bad input files (rules, lexicons, manifests, rosters) are usage errors; the rest are fatal."""
    return EXIT_USAGE if isinstance(error, ConfigError | ManifestError) else EXIT_ERROR


@contextmanager
def library_errors() -> Iterator[None]:
    """The one mapping of library errors to a one-line message and an exit code."""
    try:
        yield
    except SpeechchurnError as e:
        raise fail(str(e), error_code(e)) from e
    except OSError as e:  # a file the library could not read or write: one line, never a traceback
        where = f"{e.filename}: " if e.filename else ""
        raise fail(f"{where}{e.strerror or e}", EXIT_ERROR) from e


# --------------------------------------------------------------------------------------------- parsers


def parse_date(value: str | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as e:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from e
    if not EARLIEST_CALL_YEAR <= day.year <= LATEST_CALL_YEAR:
        raise typer.BadParameter(f"{value!r} is not between {EARLIEST_CALL_YEAR} and {LATEST_CALL_YEAR}")
    return day


def parse_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:  # tzdata: a folder name, a name too long
        raise typer.BadParameter(
            f"unknown timezone {value!r} (use an IANA name such as {DEFAULT_TIMEZONE})"
        ) from e
    return value


def parse_engine(value: str) -> str:
    if value not in ENGINES:
        raise typer.BadParameter(f"unknown engine {value!r}; choose one of {', '.join(ENGINES)}")
    return value


def one_of(option: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``, else a usage error naming the option and the choices."""
    if value not in choices:
        raise typer.BadParameter(f"{option} must be one of {', '.join(choices)}, got {value!r}")
    return value


def parse_executor(value: str) -> str:
    from speechchurn.batch.options import EXECUTORS  # lazy: numpy (--help stays instant)

    return one_of("--executor", value, EXECUTORS)


def parse_packing(value: str) -> str:
    from speechchurn.asr.transcribe import PACKINGS  # lazy: numpy (--help stays instant)

    return one_of("--packing", value, PACKINGS)


def parse_decoding(value: str) -> str:
    from speechchurn.asr.faster_engine import DECODINGS

    return one_of("--decoding", value, DECODINGS)


def parse_channels(value: str) -> str:
    from speechchurn.call.audio import parse_channel_roles  # lazy: numpy (--help stays instant)

    try:
        parse_channel_roles(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    return value


def parse_channel_select(value: str | None) -> str | None:
    if value is not None:
        channel_select_pair(value)
    return value


def channel_select_pair(value: str | None) -> tuple[int, int] | None:
    """'0,2' -> (0, 2): two different non-negative channel indices."""
    if value is None:
        return None
    try:
        first, second = (int(part) for part in value.split(","))
    except ValueError as e:
        raise typer.BadParameter(
            f"--channel-select must be two channel indices like 0,1, got {value!r}"
        ) from e
    if first == second or min(first, second) < 0:
        raise typer.BadParameter(f"--channel-select needs two different channel numbers, got {value!r}")
    return first, second


def require_scheduler(executor: str, scheduler: str | None) -> None:
    """--executor dask needs --scheduler (a check across two options)."""
    if executor == "dask" and not scheduler:
        raise typer.BadParameter(
            "--executor dask needs --scheduler tcp://HOST:PORT", param_hint="'--scheduler'"
        )


# --------------------------------------------------------------------------------------------- aliases

ExistingDir = Annotated[Path, typer.Argument(exists=True, file_okay=False, dir_okay=True, resolve_path=True)]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also show speechchurn's debug lines.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the final summary.")]
AsOf = Annotated[
    str | None,
    typer.Option(parser=parse_date, help="Grade as of this date (YYYY-MM-DD); default: latest call."),
]
Rules = Annotated[Path | None, typer.Option(help="Rules TOML.", exists=True, dir_okay=False)]
QAFormOption = Annotated[
    Path | None,
    typer.Option(
        "--form",
        help="QA evaluation form TOML (docs/qa.md); default: the shipped form.",
        exists=True,
        dir_okay=False,
    ),
]
QAForm = Annotated[
    Path | None,
    typer.Option(
        "--qa-form",
        help="QA evaluation form TOML (docs/qa.md); default: the shipped form.",
        exists=True,
        dir_okay=False,
    ),
]
Customers = Annotated[
    Path | None,
    typer.Option(help="Customer roster CSV (adds customers who never called).", exists=True, dir_okay=False),
]
Timezone = Annotated[
    str, typer.Option(parser=parse_timezone, help="Time zone of naive timestamps and --as-of.")
]
Manifest = Annotated[
    Path | None,
    typer.Option(
        help="Manifest CSV: file, caller, agent, direction, started_at[, transfers, ...].",
        exists=True,
        dir_okay=False,
    ),
]
Lexicons = Annotated[
    Path | None, typer.Option(help="Folder of extra/override lexicon files.", exists=True, file_okay=False)
]
Engine = Annotated[str, typer.Option(parser=parse_engine, help=f"{' or '.join(ENGINES)}.")]
Executor = Annotated[str, typer.Option(parser=parse_executor, help="local or dask.")]
Packing = Annotated[
    str,
    typer.Option(
        parser=parse_packing,
        help="channel: decode each channel alone; call: both channels share 30 s decoder windows "
        "(half the encoder passes, less accurate on some audio: docs/benchmarks.md); files: as call, and "
        "up to 8 consecutive files of at most 20 s also share windows.",
    ),
]
Decoding = Annotated[
    str,
    typer.Option(
        parser=parse_decoding,
        help="beam: every decoder window with the beam; gated: greedy first, the beam only for windows "
        "whose greedy text fails a confidence gate (faster-whisper; docs/benchmarks.md, levers).",
    ),
]
Channels = Annotated[str, typer.Option(parser=parse_channels, help="Stereo channel roles, left,right.")]
ChannelSelect = Annotated[
    str | None,
    typer.Option(
        parser=parse_channel_select,
        help="For files with more than 2 channels: two channel indices, e.g. 0,2 "
        "(default: mix down to mono).",
    ),
]
Top = Annotated[int, typer.Option(min=1, help="Review queue length.")]
Wait = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="If another run holds OUT_DIR, wait for it to end (default: refuse with a message naming it).",
    ),
]
Redact = Annotated[
    bool,
    typer.Option(
        "--redact",
        help="Mask phone, ID and bank card numbers and e-mails (also in Chinese numerals) in transcripts, "
        "evidence, review quotes, the report and the workbook; the caller column stays.",
    ),
]
HashCallers = Annotated[
    str | None,
    typer.Option(
        "--hash-callers",
        metavar="SALT",
        envvar="SPEECHCHURN_CALLER_SALT",
        help="Replace each caller number in the outputs with a keyed hash (HMAC-SHA256 with SALT).",
    ),
]

DEFAULT_ENGINE = ENGINE_FASTER
