"""Hand-made QA results (qa_calls.csv, qa_agents.csv and QA evidence lines) for an analysed OUT_DIR, so
the report, workbook and desk tests can check their QA views against known values."""

from __future__ import annotations

import json
from pathlib import Path

from speechchurn import outputs

CRITERIA = ("greeting", "forbidden", "apology", "closing")  # ids of the hand-made results
PASS_MARK = 60.0  # qa_score below which a call failed QA (the shipped form's fail_below)
LABELS = {"greeting": "开场白", "forbidden": "服务禁语", "apology": "致歉安抚", "closing": "结束语"}
WORST_QUOTE = "这是规定，你自己去查"  # the deciding quote of the worst call's failed criterion


def iso_week(started_at: str) -> str:
    from datetime import datetime

    year, week, _ = datetime.fromisoformat(started_at).isocalendar()
    return f"{year}-W{week:02d}"


def qa_rows(calls, agent_of=None) -> list[dict]:
    """One qa_calls.csv row per call: the i-th call fails `forbidden` when i % 3 == 0 (an auto-fail,
    score 0), misses `closing` when i % 2 == 1, `apology` applies only to complaint calls."""
    rows = []
    for i, rec in enumerate(calls):
        complaint = float(rec.get("kw_complaint") or 0) >= 1
        results = {"greeting": 1, "forbidden": 0 if i % 3 == 0 else 1, "closing": 0 if i % 2 else 1}
        results["apology"] = (1 if i % 2 == 0 else 0) if complaint else None
        applicable = [k for k, v in results.items() if v is not None]
        score = (
            0.0
            if results["forbidden"] == 0
            else 100.0 * sum(results[k] for k in applicable) / len(applicable)
        )
        row = {"file": rec["file"], "agent": agent_of(rec) if agent_of else rec.get("agent") or "unknown"}
        row.update(qa_score=score, qa_auto_failed=results["forbidden"] == 0, qa_failed=score < PASS_MARK)
        row["started_at"] = rec.get("started_at")
        for k in CRITERIA:
            row[f"qa_{k}"] = results[k]
            row[f"qa_{k}_at"] = None if results[k] is None else 1.5 + 2 * CRITERIA.index(k)
        row["qa_reviewed_by"] = ""
        rows.append(row)
    return rows


def qa_evidence(rows: list[dict], quote: str = WORST_QUOTE) -> list[dict]:
    return [
        {
            "file": row["file"], "agent": row["agent"], "kind": "qa", "category": "qa", "criterion": k,
            "label": LABELS[k], "result": row[f"qa_{k}"], "at": row[f"qa_{k}_at"], "heard": "",
            "role": "agent", "start": row[f"qa_{k}_at"], "end": row[f"qa_{k}_at"] + 1.0,
            "quote": quote if k == "forbidden" else f"{k} 的原话",
        }
        for row in rows
        for k in CRITERIA
        if row[f"qa_{k}"] is not None
    ]  # fmt: skip


def drop_qa_results(out_dir: Path) -> Path:
    """OUT_DIR as a run from before QA left it: no qa_*.csv, no QA rows in evidence.jsonl."""
    for name in ("qa_calls.csv", "qa_agents.csv", "qa_weekly.csv"):
        (out_dir / name).unlink(missing_ok=True)
    path = out_dir / outputs.EVIDENCE_JSONL
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if json.loads(line).get("kind") != "qa"), encoding="utf-8")
    return out_dir


def write_qa_results(out_dir: Path, agent_of=None, quote: str = WORST_QUOTE) -> list[dict]:
    """Hand-made qa_calls.csv, qa_agents.csv and QA evidence rows in place of a run's; the qa_calls rows."""
    import pandas as pd

    drop_qa_results(out_dir)
    calls = outputs.read_csv(out_dir / outputs.CALLS_CSV).to_dict("records")
    rows = qa_rows(sorted(calls, key=lambda r: r["file"]), agent_of)
    frame = pd.DataFrame(rows)
    outputs.write_csv(frame, out_dir / "qa_calls.csv")
    agents = frame.groupby("agent").agg(
        calls=("file", "size"), qa_mean=("qa_score", "mean"), qa_min=("qa_score", "min")
    )
    frame["week"] = [iso_week(s) for s in frame["started_at"]]
    weekly = frame.pivot_table(index="agent", columns="week", values="qa_score", aggfunc="mean")
    agents = agents.join(weekly.rename(columns=lambda w: f"week_{w}"))
    outputs.write_csv(agents.reset_index(), out_dir / "qa_agents.csv")
    with (out_dir / outputs.EVIDENCE_JSONL).open("a", encoding="utf-8") as handle:
        for record in qa_evidence(rows, quote):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return rows
