"""Command-line interface. The only module that imports typer or prints.

Exit status: 0 everything succeeded; 1 a fatal error (nothing or not all could run);
2 usage error (bad option, missing path, invalid rules/manifest/lexicon file);
3 the batch finished but some files failed (listed in OUT_DIR/errors.csv).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from speechchurn.errors import ConfigError, ManifestError, SpeechchurnError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
PLAIN_PROGRESS_EVERY_S = 10.0  # s between progress lines when stdout is not a terminal

app = typer.Typer(
    help="Call-center speech analytics for customer churn: transcribe calls, grade customers, queue reviews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Offline Whisper model provisioning.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr, force=True)
    logging.getLogger("speechchurn").setLevel(logging.INFO if verbose else level)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _error_code(error: SpeechchurnError) -> int:
    return EXIT_USAGE if isinstance(error, ConfigError | ManifestError) else EXIT_ERROR


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as e:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from e


def _parse_channel_select(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        first, second = (int(part) for part in value.split(","))
    except ValueError as e:
        raise ValueError(f"--channel-select must be two channel indices like 0,1, got {value!r}") from e
    return first, second


ExistingDir = Annotated[Path, typer.Argument(exists=True, file_okay=False, dir_okay=True, resolve_path=True)]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log every step.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the final summary.")]
AsOf = Annotated[str | None, typer.Option(help="Grade as of this date (YYYY-MM-DD); default: latest call.")]


@app.command()
def analyze(
    audio_dir: ExistingDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; reused to resume).")],
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="Manifest CSV: file, caller, agent, direction, started_at[, transfers, ...].",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_of: AsOf = None,
    rules: Annotated[Path | None, typer.Option(help="Rules TOML.", exists=True, dir_okay=False)] = None,
    customers: Annotated[
        Path | None,
        typer.Option(
            help="Customer roster CSV (adds customers who never called).", exists=True, dir_okay=False
        ),
    ] = None,
    lexicons: Annotated[
        Path | None,
        typer.Option(help="Folder of extra/override lexicon files.", exists=True, file_okay=False),
    ] = None,
    engine: Annotated[str, typer.Option(help="faster-whisper or openai-whisper.")] = "faster-whisper",
    model: Annotated[
        str, typer.Option(help="Model name (base) or path to a CT2 folder / .pt file.")
    ] = "base",
    language: Annotated[str, typer.Option(help="Spoken language code.")] = "zh",
    beam_size: Annotated[int, typer.Option(min=1, help="Beam size.")] = 5,
    compute_type: Annotated[
        str, typer.Option(help="CTranslate2 compute type (int8, float32, ...).")
    ] = "int8",
    threads: Annotated[int, typer.Option(min=0, help="CPU threads per worker (0 = auto).")] = 0,
    vad: Annotated[bool, typer.Option("--vad/--no-vad", help="Gate Whisper with Silero VAD.")] = True,
    channels: Annotated[str, typer.Option(help="Stereo channel roles, left,right.")] = "agent,customer",
    channel_select: Annotated[
        str | None,
        typer.Option(
            help="For files with more than 2 channels: two channel indices, e.g. 0,2 "
            "(default: mix down to mono)."
        ),
    ] = None,
    filename_pattern: Annotated[
        str | None, typer.Option(help="Regex with named groups date, time, caller, direction.")
    ] = None,
    timezone: Annotated[str, typer.Option(help="Timezone of naive timestamps.")] = "Asia/Shanghai",
    non_talk_min: Annotated[
        float, typer.Option(help="Seconds of mutual silence that count as non-talk.")
    ] = 3.0,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="SPEECHCHURN_WORKERS",
            help="Worker processes, each loads the model once; 0 = one per CPU core "
            "(measured fastest, docs/benchmarks.md).",
        ),
    ] = 0,
    executor: Annotated[str, typer.Option(help="local or dask.")] = "local",
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address tcp://HOST:PORT.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Review queue length.")] = 20,
    verbose: Verbose = False,
    quiet: Quiet = False,
    profile: Annotated[
        bool, typer.Option("--profile", help="Print where the time went per stage (decode, vad, asr, text).")
    ] = False,
) -> None:
    """Transcribe and analyse every recording in AUDIO_DIR, then grade customers into OUT."""
    _setup_logging(verbose, quiet)
    from speechchurn.asr.transcribe import TranscribeOptions
    from speechchurn.batch.pipeline import AnalyzeOptions, GradeOptions
    from speechchurn.call.audio import AudioOptions, parse_channel_roles

    try:
        options = AnalyzeOptions(
            transcribe=TranscribeOptions(
                engine=engine,
                model=model,
                language=language,
                beam_size=beam_size,
                compute_type=compute_type,
                cpu_threads=threads,
                vad=vad,
            ),
            audio=AudioOptions(
                channel_roles=parse_channel_roles(channels),
                channel_select=_parse_channel_select(channel_select),
            ),
            manifest=manifest,
            lexicons=lexicons,
            filename_pattern=filename_pattern,
            timezone=timezone,
            non_talk_min_s=non_talk_min,
            workers=workers or (os.cpu_count() or 1),
            executor=executor,
            scheduler=scheduler,
        )
    except ValueError as e:
        raise _fail(str(e), EXIT_USAGE) from e
    if executor not in ("local", "dask"):
        raise _fail(f"--executor must be local or dask, got {executor!r}", EXIT_USAGE)
    if executor == "dask" and not scheduler:
        raise _fail("--executor dask needs --scheduler tcp://HOST:PORT", EXIT_USAGE)
    grading = GradeOptions(
        rules=rules, as_of=_parse_date(as_of), customers=customers, top=top, timezone=timezone
    )
    result = _run_analyze(audio_dir, out, options, grading, quiet)
    _print_summary(result, quiet)
    _print_profile(result, profile)
    raise typer.Exit(EXIT_PARTIAL if result.failed or result.problems else EXIT_OK)


def _run_analyze(audio_dir, out, options, grading, quiet):
    from speechchurn.batch.pipeline import analyze as run

    reporter = _ProgressReporter(quiet)
    try:
        with reporter:
            return run(audio_dir, out, options, grading, on_progress=reporter.update)
    except KeyboardInterrupt:
        typer.echo(
            f"\ninterrupted: finished files are saved in {out}; run the same command again to resume.",
            err=True,
        )
        raise typer.Exit(130) from None
    except SpeechchurnError as e:
        raise _fail(str(e), _error_code(e)) from e


class _ProgressReporter:
    """A rich progress bar on a terminal, plain periodic lines otherwise."""

    def __init__(self, quiet: bool):
        self.quiet, self.tty = quiet, sys.stdout.isatty()
        self.progress = self.task = None
        self.audio_s, self.last_line, self.started = 0.0, 0.0, time.monotonic()

    def __enter__(self):
        if self.tty and not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[hours]:.2f} h audio"),
                TimeRemainingColumn(),
            )
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def update(self, event) -> None:
        self.audio_s += event.audio_s
        if event.status == "failed" and not self.quiet:
            typer.echo(f"failed: {event.file}: {event.reason}", err=True)
        if self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task("analyzing", total=event.total, hours=0.0)
            self.progress.update(
                self.task,
                completed=event.index,
                hours=self.audio_s / 3600,
                description=f"analyzing {event.file[-40:]}",
            )
        elif not self.quiet:
            self._plain_line(event)

    def _plain_line(self, event) -> None:
        now = time.monotonic()
        if now - self.last_line < PLAIN_PROGRESS_EVERY_S and event.index < event.total:
            return
        self.last_line = now
        elapsed = now - self.started
        typer.echo(
            f"[{event.index}/{event.total}] {self.audio_s / 3600:.2f} h audio, {elapsed:.0f} s elapsed"
        )


def _print_profile(result, detailed: bool) -> None:
    """Where the time went: one line always, the per-stage table with --profile."""
    if getattr(result, "profile", None) is None or not result.profile.audio_s:
        return
    typer.echo(result.profile.summary(result.wall_s))
    if detailed:
        typer.echo("\n".join(result.profile.table(result.wall_s)))


def _print_summary(result, quiet: bool) -> None:
    if not quiet and result.graded is not None and len(result.graded):
        _print_callers(result.graded)
    typer.echo(
        f"{result.total} files: {result.done} done, {result.cached} skipped (cached), "
        f"{result.failed} failed, {result.ignored} non-audio ignored; "
        f"wall time {result.wall_s:.1f} s; outputs in {result.out_dir}"
    )
    for failure in result.failures[:10]:
        typer.echo(f"  failed: {failure.file}: {failure.reason}", err=True)
    for problem in result.problems[:10]:
        typer.echo(f"  manifest: {problem}", err=True)
    if len(result.failures) + len(result.problems) > 20:
        typer.echo(f"  ... all listed in {result.out_dir / 'errors.csv'}", err=True)


CALLER_TABLE_COLUMNS = (
    "caller",
    "tier",
    "score",
    "calls",
    "total_minutes",
    "last_call",
    "churn_risk",
    "warning_level",
)


def _print_callers(graded) -> None:
    """A compact table; the full explanation columns are in callers.csv."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Customers (full reasons in callers.csv)")
    columns = [c for c in CALLER_TABLE_COLUMNS if c in graded.columns]
    for column in columns:
        table.add_column(column, no_wrap=column in ("caller", "last_call"))
    for _, row in graded.sort_values(["tier", "score"], ascending=[True, False]).iterrows():
        table.add_row(*(_cell(row[c]) for c in columns))
    Console(width=max(100, Console().width)).print(table)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


