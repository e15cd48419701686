"""Grading with outcomes: CDR input, behaviour breaks, the call network, a churn model, cluster tiers.

:func:`grade_outcomes` is what ``speechchurn grade`` runs when ``--calls``, ``--model``,
``--tiering cluster`` or ``--network`` is given; it writes callers.csv and review.csv like the plain
grade (and, with ``--calls``, calls.csv, so ``speechchurn report`` works on a CDR-only folder) plus
cluster_report.json for cluster tiering.
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from speechchurn.errors import ConfigError
from speechchurn.outcomes.breaks import BreakOptions, add_breaks
from speechchurn.outcomes.columns import MODEL_COLUMNS, NETWORK_COLUMNS
from speechchurn.vocab import DEFAULT_TIMEZONE

log = logging.getLogger("speechchurn")

STORE_NAME = "speechchurn.db"  # the analysed OUT_DIR's result store (batch/store.py)

TIERINGS = ("rules", "cluster")
CLUSTER_REPORT_JSON = "cluster_report.json"
MODEL_REPORT_JSON = "model_report.json"
RETENTION_JSON = "retention.json"


@dataclass(frozen=True)
class OutcomeOptions:
    calls_csv: Path | None = None  # CDR export instead of the analysed store
    model: Path | None = None  # saved by `speechchurn train --model-out`
    tiering: str = "rules"  # "rules" | "cluster"
    network: Path | None = None  # edges.csv: a, b, calls
    outcomes: Path | None = None  # who already left (for contacts_churned)
    breaks: BreakOptions | None = None
    seed: int = 0

    @property
    def active(self) -> bool:
        return bool(self.calls_csv or self.model or self.network or self.tiering != "rules")


def input_calls(out_dir: Path, options: OutcomeOptions, timezone: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(calls, evidence): from --calls (no evidence) or from the analysed store in OUT_DIR."""
    if options.calls_csv is not None:
        from speechchurn.outcomes.calls_input import load_calls_csv

        return load_calls_csv(options.calls_csv, timezone), pd.DataFrame()
    from speechchurn.batch.pipeline import load_calls, load_evidence

    return load_calls(out_dir, timezone), load_evidence(out_dir)


def start_helper(options: OutcomeOptions, calls: pd.DataFrame | None = None):
    """The grading helper (outcomes/helper.py), already loading the network and the model: a process
    for a large --calls CSV or table of calls, else a thread."""
    from speechchurn.outcomes.helper import HELPER_PROCESS_MIN_BYTES, HELPER_PROCESS_MIN_CALLS, GradeHelper

    if options.network is not None and options.outcomes is None:
        log.warning("--network without --outcomes: contacts_churned is 0 (who left is unknown)")
    if calls is not None:
        large = len(calls) >= HELPER_PROCESS_MIN_CALLS
    else:
        large = options.calls_csv is not None and _file_size(options.calls_csv) >= HELPER_PROCESS_MIN_BYTES
    process = large and bool(options.network or options.model)
    return GradeHelper(options.network, options.outcomes, options.model, process)


def _file_size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0  # the loader names the problem


def _with_network(callers, helper, figures):
    """Network columns (churned contacts from --outcomes) when ``figures`` is the helper's future."""
    if figures is None:
        return callers
    from speechchurn.outcomes.network import join_network

    return join_network(callers, helper.result(figures))


def _start_scoring(callers, helper, options: OutcomeOptions):
    """The helper's scoring of ``callers`` (a future), or None without --model."""
    return helper.score(callers) if options.model is not None else None


def _scored_and_written(graded, helper, scoring, options: OutcomeOptions):
    """(graded with the model's columns, callers.csv text of the columns it had or None): this
    thread writes the text while the helper scores."""
    from speechchurn.outcomes.apply import with_scores
    from speechchurn.outputs import csv_lines

    kept = graded.drop(columns=list(MODEL_COLUMNS), errors="ignore")  # columns the model leaves
    ahead = csv_lines(kept) if options.tiering == "rules" else None  # cluster tiering re-tiers
    return with_scores(graded, *helper.result(scoring)), ahead


def _with_clusters(graded, out_dir: Path, options: OutcomeOptions):
    from speechchurn.outcomes.cluster import apply_cluster_tiers, cluster_tiers
    from speechchurn.outputs import atomic_path

    try:
        result = cluster_tiers(graded, options.seed)
    except ValueError as e:
        raise ConfigError(f"--tiering cluster: {e}") from e
    with atomic_path(out_dir / CLUSTER_REPORT_JSON) as tmp:
        tmp.write_text(json.dumps(result.report, ensure_ascii=False, indent=1), encoding="utf-8")
    return apply_cluster_tiers(graded, result)


