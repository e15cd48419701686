"""Supervisor review queue: the customers to call back first, each with quoted evidence.

Selection: complaint-heavy customers, high churn risk, and medium churn risk with churn intent
(``churn_intent_calls >= 1``). Severity order: churn_risk (high, medium, low), then risk_points,
complaint_calls and score, all descending; caller ascending breaks remaining ties so the queue is
deterministic.

Evidence per customer: customer-side (or mono ``mixed``), non-negated keyword hits. Hits of the
PRIORITY_CATEGORIES (complaint, churn_intent, competitor) come first, then other categories; within a
group, higher confidence first, then file and start time. One quote per (file, term): the same word
repeated in one call is quoted once.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from speechchurn.vocab import CUSTOMER_SIDE_ROLES, PRIORITY_CATEGORIES, RISK_HIGH, RISK_MEDIUM, risk_rank

log = logging.getLogger("speechchurn")

QUOTE_SECONDS_DECIMALS = 1  # decimals of the hit start time in quotes
QUEUE_COLUMNS = (
    "rank",
    "caller",
    "tier",
    "score",
    "churn_risk",
    "risk_points",
    "warning_level",
    "quadrant",
    "complaint_heavy",
    "complaint_calls",
    "churn_intent_calls",
    "competitor_mentions",
    "days_since_last",
    "risk_reason",
    "tier_reason",
    "evidence",
    "evidence_files",
    "evidence_times",
    "evidence_terms",
    "evidence_hits",
)
EVIDENCE_COLUMNS = ("evidence", "evidence_files", "evidence_times", "evidence_terms", "evidence_hits")
TABLE_COLUMNS = ("rank", "caller", "tier", "churn_risk", "risk_points", "warning_level", "score", "evidence")

DEFAULT_REVIEW_TOP = 20  # customers in the review queue


def select_for_review(graded: pd.DataFrame) -> pd.DataFrame:
    """Queue members in severity order (see module docstring)."""
    intent = pd.to_numeric(graded.get("churn_intent_calls", 0), errors="coerce")
    risk = graded["churn_risk"].astype(str)
    heavy = graded["complaint_heavy"].fillna(False).astype(bool)
    chosen = graded.loc[heavy | (risk == RISK_HIGH) | ((risk == RISK_MEDIUM) & (intent >= 1))].copy()
    chosen["_risk_order"] = chosen["churn_risk"].map(risk_rank)
    chosen["_complaints"] = pd.to_numeric(chosen.get("complaint_calls", 0), errors="coerce").fillna(0)
    chosen["_caller"] = chosen["caller"].astype(str)
    chosen = chosen.sort_values(
        ["_risk_order", "risk_points", "_complaints", "score", "_caller"],
        ascending=[True, False, False, False, True],
        kind="stable",
    )
    return chosen.drop(columns=["_risk_order", "_complaints", "_caller"])


def pick_evidence(evidence: pd.DataFrame, callers: pd.Series, per_customer: int) -> pd.DataFrame:
    """The best ``per_customer`` customer-side, non-negated hits for each of ``callers``."""
    needed = ("file", "caller", "role", "category", "term", "start", "negated", "snippet")
    if evidence is None or evidence.empty or any(c not in evidence.columns for c in needed):
        if evidence is not None and not evidence.empty:
            log.warning("review: evidence table lacks columns %s", [c for c in needed if c not in evidence])
        return pd.DataFrame(columns=[*needed, "confidence"])
    hits = evidence.assign(caller=evidence["caller"].astype(str))
    negated = hits["negated"].astype(str).str.lower().isin(("true", "1"))
    keep = hits["caller"].isin(set(callers.astype(str))) & hits["role"].isin(CUSTOMER_SIDE_ROLES) & ~negated
    hits = hits.loc[keep].copy()
    hits["_priority"] = np.where(hits["category"].isin(PRIORITY_CATEGORIES), 0, 1)
    conf = hits["confidence"] if "confidence" in hits else pd.Series(1.0, index=hits.index)
    hits["_confidence"] = pd.to_numeric(conf, errors="coerce").fillna(0.0)
    hits["start"] = pd.to_numeric(hits["start"], errors="coerce").fillna(0.0)
    hits = hits.sort_values(
        ["caller", "_priority", "_confidence", "file", "start"],
        ascending=[True, True, False, True, True],
        kind="stable",
    )
    hits = hits.drop_duplicates(["caller", "file", "term"], keep="first")
    return hits.groupby("caller", sort=False).head(per_customer)


def _quote_columns(hits: pd.DataFrame) -> pd.DataFrame:
    """Per-caller evidence strings: quotes joined by newlines plus ';'-joined structured columns."""
    if hits.empty:
        return pd.DataFrame(columns=list(EVIDENCE_COLUMNS[:-1]))
    times = hits["start"].round(QUOTE_SECONDS_DECIMALS).map(lambda t: f"{t:.{QUOTE_SECONDS_DECIMALS}f}")
    quotes = (
        "「"
        + hits["snippet"].astype(str)
        + "」 ("
        + hits["file"].astype(str)
        + " @ "
        + times
        + "s, "
        + hits["term"].astype(str)
        + ")"
    )
    table = pd.DataFrame(
        {
            "caller": hits["caller"],
            "q": quotes,
            "f": hits["file"].astype(str),
            "t": times,
            "k": hits["term"].astype(str),
        }
    )
    grouped = table.groupby("caller", sort=False)
    return pd.DataFrame(
        {
            "evidence": grouped["q"].agg("\n".join),
            "evidence_files": grouped["f"].agg(";".join),
            "evidence_times": grouped["t"].agg(";".join),
            "evidence_terms": grouped["k"].agg(";".join),
        }
    )


def build_review_queue(
    graded: pd.DataFrame,
    evidence: pd.DataFrame | None,
    top: int | None = DEFAULT_REVIEW_TOP,
    quotes_per_customer: int = 3,
) -> pd.DataFrame:
    """The review queue: selected customers in severity order (``top`` rows, all when None).

    Columns: QUEUE_COLUMNS, those present in ``graded`` (roster pass-through columns are left out).
    ``evidence`` holds up to ``quotes_per_customer`` quotes like
    ``「我要投诉你们」 (20261119_....wav @ 12.3s, 投诉)`` joined by newlines; ``evidence_files``,
    ``evidence_times`` (seconds) and ``evidence_terms`` are the same quotes' parts joined by ``;``;
    ``evidence_hits`` counts every qualifying hit of that customer before the quote limit.
    """
    queue = select_for_review(graded)
    if top is not None:
        queue = queue.head(max(int(top), 0))
    queue = queue.reset_index(drop=True)
    queue.insert(0, "rank", np.arange(1, len(queue) + 1))
    queue["caller"] = queue["caller"].astype(str)
    all_hits = pick_evidence(evidence, queue["caller"], per_customer=np.iinfo(np.int32).max)
    counts = all_hits.groupby("caller").size() if not all_hits.empty else pd.Series(dtype=np.int64)
    quotes = _quote_columns(all_hits.groupby("caller", sort=False).head(quotes_per_customer))
    for col in EVIDENCE_COLUMNS[:-1]:
        mapped = queue["caller"].map(quotes[col]) if not quotes.empty else pd.Series(index=queue.index)
        queue[col] = mapped.astype(object).where(mapped.notna(), "")
    queue["evidence_hits"] = queue["caller"].map(counts).fillna(0).astype(np.int64)
    return queue[[c for c in QUEUE_COLUMNS if c in queue.columns]]


def review_table_rows(queue: pd.DataFrame, max_quote_chars: int = 80) -> tuple[list[str], list[list[str]]]:
    """Headers and string rows for a rich table (the CLI renders them; nothing is printed here)."""
    headers = [c for c in TABLE_COLUMNS if c in queue.columns]
    rows = []
    for record in queue[headers].itertuples(index=False):
        row = []
        for name, value in zip(headers, record, strict=True):
            if name == "score":
                text = f"{value:.1f}"
            elif name == "evidence":
                text = "\n".join(line[:max_quote_chars] for line in str(value).splitlines())
            else:
                text = str(value)
            row.append(text)
        rows.append(row)
    return headers, rows
