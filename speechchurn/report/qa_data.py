"""QA (质检) results as the report, the workbook and the desk read them: qa_calls.csv, qa_agents.csv and
the QA entries of evidence.jsonl.

qa_calls.csv is the one source of the section's figures (the leaderboard, pass rates and weekly means
are aggregated from it, so they agree with every call row, appeals included); qa_agents.csv goes to
the workbook as written. Criterion ids are the ``qa_<id>`` columns that have a ``qa_<id>_at`` partner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from speechchurn.qa.form import DEFAULT_FAIL_BELOW
from speechchurn.report.data import QA_CALLS_CSV, QA_EVIDENCE_KIND, ReportData, col, text

log = logging.getLogger("speechchurn")

QA_PREFIX = "qa_"
AT_SUFFIX = "_at"
REQUIRED_COLUMNS = ("file", "agent", "qa_score", "qa_auto_failed")
UNKNOWN_AGENT = "unknown"  # agent of calls without one (the contract)
LOW_SCORE = DEFAULT_FAIL_BELOW  # qa_score points: a mean below the shipped form's pass mark is drawn in red
TRUE_TEXTS = ("1", "true", "True", "TRUE", "1.0")


@dataclass(frozen=True, eq=False)
class QATables:
    calls: pd.DataFrame  # qa_calls.csv
    agents: pd.DataFrame  # one row per agent, aggregated from qa_calls.csv
    criteria: list[str]  # criterion ids in column order


def result_column(criterion: str) -> str:
    return f"{QA_PREFIX}{criterion}"


def at_column(criterion: str) -> str:
    return f"{QA_PREFIX}{criterion}{AT_SUFFIX}"


def criterion_ids(columns) -> list[str]:
    """Ids of the criteria in qa_calls.csv: ``qa_<id>`` columns with a ``qa_<id>_at`` partner."""
    names = [str(c) for c in columns]
    present = set(names)
    return [
        c[len(QA_PREFIX) :]
        for c in names
        if c.startswith(QA_PREFIX) and not c.endswith(AT_SUFFIX) and f"{c}{AT_SUFFIX}" in present
    ]


def truthy(value) -> bool:
    if isinstance(value, bool):
        return value
    return text(value).strip() in TRUE_TEXTS


def check_columns(calls: pd.DataFrame, out_dir: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in calls.columns]
    if missing:
        from speechchurn.errors import ReportError

        raise ReportError(f"{Path(out_dir) / QA_CALLS_CSV}: missing column(s) {', '.join(missing)}")


def agent_summary(calls: pd.DataFrame) -> pd.DataFrame:
    """Per agent: calls, qa_mean, qa_min, auto_failed (count of auto-failed calls)."""
    frame = pd.DataFrame(
        {
            "agent": calls["agent"].map(text).replace("", UNKNOWN_AGENT),
            "score": pd.to_numeric(calls["qa_score"], errors="coerce"),
            "failed": calls["qa_auto_failed"].map(truthy),
        }
    )
    grouped = frame.groupby("agent", sort=True)
    return pd.DataFrame(
        {
            "calls": grouped.size(),
            "qa_mean": grouped["score"].mean(),
            "qa_min": grouped["score"].min(),
            "auto_failed": grouped["failed"].sum().astype(int),
        }
    ).reset_index()


def load_qa_tables(data: ReportData) -> QATables | None:
    """The QA tables of a report's data, or None when the run has no (or an empty) qa_calls.csv."""
    calls = data.qa_calls
    if calls is None or not len(calls):
        return None
    check_columns(calls, data.out_dir)
    calls = calls.assign(agent=calls["agent"].map(text).replace("", UNKNOWN_AGENT))
    return QATables(calls, agent_summary(calls), criterion_ids(calls.columns))


def qa_evidence(evidence: list[dict]) -> dict[tuple[str, str], dict]:
    """(file, criterion id) -> the QA evidence row (``kind`` "qa") of that criterion in that call."""
    return {
        (text(e.get("file")), text(e.get("criterion"))): e
        for e in evidence
        if e.get("kind") == QA_EVIDENCE_KIND
    }


def quote_of(hit: dict | None) -> str:
    if not hit:
        return ""
    from speechchurn.labels import qa_quote_text

    return qa_quote_text(text(hit.get("quote")) or text(hit.get("snippet")))


def weekly_means(qa_calls: pd.DataFrame, calls: pd.DataFrame) -> pd.DataFrame:
    """agent, week (ISO ``YYYY-Www`` of the call's own local time, as qa_agents.csv), mean, calls."""
    from speechchurn.qa.run import iso_week

    started = col(qa_calls, "started_at", "").map(text)
    if not started.str.len().any() and {"file", "started_at"} <= set(calls.columns):
        known = dict(zip(calls["file"].astype(str), calls["started_at"].map(text), strict=True))
        started = qa_calls["file"].astype(str).map(known).fillna("")
    weeks = [(iso_week(s) or (None,))[0] for s in started]
    frame = pd.DataFrame(
        {
            "agent": qa_calls["agent"].astype(str),
            "week": weeks,
            "score": pd.to_numeric(qa_calls["qa_score"], errors="coerce"),
        }
    ).dropna()
    grouped = frame.groupby(["agent", "week"], sort=True)["score"]
    return pd.DataFrame({"mean": grouped.mean(), "calls": grouped.size()}).reset_index()


def criterion_labels(ids: list[str], evidence: list[dict]) -> dict[str, str]:
    """id -> Chinese label: the one recorded with the run's QA evidence, else the default form's, else
    the id itself."""
    labels = {cid: text(e.get("label")) for (_, cid), e in qa_evidence(evidence).items()}
    if any(not labels.get(cid) for cid in ids):
        labels.update({cid: label for cid, label in _default_form_labels().items() if not labels.get(cid)})
    return {cid: labels.get(cid) or cid for cid in ids}


def _default_form_labels() -> dict[str, str]:
    from speechchurn.errors import FormError
    from speechchurn.qa.form import load_form

    try:
        return {c.id: c.label for c in load_form().criteria}
    except FormError as e:  # the shipped form is validated by its own tests; never fail the report
        log.warning("report: default QA form unreadable: %s", e)
        return {}
