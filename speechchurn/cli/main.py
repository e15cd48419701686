"""Command-line interface: `app` and the core commands. The only package that imports typer or prints.

Commands only translate options into the library's option objects and delegate; option aliases,
checks, logging and the error mapping live in `cli/options.py`, printing in `cli/console.py`.
Exit codes: see `cli/options.py` (0 ok, 1 fatal, 2 usage, 3 some files failed, 5 serve cannot listen,
130 interrupted).
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from speechchurn.asr.models import ENGINES, convert_ct2_to_openai, home_dir, install_model, list_models
from speechchurn.cli import console
from speechchurn.cli import outcome_options as oc
from speechchurn.cli.options import (
    DEFAULT_ENGINE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    AsOf,
    Channels,
    ChannelSelect,
    Customers,
    Decoding,
    Engine,
    Executor,
    ExistingDir,
    HashCallers,
    Lexicons,
    Manifest,
    Packing,
    PlainTyper,
    QAForm,
    Quiet,
    Redact,
    Rules,
    Timezone,
    Top,
    Verbose,
    Wait,
    channel_select_pair,
    fail,
    library_errors,
    require_scheduler,
    setup_logging,
)
from speechchurn.errors import SpeechchurnError
from speechchurn.privacy import PrivacyOptions, Protector
from speechchurn.vocab import DEFAULT_TIMEZONE

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "ExistingDir", "app"]

app = PlainTyper(
    help="Call-center speech analytics for customer churn: transcribe calls, grade customers, queue reviews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = PlainTyper(help="Offline Whisper model provisioning.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@app.command()
def analyze(
    audio_dir: ExistingDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; reused to resume).")],
    manifest: Manifest = None,
    as_of: AsOf = None,
    rules: Rules = None,
    customers: Customers = None,
    lexicons: Lexicons = None,
    qa_form: QAForm = None,
    engine: Engine = DEFAULT_ENGINE,
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
    packing: Packing = "channel",
    decoding: Decoding = "beam",
    channels: Channels = "agent,customer",
    channel_select: ChannelSelect = None,
    filename_pattern: Annotated[
        str | None, typer.Option(help="Regex with named groups date, time, caller, direction.")
    ] = None,
    timezone: Timezone = DEFAULT_TIMEZONE,
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
    executor: Executor = "local",
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address tcp://HOST:PORT.")] = None,
    top: Top = 20,
    redact: Redact = False,
    hash_callers: HashCallers = None,
    verbose: Verbose = False,
    quiet: Quiet = False,
    profile: Annotated[
        bool, typer.Option("--profile", help="Print where the time went per stage (decode, vad, asr, text).")
    ] = False,
    wait: Wait = False,
    diarize: Annotated[
        bool,
        typer.Option(
            "--diarize/--no-diarize",
            help="Mono recordings: separate agent and customer by voice and words (else roles stay mixed).",
        ),
    ] = True,
) -> None:
    """Transcribe and analyse every recording in AUDIO_DIR, then grade customers into OUT."""
    setup_logging(verbose, quiet)
    require_scheduler(executor, scheduler)
    from speechchurn.asr.transcribe import TranscribeOptions  # lazy: numpy (--help stays instant)
    from speechchurn.batch.options import AnalyzeOptions  # lazy: numpy (--help stays instant)
    from speechchurn.call.audio import AudioOptions, parse_channel_roles  # lazy: numpy (--help stays instant)
    from speechchurn.call.roles import RoleOptions  # lazy: numpy (--help stays instant)
    from speechchurn.grading_run import GradingOptions  # lazy: numpy, pandas (--help stays instant)

    transcribe = TranscribeOptions(
        engine=engine,
        model=model,
        language=language,
        beam_size=beam_size,
        compute_type=compute_type,
        cpu_threads=threads,
        vad=vad,
        packing=packing,
        decoding=decoding,
    )
    audio = AudioOptions(
        channel_roles=parse_channel_roles(channels), channel_select=channel_select_pair(channel_select)
    )
    options = AnalyzeOptions(
        transcribe=transcribe,
        audio=audio,
        manifest=manifest,
        lexicons=lexicons,
        filename_pattern=filename_pattern,
        timezone=timezone,
        non_talk_min_s=non_talk_min,
        workers=workers or (os.cpu_count() or 1),
        executor=executor,
        scheduler=scheduler,
        roles=RoleOptions(diarize=diarize),
    )
    grading = GradingOptions(rules=rules, as_of=as_of, customers=customers, top=top, timezone=timezone)
    result = _run_analyze(
        audio_dir, out, options, grading, quiet, _privacy(redact, hash_callers), wait, qa_form
    )
    console.print_summary(result, quiet)
    console.print_profile(result, profile)
    raise typer.Exit(EXIT_PARTIAL if result.failed or result.problems else EXIT_OK)


def _run_analyze(audio_dir, out, options, grading, quiet, privacy=None, wait=False, qa_form=None):
    from speechchurn.analyze import analyze as run  # lazy: numpy, pandas (--help stays instant)

    reporter = console.ProgressReporter(quiet)
    try:
        with library_errors(), reporter:
            return run(
                audio_dir,
                out,
                options,
                grading,
                on_progress=reporter.update,
                privacy=privacy,
                wait=wait,
                qa_form=qa_form,
            )
    except KeyboardInterrupt:
        typer.echo(
            f"\ninterrupted: finished files are saved in {out}; run the same command again to resume.",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


@app.command()
def grade(
    out_dir: Annotated[
        Path,
        typer.Argument(file_okay=False, resolve_path=True, help="Analysed OUT_DIR (created with --calls)."),
    ],
    rules: Rules = None,
    as_of: AsOf = None,
    customers: Customers = None,
    timezone: Timezone = DEFAULT_TIMEZONE,
    top: Top = 20,
    skip_wrong_hits: Annotated[
        bool, typer.Option("--skip-wrong-hits", help="Leave out keyword hits reviewers marked wrong.")
    ] = False,
    redact: Redact = False,
    hash_callers: HashCallers = None,
    calls: oc.CallsCsv = None,
    model: oc.Model = None,
    tiering: oc.Tiering = "rules",
    network: oc.Network = None,
    outcomes: oc.OutcomesCsv = None,
    quiet: Quiet = False,
    wait: Wait = False,
) -> None:
    """Re-grade customers from the stored per-call features (no transcription), or from --calls.

    --model loads only model files that `speechchurn train` signed on this installation (HMAC key in
    SPEECHCHURN_HOME); any other file is refused before it is unpickled (docs/outcomes.md).
    """
    setup_logging(quiet=quiet)
    from speechchurn.batch.store import store_lock  # lazy: sqlite, filelock (--help stays instant)
    from speechchurn.grading_run import (  # lazy: numpy, pandas (--help stays instant)
        GradingOptions,
        run_grading,
    )

    if calls is None and not out_dir.is_dir():
        raise fail(
            f"{out_dir}: folder does not exist; give an analysed OUT_DIR, or --calls calls.csv to grade "
            "without audio",
            EXIT_USAGE,
        )
    options = GradingOptions(
        rules=rules,
        as_of=as_of,
        customers=customers,
        timezone=timezone,
        top=top,
        skip_wrong_hits=skip_wrong_hits,
        calls_csv=calls,
        model=model,
        tiering=tiering,
        network=network,
        outcomes=outcomes,
        privacy=_privacy(redact, hash_callers),
    )
    with library_errors(), store_lock(out_dir, "grade", wait) if out_dir.is_dir() else nullcontext():
        graded = run_grading(out_dir, options).shown
    if not quiet:
        console.print_callers(graded)
    typer.echo(f"graded {len(graded)} customers -> {out_dir / 'callers.csv'}")


@app.command()
def review(
    out_dir: ExistingDir,
    top: Annotated[int, typer.Option(min=1, help="How many customers to list.")] = 20,
    redact: Redact = False,
    hash_callers: HashCallers = None,
) -> None:
    """Show the supervisor's review queue (complaint-heavy and high-risk customers) from callers.csv.

    Writes nothing: review.csv is written by the grading run (analyze, grade --top N)."""
    setup_logging()
    from speechchurn import outputs  # lazy: numpy, pandas (--help stays instant)
    from speechchurn.batch.store import load_evidence  # lazy: numpy (--help stays instant)
    from speechchurn.customers.review import build_review_queue  # lazy: numpy, pandas (--help stays instant)

    callers_csv = out_dir / outputs.CALLERS_CSV
    if not callers_csv.is_file():
        raise fail(
            f"{callers_csv} not found; run `speechchurn analyze` or `speechchurn grade` first", EXIT_USAGE
        )
    with library_errors():
        queue = build_review_queue(outputs.read_csv(callers_csv), load_evidence(out_dir), top=top)
        queue = Protector(_privacy(redact, hash_callers), queue["caller"]).frame(queue)
    console.print_review(queue)
    typer.echo(f"{len(queue)} customers in the review queue of {callers_csv}")


@app.command()
def report(
    out_dir: ExistingDir,
    title: Annotated[str | None, typer.Option(help="Report title.")] = None,
    redact: Redact = False,
    hash_callers: HashCallers = None,
) -> None:
    """Write report.html (offline, self-contained) and callers.xlsx from an analyzed OUT_DIR."""
    setup_logging()
    from speechchurn.report.html import (
        write_reports,  # lazy: jinja2, markupsafe, numpy, pandas (--help stays instant)
    )

    with library_errors():
        html, workbook = write_reports(out_dir, title, _privacy(redact, hash_callers))
    typer.echo(f"report: {html}\nworkbook: {workbook}")


def _privacy(redact: bool, hash_callers: str | None):

    return PrivacyOptions(redact=redact, caller_salt=hash_callers or None)


@models_app.command("list")
def models_list() -> None:
    """Show bundled models and whether they are assembled in the cache."""

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

    engines = ENGINES if engine == "all" else (engine,)
    if any(e not in ENGINES for e in engines):
        raise fail(f"--engine must be one of {', '.join(ENGINES)} or all", EXIT_USAGE)
    with library_errors():
        for e in engines:
            typer.echo(f"{e}: {install_model(name, e)}")


@models_app.command("convert")
def models_convert(
    src: Annotated[
        Path,
        typer.Argument(help="CTranslate2 Whisper folder (with model.bin).", exists=True, file_okay=False),
    ],
    dst: Annotated[Path, typer.Argument(help="Output openai-whisper checkpoint (.pt).")],
) -> None:
    """Convert CTranslate2 Whisper weights into an openai-whisper checkpoint."""

    try:
        path = convert_ct2_to_openai(src, dst)
    except (SpeechchurnError, KeyError, OSError) as e:  # a broken model folder is never a crash
        raise fail(f"{src}: cannot convert ({e})", EXIT_ERROR) from e
    typer.echo(str(path))
