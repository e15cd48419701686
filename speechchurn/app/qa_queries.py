"""Page data for the desk's QA views: the agents' leaderboard, an agent's calls and weekly history, and
one call's scorecard with each criterion's evidence (queries over the ``desk_qa_*`` tables)."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass

from speechchurn.labels import qa_quote_text

QA_PREFIX = "qa_"
AT_SUFFIX = "_at"
PERCENT = 100.0
AGENT_CALLS_SHOWN = 200  # newest calls listed on an agent's page (figures cover every call)


@dataclass(frozen=True)
class CriterionInfo:
    """What the form says about a criterion (label, weight, 致命项)."""

    id: str
    label: str
    weight: float = 1.0
    auto_fail: bool = False


def criteria_of(form) -> dict[str, CriterionInfo]:
    """id -> CriterionInfo of a speechchurn.qa.form.QAForm (empty for None)."""
    if form is None:
        return {}
    return {c.id: CriterionInfo(c.id, c.label, c.weight, c.auto_fail) for c in form.criteria}


def criterion_ids(row: dict) -> list[str]:
    """Criterion ids of a qa_calls.csv row: ``qa_<id>`` keys with a ``qa_<id>_at`` partner, in order."""
    return [
        key[len(QA_PREFIX) :]
        for key in row
        if key.startswith(QA_PREFIX) and not key.endswith(AT_SUFFIX) and f"{key}{AT_SUFFIX}" in row
    ]


def has_qa(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM desk_qa_calls LIMIT 1").fetchone() is not None


def agents(db: sqlite3.Connection) -> list[dict]:
    """Every agent with scored calls: calls, mean, min and auto-failed calls; best mean first."""
    rows = db.execute(
        "SELECT a.id, a.agent, COUNT(*), AVG(q.qa_score), MIN(q.qa_score), SUM(q.auto_failed), "
        "SUM(q.reviewed_by != '') FROM desk_agents a JOIN desk_qa_calls q ON q.agent_id = a.id "
        "GROUP BY a.id ORDER BY AVG(q.qa_score) IS NULL, AVG(q.qa_score) DESC, a.agent"
    ).fetchall()
    keys = ("id", "agent", "calls", "mean", "min", "auto_failed", "reviewed")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def agent_of_files(db: sqlite3.Connection, files: list[str]) -> dict[str, dict]:
    """file -> {agent_id, agent, qa_score, auto_failed} for the scored ones among `files`."""
    if not files:
        return {}
    marks = ",".join("?" * len(files))
    rows = db.execute(
        f"SELECT q.file, a.id, a.agent, q.qa_score, q.auto_failed FROM desk_qa_calls q "
        f"JOIN desk_agents a ON a.id = q.agent_id WHERE q.file IN ({marks})",
        files,
    ).fetchall()
    keys = ("agent_id", "agent", "qa_score", "auto_failed")
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def agent(db: sqlite3.Connection, agent_id: int, form_criteria: dict[str, CriterionInfo]) -> dict | None:
    """One agent's page: summary, calls (newest first), weekly means and pass rate per criterion."""
    found = db.execute("SELECT agent FROM desk_agents WHERE id = ?", (agent_id,)).fetchone()
    if found is None:
        return None
    rows = db.execute(
        "SELECT q.file, q.started_at, q.qa_score, q.auto_failed, q.reviewed_by, q.row, c.id, c.caller "
        "FROM desk_qa_calls q LEFT JOIN desk_calls c ON c.file = q.file WHERE q.agent_id = ? "
        "ORDER BY q.started_at DESC, q.file",
        (agent_id,),
    ).fetchall()
    ids = criterion_ids(json.loads(rows[0][5])) if rows else []
    labels = _labels(db, ids, form_criteria)
    calls = [_agent_call(r, labels, ids) for r in rows]
    scores = [c["qa_score"] for c in calls if c["qa_score"] is not None]
    return {
        "id": agent_id,
        "agent": found[0],
        "calls": calls[:AGENT_CALLS_SHOWN],
        "calls_total": len(calls),
        "mean": sum(scores) / len(scores) if scores else None,
        "min": min(scores) if scores else None,
        "auto_failed": sum(c["auto_failed"] for c in calls),
        "weeks": weekly(calls),
        "criteria": pass_rates([c["results"] for c in calls], labels),
    }