def _with_overrides(graded, out_dir: Path, options: OutcomeOptions):
    """Reviewers' tier overrides, when OUT_DIR is an analysed folder (not with --calls)."""
    if options.calls_csv is not None or not (out_dir / STORE_NAME).is_file():
        return graded
    from speechchurn.app.overrides import apply_tier_overrides, load_tier_overrides

    return apply_tier_overrides(graded, load_tier_overrides(out_dir))


def _write_calls(calls: pd.DataFrame, out_dir: Path) -> None:
    from speechchurn import outputs

    frame = calls.copy()
    frame["started_at"] = outputs.iso_texts(frame["started_at"])
    outputs.write_csv(frame, out_dir / outputs.CALLS_CSV)


def grade_outcomes(out_dir: Path, grade_options, options: OutcomeOptions) -> pd.DataFrame:
    """Aggregate, add breaks/network, grade by the rules, then the model and/or cluster tiers."""
    if options.tiering not in TIERINGS:
        raise ConfigError(f"--tiering must be one of {', '.join(TIERINGS)}, got {options.tiering!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with start_helper(options) if options.calls_csv is not None else nullcontext() as helper:
        calls, evidence = input_calls(out_dir, options, grade_options.timezone)  # the helper loads meanwhile
        if options.calls_csv is not None:
            _write_calls(calls, out_dir)
        return grade_calls(calls, evidence, out_dir, grade_options, options, helper)


def grade_calls(
    calls, evidence, out_dir: Path, grade_options, options: OutcomeOptions, helper=None
) -> pd.DataFrame:
    """The grading part of :func:`grade_outcomes` on a loaded calls table; writes callers/review.csv.
    ``helper``: one from :func:`start_helper` (default: one started here)."""
    from speechchurn import outputs
    from speechchurn.batch.pipeline import _as_of_timestamp
    from speechchurn.customers.aggregate import aggregate_callers, load_roster
    from speechchurn.customers.grading import grade_callers, load_rules
    from speechchurn.customers.review import build_review_queue

    rules = load_rules(grade_options.rules)
    roster = load_roster(grade_options.customers) if grade_options.customers else None
    as_of = _as_of_timestamp(grade_options.as_of, calls, grade_options.timezone)
    with nullcontext(helper) if helper else start_helper(options, calls) as helper:  # loads meanwhile
        figures = helper.figures(as_of) if options.network is not None else None
        callers = add_breaks(aggregate_callers(calls, as_of, roster), calls, as_of, options.breaks or BreakOptions())
        callers = _with_network(callers, helper, figures)
        scoring = _start_scoring(callers, helper, options)
        graded = _with_overrides(grade_callers(callers, rules), out_dir, options)
        ahead = None
        if scoring is not None:
            graded, ahead = _scored_and_written(graded, helper, scoring, options)
    if options.tiering == "cluster":
        graded = _with_clusters(graded, out_dir, options)
    outputs.write_csv(graded, out_dir / outputs.CALLERS_CSV, ahead=ahead)
    outputs.write_csv(
        build_review_queue(graded, evidence, top=grade_options.top), out_dir / outputs.REVIEW_CSV
    )
    return graded


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

    train_options = train_options or TrainOptions(breaks=options.breaks, seed=options.seed)
    calls, _ = input_calls(Path(out_dir) if out_dir else Path("."), options, timezone)
    graph = build_graph(load_edges(options.network)) if options.network else None
    cutoff = end_of_day(as_of) if as_of is not None else None
    result = train_models(calls, load_outcomes(outcomes_csv), cutoff, graph, train_options)
    model_path = save_model(result.bundle, Path(model_out))
    report_dir = Path(out_dir) if out_dir else model_path.parent
    report_path = write_report_json(result.report, report_dir / MODEL_REPORT_JSON)
    rules_path = None
    if export_rules is not None:
        from speechchurn.outputs import atomic_path

        header = f"cutoff {result.report['cutoff']}, horizon {result.report['horizon_days']} days"
        text = export_tree_rules(result.tree, result.tree_features, load_rules(train_options.rules), header)
        with atomic_path(Path(export_rules)) as tmp:
            tmp.write_text(text, encoding="utf-8")
        rules_path = Path(export_rules)
    return TrainRun(result.report, model_path, report_path, rules_path)


def retention_run(
    warned: Path, contacted: Path, outcomes: Path, out_dir: Path | None, split=None, window_days=90
):
    """`speechchurn retention`: the report dict, also written to OUT_DIR/retention.json when given."""
    from speechchurn.outcomes.retention import evaluate_retention
    from speechchurn.outcomes.train import write_report_json

    report = evaluate_retention(warned, contacted, outcomes, split, window_days)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_report_json(report, Path(out_dir) / RETENTION_JSON)
    return report
