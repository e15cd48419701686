"""Score every stored call against a QA form and write the QA outputs (no transcription).

:func:`run_qa` reads the stored transcripts and calls.csv rows from OUT_DIR's result store, scores
each call (:mod:`speechchurn.qa.score`), applies the reviewers' appeals
(:mod:`speechchurn.review.qa_appeals`) and writes

* ``qa_calls.csv``: one row per call: ``file, agent, caller, started_at, qa_score, qa_auto_failed,
  qa_failed, qa_reviewed_by``, then ``qa_<id>`` (1 / 0 / empty) and ``qa_<id>_at`` (s) per criterion;
* ``qa_agents.csv``: one row per agent: ``agent, calls, scored_calls, qa_mean, qa_min,
  qa_auto_failed, qa_failed``, ``pass_<id>`` (share of the calls where the criterion applied that
  passed it) per criterion, then ``week_<YYYY-Www>`` (mean qa_score of the agent's calls that ISO
  week, local time of the call) per week, oldest first;
* ``qa_weekly.csv``: the same weekly means in long form: ``agent, week, week_start, calls, qa_mean``;
* ``evidence.jsonl``: the keyword hits as before, plus one row per decided criterion with
  ``"kind": "qa"`` (keyword rows have no ``kind``): ``file, caller, agent, kind, category ("qa"),
  criterion, label, result, at, quote, term, heard, role, start, end, match, confidence, negated,
  snippet, reviewed_by``. Earlier ``kind == "qa"`` rows are replaced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from speechchurn.outputs import QA_AGENTS_CSV, QA_CALLS_CSV, QA_WEEKLY_CSV
from speechchurn.outputs import QA_EVIDENCE_KIND as EVIDENCE_KIND
from speechchurn.qa.form import QAForm, load_form
from speechchurn.qa.score import CallScore, CriterionResult, matcher_for, score_call, with_results
from speechchurn.schema import Segment
from speechchurn.vocab import QA_AUTO_FAILED_COLUMN, QA_FAILED_COLUMN, QA_REVIEWED_BY_COLUMN, QA_SCORE_COLUMN

log = logging.getLogger("speechchurn")

CALL_COLUMNS = (
    "file",
    "agent",
    "caller",
    "started_at",
    QA_SCORE_COLUMN,
    QA_AUTO_FAILED_COLUMN,
    QA_FAILED_COLUMN,
    QA_REVIEWED_BY_COLUMN,
)
AGENT_COLUMNS = ("agent", "calls", "scored_calls", "qa_mean", "qa_min", "qa_auto_failed", "qa_failed")
WEEKLY_COLUMNS = ("agent", "week", "week_start", "calls", "qa_mean")
MEAN_DECIMALS = 1
RATE_DECIMALS = 3


@dataclass(frozen=True)
class QAResult:
    out_dir: Path
    form: QAForm
    calls: tuple[CallScore, ...]
    appealed: int  # criterion results set by a reviewer's appeal
    wall_s: float
    paths: tuple[Path, ...]  # files written

    @property
    def agents(self) -> int:
        return len({c.agent for c in self.calls})


# -------------------------------------------------------------------------------------------- input


def read_store(out_dir: Path) -> tuple[list[dict], dict[str, list[Segment]]]:
    """calls.csv rows and transcript segments per file, from OUT_DIR's result store."""
    from speechchurn.batch.store import Store

    with Store(out_dir, create=False) as store:
        rows = store.call_rows()
        segments = {f: [Segment.from_dict(s) for s in segs] for f, segs in store.transcripts()}
    return rows, segments


# ------------------------------------------------------------------------------------------ appeals


def apply_appeals(form: QAForm, call: CallScore, appeals: Mapping) -> tuple[CallScore, int]:
    """`call` with the reviewers' results (criterion id -> Appeal) in place of the automatic ones,
    the score recomputed; and how many results an appeal set. Appeals for criteria the form lacks
    are ignored."""
    if not appeals:
        return call, 0
    results, n = [], 0
    for r in call.results:
        appeal = appeals.get(r.id)
        if appeal is None:
            results.append(r)
            continue
        results.append(
            replace(r, result=int(appeal.result), reviewed_by=appeal.reviewer, reason=appeal.reason)
        )
        n += 1
    return with_results(form, call, results), n


# ------------------------------------------------------------------------------------------ tables


def _int_or_none(value: bool | int | None) -> int | None:
    return None if value is None else int(value)


