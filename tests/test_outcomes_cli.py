"""CLI of the outcome features through typer's CliRunner: train, grade --calls/--model/--tiering/--network,
retention, on a small synthetic population (benchmarks/churn_population.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmarks import churn_population
from speechchurn.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    folder = tmp_path_factory.mktemp("population")
    churn_population.write(churn_population.generate(1_500, seed=5), folder)
    return folder


@pytest.fixture(scope="module")
def trained(population, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    args = [
        "train", "--calls", str(population / "calls.csv"), "--outcomes", str(population / "outcomes.csv"),
        "--network", str(population / "edges.csv"), "--model-out", str(out / "model.joblib"),
        "--export-rules", str(out / "rules_learned.toml"), "--folds", "1", "-q",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result


def test_train_writes_model_report_and_rules(trained):
    out, result = trained
    assert (out / "model.joblib").is_file()
    report = json.loads((out / "model_report.json").read_text(encoding="utf-8"))
    assert set(report["summary"]) == {"rules", "logistic", "tree", "boosting"}
    assert "tree_leaf_" in (out / "rules_learned.toml").read_text(encoding="utf-8")
    assert "model (" in result.output and "learned rules ->" in result.output


def test_train_needs_calls_or_out_dir(population, tmp_path):
    args = [
        "train",
        "--outcomes",
        str(population / "outcomes.csv"),
        "--model-out",
        str(tmp_path / "m.joblib"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--calls" in result.output


def test_bad_outcomes_file_is_a_usage_error(population, tmp_path):
    bad = tmp_path / "outcomes.csv"
    bad.write_text("caller,churned,churn_date\n13900000001,yes,\n", encoding="utf-8")
    args = [
        "train",
        "--calls",
        str(population / "calls.csv"),
        "--outcomes",
        str(bad),
        "--model-out",
        str(tmp_path / "m"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "row 2: churned must be 0 or 1" in result.output


def test_retention_reports_rates_and_writes_json(population, tmp_path):
    outcomes = pd.read_csv(population / "outcomes.csv", dtype={"caller": str})
    warned = outcomes.head(400)
    warned[["caller"]].to_csv(tmp_path / "warned.csv", index=False)
    warned[["caller"]].iloc[::2].to_csv(tmp_path / "contacted.csv", index=False)
    args = [
        "retention", "--warned", str(tmp_path / "warned.csv"), "--contacted", str(tmp_path / "contacted.csv"),
        "--outcomes", str(population / "outcomes.csv"), "--split-date", "2026-06-01", "--out", str(tmp_path),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "retention.json").read_text(encoding="utf-8"))
    assert report["contacted_vs_not"]["contacted"]["total"] == 200
    assert "contacted minus not contacted" in result.output and "after minus before" in result.output


def test_grade_from_cdr_with_model_network_and_clusters(population, trained, tmp_path):
    model_dir, _ = trained
    out = tmp_path / "graded"  # created by grade --calls
    args = [
        "grade", str(out), "--calls", str(population / "calls.csv"),
        "--model", str(model_dir / "model.joblib"), "--network", str(population / "edges.csv"),
        "--outcomes", str(population / "outcomes.csv"), "--tiering", "cluster",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    callers = pd.read_csv(out / "callers.csv", dtype={"caller": str}, encoding="utf-8-sig")
    riskiest = callers.loc[callers["churn_rank"] == 1].iloc[0]
    printed = [line for line in result.output.splitlines() if riskiest["caller"] in line]
    assert printed and f"{riskiest['churn_prob']:.2f}" in printed[0]  # the table's first customer
    assert "most at risk first" in result.output
    for column in ("churn_prob", "churn_rank", "model_reason", "contacts_churned_share", "behaviour_break"):
        assert column in callers.columns
    assert set(callers["tier"]) <= {"VIP-like", "ordinary", "silent-like", "at-risk"}
    assert {"VIP", "ordinary", "silent"} >= set(callers["rule_tier"])
    assert (out / "calls.csv").is_file() and (out / "cluster_report.json").is_file()
    report = runner.invoke(app, ["report", str(out)])  # CDR-only folder, with the model section
    assert report.exit_code == 0, report.output
    assert 'id="model"' in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["boosting", "logistic", "tree"])
def test_train_and_grade_on_a_cdr_with_only_the_required_columns(population, tmp_path, kind):
    """caller, started_at, duration_s and nothing else (no sentiment, keywords or direction): every
    model trains and scores (sentiment features are all missing and are left out)."""
    cdr = tmp_path / "cdr.csv"
    pd.read_csv(population / "calls.csv", dtype=str)[["caller", "started_at", "duration_s"]].to_csv(
        cdr, index=False
    )
    model = tmp_path / "model.joblib"
    args = [
        "train", "--calls", str(cdr), "--outcomes", str(population / "outcomes.csv"),
        "--model-out", str(model), "--model-kind", kind, "--folds", "1", "-q",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    graded = tmp_path / "graded"
    result = runner.invoke(app, ["grade", str(graded), "--calls", str(cdr), "--model", str(model), "-q"])
    assert result.exit_code == 0, result.output
    callers = pd.read_csv(graded / "callers.csv", encoding="utf-8-sig")
    assert callers["churn_prob"].between(0, 1).all() and callers["churn_prob"].nunique() > 1


def test_grade_without_out_dir_or_calls_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["grade", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "--calls" in result.output


def test_grade_rejects_unknown_tiering(population, tmp_path):
    args = ["grade", str(tmp_path), "--calls", str(population / "calls.csv"), "--tiering", "magic"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2


def _grade_args(population, model_dir, out) -> list[str]:
    return [
        "grade", str(out), "--calls", str(population / "calls.csv"),
        "--model", str(model_dir / "model.joblib"), "--network", str(population / "edges.csv"),
        "--outcomes", str(population / "outcomes.csv"), "-q",
    ]  # fmt: skip


def test_grade_helper_process_writes_what_the_thread_writes(population, trained, tmp_path, monkeypatch):
    from speechchurn.outcomes import helper

    model_dir, _ = trained
    written = {}
    for kind, least in (("thread", 10**12), ("process", 0)):
        monkeypatch.setattr(helper, "HELPER_PROCESS_MIN_BYTES", least)  # --calls: the CSV's size decides
        result = runner.invoke(app, _grade_args(population, model_dir, tmp_path / kind))
        assert result.exit_code == 0, result.output
        written[kind] = [(tmp_path / kind / name).read_bytes() for name in ("callers.csv", "review.csv")]
    assert written["process"] == written["thread"]
    assert b"churn_prob" in written["process"][0]


def test_grade_helper_process_relays_warnings_errors_and_its_death(population, tmp_path):
    import logging
    import os

    from speechchurn.errors import ConfigError, HelperError
    from speechchurn.outcomes.helper import GradeHelper

    edges = tmp_path / "edges.csv"
    edges.write_text("a,b,calls\n13800000001,13800000002,1\n13800000003,,2\n", encoding="utf-8")
    bad_model = tmp_path / "model.joblib"
    bad_model.write_bytes(b"not a model")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("speechchurn")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # the helper relays records at this process's level and above
    try:
        with GradeHelper(edges, None, None, process=True) as helper:
            figures = helper.result(helper.figures(pd.Timestamp("2026-09-01")))
            assert sorted(figures.index) == ["13800000001", "13800000002"]
            assert sum("without both ends" in r.getMessage() for r in records) == 1
            with pytest.raises(HelperError, match="helper process stopped"):
                helper.result(helper._submit(os._exit, 3))
        with (
            GradeHelper(None, None, bad_model, process=True) as helper,
            pytest.raises(ConfigError, match="not a speechchurn model file"),
        ):
            helper.result(helper.score(pd.DataFrame({"calls": [1]})))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_grade_prints_a_bounded_customer_table(population, tmp_path):
    from speechchurn.cli.console import CALLERS_SHOWN

    result = runner.invoke(app, ["grade", str(tmp_path / "graded"), "--calls", str(population / "calls.csv")])
    assert result.exit_code == 0, result.output
    graded = len(pd.read_csv(tmp_path / "graded" / "callers.csv", encoding="utf-8-sig"))
    assert graded > CALLERS_SHOWN
    assert f"{CALLERS_SHOWN} of {graded:,} customers shown" in result.output
    assert result.output.count("\n") < CALLERS_SHOWN + 20
