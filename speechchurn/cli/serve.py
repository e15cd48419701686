"""`speechchurn serve` (the supervisor's desk), `speechchurn marks export` and `speechchurn lexicon-stats`."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from speechchurn.app.security import is_loopback, new_token
from speechchurn.cli.main import ExistingDir, app
from speechchurn.cli.options import EXIT_USAGE, PlainTyper, fail, library_errors, setup_logging
from speechchurn.resources import lexicon_dir
from speechchurn.review.feedback import lexicon_diff, suggestions, term_stats

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MARKS_CSV = "marks.csv"
LEXICON_STATS_CSV = "lexicon_stats.csv"
LEXICON_DIFF = "lexicon_suggestions.diff"

marks_app = PlainTyper(help="Reviewer marks made in `speechchurn serve`.", no_args_is_help=True)
app.add_typer(marks_app, name="marks")


def _audio_root(out_dir: Path, audio_root: Path | None) -> Path:
    if audio_root is not None:
        return audio_root
    from speechchurn.review.marks import connect  # lazy: numpy (--help stays instant)

    db = connect(out_dir)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'audio_dir'").fetchone()
    finally:
        db.close()
    if row is None or not Path(row[0]).is_dir():
        raise fail(f"{out_dir}: the recordings' folder is not known; pass --audio-root DIR", EXIT_USAGE)
    return Path(row[0])


@app.command()
def serve(
    out_dir: ExistingDir,
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback needs a token.")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = DEFAULT_PORT,
    audio_root: Annotated[
        Path | None,
        typer.Option(
            help="Folder the recordings were analysed from (default: the one `analyze` recorded).",
            exists=True,
            file_okay=False,
            resolve_path=True,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SPEECHCHURN_TOKEN", help="Access token; generated when binding a non-loopback address."
        ),
    ] = None,
    redact: Annotated[
        bool, typer.Option("--redact", help="Mask phone numbers and personal data in pages.")
    ] = False,
    reviewer: Annotated[
        str | None, typer.Option(help="Default reviewer name (default: the OS user).")
    ] = None,
    hash_callers: Annotated[
        str | None,
        typer.Option(
            "--hash-callers",
            metavar="SALT",
            envvar="SPEECHCHURN_CALLER_SALT",
            help="The salt the outputs were written with (analyze --hash-callers); callers shown masked.",
        ),
    ] = None,
) -> None:
    """Open the supervisor's desk: review queue, customers, calls with playback, marking, search."""
    setup_logging(False, False)
    import uvicorn

    from speechchurn.app.web import (  # lazy: jinja2, numpy, starlette (--help stays instant)
        DeskConfig,
        create_app,
    )

    with library_errors():  # the store is opened to find the recordings
        root = _audio_root(out_dir, audio_root)
    loopback = is_loopback(host)
    if not loopback and not token:
        token = new_token()
    config = DeskConfig(
        out_dir=out_dir,
        audio_root=root,
        token=token,
        redact=redact,
        reviewer=reviewer or getpass.getuser(),
        caller_salt=hash_callers,
        allowed_hosts=("127.0.0.1", "localhost", "::1") if loopback else None,
    )
    typer.echo("indexing transcripts ...")
    with library_errors():
        application = create_app(config)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"
    typer.echo(f"desk: {url}login?token={token}" if token else f"desk: {url}")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@marks_app.command("export")
def marks_export(
    out_dir: ExistingDir,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help=f"CSV path (default OUT_DIR/{MARKS_CSV}).")
    ] = None,
) -> None:
    """Write every reviewer mark (hit verdicts, customer reviews, tier overrides) to CSV."""
    import pandas as pd

    from speechchurn.review.marks import (  # lazy: numpy (--help stays instant)
        EXPORT_COLUMNS,
        connect,
        export_rows,
    )

    with library_errors():
        db = connect(out_dir)
        rows = export_rows(db)
        db.close()
    path = output or out_dir / MARKS_CSV
    _write_safe_csv(pd.DataFrame(rows, columns=list(EXPORT_COLUMNS)), path)
    typer.echo(f"{len(rows)} marks -> {path}")


def _write_safe_csv(frame, path: Path) -> None:
    """UTF-8-BOM CSV; outputs.write_csv neutralises spreadsheet formulas (reviewer notes are user input).

    Object dtype keeps numbers at full precision (write_csv's float format applies to float columns).
    """
    from speechchurn import outputs  # lazy: numpy, pandas (--help stays instant)

    outputs.write_csv(frame.astype(object), path)


@app.command("lexicon-stats")
def lexicon_stats(
    out_dir: ExistingDir,
    lexicons: Annotated[
        Path | None,
        typer.Option(
            help="Lexicon folder the diff is made against (default: the bundled lexicons).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Precision of each term and match kind from reviewer marks; suggest drops / exact-only; write a diff."""
    import pandas as pd

    from speechchurn.review.marks import connect  # lazy: numpy (--help stays instant)

    with library_errors():
        db = connect(out_dir)
        stats = term_stats(db)
        db.close()
    table = pd.DataFrame(
        [(s.category, s.term, s.match, s.correct, s.wrong, s.precision) for s in stats],
        columns=["category", "term", "match", "correct", "wrong", "precision"],
    )
    _write_safe_csv(table, out_dir / LEXICON_STATS_CSV)
    found = suggestions(stats)
    diff = lexicon_diff(found, lexicons or _bundled_lexicons())
    (out_dir / LEXICON_DIFF).write_text(diff, encoding="utf-8")
    _print_stats(stats, found)
    typer.echo(
        f"{len(stats)} rows -> {out_dir / LEXICON_STATS_CSV}; "
        f"{len(found)} suggestions -> {out_dir / LEXICON_DIFF}"
    )


def _bundled_lexicons() -> Path:

    return lexicon_dir()


def _print_stats(stats, found) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Term precision from reviewer marks")
    for header in ("category", "term", "match", "correct", "wrong", "precision"):
        table.add_column(header)
    for s in stats:
        table.add_row(s.category, s.term, s.match, str(s.correct), str(s.wrong), f"{s.precision:.2f}")
    Console().print(table)
    for s in found:
        typer.echo(f"suggest {s.action}: {s.category}/{s.term} ({s.why})")
