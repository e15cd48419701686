"""The outcome commands on the bundled samples, as docs/outcomes.md shows them: train, grade --model
--tiering cluster, retention and report over a real analyze run of audio_samples/ (real Whisper weights)
with the committed audio_samples/outcomes.csv."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from speechchurn import outputs
from speechchurn.cli import app

pytestmark = pytest.mark.slow

runner = CliRunner()
CONTACTED = ("13998765402",)  # the retention team called back one of the warned customers


def _invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def sample_outcomes(samples_run, samples_dir, tmp_path_factory):
    """A copy of the real samples run after the documented outcome commands."""
    out = tmp_path_factory.mktemp("samples_outcomes") / "out"
    shutil.copytree(samples_run, out)
    outcomes = str(samples_dir / "outcomes.csv")
    model = str(out / "model.joblib")
    _invoke("train", str(out), "--outcomes", outcomes, "--as-of", "2026-11-20", "--horizon", "45",
            "--model-out", model, "--export-rules", str(out / "rules_learned.toml"))  # fmt: skip
    _invoke("grade", str(out), "--model", model, "--tiering", "cluster")
    contacted = out / "contacted.csv"
    contacted.write_text("caller\n" + "\n".join(CONTACTED) + "\n", encoding="utf-8")
    _invoke("retention", "--warned", str(out / "review.csv"), "--contacted", str(contacted),
            "--outcomes", outcomes, "--out", str(out))  # fmt: skip
    _invoke("report", str(out))
    return out


def test_train_reports_every_model_against_the_rules(sample_outcomes):
    report = json.loads((sample_outcomes / "model_report.json").read_text(encoding="utf-8"))
    assert set(report["summary"]) == {"rules", "logistic", "tree", "boosting"}
    assert "tree_leaf_" in (sample_outcomes / "rules_learned.toml").read_text(encoding="utf-8")


def test_grade_adds_model_and_cluster_columns_for_every_customer(sample_outcomes):
    callers = outputs.read_csv(sample_outcomes / "callers.csv")
    assert len(callers) == 7
    probabilities = callers["churn_prob"].astype(float)
    assert probabilities.between(0, 1).all()
    assert sorted(callers["churn_rank"].astype(int)) == list(range(1, 8))
    top = callers.loc[callers["churn_rank"].astype(int) == 1, "model_reason"].iloc[0]
    assert "(+" in top  # the riskiest customer's reason names a feature that raised the risk
    assert callers["cluster_tier"].str.len().gt(0).all()


def test_retention_and_the_report_section(sample_outcomes):
    retention = json.loads((sample_outcomes / "retention.json").read_text(encoding="utf-8"))
    groups = retention["contacted_vs_not"]
    assert groups["contacted"]["total"] == len(CONTACTED)
    page = (sample_outcomes / "report.html").read_text(encoding="utf-8")
    assert "模型与留存" in page
