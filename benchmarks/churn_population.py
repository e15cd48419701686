"""Synthetic subscriber population with planted churn mechanisms (for benchmarks/churn_model.py and tests).

Run: python benchmarks/churn_population.py OUT_DIR [--customers N] [--seed S]
Writes OUT_DIR/calls.csv, outcomes.csv and edges.csv (the inputs of `speechchurn train/grade`).

Churn mechanics (all vectorised numpy; every customer calls at a personal Poisson rate, gamma
distributed across customers; nobody calls after leaving):

* complaints: complaint-driven leavers call more (``WINDOW_EXTRA_CALLS``) and complain in
  ``COMPLAINT_P_WINDOW`` of their calls during the ``SIGNAL_DAYS`` before leaving (vs ``COMPLAINT_P``
  for everyone) with lower sentiment, and sometimes
  say they want to leave (``INTENT_P_WINDOW``);
* competitor mentions: competitor-driven leavers name a competitor in ``COMPETITOR_P_WINDOW`` of
  their calls in the same window (and call more too);
* behaviour breaks: break-driven leavers (active callers, ``BREAK_RATE_FACTOR``) drop ``QUIET_DROP``
  of their calls in the ``QUIET_DAYS`` before leaving and answer fewer outbound calls;
* network contagion: a contact of a leaver leaves with probability ``CONTAGION_P`` about
  ``CONTAGION_DELAY_DAYS`` (exponential) later, with no speech signal at all (one wave);
* noise: leavers with no signal (``P_NOISE``), customers who complain all the time but stay
  (``GRUMBLER_SHARE``) and stayers who go quiet for a while (``FALSE_QUIET_SHARE``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2025-08-01", tz="Asia/Shanghai")
SPAN_DAYS = 480  # days of history
MEAN_CALLS = 6.5  # calls per customer over SPAN_DAYS (before churn removes some)
RATE_SHAPE = 1.5  # gamma shape of the per-customer call rate
CHURN_FROM_DAY = 100  # seeded churn dates are uniform in [CHURN_FROM_DAY, SPAN_DAYS)
MECHANISMS = {"complaint": 0.03, "competitor": 0.025, "break": 0.03, "noise": 0.02}
P_NOISE = MECHANISMS["noise"]
SIGNAL_DAYS = 75  # days before leaving in which complaint / competitor signals show
QUIET_DAYS = 60  # days before leaving in which break-driven leavers go quiet
QUIET_DROP = 0.9  # share of calls dropped while quiet
BREAK_RATE_FACTOR = 3.0  # break-driven leavers were active callers (rate multiplier)
WINDOW_EXTRA_CALLS = {"complaint": 3.0, "competitor": 2.0}  # extra calls per month in the signal window
COMPLAINT_P, COMPLAINT_P_WINDOW = 0.04, 0.45
COMPETITOR_P, COMPETITOR_P_WINDOW = 0.01, 0.35
INTENT_P, INTENT_P_WINDOW = 0.003, 0.10
OUTBOUND_P = 0.3
UNANSWERED_P, UNANSWERED_P_QUIET = 0.15, 0.6
GRUMBLER_SHARE, GRUMBLER_COMPLAINT_P = 0.05, 0.25
FALSE_QUIET_SHARE = 0.03
COMMUNITY_SIZE = 40  # subscribers per calling community
EDGES_PER_CUSTOMER = 3.5  # mean edges each customer adds (in its community, 1 in 8 anywhere)
CONTAGION_P = 0.08
CONTAGION_DELAY_DAYS = 45.0


@dataclass(frozen=True)
class Population:
    calls: pd.DataFrame  # caller, started_at, duration_s, direction, sentiment_mean, kw_* (calls.csv)
    outcomes: pd.DataFrame  # caller, churned, churn_date, mechanism
    edges: pd.DataFrame  # a, b, calls
    end: pd.Timestamp  # the last day of history


def _callers(n: int) -> np.ndarray:
    return np.char.add("139", np.char.zfill(np.arange(n).astype(str), 8)).astype(object)


def _mechanisms(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    names = np.array([*MECHANISMS, "none"], dtype=object)
    probs = [*MECHANISMS.values(), 1.0 - sum(MECHANISMS.values())]
    mech = names[rng.choice(len(names), size=n, p=probs)]
    churn_day = np.where(mech != "none", rng.uniform(CHURN_FROM_DAY, SPAN_DAYS, n), np.inf)
    return mech, churn_day


def _edges(rng, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = int(n * EDGES_PER_CUSTOMER)
    a = rng.integers(0, n, m)
    local = (a // COMMUNITY_SIZE) * COMMUNITY_SIZE + rng.integers(0, COMMUNITY_SIZE, m)
    b = np.where(rng.random(m) < 0.875, np.minimum(local, n - 1), rng.integers(0, n, m))
    keep = a != b
    return a[keep], b[keep], rng.integers(1, 30, int(keep.sum()))


def _contagion(rng, a, b, mech, churn_day) -> None:
    """One wave: each contact of a seeded leaver may leave later (in place on mech / churn_day)."""
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    seeded = np.isfinite(churn_day[src]) & (mech[dst] == "none")
    hit = seeded & (rng.random(len(src)) < CONTAGION_P)
    when = churn_day[src[hit]] + rng.exponential(CONTAGION_DELAY_DAYS, int(hit.sum()))
    first = np.full(len(mech), np.inf)
    np.minimum.at(first, dst[hit], when)
    new = np.isfinite(first) & (first < SPAN_DAYS)
    mech[new] = "contagion"
    churn_day[new] = first[new]


def _call_times(rng, n: int, mech, churn_day) -> tuple[np.ndarray, np.ndarray]:
    rate = rng.gamma(RATE_SHAPE, MEAN_CALLS / RATE_SHAPE, n) * np.where(
        mech == "break", BREAK_RATE_FACTOR, 1.0
    )
    who = np.repeat(np.arange(n), rng.poisson(rate))
    day = rng.uniform(0, SPAN_DAYS, len(who))
    for name, per_month in WINDOW_EXTRA_CALLS.items():  # unhappy customers call more before leaving
        extra = np.repeat(
            np.arange(n), rng.poisson(np.where(mech == name, per_month * SIGNAL_DAYS / 30, 0.0))
        )
        who = np.concatenate([who, extra])
        day = np.concatenate([day, churn_day[extra] - rng.uniform(0, SIGNAL_DAYS, len(extra))])
    keep = day < churn_day[who]
    quiet_from = np.where(mech == "break", churn_day - QUIET_DAYS, np.inf)
    false_quiet = (mech == "none") & (rng.random(n) < FALSE_QUIET_SHARE)
    start = rng.uniform(0, SPAN_DAYS - QUIET_DAYS, n)
    quiet_from = np.where(false_quiet, start, quiet_from)
    quiet_to = np.where(false_quiet, start + QUIET_DAYS, churn_day)
    quiet = (day >= quiet_from[who]) & (day < quiet_to[who])
    keep &= ~(quiet & (rng.random(len(who)) < QUIET_DROP))
    return who[keep], day[keep]


def _call_columns(rng, who, day, mech, churn_day, grumbler) -> dict:
    m = len(who)
    window = day >= churn_day[who] - SIGNAL_DAYS
    cm = mech[who]
    p_complaint = np.where(grumbler[who], GRUMBLER_COMPLAINT_P, COMPLAINT_P)
    p_complaint = np.where(window & (cm == "complaint"), COMPLAINT_P_WINDOW, p_complaint)
    complaint = rng.random(m) < p_complaint
    competitor = rng.random(m) < np.where(window & (cm == "competitor"), COMPETITOR_P_WINDOW, COMPETITOR_P)
    signal = window & np.isin(cm, ["complaint", "competitor"])
    intent = rng.random(m) < np.where(signal, INTENT_P_WINDOW, INTENT_P)
    outbound = rng.random(m) < OUTBOUND_P
    quiet = (cm == "break") & (day >= churn_day[who] - QUIET_DAYS)
    unanswered = outbound & (rng.random(m) < np.where(quiet, UNANSWERED_P_QUIET, UNANSWERED_P))
    duration = np.where(unanswered, 0.0, np.round(rng.lognormal(5.0, 0.8, m)))
    sentiment = np.where(complaint, rng.beta(3, 6, m), rng.beta(6, 4, m))
    return {
        "duration_s": duration,
        "direction": np.where(outbound, "out", "in").astype(object),
        "sentiment_mean": np.round(sentiment, 3),
        "kw_complaint": complaint * (1 + rng.poisson(0.5, m)),
        "kw_competitor": competitor * (1 + rng.poisson(0.3, m)),
        "kw_churn_intent": intent.astype(np.int64),
    }


def generate(n_customers: int = 200_000, seed: int = 0) -> Population:
    """The population, its calls (sorted by time), outcomes and call network."""
    rng = np.random.default_rng(seed)
    mech, churn_day = _mechanisms(rng, n_customers)
    a, b, weight = _edges(rng, n_customers)
    _contagion(rng, a, b, mech, churn_day)
    grumbler = (mech == "none") & (rng.random(n_customers) < GRUMBLER_SHARE)
    who, day = _call_times(rng, n_customers, mech, churn_day)
    order = np.argsort(day, kind="stable")
    who, day = who[order], day[order]
    ids = _callers(n_customers)
    calls = pd.DataFrame({"caller": ids[who], "started_at": START + pd.to_timedelta(day, unit="D")})
    calls = calls.assign(**_call_columns(rng, who, day, mech, churn_day, grumbler))
    churned = np.isfinite(churn_day)
    dates = (START + pd.to_timedelta(np.where(churned, churn_day, 0), unit="D")).tz_localize(None).normalize()
    outcomes = pd.DataFrame(
        {
            "caller": ids,
            "churned": churned.astype(np.int64),
            "churn_date": dates.where(churned),
            "mechanism": mech,
        }
    )
    edges = pd.DataFrame({"a": ids[a], "b": ids[b], "calls": weight})
    return Population(calls, outcomes, edges, (START + pd.Timedelta(days=SPAN_DAYS)).tz_localize(None))


def write(population: Population, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    calls = population.calls.copy()
    calls["started_at"] = calls["started_at"].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    calls.to_csv(out / "calls.csv", index=False)
    outcomes = population.outcomes.copy()
    outcomes["churn_date"] = outcomes["churn_date"].dt.strftime("%Y-%m-%d")
    outcomes.to_csv(out / "outcomes.csv", index=False)
    population.edges.to_csv(out / "edges.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    population = generate(args.customers, args.seed)
    write(population, args.out)
    print(f"{len(population.calls)} calls, {len(population.outcomes)} customers -> {args.out}")


if __name__ == "__main__":
    main()
