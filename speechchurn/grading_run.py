"""One grading run: the whole way from per-call features to the customer outputs.

calls (the result store in OUT_DIR, or a CDR with ``calls_csv``) -> per-customer aggregate and
behaviour breaks (+ call-network figures) -> the rules -> reviewers' marks (tier overrides, hits
marked wrong left out) -> the churn model / cluster tiers -> ``callers.csv`` and ``review.csv`` ->
privacy protection -> the report's tables (report.html, callers.xlsx) when asked.

``analyze`` ends with :func:`run_grading`; ``grade`` (with or without ``--calls``) and the desk's
refresh after a tier override call it too. No other code writes callers.csv or review.csv. The
options of the last run are kept in the store (meta ``grading_options``) so that the desk re-grades
exactly as the last ``analyze`` / ``grade`` did (:func:`last_options`).

A further per-customer step (for example QA columns) is one more function in :func:`grade_calls`
between the rules and the writers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from speechchurn import outputs
from speechchurn.batch.store import STORE_NAME, Store, load_calls, load_evidence
from speechchurn.customers.aggregate import aggregate_callers, as_of_timestamp, load_roster
from speechchurn.customers.grading import grade_callers, load_rules
from speechchurn.customers.review import DEFAULT_REVIEW_TOP, build_review_queue
from speechchurn.errors import ConfigError
from speechchurn.outcomes import pipeline as oc
from speechchurn.outcomes.breaks import BreakOptions, add_breaks
from speechchurn.outcomes.calls_input import load_calls_csv
from speechchurn.outcomes.pipeline import TIERING_RULES, TIERINGS, OutcomeOptions, start_helper
from speechchurn.privacy import GRADE_TABLES, PrivacyOptions, protect_outputs
from speechchurn.review.overrides import apply_tier_overrides, load_tier_overrides, without_wrong_hits
from speechchurn.vocab import DEFAULT_TIMEZONE

log = logging.getLogger("speechchurn")

OPTIONS_META_KEY = "grading_options"  # store meta: the last run's GradingOptions (JSON, no secrets)


@dataclass(frozen=True)
class GradingOptions:
    """Every grading option; the same object drives analyze's end, grade and the desk's refresh."""

    rules: Path | None = None  # rules TOML (default: the shipped rules)
    as_of: dt.date | None = None  # grade as of the end of this day (default: the latest call)
    customers: Path | None = None  # roster CSV: customers with no call yet
    top: int = DEFAULT_REVIEW_TOP  # customers in review.csv
    timezone: str = DEFAULT_TIMEZONE
    skip_wrong_hits: bool = False  # leave out keyword hits reviewers marked wrong (speechchurn serve)
    calls_csv: Path | None = None  # a CDR export instead of the analysed store
    model: Path | None = None  # saved by `speechchurn train --model-out`
    tiering: str = TIERING_RULES  # "rules" | "cluster"
    network: Path | None = None  # edges.csv: a, b, calls
    outcomes: Path | None = None  # who already left (for contacts_churned)
    breaks: BreakOptions | None = None  # behaviour-break windows and thresholds (default: BreakOptions())
    seed: int = 0  # cluster tiering
    privacy: PrivacyOptions | None = None  # --redact / --hash-callers for the written tables
    privacy_tables: tuple[str, ...] | None = GRADE_TABLES  # the tables privacy rewrites (None: every output)
    reports: bool = False  # also write report.html and callers.xlsx

    def outcome_options(self) -> OutcomeOptions:
        return OutcomeOptions(
            calls_csv=self.calls_csv,
            model=self.model,
            tiering=self.tiering,
            network=self.network,
            outcomes=self.outcomes,
            breaks=self.breaks,
            seed=self.seed,
        )


@dataclass(frozen=True)
class GradingResult:
    out_dir: Path
    graded: pd.DataFrame  # callers.csv's rows as written before privacy (raw callers)
    shown: pd.DataFrame  # the same rows as the written files show them (privacy applied)
    review: pd.DataFrame  # review.csv's rows before privacy
    written: tuple[Path, ...]  # every file this run wrote


def run_grading(out_dir: Path, options: GradingOptions) -> GradingResult:
    """Grade the customers of `out_dir` (or of ``options.calls_csv``) and write the outputs."""
    if options.tiering not in TIERINGS:
        raise ConfigError(f"--tiering must be one of {', '.join(TIERINGS)}, got {options.tiering!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcome = options.outcome_options()
    written: list[Path] = []
    with start_helper(outcome) if options.calls_csv is not None else nullcontext() as helper:
        calls, evidence = input_calls(out_dir, options)  # a process helper loads meanwhile
        if options.calls_csv is not None:
            written.append(_write_calls(calls, out_dir))
        graded, review, paths = grade_calls(calls, evidence, out_dir, options, helper)
    written += paths
    _remember(out_dir, options)
    privacy = options.privacy or PrivacyOptions()
    shown = protect_outputs(out_dir, privacy, options.privacy_tables).frame(graded)
    if options.reports:
        written += _write_reports(out_dir)
    return GradingResult(out_dir=out_dir, graded=graded, shown=shown, review=review, written=tuple(written))


def input_calls(out_dir: Path, options: GradingOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(calls, evidence): from the CDR (no evidence) or the analysed store, reviewers' wrong hits out."""
    if options.calls_csv is not None:
        if options.skip_wrong_hits:
            log.warning("--skip-wrong-hits: a CDR (--calls) has no keyword hits to leave out")
        return load_calls_csv(options.calls_csv, options.timezone), pd.DataFrame()
    calls, evidence = load_calls(out_dir, options.timezone), load_evidence(out_dir)
    if options.skip_wrong_hits:  # reviewers' "wrong" marks (speechchurn serve) take those hits out
        calls, evidence = without_wrong_hits(out_dir, calls, evidence)
    return calls, evidence


