"""Grading's helper: the call network and the churn model are loaded, and customers scored, beside
the main work of loading and aggregating the calls, grading by the rules and writing the CSV text.

Large inputs (a ``--calls`` CSV of at least ``HELPER_PROCESS_MIN_BYTES``, or at least
``HELPER_PROCESS_MIN_CALLS`` calls) get a helper *process*, started with ``spawn`` so that it shares
no locks or OpenMP state with this one: its CSV parsing, its import of scikit-learn and its scoring
never wait for this process's GIL, and this process never imports scikit-learn. Smaller inputs get a
helper *thread*, which costs nothing to start. Either way the helper runs its tasks one at a time,
in the order they were given. Log records from a helper process are re-issued here; a helper process
that dies raises :class:`HelperError`. Like ``analyze --workers``, a script that grades a large
input needs the ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import logging
import os
import uuid
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import HelperError
from speechchurn.outcomes.features import load_outcomes
from speechchurn.outcomes.network import build_graph, load_edges
from speechchurn.outcomes.network import churned_by, network_figures
from speechchurn.outcomes.train import load_model
from speechchurn.outcomes.apply import score_matrix
from speechchurn.outcomes.train import matrix
from speechchurn.errors import ConfigError
from speechchurn.customers.columns import NETWORK_COLUMNS

log = logging.getLogger("speechchurn")

HELPER_PROCESS_MIN_CALLS = 200_000  # calls: below this a process's start-up (~1 s) outweighs its gain
HELPER_PROCESS_MIN_BYTES = 10 * 2**20  # a --calls CSV this large holds about 200,000 calls

_LOADED: dict[str, dict] = {}  # by token: what the tasks below loaded in this process


def network_task(edges: Path, outcomes: Path | None, token: str) -> None:
    """Load the call graph and the outcomes for :func:`figures_task`."""

    left = load_outcomes(outcomes) if outcomes is not None else None
    _LOADED.setdefault(token, {}).update(graph=build_graph(load_edges(edges)), outcomes=left)


def figures_task(token: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """network_figures per subscriber (churned contacts known on ``as_of``)."""

    loaded = _LOADED[token]
    return network_figures(loaded["graph"], churned_by(loaded["outcomes"], as_of))


def model_task(path: Path, token: str) -> None:
    """Load the churn model at ``path`` for :func:`score_task`."""

    _LOADED.setdefault(token, {})["model"] = {**load_model(path), "name": Path(path).name}


def score_task(token: str, callers: pd.DataFrame, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(churn probability, model_reason) per customer with the model loaded under ``token``."""

    model = _LOADED[token]["model"]
    return score_matrix(model, matrix(callers, model_columns(model, callers.columns)), workers)


def model_columns(model: dict, columns) -> list[str]:
    """The model's feature names; a ConfigError when network features are missing (no --network),
    a warning when others are (they read as 0)."""

    features = list(model["features"])
    absent = [f for f in features if f not in set(columns)]
    if any(f in NETWORK_COLUMNS for f in absent):
        raise ConfigError(f"{model['name']}: the model uses the call network; pass --network edges.csv")
    if absent:
        log.warning("model features absent from the calls, read as 0: %s", ", ".join(absent))
    return features


def forget_task(token: str) -> None:
    _LOADED.pop(token, None)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args, record.exc_info = record.getMessage(), None, None  # picklable
        self.records.append(record)


def _logged(level: int, task, *args):
    """(task's result, its speechchurn log records at ``level`` and above): what a helper process
    sends back."""
    logger = logging.getLogger("speechchurn")
    collect = _Collect()
    logger.addHandler(collect)
    logger.setLevel(level)
    logger.propagate = False  # the records are re-issued by the parent, not printed here
    try:
        return task(*args), collect.records
    finally:
        logger.removeHandler(collect)


class GradeHelper:
    """The helper of one grading run (a context manager). It starts loading the call network and the
    model at once, before the calls are loaded; then it gives network figures and scores."""

    def __init__(self, edges: Path | None, outcomes: Path | None, model: Path | None, process: bool):
        self._process = process
        self._token = uuid.uuid4().hex
        self._pool = _executor(process)
        self._loads = [self._submit(network_task, edges, outcomes, self._token)] if edges is not None else []
        if model is not None:
            self._loads.append(self._submit(model_task, model, self._token))

    def __enter__(self) -> GradeHelper:
        return self

    def __exit__(self, *exc) -> None:
        if not self._process:
            self._pool.submit(forget_task, self._token)
        self._pool.shutdown(wait=False, cancel_futures=True)  # a process exits in the background

    def figures(self, as_of: pd.Timestamp) -> Future:
        """Start computing the network figures as of ``as_of`` (:meth:`result` waits for them)."""
        return self._submit(figures_task, self._token, as_of)

    def score(self, callers: pd.DataFrame) -> Future:
        """Start scoring ``callers`` (:meth:`result` gives (probability, reason) per customer). A
        helper process leaves one core to this process, which writes CSV text meanwhile."""
        workers = max(1, (os.cpu_count() or 1) - 1) if self._process else None
        numeric = callers.select_dtypes(["number", "bool"])  # the features; no text to send
        return self._submit(score_task, self._token, numeric, workers)

    def result(self, pending: Future):
        """What ``pending`` computed; a file that did not load raises its own error first."""
        while self._loads:  # each load's log records are relayed once
            self._unwrap(self._loads[0])
            self._loads.pop(0)
        return self._unwrap(pending)

    def _submit(self, task, *args) -> Future:
        if self._process:
            return self._pool.submit(_logged, log.getEffectiveLevel(), task, *args)
        return self._pool.submit(task, *args)

    def _unwrap(self, future: Future):
        from concurrent.futures.process import BrokenProcessPool

        try:
            value = future.result()
        except BrokenProcessPool as e:
            raise HelperError(f"grading's helper process stopped ({e}); is memory short?") from e
        if not self._process:
            return value
        value, records = value
        for record in records:
            log.handle(record)
        return value


def _executor(process: bool):
    if not process:
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(1, thread_name_prefix="speechchurn-helper")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