def call_table(form: QAForm, scores: Sequence[CallScore], rows: Mapping[str, Mapping]):
    """qa_calls.csv as a DataFrame (columns in the documented order)."""
    import pandas as pd

    data: dict[str, list] = {c: [] for c in CALL_COLUMNS}
    for cr in form.criteria:
        data[cr.column], data[cr.at_column] = [], []
    for s in scores:
        row = rows.get(s.file, {})
        data["file"].append(s.file)
        data["agent"].append(s.agent)
        data["caller"].append(str(row.get("caller") or ""))
        data["started_at"].append(str(row.get("started_at") or ""))
        data[QA_SCORE_COLUMN].append(s.score)
        data[QA_AUTO_FAILED_COLUMN].append(int(s.auto_failed))
        data[QA_FAILED_COLUMN].append(int(s.failed))
        data[QA_REVIEWED_BY_COLUMN].append(s.reviewed_by)
        for cr, r in zip(form.criteria, s.results, strict=True):
            data[cr.column].append(_int_or_none(r.result))
            data[cr.at_column].append(r.at_s)
    frame = pd.DataFrame(data)
    for cr in form.criteria:
        frame[cr.column] = frame[cr.column].astype("Int64")
        frame[cr.at_column] = frame[cr.at_column].astype("float64")
    frame["qa_score"] = frame["qa_score"].astype("float64")
    return frame


def iso_week(started_at: str) -> tuple[str, str] | None:
    """('YYYY-Www', week's Monday 'YYYY-MM-DD') of an ISO time, in the call's own local time."""
    try:
        day = dt.datetime.fromisoformat(started_at).date()
    except (TypeError, ValueError):
        return None
    year, week, weekday = day.isocalendar()
    return f"{year}-W{week:02d}", (day - dt.timedelta(days=weekday - 1)).isoformat()


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), MEAN_DECIMALS) if values else None


def weekly_table(calls):
    """qa_weekly.csv: agent, week, week_start, calls, qa_mean (tidy, one row per agent and week)."""
    import pandas as pd

    groups: dict[tuple, list] = defaultdict(list)
    for agent, started, score in zip(calls["agent"], calls["started_at"], calls["qa_score"], strict=True):
        week = iso_week(started)
        if week is not None:
            groups[(agent, *week)].append(score)
    out = [
        (agent, week, start, len(scores), _mean([s for s in scores if not math.isnan(s)]))
        for (agent, week, start), scores in sorted(groups.items())
    ]
    return pd.DataFrame(out, columns=list(WEEKLY_COLUMNS))


def agent_table(form: QAForm, calls, weekly):
    """qa_agents.csv: per agent the counts, mean and min score, pass rate per criterion, weekly means."""
    import pandas as pd

    by_agent = calls.groupby("agent", sort=True)
    frame = pd.DataFrame(
        {
            "calls": by_agent.size(),
            "scored_calls": by_agent["qa_score"].count(),
            "qa_mean": by_agent["qa_score"].mean().round(MEAN_DECIMALS),
            "qa_min": by_agent["qa_score"].min(),
            "qa_auto_failed": by_agent["qa_auto_failed"].sum(),
            "qa_failed": by_agent["qa_failed"].sum(),
        }
    )
    for cr in form.criteria:
        frame[f"pass_{cr.id}"] = by_agent[cr.column].mean().astype("float64").round(RATE_DECIMALS)
    if not weekly.empty:
        wide = weekly.pivot(index="agent", columns="week", values="qa_mean")
        wide.columns = [f"week_{w}" for w in wide.columns]
        frame = frame.join(wide)
    return frame.reset_index().rename(columns={"index": "agent"})


# -------------------------------------------------------------------------------------- evidence


def evidence_rows(form: QAForm, scores: Iterable[CallScore], rows: Mapping[str, Mapping]) -> list[dict]:
    """One evidence.jsonl row (kind "qa") per decided criterion of every call."""
    out = []
    for s in scores:
        caller = str(rows.get(s.file, {}).get("caller") or "")
        for cr, r in zip(form.criteria, s.results, strict=True):
            if r.result is not None:
                out.append(_evidence_row(s, cr.id, cr.label, r, caller))
    return out


def _evidence_row(call: CallScore, cid: str, label: str, r: CriterionResult, caller: str) -> dict:
    hit = r.evidence[0] if r.evidence else None
    return {
        "file": call.file,
        "caller": caller,
        "agent": call.agent,
        "kind": EVIDENCE_KIND,
        "category": EVIDENCE_KIND,
        "criterion": cid,
        "label": label,
        "result": r.result,
        "at": r.at_s,
        "quote": r.quote,
        "term": hit.phrase if hit else "",
        "heard": hit.heard if hit else "",
        "role": hit.role if hit else "",
        "start": hit.start if hit else None,
        "end": hit.end if hit else None,
        "match": hit.match if hit else "",
        "confidence": hit.confidence if hit else None,
        "negated": False,
        "snippet": hit.snippet if hit else r.quote,
        "reviewed_by": r.reviewed_by,
        "reason": r.reason,
    }


