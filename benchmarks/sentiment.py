"""Sentiment benchmark: stock snownlp vs the shipped call-center scorer.

    python benchmarks/sentiment.py            # evaluate and write docs/benchmarks.md section "sentiment"
    python benchmarks/sentiment.py --retrain  # first retrain the model on the train split and save it
    python benchmarks/sentiment.py --helpdesk-only --split held-out   # one helpdesk split (cached)

1. The in-domain labelled set; its split is fixed in the data file (column `split`: every 4th
   utterance of each label is `test`).
2. Real complaint dialogues, ../shared/realtext/helpdesk.tsv (never trained on), per split of
   benchmarks/splits/helpdesk.tsv: pos/neg accuracy on the clearest dialogues (satisfaction >= 0.25
   vs <= -0.75; predicted pos when the dialogue score >= 0.5) and Spearman correlation with
   satisfaction on a fixed random sample of SPEARMAN_SAMPLE dialogues of the split. Each customer
   turn is scored as an utterance; the dialogue score is the mean of the call-level `mean` and
   `end` (last turn) figures. The cue weights were set on `tune`; `held-out` is the figure to read.
   Per-split results are cached in ~/.cache/speechchurn-textdev/sentiment_<split>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import realtext  # noqa: E402
from benchmarks._report import write_section  # noqa: E402
from speechchurn.dev import sentiment_training as training  # noqa: E402
from speechchurn.text import sentiment  # noqa: E402
from speechchurn.vocab import NEGATIVE_BELOW  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "sentiment_utterances.tsv"
CACHE = Path.home() / ".cache" / "speechchurn-textdev"
SPEARMAN_SAMPLE = 200  # dialogues per split for the rank correlation (scoring all 3,060 takes an hour here)


def _scores(text: str) -> tuple[float, float]:
    """(stock, callcenter) scores of one utterance from one segmentation (what score_text computes)."""
    if not text.strip():
        return sentiment.NEUTRAL_SCORE, sentiment.NEUTRAL_SCORE
    words = sentiment._segment(text)
    stock = sentiment._stock_score(text, words)
    probs = sentiment.class_probabilities(sentiment.load_model(), sentiment.features(text, None, words))
    return stock, sentiment._shifted(
        min(1.0, max(0.0, sentiment.blend(probs, stock))), sentiment.cue_shift(text)
    )


def helpdesk_split(split: str) -> dict:
    """Scores of the clear dialogues and the Spearman sample of one split (cached as JSON)."""
    import hashlib
    import json

    path = CACHE / f"sentiment_{split}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    rows = realtext.helpdesk_split(split)
    sample = sorted(rows, key=lambda d: hashlib.sha256(f"spearman:{d.id}".encode()).hexdigest())[
        :SPEARMAN_SAMPLE
    ]
    clear = [
        d
        for d in rows
        if d.satisfaction >= realtext.CLEAR_POS_MIN or d.satisfaction <= realtext.CLEAR_NEG_MAX
    ]
    chosen = {d.id: d for d in clear + sample}
    t0 = time.perf_counter()
    out = {}
    for d in chosen.values():
        turns = [_scores(t) for t in d.turns] or [(0.5, 0.5)]
        out[d.id] = {
            "satisfaction": d.satisfaction,
            "stock": [a for a, _ in turns],
            "callcenter": [b for _, b in turns],
        }
    result = {
        "dialogues": out,
        "clear": [d.id for d in clear],
        "sample": [d.id for d in sample],
        "ms_per_dialogue": 1000 * (time.perf_counter() - t0) / max(1, len(chosen)),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result), encoding="utf-8")
    return result


def dialogue_score(turn_scores: list[float]) -> float:
    """Mean of the call-level `mean` and `end` (last turn) figures."""
    return 0.5 * sum(turn_scores) / len(turn_scores) + 0.5 * turn_scores[-1]


def helpdesk_table(splits: tuple[str, ...]) -> str:
    from scipy.stats import spearmanr

    lines = [
        "| scorer | split | pos/neg accuracy, clearest (score >= 0.5) | pos/neg accuracy, clearest "
        "(product rule: negative call = mean < 0.4) | n (pos / neg) | Spearman, satisfaction | n sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in splits:
        data = helpdesk_split(split)
        dialogues = data["dialogues"]
        for scorer in (sentiment.SCORER_STOCK, sentiment.SCORER_CALLCENTER):
            clear = [dialogues[i] for i in data["clear"]]
            ok = sum((dialogue_score(d[scorer]) >= 0.5) == (d["satisfaction"] >= 0) for d in clear)
            ok_rule = sum(
                (sum(d[scorer]) / len(d[scorer]) >= NEGATIVE_BELOW) == (d["satisfaction"] >= 0) for d in clear
            )
            n_pos = sum(d["satisfaction"] >= 0 for d in clear)
            sample = [dialogues[i] for i in data["sample"]]
            rho = spearmanr([dialogue_score(d[scorer]) for d in sample], [d["satisfaction"] for d in sample])[
                0
            ]
            counts = f"{len(clear)} ({n_pos} / {len(clear) - n_pos})"
            lines.append(
                f"| {scorer} | {split} | {ok / len(clear):.1%} | {ok_rule / len(clear):.1%} | {counts} "
                f"| {rho:.3f} | {len(sample)} |"
            )
    return (
        "Real complaint dialogues (`../shared/realtext/helpdesk.tsv`, not trained on; cue weights set on "
        "`tune`, read `held-out`). Dialogue score = mean of the call-level mean and end (last customer turn);"
        " "
        f"Spearman on a fixed sample of {SPEARMAN_SAMPLE} dialogues per split. The product-rule column "
        f"is how `speechchurn` itself labels a call: negative when its mean utterance score is below "
        f"vocab.NEGATIVE_BELOW ({NEGATIVE_BELOW}, set before this benchmark existed), otherwise not "
        "negative.\n\n" + "\n".join(lines)
    )


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
    parser.add_argument("--helpdesk-only", action="store_true", help="only score (and cache) helpdesk splits")
    parser.add_argument("--split", choices=(realtext.TUNE, realtext.HELD_OUT), action="append")
    args = parser.parse_args()
    splits = tuple(args.split or (realtext.HELD_OUT, realtext.TUNE))
    if args.helpdesk_only:
        for split in splits:
            helpdesk_split(split)
        return
    if args.retrain:
        print(f"saved {retrain()}")
    table = evaluate()
    if realtext.available():
        table += "\n\n" + helpdesk_table(splits)
    print(table)
    path = write_section("sentiment", "## Sentiment\n\n" + table)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
