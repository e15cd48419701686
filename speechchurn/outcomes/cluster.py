"""Cluster tiers: k-means on standardised behaviour features, clusters named by their centroid.

k-means is fitted on a fixed-seed sample of at most ``FIT_ROWS`` customers (then every customer is
assigned to its nearest centroid); k is chosen by the silhouette score (on at most
``SILHOUETTE_ROWS`` of the sample) for k in ``K_RANGE``. Centroids (in standard units) are named in
this order: the least active cluster is ``silent-like``, the most active of the rest ``VIP-like``, the
one with the highest risk signal of the rest ``at-risk`` (only when that signal is above average),
every other cluster ``ordinary``.
Activity = mean z of calls_30d, minutes_30d and minus days_since_last; risk = mean z of complaint,
churn-intent, competitor and behaviour-break figures. Agreement with the rule tiers is reported as a
cross-table and the adjusted Rand index, plus the share of customers whose cluster name matches their
rule tier (VIP-like/VIP, silent-like/silent, ordinary or at-risk/ordinary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from speechchurn.vocab import (
    CLUSTER_AT_RISK,
    CLUSTER_ORDINARY,
    CLUSTER_SILENT,
    CLUSTER_VIP,
    TIER_ORDINARY,
    TIER_SILENT,
    TIER_VIP,
)
from speechchurn.outcomes.train import limited_threads

K_RANGE = (3, 4, 5, 6)
SILHOUETTE_ROWS = 5_000
FIT_ROWS = 20_000  # customers sampled (fixed seed) to fit k-means; every customer is then assigned
ACTIVITY = {"calls_30d": 1.0, "minutes_30d": 1.0, "days_since_last": -1.0}
RISK = (
    "complaint_calls",
    "churn_intent_calls",
    "competitor_mentions",
    "behaviour_break",
    "break_complaint_share",
)
BEHAVIOUR = (
    "calls",
    "calls_30d",
    "total_minutes",
    "minutes_30d",
    "days_since_last",
    "complaint_calls",
    "churn_intent_calls",
    "competitor_mentions",
    "break_calls",
    "behaviour_break",
)
NO_CALL_DAYS = 365.0  # days_since_last of a customer who never called, for clustering only
MATCHES = {  # cluster name -> the rule tier it corresponds to
    CLUSTER_VIP: TIER_VIP,
    CLUSTER_SILENT: TIER_SILENT,
    CLUSTER_ORDINARY: TIER_ORDINARY,
    CLUSTER_AT_RISK: TIER_ORDINARY,
}


@dataclass(frozen=True)
class ClusterResult:
    labels: np.ndarray  # cluster index per customer
    names: np.ndarray  # cluster name per customer
    report: dict  # k, silhouette per k, centroids, agreement with rule tiers


def _matrix(callers: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    cols = [c for c in BEHAVIOUR if c in callers.columns]
    frame = callers[cols].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    if "days_since_last" in frame:
        frame["days_since_last"] = frame["days_since_last"].fillna(NO_CALL_DAYS)
    X = frame.fillna(0.0).to_numpy()
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0), cols


def _choose_k(X: np.ndarray, seed: int) -> tuple[int, dict, object]:
    """k-means for each k on a fixed-seed sample of at most FIT_ROWS customers; best silhouette wins."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sample = X[rng.choice(len(X), size=min(len(X), FIT_ROWS), replace=False)]
    scores, fitted = {}, {}
    for k in K_RANGE:
        if k >= len(sample):
            break
        model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(sample)
        if len(set(model.labels_)) < 2:
            continue
        rows = min(len(sample), SILHOUETTE_ROWS)
        scores[k] = float(silhouette_score(sample, model.labels_, sample_size=rows, random_state=seed))
        fitted[k] = model
    if not scores:
        raise ValueError(f"cannot cluster {len(X)} customers (need at least {K_RANGE[0] + 1} distinct ones)")
    best = max(scores, key=scores.get)
    return best, scores, fitted[best]


def name_clusters(centroids: np.ndarray, cols: list[str]) -> list[str]:
    """Names by centroid (standard units): silent-like, VIP-like, at-risk, ordinary (see module doc)."""
    idx = {c: i for i, c in enumerate(cols)}
    activity = sum(w * centroids[:, idx[c]] for c, w in ACTIVITY.items() if c in idx)
    risk_cols = [idx[c] for c in RISK if c in idx]
    risk = centroids[:, risk_cols].mean(axis=1) if risk_cols else np.zeros(len(centroids))
    names = [CLUSTER_ORDINARY] * len(centroids)
    left = list(range(len(centroids)))
    silent = min(left, key=lambda i: activity[i])
    names[silent] = CLUSTER_SILENT
    left.remove(silent)
    vip = max(left, key=lambda i: activity[i])
    names[vip] = CLUSTER_VIP
    left.remove(vip)
    if left:
        risky = max(left, key=lambda i: risk[i])
        if risk[risky] > 0:
            names[risky] = CLUSTER_AT_RISK
    return names


def cluster_tiers(callers: pd.DataFrame, seed: int = 0) -> ClusterResult:
    """Cluster the graded customers; the report compares with their rule ``tier`` column when present."""
    from sklearn.metrics import adjusted_rand_score


    X, cols = _matrix(callers)
    with limited_threads():
        k, scores, model = _choose_k(X, seed)
        labels = model.predict(X)
    names = np.array(name_clusters(model.cluster_centers_, cols), dtype=object)
    per_customer = names[labels]
    report: dict = {
        "k": k,
        "silhouette": {str(key): round(v, 4) for key, v in scores.items()},
        "features": cols,
        "centroids": {
            f"{i}:{names[i]}": {c: round(float(v), 3) for c, v in zip(cols, center, strict=True)}
            for i, center in enumerate(model.cluster_centers_)
        },
        "sizes": {f"{i}:{names[i]}": int((labels == i).sum()) for i in range(k)},
    }
    if "tier" in callers.columns:
        rule = callers["tier"].astype(str).to_numpy()
        table = pd.crosstab(pd.Series(per_customer, name="cluster"), pd.Series(rule, name="rule"))
        report["agreement"] = {
            "adjusted_rand": round(float(adjusted_rand_score(rule, labels)), 4),
            "matching_share": round(
                float(np.mean(pd.Series(per_customer).map(MATCHES).to_numpy() == rule)), 4
            ),
            "crosstab": {str(r): {str(c): int(v) for c, v in row.items()} for r, row in table.iterrows()},
        }
    return ClusterResult(labels.astype(np.int64), per_customer, report)


def apply_cluster_tiers(graded: pd.DataFrame, result: ClusterResult) -> pd.DataFrame:
    """tier := cluster name; the rule tier moves to rule_tier; cluster index in cluster."""
    out = graded.copy()
    out["rule_tier"] = out.get("tier", "")
    out["cluster"] = result.labels
    out["cluster_tier"] = result.names
    out["tier"] = result.names
    out["tier_reason"] = "cluster " + out["cluster"].astype(str) + " (" + out["cluster_tier"] + ")"
    return out
