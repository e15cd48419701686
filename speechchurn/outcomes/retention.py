"""Did retention work pay off? Churn of warned customers who were contacted vs not, and before/after.

* Warned-and-contacted vs warned-not-contacted: churn rate of each group (churned = 1 in the outcomes
  file; warned customers missing from it count as stayed) with Wilson score 95% intervals, and the
  difference (contacted minus not contacted) with Newcombe's hybrid score interval (method 10 of
  Newcombe 1998, built from the two Wilson intervals).
* Before/after a date D with a window W (default 90 days): churn rate in ``[D - W, D)`` among customers
  still subscribed at ``D - W``, against churn in ``[D, D + W)`` among customers still subscribed at D.
  The two groups share customers, so the difference interval (which assumes independent groups) is
  approximate.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import ManifestError
from speechchurn.call.metadata import read_table_text
from speechchurn.call.phones import normalize_phones
from speechchurn.outcomes.features import load_outcomes

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
WINDOW_DAYS = 90


@dataclass(frozen=True)
class Rate:
    churned: int
    total: int
    rate: float
    low: float
    high: float

    def as_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ((0, 1) when n is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(churned: int, total: int) -> Rate:
    low, high = wilson(churned, total)
    return Rate(int(churned), int(total), churned / total if total else float("nan"), low, high)


def newcombe_difference(a: Rate, b: Rate) -> dict:
    """a.rate - b.rate with Newcombe's hybrid score 95% interval."""
    d = a.rate - b.rate
    low = d - math.sqrt((a.rate - a.low) ** 2 + (b.high - b.rate) ** 2)
    high = d + math.sqrt((a.high - a.rate) ** 2 + (b.rate - b.low) ** 2)
    return {"difference": round(d, 5), "low": round(low, 5), "high": round(high, 5)}


def _callers(path: Path) -> set[str]:

    try:
        frame = pd.read_csv(io.StringIO(read_table_text(path, "CSV")), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ManifestError(f"{path}: unreadable CSV ({e})") from e
    frame = frame.rename(columns=lambda c: str(c).strip())
    if "caller" not in frame.columns:
        raise ManifestError(f"{path}: missing column 'caller'")
    return set(normalize_phones(frame["caller"])) - {""}


def contacted_vs_not(warned: set[str], contacted: set[str], outcomes: pd.DataFrame) -> dict:
    churned = set(outcomes.loc[outcomes["churned"] == 1, "caller"].astype(str))
    groups = {"contacted": warned & contacted, "not_contacted": warned - contacted}
    rates = {name: rate(len(members & churned), len(members)) for name, members in groups.items()}
    return {
        "warned": len(warned),
        "contacted_outside_warning_list": len(contacted - warned),
        **{name: r.as_dict() for name, r in rates.items()},
        "difference_contacted_minus_not": newcombe_difference(rates["contacted"], rates["not_contacted"]),
    }


def before_after(outcomes: pd.DataFrame, split: pd.Timestamp, window_days: int = WINDOW_DAYS) -> dict:
    date = pd.to_datetime(outcomes["churn_date"]).to_numpy()
    churned = outcomes["churned"].to_numpy() == 1
    window = pd.Timedelta(days=window_days)
    out = {"split_date": str(split.date()), "window_days": window_days}
    rates = {}
    for name, start in (("before", split - window), ("after", split)):
        start64, end64 = np.datetime64(start), np.datetime64(start + window)
        at_risk = ~(churned & (date < start64))
        left = churned & (date >= start64) & (date < end64)
        rates[name] = rate(int(left.sum()), int(at_risk.sum()))
        out[name] = {**rates[name].as_dict(), "from": str(start.date()), "to": str((start + window).date())}
    out["difference_after_minus_before"] = newcombe_difference(rates["after"], rates["before"])
    return out


def evaluate_retention(
    warned_csv: Path,
    contacted_csv: Path,
    outcomes_csv: Path,
    split: pd.Timestamp | None = None,
    window_days: int = WINDOW_DAYS,
) -> dict:
    """The retention report (also written as retention.json and charted in report.html)."""

    outcomes = load_outcomes(outcomes_csv)
    report = {
        "contacted_vs_not": contacted_vs_not(
            _callers(Path(warned_csv)), _callers(Path(contacted_csv)), outcomes
        )
    }
    if split is not None:
        report["before_after"] = before_after(outcomes, pd.Timestamp(split), window_days)
    return report
