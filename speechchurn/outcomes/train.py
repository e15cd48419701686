"""Churn models trained on outcomes, judged by time-aware cross-validation against the current rules.

Models (scikit-learn, all in one run): logistic regression (median imputation + standardisation), a
depth-limited decision tree (leavers up-weighted, see TREE_LEAVER_WEIGHT; only never-missing indicators,
so its exported rules decide exactly as it does) and histogram gradient boosting (handles missing
values natively).

Time-aware folds: with cutoff ``c`` and horizon ``H``, fold ``j`` (1..folds) trains on features at
``c - j*H`` labelled by churn in the following ``H`` days, and tests on features at ``c - (j-1)*H``
labelled the same way; every training label is known before the test cutoff. The final model is fitted
at ``c``. The rule-and-score baseline ranks the same test customers by the current rules' risk points
(ties broken at random with a fixed seed); its warning list is churn_risk high or medium.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import LeakageError, TrainingError
from speechchurn.outcomes.breaks import BreakOptions
from speechchurn.outcomes.features import FeatureSet, build_features, model_features, training_set
from speechchurn.outcomes.metrics import evaluate, mean_over_folds
from speechchurn.customers.grading import grade_callers
from speechchurn.customers.aggregate import parse_started_at
from speechchurn.customers.grading import load_rules
from speechchurn.outputs import atomic_path
from speechchurn.errors import ConfigError
from speechchurn.outputs import atomic_path

log = logging.getLogger("speechchurn")

MODEL_KINDS = ("logistic", "tree", "boosting")
BASELINE = "rules"
MODEL_FORMAT = 1  # version of the saved model bundle
MIN_CLASS_ROWS = 2  # a fold needs at least this many leavers and stayers on each side
TREE_MIN_LEAF_SHARE = 0.005  # min_samples_leaf of the tree as a share of the training rows (at least 1)
# Leavers weigh this share of the balanced weight (stayers/leavers) in the tree: a leaf then predicts
# churn when its churn rate is above about 1 / (1 + share * stayers/leavers), ~2x the base rate at 0.5,
# so the exported rules flag a usable warning list instead of half of all customers ("balanced").
TREE_LEAVER_WEIGHT = 0.5
BOOSTING_MAX_ITER = 200  # boosting rounds (early stopping on large sets)
IMPORTANCE_ROWS = 10_000  # rows sampled for permutation importance
IMPORTANCE_REPEATS = 3
WARNING_LEVELS = ("high", "medium")  # the rules' warning list
# OpenMP threads for fitting and predicting. One by default: on the shared 2-core machine (load 8),
# HistGradientBoosting with 2 OpenMP threads fitted 16k rows in 32 s, with one thread in 1.3 s.
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class TrainOptions:
    horizon_days: int = 90
    folds: int = 2
    tree_depth: int = 4
    seed: int = 0
    rules: Path | None = None
    breaks: BreakOptions | None = None
    model_kind: str | None = None  # saved model; None = best mean cross-validated ROC AUC
    threads: int = DEFAULT_THREADS  # OpenMP threads for boosting (see DEFAULT_THREADS)


@dataclass(frozen=True)
class TrainResult:
    report: dict
    bundle: dict  # what `grade --model` needs (saved with joblib)
    tree: object  # the final decision tree
    tree_features: list[str]
    features: FeatureSet  # at the final cutoff


@contextmanager
def limited_threads(threads: int = DEFAULT_THREADS):
    """Cap OpenMP/BLAS threads (scikit-learn's OpenMP runtime is loaded first so the cap reaches it)."""
    import sklearn.cluster  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


def make_model(kind: str, seed: int, depth: int, rows: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if kind == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=1000),
        )
    if kind == "tree":
        leaf = max(1, int(rows * TREE_MIN_LEAF_SHARE))
        return DecisionTreeClassifier(max_depth=depth, min_samples_leaf=leaf, random_state=seed)
    if kind == "boosting":
        return HistGradientBoostingClassifier(max_iter=BOOSTING_MAX_ITER, random_state=seed)
    raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})")


