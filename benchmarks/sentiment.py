"""Sentiment benchmark: stock snownlp vs the shipped call-center scorer on the labelled set.

    python benchmarks/sentiment.py            # evaluate and write docs/benchmarks.md section "sentiment"
    python benchmarks/sentiment.py --retrain  # first retrain the model on the train split and save it

The split is fixed in the data file (column `split`: every 4th utterance of each label is `test`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from speechchurn.dev import sentiment_training as training  # noqa: E402
from speechchurn.text import sentiment  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "sentiment_utterances.tsv"


def retrain() -> Path:
    items = [u for u in training.read_labelled(DATA) if u.split == "train"]
    model = training.train_model((u.text, u.label) for u in items)
    path = training.save_model(model)
    sentiment.load_model.cache_clear()
    return path


def evaluate() -> str:
    items = training.read_labelled(DATA)
    lines = [
        "| scorer | split | pos/neg accuracy | 3-way accuracy | n pos/neg | n all | ms/utterance |",
        "|---|---|---|---|---|---|---|",
    ]
    for scorer in (sentiment.SCORER_STOCK, sentiment.SCORER_CALLCENTER):
        for split in ("test", "train"):
            subset = [u for u in items if u.split == split]
            t0 = time.perf_counter()
            scores = sentiment.score_texts([u.text for u in subset], scorer)
            ms = 1000 * (time.perf_counter() - t0) / len(subset)
            acc = training.accuracy(subset, scores)
            name = f"{scorer} (held out)" if split == "test" else f"{scorer} (train, not held out)"
            lines.append(
                f"| {name} | {split} | {acc.polar:.1%} | {acc.three_way:.1%} | {acc.n_polar} | {acc.n_all} "
                f"| {ms:.1f} |"
            )
    size_kb = sentiment.MODEL_PATH.stat().st_size / 1024
    intro = (
        f"Labelled set: `{DATA.relative_to(DATA.parent.parent.parent)}` ({len(items)} customer utterances, "
        "pos/neg/neu; every 4th of each label held out). 3-way uses `polarity()`: neg < 0.4, pos > 0.6. "
        f"`callcenter` = in-domain 3-class snownlp Bayes + lexicon features, blended with stock "
        f"(model file {size_kb:.0f} KiB). Default scorer: `{sentiment.SCORER_CALLCENTER}`.\n\n"
    )
    return intro + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--retrain", action="store_true", help="retrain and save the model first")
    args = parser.parse_args()
    if args.retrain:
        print(f"saved {retrain()}")
    table = evaluate()
    print(table)
    path = write_section("sentiment", "## Sentiment\n\n" + table)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
