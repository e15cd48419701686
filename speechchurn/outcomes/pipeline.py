"""Outcome steps of the grading run and the outcome commands.

The grading run (``speechchurn/grading_run.py``) uses :func:`start_helper`, :func:`with_network`,
:func:`start_scoring`, :func:`scored_and_written` and :func:`with_clusters` when ``--calls``,
``--model``, ``--tiering cluster`` or ``--network`` is given; :func:`train_run` and
:func:`retention_run` are ``speechchurn train`` and ``speechchurn retention``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from speechchurn import outputs
from speechchurn.batch.store import load_calls
from speechchurn.customers.columns import MODEL_COLUMNS
from speechchurn.errors import ConfigError
from speechchurn.outcomes.breaks import BreakOptions
from speechchurn.vocab import DEFAULT_TIMEZONE
from speechchurn.outcomes.network import join_network
from speechchurn.outcomes.apply import with_scores
from speechchurn.outcomes.cluster import apply_cluster_tiers, cluster_tiers
from speechchurn.customers.grading import load_rules
from speechchurn.outcomes.export_rules import export_tree_rules
from speechchurn.outcomes.features import load_outcomes
from speechchurn.outcomes.network import build_graph, load_edges
from speechchurn.outcomes.train import (
        TrainOptions,
        end_of_day,
        save_model,
        train_models,
        write_report_json,
    )
from speechchurn.outcomes.retention import evaluate_retention
from speechchurn.outcomes.train import write_report_json
from speechchurn.outcomes.calls_input import load_calls_csv
from speechchurn.outcomes import helper as grade_helper

log = logging.getLogger("speechchurn")

TIERING_RULES = "rules"
TIERING_CLUSTER = "cluster"
TIERINGS = (TIERING_RULES, TIERING_CLUSTER)


@dataclass(frozen=True)
class OutcomeOptions:
    calls_csv: Path | None = None  # CDR export instead of the analysed store
    model: Path | None = None  # saved by `speechchurn train --model-out`
    tiering: str = TIERING_RULES  # "rules" | "cluster"
    network: Path | None = None  # edges.csv: a, b, calls
    outcomes: Path | None = None  # who already left (for contacts_churned)
    breaks: BreakOptions | None = None
    seed: int = 0

    @property
    def active(self) -> bool:
        return bool(self.calls_csv or self.model or self.network or self.tiering != TIERING_RULES)


def input_calls(out_dir: Path, options: OutcomeOptions, timezone: str) -> pd.DataFrame:
    """The calls `train` learns from: --calls, or the analysed store in OUT_DIR."""
    if options.calls_csv is not None:

        return load_calls_csv(options.calls_csv, timezone)
    return load_calls(out_dir, timezone)


def start_helper(options: OutcomeOptions, calls: pd.DataFrame | None = None):
    """The grading helper (outcomes/helper.py), already loading the network and the model: a process
    for a large --calls CSV or table of calls, else a thread."""
    if options.network is not None and options.outcomes is None:
        log.warning("--network without --outcomes: contacts_churned is 0 (who left is unknown)")
    if calls is not None:
        large = len(calls) >= grade_helper.HELPER_PROCESS_MIN_CALLS
    else:
        large = options.calls_csv is not None and _file_size(options.calls_csv) >= grade_helper.HELPER_PROCESS_MIN_BYTES
    process = large and bool(options.network or options.model)
    return grade_helper.GradeHelper(options.network, options.outcomes, options.model, process)


def _file_size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0  # the loader names the problem


def with_network(callers, helper, figures):
    """Network columns (churned contacts from --outcomes) when ``figures`` is the helper's future."""
    if figures is None:
        return callers

    return join_network(callers, helper.result(figures))


def start_scoring(callers, helper, options: OutcomeOptions):
    """The helper's scoring of ``callers`` (a future), or None without --model."""
    return helper.score(callers) if options.model is not None else None


def scored_and_written(graded, helper, scoring, options: OutcomeOptions):
    """(graded with the model's columns, callers.csv text of the columns it had or None): this
    thread writes the text while the helper scores."""

    kept = graded.drop(columns=list(MODEL_COLUMNS), errors="ignore")  # columns the model leaves
    ahead = outputs.csv_lines(kept) if options.tiering == TIERING_RULES else None  # cluster tiering re-tiers
    return with_scores(graded, *helper.result(scoring)), ahead


def with_clusters(graded, out_dir: Path, options: OutcomeOptions):
    """(graded with cluster tiers, the cluster_report.json written)."""

    try:
        result = cluster_tiers(graded, options.seed)
    except ValueError as e:
        raise ConfigError(f"--tiering cluster: {e}") from e
    path = out_dir / outputs.CLUSTER_REPORT_JSON
    with outputs.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result.report, ensure_ascii=False, indent=1), encoding="utf-8")
    return apply_cluster_tiers(graded, result), path


@dataclass(frozen=True)
class TrainRun:
    report: dict
    model_path: Path
    report_path: Path
    rules_path: Path | None


def train_run(
    out_dir: Path | None,
    outcomes_csv: Path,
    model_out: Path,
    options: OutcomeOptions,
    train_options=None,
    as_of=None,
    export_rules: Path | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> TrainRun:
    """`speechchurn train`: fit, save the model, write model_report.json (OUT_DIR, else next to the model)."""

    train_options = train_options or TrainOptions(breaks=options.breaks, seed=options.seed)
    calls = input_calls(Path(out_dir) if out_dir else Path("."), options, timezone)
    graph = build_graph(load_edges(options.network)) if options.network else None
    cutoff = end_of_day(as_of) if as_of is not None else None
    result = train_models(calls, load_outcomes(outcomes_csv), cutoff, graph, train_options)
    model_path = save_model(result.bundle, Path(model_out))
    report_dir = Path(out_dir) if out_dir else model_path.parent
    report_path = write_report_json(result.report, report_dir / outputs.MODEL_REPORT_JSON)
    rules_path = None
    if export_rules is not None:
        header = f"cutoff {result.report['cutoff']}, horizon {result.report['horizon_days']} days"
        text = export_tree_rules(result.tree, result.tree_features, load_rules(train_options.rules), header)
        with outputs.atomic_path(Path(export_rules)) as tmp:
            tmp.write_text(text, encoding="utf-8")
        rules_path = Path(export_rules)
    return TrainRun(result.report, model_path, report_path, rules_path)


def retention_run(
    warned: Path, contacted: Path, outcomes: Path, out_dir: Path | None, split=None, window_days=90
):
    """`speechchurn retention`: the report dict, also written to OUT_DIR/retention.json when given."""

    report = evaluate_retention(warned, contacted, outcomes, split, window_days)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_report_json(report, Path(out_dir) / outputs.RETENTION_JSON)
    return report
