"""Utterance and call-level sentiment for Mandarin call-center speech.

Scores are in [0, 1], 1 = positive. Two scorers:

* ``stock``: snownlp's bundled classifier (trained on shopping reviews).
* ``callcenter`` (default): a three-class (pos/neg/neu) snownlp Bayes model trained on the in-domain
  labelled set (tests/data/sentiment_utterances.tsv, `split == train`), whose features are snownlp
  words plus one pseudo-word per lexicon category hit (``__complaint``, ``__praise_neg`` ...), blended
  with the stock score:
  ``score = 0.5 * P(neu) + (P(pos) + P(neg)) * (MIX * P(pos|polar) + (1 - MIX) * stock)``.
  On the held-out split it beats stock snownlp (figures in docs/benchmarks.md, section "sentiment").

The model file is a snownlp Bayes marshal (gzip), `speechchurn/data/sentiment_callcenter.marshal.3`;
snownlp appends ``.3`` to the name it is given on Python 3, so it is loaded by its stem.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from speechchurn.errors import ConfigError
from speechchurn.resources import DATA_DIR
from speechchurn.schema import ROLE_CUSTOMER, ROLE_MIXED, Segment
from speechchurn.text.keywords import find_hits
from speechchurn.text.lexicon import Lexicon, load_lexicons
from speechchurn.vocab import NEGATIVE_BELOW, POSITIVE_ABOVE

log = logging.getLogger("speechchurn")

SCORER_CALLCENTER = "callcenter"
SCORER_STOCK = "stock"
SCORERS = (SCORER_CALLCENTER, SCORER_STOCK)
MODEL_PATH = DATA_DIR / "sentiment_callcenter.marshal.3"
MARSHAL_PY3_SUFFIX = ".3"  # snownlp's Bayes.save/load append this on Python 3
STOCK_MIX = 0.5  # weight of the in-domain direction vs stock snownlp among polar utterances
NEUTRAL_SCORE = 0.5  # score of blank text
KEEP_STOPWORDS = frozenset({"没有", "别", "非常"})  # snownlp stop words that carry sentiment
PUNCTUATION = frozenset("，。！？、；：,.!?;:…~～ ")
LABELS = ("pos", "neg", "neu")
NAN = float("nan")


# ---------------------------------------------------------------- features and model


@functools.lru_cache(maxsize=1)
def _bundled_lexicon() -> Lexicon:
    """Features always use the bundled lexicons: the shipped model was trained on them."""
    return load_lexicons()


def _lexicon_features(text: str) -> list[str]:
    hits = find_hits([Segment(ROLE_CUSTOMER, 0.0, 0.0, text)], _bundled_lexicon())
    return [f"__{h.category}{'_neg' if h.negated else ''}" for h in hits]


def features(text: str) -> list[str]:
    """snownlp words (stop words removed, negation kept) plus lexicon-category pseudo-words."""
    from snownlp import normal, seg

    words = [w for w in seg.seg(text) if w not in normal.stop or w in KEEP_STOPWORDS]
    words = [w for w in words if w.strip() and not set(w) <= PUNCTUATION]
    return words + _lexicon_features(text)


def _marshal_stem(path: Path) -> str:
    """The name to hand snownlp: it appends '.3' itself on Python 3."""
    name = str(path)
    if sys.version_info[0] == 3 and name.endswith(MARSHAL_PY3_SUFFIX):
        return name[: -len(MARSHAL_PY3_SUFFIX)]
    return name


@functools.lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH):
    """Load a Bayes model saved by save_model (cached per path)."""
    from snownlp.classification.bayes import Bayes

    model = Bayes()
    try:
        model.load(_marshal_stem(path), iszip=True)
    except (OSError, EOFError, ValueError, TypeError, KeyError) as e:
        raise ConfigError(f"{path}: cannot load sentiment model: {e}") from e
    if set(model.d) != set(LABELS):
        raise ConfigError(f"{path}: sentiment model classes {sorted(model.d)} != {sorted(LABELS)}")
    return model


def class_probabilities(model, words: Sequence[str]) -> dict[str, float]:
    """Naive-Bayes posterior per class (snownlp only reports the winning class)."""
    log_p = {}
    for label, counts in model.d.items():
        log_p[label] = math.log(counts.getsum()) - math.log(model.total)
        log_p[label] += sum(math.log(counts.freq(w)) for w in words)
    top = max(log_p.values())
    norm = sum(math.exp(v - top) for v in log_p.values())
    return {label: math.exp(v - top) / norm for label, v in log_p.items()}


# ---------------------------------------------------------------- scoring


def _stock_score(text: str) -> float:
    from snownlp import SnowNLP

    return float(SnowNLP(text).sentiments)


def blend(probs: dict[str, float], stock: float, mix: float = STOCK_MIX) -> float:
    """Neutral mass sits at 0.5; polar mass goes where in-domain direction and stock snownlp agree."""
    polar = probs.get("pos", 0.0) + probs.get("neg", 0.0)
    direction = probs["pos"] / polar if polar > 0 else NEUTRAL_SCORE
    return NEUTRAL_SCORE * probs.get("neu", 0.0) + polar * (mix * direction + (1 - mix) * stock)


def score_text(text: str, scorer: str = SCORER_CALLCENTER, model_path: Path = MODEL_PATH) -> float:
    if not text.strip():
        return NEUTRAL_SCORE
    stock = _stock_score(text)
    if scorer == SCORER_STOCK:
        return stock
    if scorer != SCORER_CALLCENTER:
        raise ValueError(f"unknown sentiment scorer {scorer!r}; choose from {SCORERS}")
    probs = class_probabilities(load_model(model_path), features(text))
    return min(1.0, max(0.0, blend(probs, stock)))


def score_texts(
    texts: Iterable[str], scorer: str = SCORER_CALLCENTER, model_path: Path = MODEL_PATH
) -> list[float]:
    """Sentiment in [0, 1] (1 = positive) for each text; blank text scores 0.5."""
    return [score_text(t, scorer, model_path) for t in texts]


def polarity(score: float) -> str:
    """'neg' below 0.4, 'pos' above 0.6, otherwise 'neu'."""
    if score < NEGATIVE_BELOW:
        return "neg"
    if score > POSITIVE_ABOVE:
        return "pos"
    return "neu"


# ---------------------------------------------------------------- call level


@dataclass(frozen=True)
class CallSentiment:
    """Customer-side sentiment of one call; NaN where there is no (scorable) customer speech."""

    mean: float
    min: float
    negative_share: float  # share of scored utterances with score < NEGATIVE_BELOW
    end: float  # mean of the last quarter, or the last utterance when that quarter is empty
    q1: float
    q2: float
    q3: float
    q4: float

    def as_columns(self) -> dict[str, float]:
        return {
            "sentiment_mean": self.mean,
            "sentiment_min": self.min,
            "negative_share": self.negative_share,
            "sentiment_end": self.end,
            "sentiment_q1": self.q1,
            "sentiment_q2": self.q2,
            "sentiment_q3": self.q3,
            "sentiment_q4": self.q4,
        }


EMPTY_CALL_SENTIMENT = CallSentiment(NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN)


def customer_segments(segments: Sequence[Segment]) -> list[Segment]:
    """Customer-role segments with text; for a mono call (role `mixed`) every segment with text."""
    spoken = [s for s in segments if s.text.strip()]
    customer = [s for s in spoken if s.role == ROLE_CUSTOMER]
    if customer:
        return customer
    return [s for s in spoken if s.role == ROLE_MIXED]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else NAN


def _quarters(segments: Sequence[Segment], scores: Sequence[float], duration_s: float) -> list[float]:
    buckets: list[list[float]] = [[], [], [], []]
    for seg, score in zip(segments, scores, strict=True):
        midpoint = (seg.start + seg.end) / 2  # seconds
        quarter = min(3, max(0, int(4 * midpoint / duration_s)))
        buckets[quarter].append(score)
    return [_mean(b) for b in buckets]


def call_sentiment(
    segments: Sequence[Segment], duration_s: float, scorer: str = SCORER_CALLCENTER
) -> CallSentiment:
    """Aggregate utterance scores of the customer (or mono) side into call-level figures."""
    chosen = sorted(customer_segments(segments), key=lambda s: (s.start, s.end))
    if not chosen:
        return EMPTY_CALL_SENTIMENT
    scores = score_texts([s.text for s in chosen], scorer)
    if not (duration_s > 0 and math.isfinite(duration_s)):
        duration_s = max(s.end for s in chosen) or 1.0  # seconds; unknown duration: last speech end
    q1, q2, q3, q4 = _quarters(chosen, scores, duration_s)
    return CallSentiment(
        mean=_mean(scores),
        min=min(scores),
        negative_share=sum(s < NEGATIVE_BELOW for s in scores) / len(scores),
        end=q4 if not math.isnan(q4) else scores[-1],
        q1=q1,
        q2=q2,
        q3=q3,
        q4=q4,
    )
