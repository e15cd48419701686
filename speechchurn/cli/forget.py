"""`speechchurn forget`: delete customers (PIPL / GDPR) or calls older than a date (retention)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from speechchurn.cli.main import ExistingDir, app
from speechchurn.cli.options import (
    EXIT_USAGE,
    HashCallers,
    Redact,
    Timezone,
    fail,
    library_errors,
    parse_date,
    setup_logging,
)
from speechchurn.vocab import DEFAULT_TIMEZONE


@app.command()
def forget(
    out_dir: ExistingDir,
    caller: Annotated[
        list[str] | None, typer.Option("--caller", metavar="N", help="A customer to forget (repeatable).")
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            parser=parse_date, metavar="DATE", help="Also purge every call started before this day."
        ),
    ] = None,
    delete_audio: Annotated[
        bool, typer.Option("--delete-audio", help="Also delete their recordings from the audio folder.")
    ] = False,
    audio_root: Annotated[
        Path | None,
        typer.Option(
            help="The recordings' folder (default: the one `analyze` recorded).", exists=True, file_okay=False
        ),
    ] = None,
    lift: Annotated[
        bool, typer.Option("--lift", help="Lift the --caller tombstones instead: `analyze` sees them again.")
    ] = False,
    lift_retention: Annotated[
        bool, typer.Option("--lift-retention", help="Lift the --before cut-off left by an earlier purge.")
    ] = False,
    timezone: Timezone = DEFAULT_TIMEZONE,
    redact: Redact = False,
    hash_callers: HashCallers = None,
) -> None:
    """Forget customers: remove their calls, transcripts, evidence, marks and desk rows, rewrite every
    output without them, and keep a salted-hash tombstone so `analyze` does not bring them back."""
    setup_logging()
    from speechchurn import forget as library

    callers = tuple(caller or ())
    if lift and not callers:
        raise fail("--lift needs the --caller N whose tombstone to lift", EXIT_USAGE)
    if lift or lift_retention:
        with library_errors():
            lifted = library.lift(out_dir, callers, lift_retention)
        for what, was in lifted.items():
            typer.echo(f"{'lifted' if was else 'no tombstone for'} {what}")
        return
    if not callers and before is None:
        raise fail("name what to forget: --caller N and/or --before DATE", EXIT_USAGE)
    privacy = _privacy(redact, hash_callers)
    request = library.ForgetRequest(callers, before, timezone, delete_audio, audio_root, privacy)
    with library_errors():
        result = library.forget(out_dir, request)
    _print(result)


def _privacy(redact: bool, salt: str | None):
    from speechchurn.privacy import PrivacyOptions

    return PrivacyOptions(redact=redact, caller_salt=salt)


def _print(result) -> None:
    for caller in result.callers:
        typer.echo(
            f"forgot caller {caller} (tombstone kept: `speechchurn forget OUT_DIR --caller {caller} --lift`)"
        )
    if result.retention_before is not None:
        typer.echo(
            f"purged calls before {result.retention_before.isoformat()} (cut-off kept: --lift-retention)"
        )
    typer.echo(f"removed {len(result.files)} recordings from the store:")
    for file in result.files:
        typer.echo(f"  {file}")
    for table, count in sorted(result.counts.items()):
        typer.echo(f"  {table}: {count} rows")
    for path in result.audio_deleted:
        typer.echo(f"deleted {path}")
    typer.echo(f"rewrote {', '.join(sorted({p.name for p in result.rewritten}))}")
