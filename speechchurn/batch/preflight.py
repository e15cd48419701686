"""Checks a run makes before its first transcription, so a bad input never costs a batch of work.

`check_out_dir` refuses an output folder that is a file, sits under a file, or cannot be created or
written; `load_inputs` reads and validates every input file of `analyze` (lexicons, rules, customer
roster; the manifest is read by `pipeline.plan_jobs`, also before any transcription);
`check_as_of` refuses an `--as-of` date before the first call, which would leave nothing to grade.
Each failure is a named error whose one-line message names the file, key or option.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

from speechchurn.batch.options import AnalyzeOptions
from speechchurn.errors import ConfigError, OutDirError


def check_out_dir(out_dir: Path) -> None:
    """OUT_DIR must be a folder we can write, or a path whose nearest existing parent we can write."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise OutDirError(f"--out {out_dir}: exists and is not a folder")
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise OutDirError(f"--out {out_dir}: folder is not writable")
        return
    parent = _nearest_existing(out_dir)
    if not parent.is_dir():
        raise OutDirError(f"--out {out_dir}: cannot create a folder under {parent}, which is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutDirError(f"--out {out_dir}: cannot create it, {parent} is not writable")


def make_out_dir(out_dir: Path) -> Path:
    """Check OUT_DIR (`check_out_dir`) and create it."""
    check_out_dir(out_dir)
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutDirError(f"--out {out_dir}: cannot create the folder ({e.strerror or e})") from e
    return Path(out_dir)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.absolute().parents):
        if candidate.exists():
            return candidate
    return Path("/")


def load_inputs(options: AnalyzeOptions, rules: Path | None, customers: Path | None):
    """Read and validate every input file of a run; the batch's lexicon (workers reuse it).

    `rules` and `customers` (the roster) are the grading run's; it loads them again after the batch:
    reading them here costs milliseconds and stops a broken file before hours of transcription. The
    manifest is read by `pipeline.plan_jobs`, also before any transcription.
    """
    from speechchurn.customers.aggregate import load_roster  # pandas: only when a run starts
    from speechchurn.customers.grading import load_rules
    from speechchurn.text.lexicon import load_lexicons

    lexicon = load_lexicons(options.lexicons)
    load_rules(rules)
    if customers:
        load_roster(customers)
    # The QA form (`--qa-form`) is a floor above the batch: `analyze.analyze` loads it right after this.
    return lexicon


def check_as_of(as_of: dt.date | None, starts: Iterable, timezone: str) -> None:
    """An --as-of date before every call leaves nothing to grade: a usage error naming the first call."""
    if as_of is None:
        return
    import pandas as pd

    texts = [s if isinstance(s, str) else s.isoformat() for s in starts if s is not None and s == s]
    stamps = pd.to_datetime(pd.Series(texts, dtype=object), format="ISO8601", utc=True, errors="coerce")
    stamps = stamps.dropna()
    if stamps.empty:
        return
    first = stamps.min().tz_convert(timezone)
    if pd.Timestamp(as_of).date() < first.date():
        raise ConfigError(
            f"--as-of {as_of}: before the first call ({first:%Y-%m-%d %H:%M}); nothing to grade. "
            "Give a date on or after it, or leave --as-of out (default: the newest call)"
        )


def first_starts(store, jobs) -> list[str]:
    """Start times (ISO text) of the calls a run will grade: stored ones and those about to run."""
    stored = [row.get("started_at") for row in store.call_rows()]
    return [*stored, *(job.meta.started_at.isoformat() for job in jobs)]
