"""`speechchurn train` and `speechchurn retention` (speechchurn/outcomes). `grade`'s outcome options
(--calls, --model, --tiering, --network, --outcomes) live in cli/outcome_options.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from speechchurn.cli.main import app
from speechchurn.cli.options import (
    EXIT_USAGE,
    Quiet,
    Rules,
    Timezone,
    fail,
    library_errors,
    parse_date,
    setup_logging,
)
from speechchurn.cli.outcome_options import BaselineDays, CallsCsv, ModelKind, Network, RecentDays, outcome_options
from speechchurn.vocab import DEFAULT_TIMEZONE

InFile = {"exists": True, "dir_okay": False, "resolve_path": True}


@app.command()
def train(
    out_dir: Annotated[
        Path | None, typer.Argument(help="Analysed OUT_DIR (or give --calls).", exists=True, file_okay=False)
    ] = None,
    outcomes: Annotated[
        Path, typer.Option("--outcomes", help="Outcomes CSV: caller, churned (0/1), churn_date.", **InFile)
    ] = ...,
    model_out: Annotated[Path, typer.Option("--model-out", help="Where to save the model (joblib).")] = ...,
    calls: CallsCsv = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Feature cutoff YYYY-MM-DD; default: last call or churn date minus the horizon."),
    ] = None,
    horizon: Annotated[
        int, typer.Option(min=1, help="Days after the cutoff a churn counts as a label.")
    ] = 90,
    folds: Annotated[int, typer.Option(min=0, help="Time-aware cross-validation folds.")] = 2,
    network: Network = None,
    rules: Rules = None,
    export_rules: Annotated[
        Path | None, typer.Option("--export-rules", help="Write the decision tree as a rules TOML file.")
    ] = None,
    model_kind: ModelKind = None,
    recent_days: RecentDays = 30,
    baseline_days: BaselineDays = 90,
    timezone: Timezone = DEFAULT_TIMEZONE,
    quiet: Quiet = False,
) -> None:
    """Learn churn from outcomes: logistic regression, decision tree and gradient boosting vs the rules."""
    setup_logging(quiet=quiet)
    from speechchurn.outcomes.pipeline import train_run  # lazy: numpy, pandas (--help stays instant)
    from speechchurn.outcomes.train import TrainOptions  # lazy: numpy, pandas (--help stays instant)

    if out_dir is None and calls is None:
        raise fail("give an analysed OUT_DIR or --calls calls.csv", EXIT_USAGE)
    options = outcome_options(
        calls, network=network, outcomes=outcomes, recent=recent_days, baseline=baseline_days
    )
    train_options = TrainOptions(
        horizon_days=horizon, folds=folds, rules=rules, breaks=options.breaks, model_kind=model_kind
    )
    with library_errors():
        run = train_run(
            out_dir,
            outcomes_csv=outcomes,
            model_out=model_out,
            options=options,
            train_options=train_options,
            as_of=parse_date(as_of),
            export_rules=export_rules,
            timezone=timezone,
        )
    if not quiet:
        _print_models(run.report)
    typer.echo(f"model ({run.report['chosen_model']}) -> {run.model_path}\nreport -> {run.report_path}")
    if run.rules_path is not None:
        typer.echo(f"learned rules -> {run.rules_path}")


def _print_models(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    if not any(report["summary"].values()):
        typer.echo("no usable cross-validation fold (not enough history): the model is fitted but not judged")
        _print_skipped(report)
        return
    title = f"cutoff {report['cutoff']}, horizon {report['horizon_days']} d, mean over usable folds"
    table = Table(title=title)
    for header in (
        "model",
        "ROC AUC",
        "PR AUC",
        "coverage@list",
        "hit@list",
        "coverage@10%",
        "hit@10%",
        "lift@10%",
    ):
        table.add_column(header)
    for kind, m in report["summary"].items():
        if not m:
            continue
        w, t = m["at_warning_size"], m["top_10pct"]
        cells = (
            m["roc_auc"],
            m["pr_auc"],
            w["coverage"],
            w["hit_rate"],
            t["coverage"],
            t["hit_rate"],
            t["lift"],
        )
        table.add_row(kind, *(f"{v:.3f}" for v in cells))
    Console().print(table)
    _print_skipped(report)


def _print_skipped(report: dict) -> None:
    for fold in report["folds"]:
        if "skipped" in fold:
            typer.echo(f"fold {fold['fold']} skipped: {fold['skipped']}")


@app.command()
def retention(
    warned: Annotated[
        Path, typer.Option("--warned", help="CSV of warned customers (caller column).", **InFile)
    ],
    contacted: Annotated[
        Path,
        typer.Option("--contacted", help="CSV of customers the retention team reached (caller).", **InFile),
    ],
    outcomes: Annotated[
        Path, typer.Option("--outcomes", help="Outcomes CSV: caller, churned, churn_date.", **InFile)
    ],
    split_date: Annotated[
        str | None, typer.Option(help="Also compare churn before and after this date (YYYY-MM-DD).")
    ] = None,
    window_days: Annotated[int, typer.Option(min=1, help="Days before/after --split-date.")] = 90,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write retention.json here (report.html charts it).")
    ] = None,
) -> None:
    """Did retention pay off? Churn of warned customers contacted vs not (95% CIs), before vs after."""
    setup_logging(False, False)
    from speechchurn.outcomes.pipeline import retention_run  # lazy: numpy, pandas (--help stays instant)

    split = parse_date(split_date)
    with library_errors():
        report = retention_run(warned, contacted, outcomes, out, split, window_days)
    cvn = report["contacted_vs_not"]
    for name in ("contacted", "not_contacted"):
        g = cvn[name]
        interval = f"95% CI {_pct(g['low'])}-{_pct(g['high'])}"
        typer.echo(f"{name}: {g['churned']}/{g['total']} churned = {_pct(g['rate'])} ({interval})")
    _print_difference("contacted minus not contacted", cvn["difference_contacted_minus_not"])
    if "before_after" in report:
        ba = report["before_after"]
        for name in ("before", "after"):
            g = ba[name]
            typer.echo(f"{name} ({g['from']} to {g['to']}): {g['churned']}/{g['total']} = {_pct(g['rate'])}")
        _print_difference("after minus before", ba["difference_after_minus_before"])
    if out is not None:
        typer.echo(f"retention report -> {Path(out) / 'retention.json'}")


def _pct(value) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.1f}%"


def _print_difference(what: str, d: dict) -> None:
    typer.echo(f"{what}: {_pct(d['difference'])} (95% CI {_pct(d['low'])} to {_pct(d['high'])})")
