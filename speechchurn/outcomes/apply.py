"""Apply a saved churn model to graded customers: churn_prob, churn_rank, model_reason.

``model_reason`` names each customer's top contributing features: for each of the model's
``REASON_CANDIDATES`` most important features (permutation importance saved at training), the
contribution is ``p(x) - p(x with that feature at the training median)``; the ``REASON_TOP`` largest
positive contributions are listed, e.g. ``complaint_calls=3 (+0.21); contacts_churned=2 (+0.08)``.
Reasons are computed for the ``REASON_ROWS`` customers most at risk (one model pass per candidate
feature over them; over 200,000 customers every pass costs seconds), the others get an empty reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from speechchurn.outcomes.train import DEFAULT_THREADS, limited_threads, matrix

REASON_CANDIDATES = 8  # features tried per customer (the most important ones)
REASON_TOP = 3  # contributions listed per customer
REASON_MIN = 0.005  # probability points: smaller contributions are not listed
REASON_ROWS = 20_000  # customers (highest churn_prob first) who get a model_reason; the rest get ""


def _candidates(bundle: dict) -> list[str]:
    importance = bundle.get("importance") or {}
    names = bundle["features"]
    ranked = sorted(names, key=lambda n: -importance.get(n, 0.0))
    return ranked[:REASON_CANDIDATES]


def _fmt(values: np.ndarray) -> np.ndarray:
    rounded = np.round(values.astype(np.float64), 2)
    uniques, inverse = np.unique(rounded, return_inverse=True)
    texts = np.array([f"{u:g}" for u in uniques.tolist()], dtype=object)
    return texts[inverse.reshape(-1)]


def _reasons(bundle: dict, X: np.ndarray, prob: np.ndarray) -> np.ndarray:
    names = bundle["features"]
    model = bundle["estimator"]
    candidates = _candidates(bundle)
    contrib = np.zeros((len(X), len(candidates)))
    for j, name in enumerate(candidates):
        col = names.index(name)
        swapped = X.copy()
        swapped[:, col] = bundle["reference"][name]
        contrib[:, j] = prob - model.predict_proba(swapped)[:, 1]
    order = np.argsort(-contrib, axis=1)[:, :REASON_TOP]
    reason = np.full(len(X), "", dtype=object)
    for rank in range(order.shape[1]):
        pick = order[:, rank]
        value = contrib[np.arange(len(X)), pick]
        for j, name in enumerate(candidates):
            rows = (pick == j) & (value >= REASON_MIN)
            if not rows.any():
                continue
            text = f"{name}=" + _fmt(X[rows, names.index(name)]) + " (+" + _fmt(value[rows]) + ")"
            reason[rows] = np.where(reason[rows] == "", text, reason[rows] + "; " + text)
    return reason


def apply_model(graded: pd.DataFrame, bundle: dict, threads: int = DEFAULT_THREADS) -> pd.DataFrame:
    """``graded`` plus churn_prob, churn_rank (1 = most at risk) and model_reason."""
    out = graded.copy()
    X = matrix(out, bundle["features"])
    with limited_threads(threads):
        prob = bundle["estimator"].predict_proba(X)[:, 1] if len(X) else np.zeros(0)
        reason = np.full(len(X), "", dtype=object)
        top = np.argsort(-prob, kind="stable")[:REASON_ROWS]  # the warning list's end of the ranking
        if len(top):
            reason[top] = _reasons(bundle, X[top], prob[top])
    out["churn_prob"] = np.round(prob, 4)
    out["churn_rank"] = pd.Series(-prob).rank(method="first").astype(np.int64).to_numpy()
    out["model_reason"] = reason
    return out