def grade_calls(
    calls: pd.DataFrame, evidence: pd.DataFrame, out_dir: Path, options: GradingOptions, helper=None
) -> tuple[pd.DataFrame, pd.DataFrame, list[Path]]:
    """(graded, review queue, files written) from a loaded calls table; writes callers.csv and
    review.csv. ``helper``: one from outcomes.pipeline.start_helper (default: one started here when
    the network or the model is asked for)."""

    outcome = options.outcome_options()
    rules = load_rules(options.rules)
    roster = load_roster(options.customers) if options.customers else None
    as_of = as_of_timestamp(options.as_of, calls, options.timezone)
    with nullcontext(helper) if helper else start_helper(outcome, calls) as helper:  # loads meanwhile
        figures = helper.figures(as_of) if options.network is not None else None
        callers = aggregate_callers(calls, as_of, roster)
        callers = add_breaks(callers, calls, as_of, options.breaks or BreakOptions())
        callers = oc.with_network(callers, helper, figures)
        scoring = oc.start_scoring(callers, helper, outcome)
        graded = _with_overrides(grade_callers(callers, rules), out_dir, options)
        ahead = None
        if scoring is not None:
            graded, ahead = oc.scored_and_written(graded, helper, scoring, outcome)
    written = []
    if options.tiering == "cluster":
        graded, report = oc.with_clusters(graded, out_dir, outcome)
        written.append(report)
    outputs.write_csv(graded, out_dir / outputs.CALLERS_CSV, ahead=ahead)
    review = build_review_queue(graded, evidence, top=options.top)
    outputs.write_csv(review, out_dir / outputs.REVIEW_CSV)
    written += [out_dir / outputs.CALLERS_CSV, out_dir / outputs.REVIEW_CSV]
    return graded, review, written


def _with_overrides(graded: pd.DataFrame, out_dir: Path, options: GradingOptions) -> pd.DataFrame:
    """Reviewers' tier overrides, when the customers come from the analysed store (not a CDR)."""
    if options.calls_csv is not None:
        return graded
    return apply_tier_overrides(graded, load_tier_overrides(out_dir))


def _write_calls(calls: pd.DataFrame, out_dir: Path) -> Path:
    """calls.csv of a CDR-only folder, so that `speechchurn report` works there."""
    frame = calls.copy()
    frame["started_at"] = outputs.iso_texts(frame["started_at"])
    outputs.write_csv(frame, out_dir / outputs.CALLS_CSV)
    return out_dir / outputs.CALLS_CSV


def _write_reports(out_dir: Path) -> list[Path]:
    """report.html and callers.xlsx from the (protected) files just written."""
    from speechchurn.report.html import write_reports  # lazy: jinja2, plotly (start-up stays light)

    return list(write_reports(out_dir))


# --- the last run's options, for the desk -------------------------------------------------------

_NOT_KEPT = ("privacy", "privacy_tables", "reports")  # the caller's choice each time (no secrets kept)
_PRIVACY_KEY = "privacy_on"  # {"redact": bool, "hashed": bool} of the last run


def _remember(out_dir: Path, options: GradingOptions) -> None:
    """Keep the options in the store (when OUT_DIR has one) for :func:`last_options`; of privacy only
    whether it was on (never the salt)."""
    if not (out_dir / STORE_NAME).is_file():
        return
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    for name in _NOT_KEPT:
        del fields[name]
    fields["breaks"] = dataclasses.asdict(options.breaks) if options.breaks is not None else None
    privacy = options.privacy or PrivacyOptions()
    fields[_PRIVACY_KEY] = {"redact": privacy.redact, "hashed": bool(privacy.caller_salt)}
    with Store(out_dir, create=False) as store:
        store.set_meta(OPTIONS_META_KEY, json.dumps(fields, default=str, sort_keys=True))


def _recorded(out_dir: Path) -> dict:
    with Store(out_dir, create=False) as store:
        text = store.get_meta(OPTIONS_META_KEY)
    return json.loads(text) if text else {}


def last_options(out_dir: Path) -> GradingOptions:
    """The options of the last grading run of `out_dir` (the defaults when none was recorded)."""
    fields = _recorded(out_dir)
    known = {f.name for f in dataclasses.fields(GradingOptions)} - set(_NOT_KEPT)
    values = {k: v for k, v in fields.items() if k in known}
    for name in ("rules", "customers", "calls_csv", "model", "network", "outcomes"):
        if values.get(name) is not None:
            values[name] = Path(values[name])
    if values.get("as_of") is not None:
        values["as_of"] = dt.date.fromisoformat(values["as_of"])
    if values.get("breaks") is not None:
        values["breaks"] = BreakOptions(**values["breaks"])
    return GradingOptions(**values)


def refresh_after_override(out_dir: Path, privacy: PrivacyOptions | None = None) -> GradingResult | None:
    """The desk's refresh after a tier override: the last run again (same options), with the report.

    The outputs stay as protected as the last run left them: redaction is kept on, and outputs
    written with --hash-callers are not refreshed without the salt (None, with a warning)."""
    privacy = privacy or PrivacyOptions()
    was = _recorded(out_dir).get(_PRIVACY_KEY, {})
    if was.get("hashed") and not privacy.caller_salt:
        log.warning("outputs were written with --hash-callers: not refreshed without the salt")
        return None
    privacy = dataclasses.replace(privacy, redact=privacy.redact or bool(was.get("redact")))
    options = dataclasses.replace(last_options(out_dir), privacy=privacy, reports=True)
    return run_grading(out_dir, options)
