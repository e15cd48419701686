"""What the CLI prints: progress, the run summary, the customers and review tables."""

from __future__ import annotations

import sys
import time

import typer

PLAIN_PROGRESS_EVERY_S = 10.0  # s between progress lines when stdout is not a terminal


class ProgressReporter:
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


def print_profile(result, detailed: bool) -> None:
    """Where the time went: one line always, the per-stage table with --profile."""
    if getattr(result, "profile", None) is None or not result.profile.audio_s:
        return
    typer.echo(result.profile.summary(result.wall_s))
    if detailed:
        typer.echo("\n".join(result.profile.table(result.wall_s)))


def print_summary(result, quiet: bool) -> None:
    if not quiet and result.graded is not None and len(result.graded):
        print_callers(result.graded)
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


CALLERS_SHOWN = 50  # rows of the customer table printed; callers.csv has them all

CALLER_TABLE_COLUMNS = (
    "caller",
    "tier",
    "score",
    "calls",
    "total_minutes",
    "last_call",
    "churn_risk",
    "warning_level",
    "churn_prob",  # grade --model only
)
PROBABILITY_COLUMNS = ("churn_prob",)  # shown with two decimals, not one


def print_callers(graded) -> None:
    """A compact table; the full explanation columns are in callers.csv. With a churn model the
    customers most at risk come first, else by tier and score."""
    from rich.console import Console
    from rich.table import Table

    by_model = "churn_rank" in graded.columns
    order = (
        graded.sort_values("churn_rank")
        if by_model
        else graded.sort_values(["tier", "score"], ascending=[True, False])
    )
    shown = order.head(CALLERS_SHOWN)
    caption = f"{len(shown):,} of {len(graded):,} customers shown" if len(shown) < len(graded) else None
    if caption and by_model:
        caption += ", most at risk first"
    table = Table(title="Customers (full reasons in callers.csv)", caption=caption)
    columns = [c for c in CALLER_TABLE_COLUMNS if c in graded.columns]
    for column in columns:
        table.add_column(column, no_wrap=column in ("caller", "last_call"))
    for _, row in shown.iterrows():
        table.add_row(*(_cell(row[c], c in PROBABILITY_COLUMNS) for c in columns))
    Console(width=max(100, Console().width)).print(table)


def _cell(value, probability: bool = False) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if probability else f"{value:.1f}"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def print_review(queue) -> None:
    from rich.console import Console
    from rich.table import Table

    from speechchurn.customers.review import review_table_rows  # lazy: numpy, pandas (--help stays instant)

    headers, rows = review_table_rows(queue)
    table = Table(title="Review queue", show_lines=True)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