def matrix(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """float32 feature matrix in ``names`` order; a column absent from ``frame`` reads as 0."""
    return frame.reindex(columns=names, fill_value=0).to_numpy(dtype=np.float32, na_value=np.nan)


class _Features:
    """FeatureSets by cutoff, built once each."""

    def __init__(self, calls, outcomes, graph, options: TrainOptions, final_cutoff: pd.Timestamp):
        self.calls, self.outcomes, self.graph, self.options = calls, outcomes, graph, options
        self.final_cutoff = final_cutoff
        self.built: dict[pd.Timestamp, FeatureSet] = {}
        self.seconds = 0.0

    def at(self, cutoff: pd.Timestamp) -> FeatureSet:
        if cutoff not in self.built:
            started = time.perf_counter()
            self.built[cutoff] = build_features(
                self.calls, cutoff, self.graph, self.outcomes, self.options.breaks
            )
            self.seconds += time.perf_counter() - started
        return self.built[cutoff]

    def labelled(self, cutoff: pd.Timestamp):
        return training_set(self.at(cutoff), self.outcomes, self.options.horizon_days)


def _usable(y: np.ndarray) -> bool:
    return len(y) > 0 and y.sum() >= MIN_CLASS_ROWS and (len(y) - y.sum()) >= MIN_CLASS_ROWS


def rule_scores(frame: pd.DataFrame, rules, seed: int) -> tuple[np.ndarray, int]:
    """Risk points of the current rules (+ a fixed-seed tie-break below 1 point), warning-list size."""

    graded = grade_callers(frame, rules)
    jitter = np.random.default_rng(seed).random(len(graded)) * 0.5
    size = int(graded["churn_risk"].isin(WARNING_LEVELS).sum())
    return graded["risk_points"].to_numpy(dtype=np.float64) + jitter, size


def _fit(kind: str, frame: pd.DataFrame, y: np.ndarray, features: FeatureSet, options: TrainOptions):
    names = model_features(features, tree=kind == "tree")
    model = make_model(kind, options.seed, options.tree_depth, len(y))
    if kind == "tree":  # weight leavers so a leaf predicts churn above ~2x the base rate (see TREE_...)
        leavers = max(int(y.sum()), 1)
        model.set_params(class_weight={0: 1.0, 1: TREE_LEAVER_WEIGHT * (len(y) - leavers) / leavers})
    try:
        model.fit(matrix(frame, names), y)
    except ValueError as e:  # a data shape scikit-learn refuses: one clear line, not a traceback
        raise TrainingError(f"the {kind} model could not be fitted on {len(y):,} customers: {e}") from e
    return model, names


def _fold(data: _Features, j: int, rules, kinds, options: TrainOptions) -> dict:
    """Train at c - j*H, test at c - (j-1)*H."""
    horizon = pd.Timedelta(days=options.horizon_days)
    cutoff = data.final_cutoff
    train_at, test_at = cutoff - j * horizon, cutoff - (j - 1) * horizon
    info = {"fold": j, "train_cutoff": str(train_at.date()), "test_cutoff": str(test_at.date())}
    frame_tr, y_tr = data.labelled(train_at)
    frame_te, y_te = data.labelled(test_at)
    if not (_usable(y_tr) and _usable(y_te)):
        counts = f"train {int(y_tr.sum())}/{len(y_tr)}, test {int(y_te.sum())}/{len(y_te)}"
        info["skipped"] = f"too few leavers or stayers ({counts})"
        return info
    base, size = rule_scores(frame_te, rules, options.seed)
    info["models"] = {BASELINE: evaluate(y_te, base, size)}
    info["_test"] = (frame_te, y_te)
    info["_fitted"] = {}
    for kind in kinds:
        started = time.perf_counter()
        model, names = _fit(kind, frame_tr, y_tr, data.at(train_at), options)
        prob = model.predict_proba(matrix(frame_te, names))[:, 1]
        info["models"][kind] = evaluate(y_te, prob, size, prob)
        info["models"][kind]["fit_s"] = round(time.perf_counter() - started, 3)
        info["_fitted"][kind] = (model, names)
    return info


def permutation_importance(model, X: np.ndarray, y: np.ndarray, names: list[str], seed: int) -> dict:
    """Mean drop of ROC AUC when each feature is shuffled (sampled rows, fixed seed)."""
    from sklearn.inspection import permutation_importance as sk_permutation

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), size=min(len(y), IMPORTANCE_ROWS), replace=False)
    if not _usable(y[rows]):
        return {}
    result = sk_permutation(
        model, X[rows], y[rows], scoring="roc_auc", n_repeats=IMPORTANCE_REPEATS, random_state=seed
    )
    return {n: round(float(v), 5) for n, v in zip(names, result.importances_mean, strict=True)}


