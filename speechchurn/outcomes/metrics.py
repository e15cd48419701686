"""Warning-list metrics: ROC/PR AUC, coverage (覆盖率) and hit rate (命中率), lift, calibration.

* coverage at k = leavers among the top k / all leavers (the share of leavers the list caught);
* hit rate at k = leavers among the top k / k (the share of the list that really left);
* lift at k = hit rate at k / the base churn rate.

Ranking is by score, highest first; ties are broken by a stable sort on the row order.
"""

from __future__ import annotations

import numpy as np

TOP_SHARES = (0.05, 0.10, 0.20)  # warning lists of the top 5 / 10 / 20 % of customers
CALIBRATION_BINS = 10  # equal-count bins of the predicted probability
CURVE_POINTS = 100  # points kept per ROC / lift curve for the report


def at_k(y: np.ndarray, score: np.ndarray, k: int) -> dict:
    """coverage, hit_rate, lift of the top ``k`` by score."""
    y = np.asarray(y)
    k = int(min(max(k, 0), len(y)))
    leavers = int(y.sum())
    caught = int(y[np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")[:k]].sum()) if k else 0
    base = leavers / len(y) if len(y) else 0.0
    hit = caught / k if k else 0.0
    return {
        "size": k,
        "coverage": caught / leavers if leavers else 0.0,
        "hit_rate": hit,
        "lift": hit / base if base else 0.0,
    }


def roc_points(y: np.ndarray, score: np.ndarray) -> dict:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, score)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), CURVE_POINTS)).round().astype(int))
    return {"fpr": fpr[keep].round(4).tolist(), "tpr": tpr[keep].round(4).tolist()}


def lift_points(y: np.ndarray, score: np.ndarray) -> dict:
    """Lift of the top x% for x = 1..100."""
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    hits = np.cumsum(np.asarray(y)[order])
    n, base = len(y), float(np.mean(y))
    shares = np.arange(1, CURVE_POINTS + 1) / CURVE_POINTS
    ks = np.maximum(1, np.round(shares * n).astype(int))
    lift = (hits[ks - 1] / ks) / base if base else np.zeros(len(ks))
    return {"share": shares.round(2).tolist(), "lift": np.round(lift, 3).tolist()}


def calibration(y: np.ndarray, prob: np.ndarray) -> dict:
    """Brier score and equal-count bins: mean predicted vs observed churn rate."""
    prob = np.asarray(prob, dtype=np.float64)
    order = np.argsort(prob, kind="stable")
    bins = [b for b in np.array_split(order, min(CALIBRATION_BINS, len(prob))) if len(b)]
    return {
        "brier": float(np.mean((prob - y) ** 2)),
        "predicted": [round(float(prob[b].mean()), 4) for b in bins],
        "observed": [round(float(np.mean(np.asarray(y)[b])), 4) for b in bins],
        "count": [int(len(b)) for b in bins],
    }


def evaluate(y: np.ndarray, score: np.ndarray, warning_size: int, prob: np.ndarray | None = None) -> dict:
    """All metrics of one ranking on one fold (``prob`` adds calibration)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y)
    both = 0 < y.sum() < len(y)
    out = {
        "n": int(len(y)),
        "leavers": int(y.sum()),
        "roc_auc": float(roc_auc_score(y, score)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, score)) if both else float("nan"),
        "at_warning_size": at_k(y, score, warning_size),
    }
    for share in TOP_SHARES:
        out[f"top_{round(share * 100)}pct"] = at_k(y, score, int(round(share * len(y))))
    if prob is not None:
        out["calibration"] = calibration(y, prob)
    out["roc_curve"] = roc_points(y, score) if both else None
    out["lift_curve"] = lift_points(y, score)
    return out


SCALARS = ("roc_auc", "pr_auc")
AT_KEYS = ("at_warning_size", "top_5pct", "top_10pct", "top_20pct")


def mean_over_folds(folds: list[dict]) -> dict:
    """Mean of the scalar metrics over folds (curves stay per fold)."""
    if not folds:
        return {}
    out: dict = {k: float(np.nanmean([f[k] for f in folds])) for k in SCALARS}
    for key in AT_KEYS:
        out[key] = {
            m: float(np.mean([f[key][m] for f in folds])) for m in ("size", "coverage", "hit_rate", "lift")
        }
    briers = [f["calibration"]["brier"] for f in folds if "calibration" in f]
    if briers:
        out["brier"] = float(np.mean(briers))
    return out
