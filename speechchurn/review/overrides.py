"""How reviewer marks feed back into grading: tier overrides and (optionally) skipping wrong hits.

Called from the grading run (speechchurn/grading_run.py), so every re-grade (and every `analyze`)
keeps the reviewers' decisions: an overridden customer's ``tier`` is the reviewer's, ``tier_reason``
says so with the reason, and ``tier_rule`` / ``tier_rule_reason`` keep what the rules said.
"""

from __future__ import annotations

import logging
from pathlib import Path

from speechchurn.batch.store import STORE_NAME
from speechchurn.review.marks import HitKey, connect, tier_overrides, wrong_hit_keys
from speechchurn.vocab import CUSTOMER_SIDE_ROLES, ROLE_AGENT, kw_agent_column, kw_column

log = logging.getLogger("speechchurn")


def load_tier_overrides(out_dir: Path) -> dict[str, dict]:
    """Reviewers' tier overrides by caller; none when OUT_DIR has no store (grading from a calls CSV)."""
    if not (Path(out_dir) / STORE_NAME).is_file():
        return {}
    db = connect(out_dir)
    try:
        return tier_overrides(db)
    finally:
        db.close()


def apply_tier_overrides(graded, overrides: dict[str, dict]):
    """The graded customers with reviewers' tiers applied (adds tier_rule*, tier_override_* columns)."""
    if graded.empty or not set(graded["caller"].astype(str)) & {str(c) for c in overrides}:
        return graded  # the override columns appear only once a reviewer has overridden someone
    out = graded.copy()
    out["tier_rule"] = out["tier"]
    out["tier_rule_reason"] = out.get("tier_reason", "")
    out["tier_override_reason"] = ""
    out["tier_override_by"] = ""
    callers = out["caller"].astype(str)
    for caller, change in overrides.items():
        rows = callers == str(caller)
        if not rows.any():
            continue
        rule = out.loc[rows, "tier"].iloc[0]
        out.loc[rows, "tier"] = change["tier"]
        out.loc[rows, "tier_override_reason"] = change["reason"]
        out.loc[rows, "tier_override_by"] = f"{change['reviewer']} {change['at']}"
        out.loc[rows, "tier_reason"] = (
            f"{change['tier']}: override by {change['reviewer']} ({change['at']}): {change['reason']} "
            f"[rules said {rule}]"
        )
    return out


def without_wrong_hits(out_dir: Path, calls, evidence):
    """(calls, evidence) with hits marked wrong removed and the per-call kw_* counts lowered to match."""
    db = connect(out_dir)
    try:
        wrong = wrong_hit_keys(db)
        shas = dict(db.execute("SELECT file, sha256 FROM files"))
    finally:
        db.close()
    if not wrong or evidence is None or evidence.empty:
        return calls, evidence
    keys = (
        HitKey.of(shas.get(f) or "", s, t)
        for f, s, t in zip(evidence["file"], evidence["start"], evidence["term"], strict=True)
    )
    is_wrong = [k in wrong for k in keys]
    dropped = evidence.loc[is_wrong]
    calls = calls.copy()
    for hit in dropped.itertuples(index=False):
        column = _count_column(hit)
        if column is None or column not in calls.columns:
            continue
        rows = calls["file"] == hit.file
        calls.loc[rows, column] = (calls.loc[rows, column] - 1).clip(lower=0)
    log.info("grading skips %d hits marked wrong", len(dropped))
    return calls, evidence.loc[[not w for w in is_wrong]]


def _count_column(hit) -> str | None:
    if str(getattr(hit, "negated", False)).lower() in ("true", "1"):
        return None  # negated hits were never counted
    if hit.role in CUSTOMER_SIDE_ROLES:
        return kw_column(hit.category)
    if hit.role == ROLE_AGENT:
        return kw_agent_column(hit.category)
    return None