@app.command()
def grade(
    out_dir: ExistingDir,
    rules: Annotated[Path | None, typer.Option(help="Rules TOML.", exists=True, dir_okay=False)] = None,
    as_of: AsOf = None,
    customers: Annotated[
        Path | None, typer.Option(help="Customer roster CSV.", exists=True, dir_okay=False)
    ] = None,
    timezone: Annotated[str, typer.Option(help="Timezone for --as-of.")] = "Asia/Shanghai",
    skip_wrong_hits: Annotated[
        bool, typer.Option("--skip-wrong-hits", help="Leave out keyword hits reviewers marked wrong.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Re-grade customers from the stored per-call features (no transcription)."""
    _setup_logging(False, quiet)
    from speechchurn.batch.pipeline import GradeOptions
    from speechchurn.batch.pipeline import grade as run

    try:
        graded = run(
            out_dir,
            GradeOptions(
                rules=rules,
                as_of=_parse_date(as_of),
                customers=customers,
                timezone=timezone,
                skip_wrong_hits=skip_wrong_hits,
            ),
        )
    except SpeechchurnError as e:
        raise _fail(str(e), _error_code(e)) from e
    if not quiet:
        _print_callers(graded)
    typer.echo(f"graded {len(graded)} customers -> {out_dir / 'callers.csv'}")


@app.command()
def review(
    out_dir: ExistingDir,
    top: Annotated[int, typer.Option(min=1, help="How many customers to list.")] = 20,
) -> None:
    """Show the supervisor's review queue (complaint-heavy and high-risk customers) and write review.csv."""
    _setup_logging(False, False)
    from speechchurn import outputs
    from speechchurn.batch.pipeline import load_evidence
    from speechchurn.customers.review import build_review_queue

    callers_csv = out_dir / outputs.CALLERS_CSV
    if not callers_csv.is_file():
        raise _fail(
            f"{callers_csv} not found; run `speechchurn analyze` or `speechchurn grade` first", EXIT_USAGE
        )
    try:
        queue = build_review_queue(outputs.read_csv(callers_csv), load_evidence(out_dir), top=top)
    except SpeechchurnError as e:
        raise _fail(str(e), _error_code(e)) from e
    outputs.write_csv(queue, out_dir / outputs.REVIEW_CSV)
    _print_review(queue)
    typer.echo(f"{len(queue)} customers in the review queue -> {out_dir / outputs.REVIEW_CSV}")


def _print_review(queue) -> None:
    from rich.console import Console
    from rich.table import Table

    from speechchurn.customers.review import review_table_rows

    headers, rows = review_table_rows(queue)
    table = Table(title="Review queue", show_lines=True)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@app.command()
def report(
    out_dir: ExistingDir,
    title: Annotated[str | None, typer.Option(help="Report title.")] = None,
) -> None:
    """Write report.html (offline, self-contained) and callers.xlsx from an analyzed OUT_DIR."""
    _setup_logging(False, False)
    from speechchurn.batch.pipeline import write_reports

    try:
        html, workbook = write_reports(out_dir, title)
    except SpeechchurnError as e:
        raise _fail(str(e), _error_code(e)) from e
    typer.echo(f"report: {html}\nworkbook: {workbook}")


@models_app.command("list")
def models_list() -> None:
    """Show bundled models and whether they are assembled in the cache."""
    from speechchurn.asr.models import home_dir, list_models

    typer.echo(f"model cache: {home_dir()}")
    for status in list_models():
        typer.echo(
            f"{status.name}: weight packages {'installed' if status.packages_installed else 'MISSING'}; "
            f"faster-whisper {'ready' if status.ct2_ready else 'not assembled'} ({status.ct2_path}); "
            f"openai-whisper {'ready' if status.openai_ready else 'not converted'} ({status.openai_path})"
        )


@models_app.command("install")
def models_install(
    name: Annotated[str, typer.Argument(help="Bundled model name, e.g. base.")],
    engine: Annotated[str, typer.Option(help="faster-whisper, openai-whisper or all.")] = "all",
) -> None:
    """Assemble a bundled model offline (and convert it for openai-whisper)."""
    from speechchurn.asr.models import ENGINES, install_model

    engines = ENGINES if engine == "all" else (engine,)
    if any(e not in ENGINES for e in engines):
        raise _fail(f"--engine must be one of {', '.join(ENGINES)} or all", EXIT_USAGE)
    try:
        for e in engines:
            typer.echo(f"{e}: {install_model(name, e)}")
    except SpeechchurnError as e:
        raise _fail(str(e), EXIT_ERROR) from e


@models_app.command("convert")
def models_convert(
    src: Annotated[
        Path,
        typer.Argument(help="CTranslate2 Whisper folder (with model.bin).", exists=True, file_okay=False),
    ],
    dst: Annotated[Path, typer.Argument(help="Output openai-whisper checkpoint (.pt).")],
) -> None:
    """Convert CTranslate2 Whisper weights into an openai-whisper checkpoint."""
    from speechchurn.asr.models import convert_ct2_to_openai

    try:
        typer.echo(str(convert_ct2_to_openai(src, dst)))
    except (SpeechchurnError, KeyError, OSError) as e:
        raise _fail(f"{src}: cannot convert ({e})", EXIT_ERROR) from e
