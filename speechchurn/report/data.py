"""What the report shows, read from an analyze output folder: tables, figures and small helpers.

Missing or empty input files count as empty tables; unreadable ones raise ``ReportError``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import ReportError
from speechchurn.labels import CATEGORY_LABELS, TIER_LABELS
from speechchurn.outputs import (
    CALLERS_CSV,
    CALLS_CSV,
    ERRORS_CSV,
    EVIDENCE_JSONL,
    QA_AGENTS_CSV,
    QA_CALLS_CSV,
    REVIEW_CSV,
    TRANSCRIPTS_JSONL,
    read_csv,
)
from speechchurn.privacy import protect_report_data
from speechchurn.vocab import (
    CAT_COMPLAINT,
    RISK_HIGH,
    ROLE_SOURCE_DIARIZED,
    ROLE_SOURCE_MIXED,
    TIER_ORDER,
    is_customer_kw_column,
    kw_column,
    risk_rank,
)

log = logging.getLogger("speechchurn")


SECONDS_PER_HOUR = 3600.0  # s
TIME_KEY_DECIMALS = 2  # decimals of segment start/end when matching evidence hits to segments
MISSING = "—"  # shown for a missing number


@dataclass(frozen=True, eq=False)
class ReportData:
    """The tables of one output folder; missing files are empty frames / collections."""

    out_dir: Path
    calls: pd.DataFrame
    callers: pd.DataFrame
    review: pd.DataFrame
    errors: pd.DataFrame
    transcripts: dict[str, list[dict]] = field(default_factory=dict)
    evidence: list[dict] = field(default_factory=list)
    qa_calls: pd.DataFrame | None = None  # qa_calls.csv; None when the run has no QA results
    qa_agents: pd.DataFrame | None = None  # qa_agents.csv; None when absent


# --------------------------------------------------------------------------------------------- inputs


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        log.info("report: %s not found, treated as empty", path)
        return pd.DataFrame()
    try:
        return read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        raise ReportError(f"{path}: cannot read table: {e}") from e


def _read_optional(path: Path) -> pd.DataFrame | None:
    """A table only some runs write (the QA results): None when the file is absent."""
    return _read_table(path) if path.is_file() else None


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        log.info("report: %s not found, treated as empty", path)
        return []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (UnicodeDecodeError, OSError) as e:
        raise ReportError(f"{path}: cannot read: {e}") from e
    records = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ReportError(f"{path}:{lineno}: invalid JSON: {e}") from e
        if not isinstance(record, dict):
            raise ReportError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def _transcripts_by_file(records: list[dict], path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for record in records:
        segments = record.get("segments", [])
        if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
            raise ReportError(f"{path}: {record.get('file')!r}: 'segments' must be a list of objects")
        out[str(record.get("file", ""))] = sorted(segments, key=lambda s: num(s.get("start")))
    return out


def load_report_data(out_dir: Path, privacy=None) -> ReportData:
    """Read every report input of `out_dir` (missing files read as empty).

    `privacy` (a speechchurn.privacy.PrivacyOptions) redacts text and hashes callers on the way in,
    so every page and sheet built from the data is covered.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ReportError(f"{out_dir}: output folder not found")
    transcripts_path = out_dir / TRANSCRIPTS_JSONL
    data = ReportData(
        out_dir=out_dir,
        calls=_read_table(out_dir / CALLS_CSV),
        callers=_read_table(out_dir / CALLERS_CSV),
        review=_read_table(out_dir / REVIEW_CSV),
        errors=_read_table(out_dir / ERRORS_CSV),
        transcripts=_transcripts_by_file(_read_jsonl(transcripts_path), transcripts_path),
        evidence=_read_jsonl(out_dir / EVIDENCE_JSONL),
        qa_calls=_read_optional(out_dir / QA_CALLS_CSV),
        qa_agents=_read_optional(out_dir / QA_AGENTS_CSV),
    )
    if privacy is None:
        return data

    return protect_report_data(data, privacy)


# --------------------------------------------------------------------------------------------- helpers


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value, default: float = math.nan) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(number) else number


def fmt(value, decimals: int = 2, suffix: str = "") -> str:
    number = num(value)
    if math.isnan(number):
        return MISSING
    return f"{number:,.{decimals}f}{suffix}"


def text(value) -> str:
    """Cell text: '' for missing values (escaping is the template's job)."""
    return "" if is_missing(value) else str(value)


def label(mapping: dict, key) -> str:
    key = "" if is_missing(key) else str(key)
    return mapping.get(key, key)


def slug(value) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", str(value))


def customer_anchor(caller) -> str:
    """The hash route of a customer's page: ``customer-<caller>``."""
    return f"customer-{slug(caller)}"


def col(frame: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype="object" if isinstance(default, str) else float)


def keyword_columns(calls: pd.DataFrame) -> list[str]:
    """Customer-side keyword count columns kw_<category> (not the _agent ones)."""
    return [c for c in calls.columns if is_customer_kw_column(c)]