def grouped_importance(model, X: np.ndarray, y: np.ndarray, groups: dict[str, list[int]], seed: int) -> dict:
    """ROC AUC drop when all columns of a group are shuffled together (same row permutation)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), size=min(len(y), IMPORTANCE_ROWS * 5), replace=False)
    X, y = X[rows], y[rows]
    full = roc_auc_score(y, model.predict_proba(X)[:, 1])
    out = {}
    for name, cols in groups.items():
        drops = []
        for _ in range(IMPORTANCE_REPEATS):
            shuffled = X.copy()
            shuffled[:, cols] = X[rng.permutation(len(y))][:, cols]
            drops.append(full - roc_auc_score(y, model.predict_proba(shuffled)[:, 1]))
        out[name] = round(float(np.mean(drops)), 5)
    return out


def _choose(summary: dict, options: TrainOptions, kinds) -> str:
    if options.model_kind:
        return options.model_kind
    aucs = {k: summary.get(k, {}).get("roc_auc", float("nan")) for k in kinds}
    scored = {k: v for k, v in aucs.items() if not np.isnan(v)}
    return max(scored, key=scored.get) if scored else "logistic"


def _importances(
    folds: list[dict], finals: dict, chosen: str, final_frame, final_y, options
) -> tuple[dict, str]:
    """Permutation importance of the chosen model on the latest usable test fold (held-out), else
    in-sample at the final cutoff."""
    usable = [f for f in folds if "_test" in f]
    if usable:
        latest = usable[0]
        frame, y = latest["_test"]
        model, names = latest["_fitted"][chosen]
        where = f"held-out fold {latest['fold']} (test cutoff {latest['test_cutoff']})"
    else:
        (model, names), frame, y = finals[chosen], final_frame, final_y
        where = "in-sample at the final cutoff (no usable fold)"
    return {chosen: permutation_importance(model, matrix(frame, names), y, names, options.seed)}, where


def default_cutoff(calls: pd.DataFrame, outcomes: pd.DataFrame, horizon_days: int) -> pd.Timestamp:
    """Latest date whose whole label horizon is observed: max(last call, last churn date) - horizon."""

    last_call = parse_started_at(calls["started_at"]).max()
    last = pd.Timestamp(last_call).tz_localize(None) if pd.Timestamp(last_call).tzinfo else last_call
    churn_last = outcomes["churn_date"].max()
    if pd.notna(churn_last) and churn_last > last:
        last = churn_last
    return end_of_day((pd.Timestamp(last) - pd.Timedelta(days=horizon_days)).date())


def end_of_day(day) -> pd.Timestamp:
    """The last second of a date: calls during the cutoff day count as known at the cutoff."""
    return pd.Timestamp(day) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)


def train_models(
    calls: pd.DataFrame,
    outcomes: pd.DataFrame,
    cutoff: pd.Timestamp | None = None,
    graph=None,
    options: TrainOptions | None = None,
) -> TrainResult:
    """Cross-validate every model kind against the rules, then fit the final models at ``cutoff``."""

    options = options or TrainOptions()
    with limited_threads(options.threads):
        return _train(calls, outcomes, cutoff, graph, options, load_rules(options.rules))


def _train(calls, outcomes, cutoff, graph, options: TrainOptions, rules) -> TrainResult:
    started = time.perf_counter()
    kinds = MODEL_KINDS
    cutoff = (
        pd.Timestamp(cutoff) if cutoff is not None else default_cutoff(calls, outcomes, options.horizon_days)
    )
    data = _Features(calls, outcomes, graph, options, cutoff)
    folds = [_fold(data, j, rules, kinds, options) for j in range(1, options.folds + 1)]
    frame, y = data.labelled(cutoff)
    if y.sum() == 0 or y.sum() == len(y):
        raise LeakageError(
            f"no leavers and stayers to learn from at cutoff {cutoff.date()} "
            f"({int(y.sum())} of {len(y)} customers churned within {options.horizon_days} days)"
        )
    finals = {kind: _fit(kind, frame, y, data.at(cutoff), options) for kind in kinds}
    summary = {
        k: mean_over_folds([f["models"][k] for f in folds if "models" in f]) for k in (BASELINE, *kinds)
    }
    chosen = _choose(summary, options, kinds)
    importance, importance_on = _importances(folds, finals, chosen, frame, y, options)
    model, names = finals[chosen]
    report = {
        "cutoff": str(cutoff.date()),
        "horizon_days": options.horizon_days,
        "customers": int(len(y)),
        "leavers": int(y.sum()),
        "features": model_features(data.at(cutoff)),
        "folds": [{k: v for k, v in f.items() if not k.startswith("_")} for f in folds],
        "summary": summary,
        "chosen_model": chosen,
        "importance": importance,
        "importance_on": importance_on,
        "seconds": {"features": round(data.seconds, 2), "total": round(time.perf_counter() - started, 2)},
    }
    bundle = _bundle(chosen, model, names, frame, importance.get(chosen, {}), cutoff, options)
    tree, tree_names = finals["tree"]
    return TrainResult(report, bundle, tree, tree_names, data.at(cutoff))


def _bundle(kind, model, names, frame, importance, cutoff, options) -> dict:
    """Only what grading needs: the estimator, its feature order, reference values for reasons."""
    import sklearn

    reference = frame.reindex(columns=names, fill_value=0).median(numeric_only=True)
    return {
        "format": MODEL_FORMAT,
        "kind": kind,
        "estimator": model,
        "features": names,
        "reference": {n: float(reference.get(n, 0.0)) for n in names},
        "importance": importance,
        "cutoff": str(cutoff.date()),
        "horizon_days": options.horizon_days,
        "sklearn": sklearn.__version__,
    }


def save_model(bundle: dict, path: Path) -> Path:
    """joblib with compression, written atomically. Load only model files you made (pickle)."""
    import joblib


    with atomic_path(Path(path)) as tmp:
        joblib.dump(bundle, tmp, compress=3)
    return Path(path)


def load_model(path: Path) -> dict:
    import joblib


    try:
        bundle = joblib.load(path)
    except (OSError, EOFError, ValueError, KeyError, ImportError) as e:
        raise ConfigError(f"{Path(path).name}: not a speechchurn model file ({e})") from e
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT:
        raise ConfigError(f"{Path(path).name}: not a speechchurn model file (format {MODEL_FORMAT} expected)")
    return bundle


def write_report_json(report: dict, path: Path) -> Path:
    """model_report.json (NaN written as null)."""
    import json


    def clean(value):
        if isinstance(value, float) and np.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(clean(report), ensure_ascii=False, indent=1), encoding="utf-8")
    return Path(path)
