"""Outcomes (#15): behaviour breaks, leakage protection, tree-rule export, retention maths, clusters."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import churn_population
from speechchurn.customers.grading import grade_callers, load_rules
from speechchurn.errors import LeakageError, ManifestError, TrainingError
from speechchurn.outcomes import retention
from speechchurn.outcomes.breaks import BreakOptions, add_breaks, break_figures
from speechchurn.outcomes.calls_input import prepare_calls
from speechchurn.outcomes.features import FeatureSet, build_features, training_set, with_column
from speechchurn.outcomes.network import add_network, build_graph, churned_by

TZ = "Asia/Shanghai"
AS_OF = pd.Timestamp("2026-06-30 23:59:59", tz=TZ)


def _calls(rows: list[tuple]) -> pd.DataFrame:
    """rows: (caller, days before AS_OF, duration_s, direction, sentiment, complaint keywords)."""
    frame = pd.DataFrame(
        rows, columns=["caller", "days", "duration_s", "direction", "sentiment_mean", "kw_complaint"]
    )
    frame["started_at"] = AS_OF - pd.to_timedelta(frame.pop("days"), unit="D")
    return frame


def _planted() -> pd.DataFrame:
    """One customer per kind of break, plus a steady one."""
    rows = []
    for d in range(35, 120, 10):  # active in the baseline (9 calls), silent for the last 30 days
        rows.append(("quiet", d, 200, "in", 0.6, 0))
    for d in list(range(35, 120, 10)) + [5, 15, 25]:  # steady: 9 baseline calls, 3 recent (same rate)
        rows.append(("steady", d, 200, "in", 0.6, 0))
    for d in range(35, 120, 10):  # mood and complaints turn in the last 30 days
        rows.append(("sour", d, 200, "in", 0.7, 0))
    rows += [("sour", d, 200, "in", 0.2, 2) for d in (3, 12, 21)]
    for d in range(35, 120, 10):  # answers outbound calls, then stops answering
        rows.append(("unanswered", d, 120, "out", np.nan, 0))
    rows += [("unanswered", d, 0, "out", np.nan, 0) for d in (2, 9, 16, 23)]
    return _calls(rows)


def test_planted_breaks_are_found_with_reasons():
    figures = break_figures(_planted(), AS_OF)
    assert figures.loc["quiet", "break_went_quiet"] == 1
    assert figures.loc["quiet", "break_calls"] == pytest.approx(-1.0)
    assert figures.loc["steady", "behaviour_break"] == 0
    assert figures.loc["steady", "break_calls"] == pytest.approx(0.0)
    assert figures.loc["sour", "break_sentiment"] == pytest.approx(0.2 - 0.7)
    assert figures.loc["sour", "break_complaint_share"] == pytest.approx(1.0)
    assert figures.loc["unanswered", "break_answered_share"] == pytest.approx(-1.0)
    flagged = figures.loc[figures["behaviour_break"] == 1].index
    assert set(flagged) == {"quiet", "sour", "unanswered"}
    assert "由活跃转沉默" in figures.loc["quiet", "break_reason"]
    assert "投诉占比" in figures.loc["sour", "break_reason"]
    assert "外呼接通率" in figures.loc["unanswered", "break_reason"]


def test_no_call_in_either_window_means_no_break():
    from speechchurn.customers.aggregate import aggregate_callers

    later = AS_OF + pd.Timedelta(days=400)
    callers = add_breaks(aggregate_callers(_planted(), later), _planted(), later)
    assert (callers["behaviour_break"] == 0).all() and (callers["break_reason"] == "").all()


def test_break_windows_are_configurable():
    short = break_figures(_planted(), AS_OF, BreakOptions(recent_days=10, baseline_days=20))
    assert "quiet" not in short.index  # no call of "quiet" in the last 30 days at all


def test_default_rules_score_behaviour_breaks():
    from speechchurn.customers.aggregate import aggregate_callers

    calls = _planted()
    callers = add_breaks(aggregate_callers(calls, AS_OF), calls, AS_OF)
    graded = grade_callers(callers, load_rules()).set_index("caller")
    assert "behaviour_break +2" in graded.loc["quiet", "risk_reason"]
    assert "behaviour_break" not in graded.loc["steady", "risk_reason"]


def test_rules_without_break_columns_still_grade():
    from speechchurn.customers.aggregate import aggregate_callers

    graded = grade_callers(aggregate_callers(_planted(), AS_OF), load_rules())
    assert not graded["risk_reason"].str.contains("behaviour_break").any()


def test_cdr_with_only_required_columns():
    raw = pd.DataFrame(
        {
            "caller": ["+86 138-0000-0001", "13800000001"],
            "started_at": ["2026/06/01 09:00", "2026-06-02T10:00:00+08:00"],
            "duration_s": ["60", "0"],
        }
    )
    calls = prepare_calls(raw, TZ)
    assert calls["caller"].tolist() == ["13800000001", "13800000001"]
    assert str(calls["started_at"].dt.tz) == TZ
    features = build_features(calls, pd.Timestamp("2026-06-30", tz=TZ))
    assert features.frame.loc[0, "calls"] == 2


@pytest.mark.parametrize(
    ("duration", "direction", "seconds", "read_as"),
    [
        ("330", "in", 330.0, "in"),
        ("0:05:30", "呼出", 330.0, "out"),
        ("5:30", "外呼", 330.0, "out"),
        ("1:00:00", "Inbound", 3600.0, "in"),
        ("0", "OUT", 0.0, "out"),  # an unanswered outbound call
        ("330", "", 330.0, ""),
        ("330", "转接组", 330.0, ""),  # not a direction: unknown, with a warning
    ],
)
def test_cdr_durations_and_directions_as_exports_write_them(duration, direction, seconds, read_as, caplog):
    raw = pd.DataFrame(
        {"caller": ["13800000001"], "started_at": ["2026-06-01 09:00"], "duration_s": [duration]}
    )
    calls = prepare_calls(raw.assign(direction=[direction]), TZ)
    assert calls.loc[0, "duration_s"] == seconds and calls.loc[0, "direction"] == read_as
    assert ("not understood" in caplog.text) == (direction == "转接组")


def test_cdr_row_with_an_unreadable_duration_is_skipped():
    raw = pd.DataFrame(
        {
            "caller": ["13800000001"] * 2,
            "started_at": ["2026-06-01 09:00"] * 2,
            "duration_s": ["abc", "1:2:3:4"],
        }
    )
    assert prepare_calls(raw, TZ).empty


def test_cdr_missing_column_is_named():
    with pytest.raises(ManifestError, match="duration_s"):
        prepare_calls(pd.DataFrame({"caller": ["1"], "started_at": ["2026-01-01"]}), TZ)


# ------------------------------------------------------------------------------------------ leakage


def _outcomes(rows):
    return pd.DataFrame(rows, columns=["caller", "churned", "churn_date"]).assign(
        churn_date=lambda f: pd.to_datetime(f["churn_date"])
    )


def test_calls_after_the_cutoff_cannot_change_features():
    calls = _planted()
    future = _calls([("quiet", -5, 900, "in", 0.0, 9), ("steady", -1, 900, "in", 0.0, 9)])
    with_future = pd.concat([calls, future], ignore_index=True)
    a = build_features(calls, AS_OF).frame
    b = build_features(with_future, AS_OF).frame
    pd.testing.assert_frame_equal(a, b)


def test_a_model_scikit_learn_refuses_is_a_training_error():
    from speechchurn.outcomes.features import FeatureSet
    from speechchurn.outcomes.train import TrainOptions, _fit

    frame = pd.DataFrame({"calls": [1.0, 2.0, 3.0, 4.0], "sentiment_mean": [np.nan] * 4})
    features = FeatureSet(pd.Timestamp("2026-06-01"), frame)
    with pytest.raises(TrainingError, match="logistic model could not be fitted on 4 customers"):
        _fit("logistic", frame, np.zeros(4), features, TrainOptions())  # one class only


def test_a_feature_built_after_the_cutoff_cannot_enter_training():
    features = build_features(_planted(), AS_OF)
    late = AS_OF + pd.Timedelta(days=1)
    with pytest.raises(LeakageError, match="after the cutoff"):
        with_column(features, "tenure_next_month", np.ones(len(features.frame)), late)
    sneaked = FeatureSet(features.as_of, features.frame, {**features.column_until, "calls": late})
    with pytest.raises(LeakageError, match="calls"):
        training_set(sneaked, _outcomes([("quiet", 1, "2026-07-10")]))
    ok = with_column(features, "tenure", np.ones(len(features.frame)), AS_OF - pd.Timedelta(days=1))
    frame, y = training_set(ok, _outcomes([("quiet", 1, "2026-07-10")]))
    assert "tenure" in frame.columns and y.sum() == 1


def test_labels_are_churn_in_the_horizon_and_leavers_are_dropped():
    features = build_features(_planted(), AS_OF)
    outcomes = _outcomes(
        [
            ("quiet", 1, "2026-07-10"),
            ("sour", 1, "2026-06-01"),
            ("steady", 1, "2026-12-31"),
            ("unanswered", 0, None),
        ]
    )
    frame, y = training_set(features, outcomes, horizon_days=90)
    labels = dict(zip(frame["caller"], y, strict=True))
    assert labels == {"quiet": 1, "steady": 0, "unanswered": 0}  # sour left before the cutoff


def test_network_counts_only_churns_known_at_the_cutoff():
    edges = pd.DataFrame({"a": ["x", "x", "x", "y"], "b": ["y", "z", "w", "x"], "calls": [1, 2, 3, 4]})
    graph = build_graph(edges)
    outcomes = _outcomes([("y", 1, "2026-06-01"), ("z", 1, "2026-08-01"), ("w", 0, None)])
    callers = pd.DataFrame({"caller": ["x", "y", "nobody"]})
    out = add_network(callers, graph, churned_by(outcomes, AS_OF)).set_index("caller")
    assert out.loc["x", "contacts"] == 3  # y twice (both directions) is one contact
    assert out.loc["x", "contacts_churned"] == 1  # z leaves after the cutoff
    assert out.loc["x", "contacts_churned_share"] == pytest.approx(1 / 3)
    assert out.loc["nobody", "contacts"] == 0


def test_edges_file_ends_share_one_set_of_numbers(tmp_path):
    from speechchurn.outcomes.network import load_edges

    path = tmp_path / "edges.csv"
    path.write_text(
        "a,b,calls\n+86 138 0000 0001,13800000002,2\n13800000002,8613800000001,\n13800000003,,4\n",
        encoding="utf-8",
    )
    edges = load_edges(path)
    assert edges["a"].tolist() == ["13800000001", "13800000002"]  # the row without b is skipped
    assert edges["b"].tolist() == ["13800000002", "13800000001"]
    assert edges["calls"].tolist() == [2.0, 1.0]
    graph, plain = build_graph(edges), build_graph(edges.astype({"a": object, "b": object}))
    assert sorted(graph.nodes) == sorted(plain.nodes) == ["13800000001", "13800000002"]
    assert graph.adjacency[graph.index_of(["13800000001"])[0], graph.index_of(["13800000002"])[0]] == 3


# ------------------------------------------------------------------------------------- models, export


@pytest.fixture(scope="module")
def trained():
    from speechchurn.outcomes.train import TrainOptions, train_models

    population = churn_population.generate(4_000, seed=3)
    graph = build_graph(population.edges)
    result = train_models(population.calls, population.outcomes, None, graph, TrainOptions(folds=1))
    return population, graph, result


def test_training_reports_models_against_the_rules(trained):
    _, _, result = trained
    summary = result.report["summary"]
    assert set(summary) == {"rules", "logistic", "tree", "boosting"}
    fold = result.report["folds"][0]
    assert "skipped" not in fold
    for metrics in fold["models"].values():
        assert 0.0 <= metrics["roc_auc"] <= 1.0
        top = metrics["top_10pct"]
        assert top["size"] == round(0.1 * metrics["n"])
        assert top["hit_rate"] == pytest.approx(top["lift"] * metrics["leavers"] / metrics["n"])
    assert summary["boosting"]["roc_auc"] > 0.6  # planted mechanisms are learnable
    assert "calibration" in fold["models"]["logistic"]


def test_exported_tree_rules_reproduce_the_tree(trained, tmp_path):
    from speechchurn.outcomes.export_rules import export_tree_rules
    from speechchurn.outcomes.train import matrix

    population, graph, result = trained
    path = tmp_path / "rules_learned.toml"
    path.write_text(export_tree_rules(result.tree, result.tree_features, load_rules()), encoding="utf-8")
    rules = load_rules(path)
    later = build_features(
        population.calls, result.features.as_of + pd.Timedelta(days=45), graph, population.outcomes
    )
    for features in (result.features, later):  # the training cutoff and unseen data
        predicted = result.tree.predict(matrix(features.frame, result.tree_features)) == 1
        graded = grade_callers(features.frame, rules)
        assert predicted.any()
        np.testing.assert_array_equal(graded["churn_risk"].to_numpy() == "high", predicted)


def test_model_adds_probability_rank_and_reasons(trained):
    from speechchurn.outcomes.apply import apply_model

    _, _, result = trained
    graded = grade_callers(result.features.frame, load_rules())
    out = apply_model(graded, result.bundle)
    assert out["churn_prob"].between(0, 1).all()
    assert sorted(out["churn_rank"]) == list(range(1, len(out) + 1))
    top = out.sort_values("churn_rank").head(20)
    assert top["model_reason"].str.contains(r"\(\+").any()


def test_model_scores_the_same_in_slices(trained, monkeypatch):
    from speechchurn.outcomes import apply

    _, _, result = trained
    graded = grade_callers(result.features.frame, load_rules())
    whole = apply.apply_model(graded, result.bundle, workers=1)
    monkeypatch.setattr(apply, "MIN_SLICE_ROWS", 100)
    assert len(apply._slices(len(graded), 3)) == 3
    pd.testing.assert_frame_equal(apply.apply_model(graded, result.bundle, workers=3), whole)


def test_model_reason_is_the_largest_single_feature_swaps_for_every_customer(trained):
    from speechchurn.outcomes.apply import REASON_MIN, REASON_TOP, _candidates, apply_model
    from speechchurn.outcomes.train import matrix

    _, _, result = trained
    bundle, names = result.bundle, result.bundle["features"]
    out = apply_model(grade_callers(result.features.frame, load_rules()), bundle)
    X = matrix(out, names)
    for i in np.linspace(0, len(out) - 1, 25).astype(int):  # spread over the whole ranking
        row = X[i : i + 1]
        base = bundle["estimator"].predict_proba(row)[0, 1]
        gains = {}
        for name in _candidates(bundle):
            swapped = row.copy()
            swapped[0, names.index(name)] = bundle["reference"][name]
            gains[name] = base - bundle["estimator"].predict_proba(swapped)[0, 1]
        listed = sorted((g, n) for n, g in gains.items() if g >= REASON_MIN)[::-1][:REASON_TOP]
        reason = out["model_reason"].iloc[i]
        assert [part.split("=")[0] for part in reason.split("; ") if part] == [n for _, n in listed]


def test_cluster_tiers_are_named_and_compared(trained):
    from speechchurn.outcomes.cluster import apply_cluster_tiers, cluster_tiers

    _, _, result = trained
    graded = grade_callers(result.features.frame, load_rules())
    clusters = cluster_tiers(graded)
    assert 3 <= clusters.report["k"] <= 6
    assert {"VIP-like", "silent-like"} <= set(clusters.names)
    assert -1 <= clusters.report["agreement"]["adjusted_rand"] <= 1
    out = apply_cluster_tiers(graded, clusters)
    assert (out["rule_tier"] == graded["tier"]).all()


# ---------------------------------------------------------------------------------------- retention


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [(5, 10, 0.2366, 0.7634), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (81, 263, 0.2553, 0.3662)],
)
def test_wilson_interval(x, n, low, high):
    lo, hi = retention.wilson(x, n)
    assert (lo, hi) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_newcombe_difference_matches_the_published_example():
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80 -> 0.2000 (0.0524, 0.3339)
    diff = retention.newcombe_difference(retention.rate(56, 70), retention.rate(48, 80))
    assert diff["difference"] == pytest.approx(0.2)
    assert (diff["low"], diff["high"]) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))


def test_contacted_vs_not_and_before_after():
    outcomes = _outcomes(
        [
            ("a", 1, "2026-03-01"),
            ("b", 0, None),
            ("c", 1, "2026-05-01"),
            ("d", 0, None),
            ("e", 1, "2026-02-01"),
        ]
    )
    report = retention.contacted_vs_not({"a", "b", "c", "d"}, {"a", "b", "z"}, outcomes)
    assert report["contacted"]["churned"] == 1 and report["contacted"]["total"] == 2
    assert report["not_contacted"]["rate"] == pytest.approx(0.5)
    assert report["contacted_outside_warning_list"] == 1
    split = retention.before_after(outcomes, pd.Timestamp("2026-04-01"), window_days=90)
    assert (split["before"]["churned"], split["before"]["total"]) == (
        2,
        5,
    )  # e and a, between Jan 1 and Apr 1
    assert (split["after"]["churned"], split["after"]["total"]) == (1, 3)
    assert not math.isnan(split["difference_after_minus_before"]["low"])


def test_report_model_section_from_model_report(trained, tmp_path):
    from speechchurn.outcomes.train import write_report_json
    from speechchurn.report.model_section import model_section

    _, _, result = trained
    assert model_section(tmp_path) is None  # nothing to show without the json files
    write_report_json(result.report, tmp_path / "model_report.json")
    section = model_section(tmp_path)
    assert [row["model"].split()[0] for row in section["summary"]] == [
        "现行规则",
        "逻辑回归",
        "决策树",
        "梯度提升",
    ]
    assert len(section["charts"]) == 4  # ROC, lift, calibration, feature importance
    assert all('class="plotly-graph-div"' in chart for chart in section["charts"])


@pytest.mark.parametrize(
    ("importance", "charted"),
    [
        ({"calls": 0.04, "contacts": 0.01}, True),
        ({"calls": 0.0, "contacts": 0.0}, False),  # nothing measured (one class only): no empty chart
        ({}, False),
    ],
)
def test_importance_chart_only_when_something_was_measured(importance, charted):
    from speechchurn.report.model_section import _importance_figure

    report = {"chosen_model": "boosting", "importance": {"boosting": importance}}
    assert (_importance_figure(report) is not None) == charted


def _outcome_inputs():
    from speechchurn.outcomes.calls_input import load_calls_csv
    from speechchurn.outcomes.features import load_outcomes
    from speechchurn.outcomes.network import load_edges

    return [
        (
            "calls file",
            load_calls_csv,
            "caller,started_at,duration_s,note\n13812345601,2026-11-01 10:00,60,投诉\n",
        ),
        ("outcomes file", load_outcomes, "caller,churned,churn_date,note\n13812345601,0,,销户\n"),
        ("edges file", load_edges, "a,b,calls,note\n13812345601,13998765402,3,亲友\n"),
    ]


@pytest.mark.parametrize("index", range(3), ids=["calls", "outcomes", "edges"])
def test_outcome_inputs_read_excel_encodings_and_name_the_file_when_they_cannot(index, tmp_path):
    kind, load, text = _outcome_inputs()[index]
    for encoding in ("utf-8-sig", "gbk"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        assert len(load(path)) == 1, encoding
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x30" * 40)
    with pytest.raises(ManifestError, match=f"binary.csv: {kind} is neither UTF-8 nor GBK"):
        load(binary)
    with pytest.raises(ManifestError, match=f"missing.csv: cannot read {kind}"):
        load(tmp_path / "missing.csv")


@pytest.mark.parametrize("kind", ["boosting", "logistic", "boosting with NaN"])
def test_model_probabilities_match_predict_proba(kind):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from speechchurn.outcomes.apply import _Probabilities

    rng = np.random.default_rng(7)
    X = rng.normal(size=(3_000, 4)).astype(np.float32)
    if "NaN" in kind:
        X[rng.random(X.shape) < 0.1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + rng.normal(size=len(X)) > 0).astype(int)
    model = LogisticRegression() if kind == "logistic" else HistGradientBoostingClassifier(max_iter=30)
    model.fit(np.nan_to_num(X) if kind == "logistic" else X, y)
    X = np.nan_to_num(X) if kind == "logistic" else X
    probabilities = _Probabilities(model, X)
    assert (probabilities.binned is not None) == kind.startswith("boosting")  # the fast path is taken
    np.testing.assert_array_equal(probabilities.all(), model.predict_proba(X)[:, 1])
    rows = np.arange(0, len(X), 3)
    swapped = X[rows].copy()
    swapped[:, 1] = 0.25
    np.testing.assert_array_equal(probabilities.with_value(rows, 1, 0.25), model.predict_proba(swapped)[:, 1])