def started_utc(calls: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(col(calls, "started_at", ""), utc=True, errors="coerce", format="ISO8601")


def local_time(value) -> str:
    """'2026-11-05T10:15:44+08:00' -> '2026-11-05 10:15' (the call's own wall clock)."""
    return text(value)[:16].replace("T", " ")


def category_label(category: str) -> str:
    name = CATEGORY_LABELS.get(category)
    return f"{name} {category}" if name else category


def ordered(values, preferred: tuple[str, ...]) -> list[str]:
    present = [str(v) for v in values if str(v)]
    return [p for p in preferred if p in present] + sorted(v for v in present if v not in preferred)


def lines(value) -> list[str]:
    return [line for line in text(value).splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------- figures


def headline_figures(data: ReportData) -> dict[str, str]:
    """Label -> formatted value of the headline cards."""
    calls, callers = data.calls, data.callers
    n_customers = len(callers) if len(callers) else col(calls, "caller").nunique()
    complaint = col(calls, kw_column(CAT_COMPLAINT))
    figures = {
        "通话数": f"{len(calls):,}",
        "音频时长": fmt(col(calls, "duration_s").sum() / SECONDS_PER_HOUR, 2, " 小时"),
        "客户数": f"{n_customers:,}",
    }
    tiers = col(callers, "tier", "").value_counts()
    for tier in ordered(tiers.index, TIER_ORDER):
        figures[f"{label(TIER_LABELS, tier)}客户"] = f"{int(tiers[tier]):,}"
    figures["投诉率"] = fmt((complaint >= 1).mean() * 100, 1, " %") if len(calls) else MISSING
    figures["平均静默时长"] = fmt(col(calls, "non_talk_s").mean(), 1, " 秒")
    figures["高流失风险客户"] = f"{int((col(callers, 'churn_risk', '') == RISK_HIGH).sum()):,}"
    figures["处理失败文件"] = f"{len(data.errors):,}"
    figures.update(role_figures(calls))
    return figures


def role_figures(calls: pd.DataFrame) -> dict[str, str]:
    """Mono calls only: how many got roles by voice (and how sure), how many stayed mixed."""
    source = col(calls, "role_source", "")
    confidence = pd.to_numeric(col(calls, "role_confidence"), errors="coerce")
    figures = {}
    diarized = source == ROLE_SOURCE_DIARIZED
    if diarized.any():
        figures["单声道·按声音分角色"] = (
            f"{int(diarized.sum()):,} 通，平均置信度 {confidence[diarized].mean():.0%}"
        )
    if (source == ROLE_SOURCE_MIXED).any():
        figures["单声道·未分角色"] = f"{int((source == ROLE_SOURCE_MIXED).sum()):,} 通"
    return figures


ALERT_FIGURES = ("高流失风险客户", "处理失败文件")  # headline cards drawn in red when not zero


def last_call_local(data: ReportData) -> dict[str, str]:
    calls = data.calls
    if not len(calls) or "caller" not in calls.columns:
        return {}
    by_time = calls.assign(_t=started_utc(calls)).sort_values("_t")
    return {
        str(c): local_time(s) for c, s in zip(by_time["caller"], col(by_time, "started_at", ""), strict=True)
    }


def customer_rows(data: ReportData) -> list[dict]:
    """One dict per customer: callers.csv rows, plus callers seen only in calls.csv; riskiest first."""
    rows = data.callers.to_dict("records") if len(data.callers) else []
    known = {str(r.get("caller")) for r in rows}
    for caller in col(data.calls, "caller", "").dropna().astype(str).unique():
        if caller not in known:
            rows.append({"caller": caller})
            known.add(caller)
    return sorted(
        rows,
        key=lambda r: (
            risk_rank(str(r.get("churn_risk"))),
            -num(r.get("risk_points"), 0),
            -num(r.get("score"), 0),
            str(r.get("caller")),
        ),
    )


def calls_by_caller(data: ReportData) -> dict[str, list[dict]]:
    """Each caller's calls in time order (then by file name)."""
    calls = data.calls
    if len(calls):
        calls = calls.assign(_t=started_utc(calls)).sort_values(["_t", "file"] if "file" in calls else ["_t"])
    by_caller: dict[str, list[dict]] = {}
    for rec in calls.to_dict("records") if len(calls) else []:
        by_caller.setdefault(str(rec.get("caller")), []).append(rec)
    return by_caller


# --------------------------------------------------------------------------------------------- evidence


def _segment_key(role, start, end) -> tuple:
    return (str(role), round(num(start, 0.0), TIME_KEY_DECIMALS), round(num(end, 0.0), TIME_KEY_DECIMALS))


def evidence_index(evidence: list[dict]) -> dict[str, dict[tuple, list[dict]]]:
    """file -> segment key (role, start, end) and (role, snippet) -> hits. Keyword hits only: rows with
    a ``kind`` (QA criteria, docs/qa.md) are not keyword marks."""
    index: dict[str, dict[tuple, list[dict]]] = {}
    for hit in evidence:
        if hit.get("kind"):
            continue
        per_file = index.setdefault(str(hit.get("file", "")), {})
        per_file.setdefault(_segment_key(hit.get("role"), hit.get("start"), hit.get("end")), []).append(hit)
        per_file.setdefault((str(hit.get("role")), str(hit.get("snippet", ""))), []).append(hit)
    return index


def segment_hits(hits_by_key: dict[tuple, list[dict]], segment: dict) -> list[dict]:
    by_time = hits_by_key.get(_segment_key(segment.get("role"), segment.get("start"), segment.get("end")))
    if by_time:
        return by_time
    return hits_by_key.get((str(segment.get("role")), str(segment.get("text", ""))), [])


def hit_spans(text_: str, hits: list[dict]) -> list[tuple[int, int, dict]]:
    """Non-overlapping (start, end, hit) spans of every occurrence of each hit's heard text; longest first."""
    spans: list[tuple[int, int, dict]] = []
    for hit in sorted(hits, key=lambda h: -len(str(h.get("heard") or ""))):
        heard = str(hit.get("heard") or "")
        pos = text_.find(heard) if heard else -1
        while pos >= 0:
            end = pos + len(heard)
            if all(end <= s or pos >= e for s, e, _ in spans):
                spans.append((pos, end, hit))
            pos = text_.find(heard, end)
    return sorted(spans, key=lambda span: span[0])
