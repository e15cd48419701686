"""The call network: who calls whom among subscribers, and how many of a customer's contacts left.

``edges.csv`` has ``a, b, calls`` (one row per pair, from CDRs; direction is ignored and repeated pairs
add up). The graph is a scipy.sparse adjacency matrix built in one pass, so the work is linear in the
number of edges. Per customer:

* ``contacts``: distinct other subscribers called or calling (self-loops ignored);
* ``contacts_churned``: of those, how many churned on or before ``as_of`` (from the outcomes file;
  a churn after the cutoff is unknown at the cutoff and is not counted);
* ``contacts_churned_share``: ``contacts_churned / contacts`` (0 without contacts).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import ManifestError
from speechchurn.call.metadata import read_table_bytes
from speechchurn.call.phones import phone_codes

log = logging.getLogger("speechchurn")

EDGE_COLUMNS = ("a", "b")  # required; "calls" optional (1 per row when absent)


@dataclass(frozen=True)
class CallGraph:
    """Symmetric adjacency (CSR, entries = calls between the pair) over ``nodes`` (caller ids)."""

    nodes: np.ndarray  # caller id per row/column
    adjacency: object  # scipy.sparse.csr_array, shape (n, n)

    def index_of(self, callers) -> np.ndarray:
        """Row of each caller in the graph, -1 when absent."""
        return pd.Index(self.nodes).get_indexer(pd.Index(np.asarray(callers, dtype=object)))


def load_edges(path: Path | str) -> pd.DataFrame:
    """Read edges.csv: a, b[, calls]; phones normalised like call metadata.

    ``a`` and ``b`` are categoricals over the same normalised numbers (one pass over both ends),
    so :func:`build_graph` takes their codes as they are.
    """

    path = Path(path)
    data, encoding = read_table_bytes(path, "edges file")
    try:
        frame = pd.read_csv(io.BytesIO(data), encoding=encoding, dtype={"a": object, "b": object})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ManifestError(f"{path}: unreadable edges CSV ({e})") from e
    frame = frame.rename(columns=lambda c: str(c).strip())
    missing = [c for c in EDGE_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)} (need a, b[, calls])")
    calls = pd.to_numeric(frame["calls"], errors="coerce") if "calls" in frame else 1.0
    codes, numbers = phone_codes(np.concatenate([frame["a"].to_numpy(object), frame["b"].to_numpy(object)]))
    a, b = codes[: len(frame)], codes[len(frame) :]
    blank = np.flatnonzero(numbers == "")
    bad = np.isin(a, blank) | np.isin(b, blank)
    if bad.any():
        log.warning("%s: %d edge row(s) without both ends skipped", path, int(bad.sum()))
    weight = pd.Series(calls, index=frame.index).fillna(1.0).to_numpy(dtype=np.float64)
    (a, b), numbers = _used_only((a[~bad], b[~bad]), numbers)
    numbers = pd.Index(numbers, dtype=object)
    return pd.DataFrame(
        {
            "a": pd.Categorical.from_codes(a, categories=numbers),
            "b": pd.Categorical.from_codes(b, categories=numbers),
            "calls": weight[~bad],
        }
    )


def _used_only(code_arrays, values: np.ndarray):
    """(code arrays renumbered, values) keeping only the values some code points at."""
    used = np.zeros(len(values), dtype=bool)
    for codes in code_arrays:
        used[codes] = True
    renumber = np.cumsum(used) - 1
    return tuple(renumber[codes] for codes in code_arrays), values[used]


def build_graph(edges: pd.DataFrame) -> CallGraph:
    """Undirected graph: integer ends (one factorize over both, unless they are categoricals over the
    same numbers), one sparse matrix (duplicates summed)."""
    from scipy import sparse

    a, b, nodes = _end_codes(edges)
    weight = edges["calls"].to_numpy(dtype=np.float64)
    loop = a == b
    a, b, weight = a[~loop], b[~loop], weight[~loop]
    n = len(nodes)
    rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
    adjacency = sparse.coo_array((np.concatenate([weight, weight]), (rows, cols)), shape=(n, n)).tocsr()
    adjacency.sum_duplicates()
    return CallGraph(np.asarray(nodes, dtype=object), adjacency)


def _end_codes(edges: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a codes, b codes, nodes) over the numbers of both ends."""
    a, b = edges["a"], edges["b"]
    if isinstance(a.dtype, pd.CategoricalDtype) and a.dtype == b.dtype:
        return a.cat.codes.to_numpy(), b.cat.codes.to_numpy(), a.cat.categories.to_numpy(dtype=object)
    m = len(edges)
    codes, nodes = pd.factorize(np.concatenate([a.to_numpy(dtype=object), b.to_numpy(dtype=object)]))
    return codes[:m], codes[m:], nodes


def churned_by(outcomes: pd.DataFrame | None, as_of: pd.Timestamp) -> set[str]:
    """Callers known to have churned on or before ``as_of`` (churn_date <= as_of)."""
    if outcomes is None or outcomes.empty:
        return set()
    date = outcomes["churn_date"]
    cutoff = pd.Timestamp(as_of).tz_localize(None) if pd.Timestamp(as_of).tzinfo else pd.Timestamp(as_of)
    gone = (outcomes["churned"] == 1) & date.notna() & (date <= cutoff.normalize())
    return set(outcomes.loc[gone, "caller"].astype(str))


def network_figures(graph: CallGraph, churned: set[str]) -> pd.DataFrame:
    """contacts, contacts_churned, contacts_churned_share per graph node (sparse mat-vec products)."""
    binary = graph.adjacency.copy()
    binary.data = np.ones_like(binary.data)
    left = pd.Index(graph.nodes).isin(list(churned)).astype(np.float64)
    contacts = np.asarray(binary.sum(axis=1)).ravel()
    gone = binary @ left
    share = np.divide(gone, contacts, out=np.zeros_like(gone), where=contacts > 0)
    return pd.DataFrame(
        {
            "contacts": contacts.astype(np.int64),
            "contacts_churned": gone.astype(np.int64),
            "contacts_churned_share": share,
        },
        index=pd.Index(graph.nodes, name="caller"),
    )


def add_network(callers: pd.DataFrame, graph: CallGraph, churned: set[str]) -> pd.DataFrame:
    """``callers`` with the network columns (0 for customers outside the graph)."""
    return join_network(callers, network_figures(graph, churned))


def join_network(callers: pd.DataFrame, figures: pd.DataFrame) -> pd.DataFrame:
    """``callers`` with :func:`network_figures` joined by caller (0 for customers not in it)."""
    rows = pd.Index(figures.index.to_numpy(dtype=object)).get_indexer(callers["caller"].astype(str).to_numpy())
    out = callers.copy()
    for col in figures.columns:
        values = figures[col].to_numpy()
        out[col] = np.where(rows >= 0, values[np.maximum(rows, 0)], 0).astype(values.dtype)
    return out
