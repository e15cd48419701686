"""Benchmark: aggregate and grade 1,000,000 synthetic calls over 200,000 customers.

Run: python benchmarks/grading.py [--calls N] [--customers M] [--no-write]
Prints the figures and writes them into docs/benchmarks.md (section "grading").
Target (2-core machine): aggregation + grading <= 10 s, peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_section  # noqa: E402

from speechchurn.customers.aggregate import aggregate_callers  # noqa: E402
from speechchurn.customers.grading import grade_callers, load_rules  # noqa: E402

SEED = 20_261_119
N_CALLS = 1_000_000
N_CUSTOMERS = 200_000
SPAN_DAYS = 365  # days of call history before the as-of date
AS_OF = pd.Timestamp("2026-11-30 23:59:59", tz="Asia/Shanghai")
TARGET_TOTAL_S = 10.0  # s
TARGET_RSS_MB = 2048.0  # MiB
CATEGORIES = ("complaint", "churn_intent", "competitor", "billing", "network", "praise", "inquiry")


def synthetic_calls(n_calls: int, n_customers: int, seed: int = SEED) -> pd.DataFrame:
    """A calls table shaped like calls.csv (ISO 8601 start times with offset, like a stored table)."""
    rng = np.random.default_rng(seed)
    caller_ids = rng.integers(0, n_customers, n_calls)
    offsets_s = rng.integers(0, SPAN_DAYS * 86_400, n_calls)
    local = AS_OF.tz_localize(None).to_datetime64() - offsets_s.astype("timedelta64[s]")
    started = pd.Series(np.datetime_as_string(local, unit="s")) + AS_OF.strftime("%z")
    frame = pd.DataFrame(
        {
            "file": pd.Series(np.arange(n_calls)).astype(str) + ".wav",
            "caller": (13_800_000_000 + caller_ids).astype(str),
            "direction": np.where(rng.random(n_calls) < 0.7, "in", "out"),
            "started_at": started,
            "duration_s": rng.gamma(2.0, 90.0, n_calls).round(1),
            "non_talk_s": rng.exponential(4.0, n_calls).round(1),
            "transfers": rng.poisson(0.2, n_calls),
            "sentiment_mean": np.clip(rng.normal(0.55, 0.18, n_calls), 0, 1),
        }
    )
    frame["sentiment_min"] = np.clip(frame["sentiment_mean"] - rng.exponential(0.15, n_calls), 0, 1)
    for cat in CATEGORIES:
        frame[f"kw_{cat}"] = rng.poisson(0.15, n_calls)
        frame[f"kw_{cat}_agent"] = rng.poisson(0.1, n_calls)
    return frame


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=N_CALLS)
    parser.add_argument("--customers", type=int, default=N_CUSTOMERS)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    t0 = time.perf_counter()
    calls = synthetic_calls(args.calls, args.customers)
    gen_s = time.perf_counter() - t0
    rules = load_rules()
    t0 = time.perf_counter()
    callers = aggregate_callers(calls, AS_OF)
    agg_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    graded = grade_callers(callers, rules)
    grade_s = time.perf_counter() - t0
    rss = peak_rss_mb()
    total = agg_s + grade_s
    ok = total <= TARGET_TOTAL_S and rss <= TARGET_RSS_MB
    tiers = graded["tier"].value_counts().to_dict()
    lines = [
        f"Synthetic calls: {len(calls):,} over {len(graded):,} customers (generated in {gen_s:.1f} s, "
        f"started_at as ISO 8601 strings, {len(CATEGORIES)} keyword categories).",
        "",
        "| step | figure |",
        "|---|---|",
        f"| aggregate_callers | {agg_s:.2f} s |",
        f"| grade_callers (default rules) | {grade_s:.2f} s |",
        f"| total | {total:.2f} s (target <= {TARGET_TOTAL_S:.0f} s) |",
        f"| peak RSS (whole process, incl. generation) | {rss:.0f} MiB (target <= {TARGET_RSS_MB:.0f} MiB) |",
        f"| tiers | {', '.join(f'{k}: {v:,}' for k, v in sorted(tiers.items()))} |",
        f"| meets target | {'yes' if ok else 'NO'} |",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        doc = write_section("grading", "## grading (benchmarks/grading.py)\n\n" + text)
        print(f"written to {doc}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
