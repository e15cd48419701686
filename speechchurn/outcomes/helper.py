"""Grading's helper: the call network and the churn model are loaded, and customers scored, beside
the main work of aggregating the calls, grading by the rules and writing the CSV text.

Large tables (at least ``HELPER_PROCESS_MIN_CALLS`` calls) get a helper *process*, started with
``spawn`` so that it shares no locks or OpenMP state with this one: its CSV parsing, its import of
scikit-learn and its scoring never wait for this process's GIL, and this process never imports
scikit-learn. Smaller tables get a helper *thread*, which costs nothing to start. Either way the
helper runs its tasks one at a time, in the order they were given. Log records from a helper
process are re-issued here; a helper process that dies raises :class:`HelperError`.
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

log = logging.getLogger("speechchurn")

HELPER_PROCESS_MIN_CALLS = 200_000  # calls: below this a process's start-up (~1 s) outweighs its gain

_MODELS: dict[str, dict] = {}  # churn models loaded in this process by model_task, by token


def network_task(edges: Path, outcomes: Path | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """network_figures per subscriber in ``edges`` (churned contacts known on ``as_of``)."""
    from speechchurn.outcomes.features import load_outcomes
    from speechchurn.outcomes.network import build_graph, churned_by, load_edges, network_figures

    left = churned_by(load_outcomes(outcomes), as_of) if outcomes is not None else set()
    return network_figures(build_graph(load_edges(edges)), left)


def model_task(path: Path, token: str) -> list[str]:
    """Load the churn model at ``path`` for :func:`score_task`; its feature names."""
    from speechchurn.outcomes.train import load_model

    _MODELS[token] = load_model(path)
    return list(_MODELS[token]["features"])


def score_task(token: str, X: np.ndarray, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(churn probability, model_reason) per row of ``X`` with the model loaded under ``token``."""
    from speechchurn.outcomes.apply import score_matrix

    return score_matrix(_MODELS[token], X, workers)


def forget_task(token: str) -> None:
    _MODELS.pop(token, None)


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
    """The helper of one grading run (a context manager): network figures, the model, scores."""

    def __init__(self, edges: Path | None, outcomes: Path | None, model: Path | None, as_of, process: bool):
        self._process = process
        self._token = uuid.uuid4().hex
        self._pool = _executor(process)
        self._model = model
        self._network = self._submit(network_task, edges, outcomes, as_of) if edges is not None else None
        self._features = self._submit(model_task, model, self._token) if model is not None else None

    def __enter__(self) -> GradeHelper:
        return self

    def __exit__(self, *exc) -> None:
        if self._model is not None and not self._process:
            self._pool.submit(forget_task, self._token)
        self._pool.shutdown(wait=False, cancel_futures=True)  # a process exits in the background

    def network_figures(self) -> pd.DataFrame:
        return self.result(self._network)

    def model_features(self) -> list[str]:
        return self.result(self._features)

    def score(self, X: np.ndarray) -> Future:
        """Start scoring ``X`` (:meth:`result` of the returned future is (probability, reason)).

        A helper process leaves one core to this process, which writes CSV text meanwhile."""
        workers = max(1, (os.cpu_count() or 1) - 1) if self._process else None
        return self._submit(score_task, self._token, X, workers)

    def _submit(self, task, *args) -> Future:
        if self._process:
            return self._pool.submit(_logged, log.getEffectiveLevel(), task, *args)
        return self._pool.submit(task, *args)

    def result(self, future: Future):
        from concurrent.futures.process import BrokenProcessPool

        try:
            value = future.result()
        except BrokenProcessPool as e:
            raise HelperError(f"grading's helper process stopped ({e}); run again with more free memory") from e
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