def _agent_call(row: tuple, labels: dict[str, str], ids: list[str]) -> dict:
    file, started, score, auto_failed, reviewed_by, data, call_id, caller = row
    record = json.loads(data)
    results = {cid: record.get(f"{QA_PREFIX}{cid}") for cid in ids}
    return {
        "file": file,
        "started_at": started or "",
        "qa_score": score,
        "auto_failed": bool(auto_failed),
        "reviewed_by": reviewed_by,
        "call_id": call_id,
        "caller": caller or record.get("caller") or "",
        "results": results,
        "failed": [labels.get(cid, cid) for cid, value in results.items() if value == 0],
    }


def weekly(calls: list[dict]) -> list[dict]:
    """Mean score per ISO week (the call's own local time), oldest first."""
    from speechchurn.qa.run import iso_week

    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for call in calls:
        week = iso_week(call["started_at"])
        if week is not None and call["qa_score"] is not None:
            groups[week].append(call["qa_score"])
    return [
        {"week": week, "start": start, "calls": len(scores), "mean": sum(scores) / len(scores)}
        for (week, start), scores in sorted(groups.items())
    ]


def pass_rates(results: list[dict], labels: dict[str, str]) -> list[dict]:
    """Per criterion: calls where it applied, passed, and the pass rate in percent."""
    ids = list(dict.fromkeys(cid for r in results for cid in r))
    out = []
    for cid in ids:
        decided = [r[cid] for r in results if r.get(cid) is not None]
        rate = PERCENT * sum(decided) / len(decided) if decided else None
        out.append({"id": cid, "label": labels.get(cid, cid), "applied": len(decided), "rate": rate})
    return out


def _labels(db: sqlite3.Connection, ids: list[str], form_criteria: dict[str, CriterionInfo]) -> dict:
    """Criterion id -> label: the form's, else the label recorded in the QA evidence, else the id."""
    labels = {cid: info.label for cid, info in form_criteria.items()}
    for cid in (c for c in ids if c not in labels):
        query = "SELECT evidence FROM desk_qa_evidence WHERE criterion = ? LIMIT 1"
        found = db.execute(query, (cid,)).fetchone()
        labels[cid] = str(json.loads(found[0]).get("label") or cid) if found else cid
    return labels


def scorecard(db: sqlite3.Connection, file: str, form_criteria: dict[str, CriterionInfo]) -> dict | None:
    """A call's QA result: score, auto-fail, reviewers and each criterion with its evidence."""
    found = db.execute(
        "SELECT q.qa_score, q.auto_failed, q.reviewed_by, q.row, a.id, a.agent FROM desk_qa_calls q "
        "JOIN desk_agents a ON a.id = q.agent_id WHERE q.file = ?",
        (file,),
    ).fetchone()
    if found is None:
        return None
    score, auto_failed, reviewed_by, data, agent_id, agent_name = found
    record = json.loads(data)
    evidence = {
        c: json.loads(t)
        for c, t in db.execute("SELECT criterion, evidence FROM desk_qa_evidence WHERE file = ?", (file,))
    }
    info = form_criteria.get
    items = [_criterion(cid, record, evidence.get(cid, {}), info(cid)) for cid in criterion_ids(record)]
    return {
        "qa_score": score,
        "auto_failed": bool(auto_failed),
        "reviewed_by": reviewed_by,
        "agent_id": agent_id,
        "agent": agent_name,
        "criteria": items,
    }


def _criterion(cid: str, record: dict, hit: dict, info: CriterionInfo | None) -> dict:
    at = record.get(f"{QA_PREFIX}{cid}{AT_SUFFIX}")
    if at is None:
        at = hit.get("at") if hit.get("at") is not None else hit.get("start")
    return {
        "id": cid,
        "label": info.label if info else str(hit.get("label") or cid),
        "weight": info.weight if info else None,
        "auto_fail": bool(info and info.auto_fail),
        "result": record.get(f"{QA_PREFIX}{cid}"),
        "at": at,
        "quote": qa_quote_text(hit.get("quote") or hit.get("snippet") or ""),
        "heard": str(hit.get("heard") or ""),
        "term": str(hit.get("term") or ""),
        "role": str(hit.get("role") or ""),
        "reviewed_by": str(hit.get("reviewed_by") or ""),
        "reason": str(hit.get("reason") or ""),
    }