def _merge_evidence(out_dir: Path, qa_rows: list[dict]) -> Path:
    """evidence.jsonl with its keyword rows kept (as written: a redacted file stays redacted) and the
    QA rows replaced by `qa_rows`."""
    from speechchurn import outputs

    path = Path(out_dir) / outputs.EVIDENCE_JSONL
    kept = []
    if path.is_file():
        with path.open(encoding="utf-8") as fh:
            kept = [r for r in map(json.loads, filter(str.strip, fh)) if r.get("kind") != EVIDENCE_KIND]
    return outputs.write_jsonl([*kept, *qa_rows], path)


# ------------------------------------------------------------------------------------------- run


POOL_MIN_TEXTS = 400  # new segment texts from which phrase matching runs in worker processes
POOL_CHUNK_TEXTS = 200  # texts per worker task


def _match_chunk(form: QAForm, texts: list[str]) -> list[tuple]:
    """Worker process: the phrase hits of each text (the matcher is built once per process)."""
    matcher = matcher_for(form)
    return [matcher.match_text(t) for t in texts]


def _match_texts(form: QAForm, texts: list[str], workers: int) -> list[tuple]:
    """Phrase hits of every text, in worker processes when there are many."""
    if len(texts) < POOL_MIN_TEXTS or workers <= 1:
        matcher = matcher_for(form)
        return [matcher.match_text(t) for t in texts]
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    chunks = [texts[i : i + POOL_CHUNK_TEXTS] for i in range(0, len(texts), POOL_CHUNK_TEXTS)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [hits for part in pool.map(partial(_match_chunk, form), chunks) for hits in part]


def prime_phrase_hits(
    out_dir: Path, form: QAForm, segments: Mapping[str, Sequence[Segment]], workers: int = 0
) -> int:
    """Fill the form's matcher with the phrase hits of every searched segment text: from the store's
    cache (keyed by the phrases' fingerprint), the rest matched now (in `workers` processes; 0 = one
    per core) and added to the cache. Returns how many texts were matched now."""
    import os

    from speechchurn.batch.store import Store

    matcher = matcher_for(form)
    texts = {s.text.strip() for segs in segments.values() for s in segs if matcher.searched(s)}
    with Store(out_dir, create=False) as store:
        matcher.known.update(store.qa_text_hits(matcher.fingerprint, texts))
        missing = sorted(texts - matcher.known.keys())
        found = _match_texts(form, missing, workers or os.cpu_count() or 1)
        matcher.known.update(zip(missing, found, strict=True))
        store.add_qa_text_hits(matcher.fingerprint, zip(missing, found, strict=True))
    return len(missing)


def score_calls(
    form: QAForm, rows: Sequence[Mapping], segments: Mapping[str, Sequence[Segment]], appeals: Mapping
):
    """Every call scored, appeals applied; (scores, results set by appeals)."""
    matcher = matcher_for(form)
    scores, appealed = [], 0
    for row in rows:
        file = str(row.get("file", ""))
        score = score_call(form, segments.get(file, ()), row, matcher)
        score, n = apply_appeals(form, score, appeals.get(file, {}))
        scores.append(score)
        appealed += n
    return scores, appealed


def _store_scores(out_dir: Path, scores: Sequence[CallScore]) -> None:
    """What grading needs (qa_failed_calls, qa_score_min) into the store: exported files may be hashed."""
    from speechchurn.batch.store import Store

    with Store(out_dir, create=False) as store:
        store.replace_qa_scores((s.file, s.score, int(s.failed)) for s in scores)


def run_qa(out_dir: Path, form: QAForm | None = None) -> QAResult:
    """Score every stored call with `form` (default: the shipped form) and write the QA outputs."""
    from speechchurn import outputs
    from speechchurn.review.qa_appeals import load_appeals

    started = time.monotonic()
    out_dir, form = Path(out_dir), form or load_form()
    rows, segments = read_store(out_dir)
    matched = prime_phrase_hits(out_dir, form, segments)
    scores, appealed = score_calls(form, rows, segments, load_appeals(out_dir))
    by_file = {str(r.get("file", "")): r for r in rows}
    calls = call_table(form, scores, by_file)
    weekly = weekly_table(calls)
    paths = (
        outputs.write_csv(calls, out_dir / QA_CALLS_CSV),
        outputs.write_csv(agent_table(form, calls, weekly), out_dir / QA_AGENTS_CSV),
        outputs.write_csv(weekly, out_dir / QA_WEEKLY_CSV),
        _merge_evidence(out_dir, evidence_rows(form, scores, by_file)),
    )
    _store_scores(out_dir, scores)
    wall = time.monotonic() - started
    log.info(
        "QA: %d calls scored with %s in %.1f s (%d new segment texts matched, %d appealed results)",
        len(scores),
        form.source,
        matched,
        wall,
        appealed,
    )
    return QAResult(out_dir, form, tuple(scores), appealed, wall, paths)
