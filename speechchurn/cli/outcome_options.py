"""Option aliases of the outcome features (speechchurn/outcomes), shared by `grade` (cli/main.py) and
`train` / `retention` (cli/outcomes.py). No typer app here, so both can import it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from speechchurn.cli.options import one_of
from speechchurn.cli.options import one_of

_IN_FILE = {"exists": True, "dir_okay": False, "resolve_path": True}

CallsCsv = Annotated[
    Path | None,
    typer.Option(
        "--calls",
        help="Call-metadata CSV (CDR): caller, started_at, duration_s [+ optional columns].",
        **_IN_FILE,
    ),
]
Network = Annotated[Path | None, typer.Option("--network", help="Call network CSV: a, b, calls.", **_IN_FILE)]
OutcomesCsv = Annotated[
    Path | None,
    typer.Option(
        "--outcomes", help="Outcomes CSV: caller, churned (0/1), churn_date (who already left).", **_IN_FILE
    ),
]
Model = Annotated[
    Path | None, typer.Option("--model", help="Model saved by `speechchurn train`.", **_IN_FILE)
]


def parse_tiering(value: str) -> str:
    from speechchurn.outcomes.pipeline import TIERINGS  # lazy: numpy, pandas (--help stays instant)

    return one_of("--tiering", value, TIERINGS)


def parse_model_kind(value: str) -> str:
    from speechchurn.outcomes.train import MODEL_KINDS  # lazy: numpy, pandas (--help stays instant)

    return one_of("--model-kind", value, MODEL_KINDS)


Tiering = Annotated[
    str,
    typer.Option("--tiering", parser=parse_tiering, help="rules, or cluster (k-means tiers named by centroid)."),
]
ModelKind = Annotated[
    str | None,
    typer.Option(parser=parse_model_kind, help="Model to save: logistic, tree or boosting (default: best CV AUC)."),
]
RecentDays = Annotated[int, typer.Option(min=1, help="Behaviour breaks: days in the latest window.")]
BaselineDays = Annotated[int, typer.Option(min=1, help="Behaviour breaks: days of baseline before it.")]


def outcome_options(calls=None, network=None, outcomes=None, recent=30, baseline=90):
    """The OutcomeOptions of `speechchurn train` from CLI values."""
    from speechchurn.outcomes.breaks import BreakOptions  # lazy: numpy, pandas (--help stays instant)
    from speechchurn.outcomes.pipeline import OutcomeOptions  # lazy: numpy, pandas (--help stays instant)

    breaks = BreakOptions(recent_days=recent, baseline_days=baseline)
    return OutcomeOptions(calls_csv=calls, network=network, outcomes=outcomes, breaks=breaks)
