"""As-of features and labels for churn models, with leakage protection.

A :class:`FeatureSet` is built at a cutoff ``as_of`` from calls with ``started_at <= as_of`` only (the
filter is explicit here, not left to the aggregation) plus, optionally, the call network with the
churns known at the cutoff. Every column carries the time its data ends (``column_until``); adding a
column whose data ends after the cutoff raises :class:`~speechchurn.errors.LeakageError`, and so does
:func:`training_set` when any column (or the calls used) ends after the cutoff. Labels are churn in
``(as_of, as_of + horizon]``; customers who had already left at the cutoff are dropped.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import LeakageError, ManifestError
from speechchurn.outcomes.breaks import BreakOptions, add_breaks
from speechchurn.customers.columns import NETWORK_COLUMNS
from speechchurn.customers.aggregate import aggregate_callers, align_as_of, parse_started_at
from speechchurn.call.metadata import read_table_text
from speechchurn.call.phones import normalize_phones
from speechchurn.outcomes.network import add_network, churned_by

log = logging.getLogger("speechchurn")

HORIZON_DAYS = 90  # days: a label is churn within this many days after the cutoff
OUTCOME_COLUMNS = ("caller", "churned", "churn_date")
# Indicators that can be missing (NaN); the decision tree leaves them out so that its exported rules
# (where a missing value never matches) decide exactly as the tree does.
MAYBE_MISSING = ("avg_minutes", "days_since_last", "sentiment_mean", "sentiment_min", "sentiment_trend")
_NOT_FEATURES = ("caller", "first_call", "last_call", "break_reason", "churned", "label")


@dataclass(frozen=True)
class FeatureSet:
    """Per-customer features at ``as_of``; ``column_until`` maps each column to its data's end time."""

    as_of: pd.Timestamp
    frame: pd.DataFrame
    column_until: dict[str, pd.Timestamp] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [c for c in self.frame.columns if c not in _NOT_FEATURES and not c.startswith("_")]


def _naive(ts) -> pd.Timestamp:
    """Wall time with the zone dropped (cutoffs and call times share the calls' zone)."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def with_column(features: FeatureSet, name: str, values, data_until) -> FeatureSet:
    """Add an extra feature column whose data ends at ``data_until``; refuses data after the cutoff."""
    if _naive(data_until) > _naive(features.as_of):
        raise LeakageError(
            f"feature {name!r} uses data up to {pd.Timestamp(data_until)}, after the cutoff {features.as_of}"
        )
    frame = features.frame.copy()
    frame[name] = np.asarray(values)
    until = {**features.column_until, name: pd.Timestamp(data_until)}
    return FeatureSet(features.as_of, frame, until)


def build_features(
    calls: pd.DataFrame,
    as_of: pd.Timestamp,
    graph=None,
    outcomes: pd.DataFrame | None = None,
    breaks: BreakOptions | None = None,
) -> FeatureSet:
    """Aggregate indicators, behaviour breaks and (with a graph) network features as of ``as_of``."""

    started = parse_started_at(calls["started_at"]) if len(calls) else calls["started_at"]
    cutoff = align_as_of(as_of, started) if len(calls) else pd.Timestamp(as_of)
    before = calls.loc[(started <= cutoff).to_numpy()] if len(calls) else calls
    callers = aggregate_callers(before, cutoff)
    callers = add_breaks(callers, before, cutoff, breaks or BreakOptions())
    data_until = pd.Timestamp(parse_started_at(before["started_at"]).max()) if len(before) else cutoff
    until = {c: data_until for c in callers.columns}
    if graph is not None:

        callers = add_network(callers, graph, churned_by(outcomes, cutoff))
        until.update({c: cutoff for c in NETWORK_COLUMNS})
    numeric = [
        c for c in callers.columns if c not in _NOT_FEATURES and pd.api.types.is_numeric_dtype(callers[c])
    ]
    callers[numeric] = callers[numeric].astype(np.float32)  # the tree's own precision: rules read the same
    return FeatureSet(cutoff, callers, until)


def load_outcomes(path: Path | str) -> pd.DataFrame:
    """OUTCOMES.csv: caller, churned (0/1), churn_date (YYYY-MM-DD; required when churned is 1)."""

    path = Path(path)
    try:
        frame = pd.read_csv(io.StringIO(read_table_text(path, "outcomes file")), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ManifestError(f"{path}: unreadable outcomes CSV ({e})") from e
    frame = frame.rename(columns=lambda c: str(c).strip())
    missing = [c for c in OUTCOME_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{path}: missing column(s) {', '.join(missing)} (need caller, churned, churn_date)"
        )
    return prepare_outcomes(frame, str(path), normalize_phones(frame["caller"]))


def prepare_outcomes(frame: pd.DataFrame, source: str, callers=None) -> pd.DataFrame:
    """Validate outcomes rows; errors name the CSV row (header = row 1)."""
    churned = pd.to_numeric(frame["churned"].astype(str).str.strip(), errors="coerce")
    bad = ~churned.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise ManifestError(
            f"{source}: row {row}: churned must be 0 or 1, got {frame['churned'].iloc[row - 2]!r}"
        )
    text = frame["churn_date"].astype(str).str.strip()
    dates = pd.to_datetime(text.where(text != ""), errors="coerce", format="mixed")
    undated = (churned == 1) & dates.isna()
    if undated.any():
        row = int(np.flatnonzero(undated.to_numpy())[0]) + 2
        raise ManifestError(f"{source}: row {row}: churned is 1 but churn_date is missing or not a date")
    out = pd.DataFrame(
        {
            "caller": callers if callers is not None else frame["caller"].astype(str).to_numpy(),
            "churned": churned.astype(np.int64).to_numpy(),
            "churn_date": dates.dt.tz_localize(None).dt.normalize().to_numpy()
            if dates.dt.tz
            else dates.dt.normalize().to_numpy(),
        }
    )
    return out.drop_duplicates("caller", keep="first").reset_index(drop=True)


def training_set(features: FeatureSet, outcomes: pd.DataFrame, horizon_days: int = HORIZON_DAYS):
    """(frame, y): customers still subscribed at the cutoff, label = churn in (cutoff, cutoff + horizon].

    Raises LeakageError when a feature column's data ends after the cutoff. Customers missing from the
    outcomes file count as stayed.
    """
    cutoff = _naive(features.as_of)
    late = {c: t for c, t in features.column_until.items() if _naive(t) > cutoff}
    if late:
        names = ", ".join(sorted(late))
        raise LeakageError(
            f"feature(s) {names} use data after the cutoff {features.as_of}; refusing to train"
        )
    info = outcomes.set_index("caller").reindex(features.frame["caller"].astype(str).to_numpy())
    date = pd.to_datetime(info["churn_date"]).to_numpy()
    churned = info["churned"].fillna(0).to_numpy() == 1
    day = cutoff.normalize()
    gone = churned & (date <= np.datetime64(day))
    label = (
        churned & (date > np.datetime64(day)) & (date <= np.datetime64(day + pd.Timedelta(days=horizon_days)))
    )
    frame = features.frame.loc[~gone].reset_index(drop=True)
    return frame, label[~gone].astype(np.int64)


def model_features(features: FeatureSet, tree: bool = False) -> list[str]:
    """Feature columns for a model; the tree's list leaves out indicators that can be missing, and no
    list has a column with no value at all (a CDR export without sentiment: gradient boosting cannot
    bin an all-missing column, and no model can learn from one)."""
    frame = features.frame
    names = [n for n in features.feature_names if frame[n].notna().any()]
    return [n for n in names if n not in MAYBE_MISSING] if tree else names
