"""QA (质检) results as the report, the workbook and the desk read them: qa_calls.csv, qa_agents.csv and
the QA entries of evidence.jsonl.

qa_calls.csv is the source of the section's leaderboard and pass rates (aggregated from it, so they
agree with every call row, appeals included); the weekly means are qa_agents.csv's ``week_<YYYY-Www>``
columns, and both files go to the workbook as written. Criterion ids are the ``qa_<id>`` columns that
have a ``qa_<id>_at`` partner. The report sits below ``speechchurn.qa`` (it never imports it): the
file contract is all it shares with the scoring.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from speechchurn.outputs import QA_CALLS_CSV, QA_EVIDENCE_KIND
from speechchurn.report.data import ReportData, text
from speechchurn.vocab import QA_AUTO_FAILED_COLUMN, QA_FAILED_COLUMN, QA_SCORE_COLUMN, QA_UNKNOWN_AGENT

log = logging.getLogger("speechchurn")

QA_PREFIX = "qa_"
AT_SUFFIX = "_at"
REQUIRED_COLUMNS = ("file", "agent", QA_SCORE_COLUMN, QA_AUTO_FAILED_COLUMN)
UNKNOWN_AGENT = QA_UNKNOWN_AGENT
WEEK_PREFIX = "week_"  # qa_agents.csv columns week_<YYYY-Www>: the agent's mean score that ISO week
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
    """Per agent: calls, qa_mean, qa_min, auto_failed (count of auto-failed calls) and failed (calls that
    failed QA: auto-failed or below the form's pass mark; qa_calls.csv's ``qa_failed``, NaN without)."""
    frame = pd.DataFrame(
        {
            "agent": calls["agent"].map(text).replace("", UNKNOWN_AGENT),
            "score": pd.to_numeric(calls[QA_SCORE_COLUMN], errors="coerce"),
            "auto": calls[QA_AUTO_FAILED_COLUMN].map(truthy),
            "failed": calls[QA_FAILED_COLUMN].map(truthy) if QA_FAILED_COLUMN in calls else float("nan"),
        }
    )
    grouped = frame.groupby("agent", sort=True)
    return pd.DataFrame(
        {
            "calls": grouped.size(),
            "qa_mean": grouped["score"].mean(),
            "qa_min": grouped["score"].min(),
            "auto_failed": grouped["auto"].sum().astype(int),
            "failed": grouped["failed"].sum(min_count=1),
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


def weekly_means(agents: pd.DataFrame | None) -> pd.DataFrame:
    """agent, week (ISO ``YYYY-Www``, the call's own local time), mean: qa_agents.csv's week columns
    in long form (empty without qa_agents.csv)."""
    weeks = [c for c in (agents.columns if agents is not None else []) if str(c).startswith(WEEK_PREFIX)]
    if not weeks or "agent" not in agents.columns:
        return pd.DataFrame(columns=["agent", "week", "mean"])
    long = agents.melt(id_vars=["agent"], value_vars=weeks, var_name="week", value_name="mean")
    long["week"] = long["week"].str[len(WEEK_PREFIX) :]
    long["mean"] = pd.to_numeric(long["mean"], errors="coerce")
    long["agent"] = long["agent"].map(text).replace("", UNKNOWN_AGENT)
    return long.dropna(subset=["mean"]).sort_values(["agent", "week"]).reset_index(drop=True)


def criterion_labels(ids: list[str], evidence: list[dict]) -> dict[str, str]:
    """id -> Chinese label: the one recorded with the run's QA evidence, else the default form's, else
    the id itself."""
    labels = {cid: text(e.get("label")) for (_, cid), e in qa_evidence(evidence).items()}
    if any(not labels.get(cid) for cid in ids):
        labels.update({cid: label for cid, label in _default_form_labels().items() if not labels.get(cid)})
    return {cid: labels.get(cid) or cid for cid in ids}


def _default_form_labels() -> dict[str, str]:
    """id -> label of the shipped form (read as data: its validation is speechchurn.qa's job)."""
    import tomllib

    from speechchurn.resources import default_qa_form_path

    try:
        form = tomllib.loads(default_qa_form_path().read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as e:  # never fail the report over a label
        log.warning("report: shipped QA form unreadable: %s", e)
        return {}
    criteria = form.get("criteria", [])
    return {str(c.get("id")): str(c.get("label") or "") for c in criteria if isinstance(c, dict)}
