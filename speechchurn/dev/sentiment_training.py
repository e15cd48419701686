"""Training and evaluation of the call-center sentiment model (developer tools, not used at run time).

`benchmarks/sentiment.py --retrain` trains on the labelled set's `train` split and writes the model
that `speechchurn.text.sentiment` ships and loads; `accuracy` scores a split for the benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from speechchurn.errors import ConfigError
from speechchurn.text.sentiment import (
    LABELS,
    MODEL_PATH,
    NEUTRAL_SCORE,
    _marshal_stem,
    _snownlp,
    features,
    polarity,
)

NAN = math.nan


def train_model(examples: Iterable[tuple[str, str]]):
    """A snownlp Bayes classifier trained on (text, label) pairs, label in pos/neg/neu."""

    data = []
    for text, label in examples:
        if label not in LABELS:
            raise ValueError(f"label {label!r} is not one of {LABELS}")
        data.append([features(text), label])
    model = _snownlp("classification.bayes").Bayes()
    model.train(data)
    return model


def save_model(model, path: Path = MODEL_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(_marshal_stem(path), iszip=True)
    return path


@dataclass(frozen=True)
class LabelledUtterance:
    id: int
    label: str  # pos | neg | neu
    split: str  # train | test (every 4th item of each label is test)
    text: str


@dataclass(frozen=True)
class Accuracy:
    polar: float  # pos/neg items only, score >= 0.5 counts as pos
    three_way: float  # all items, through polarity()
    n_polar: int
    n_all: int


def read_labelled(path: Path) -> list[LabelledUtterance]:
    """Read a tab-separated file with columns id, label, split, text."""
    import csv

    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        return [LabelledUtterance(int(r["id"]), r["label"], r["split"], r["text"]) for r in rows]
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"{path}: cannot read labelled utterances: {e}") from e


def accuracy(items: Sequence[LabelledUtterance], scores: Sequence[float]) -> Accuracy:
    polar = [(u, s) for u, s in zip(items, scores, strict=True) if u.label != "neu"]
    polar_ok = sum((s >= NEUTRAL_SCORE) == (u.label == "pos") for u, s in polar)
    three_ok = sum(polarity(s) == u.label for u, s in zip(items, scores, strict=True))
    return Accuracy(
        polar=polar_ok / len(polar) if polar else NAN,
        three_way=three_ok / len(items) if items else NAN,
        n_polar=len(polar),
        n_all=len(items),
    )
