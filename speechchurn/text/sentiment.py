"""Utterance and call-level sentiment for Mandarin call-center speech.

Scores are in [0, 1], 1 = positive. Two scorers:

* ``stock``: snownlp's bundled classifier (trained on shopping reviews).
* ``callcenter`` (default): a three-class (pos/neg/neu) snownlp Bayes model trained on the in-domain
  labelled set (tests/data/sentiment_utterances.tsv, `split == train`), whose features are the
  utterance's words plus one pseudo-word per lexicon category hit (``__complaint``, ``__praise_neg``
  ...), blended with the stock score:
  ``score = 0.5 * P(neu) + (P(pos) + P(neg)) * (MIX * P(pos|polar) + (1 - MIX) * stock)``.
  On the held-out split it beats stock snownlp (figures in docs/benchmarks.md, section "sentiment").
  The callcenter score is then shifted in log-odds by the cues of ``speechchurn/data/sentiment_cues.tsv``
  (resolved language such as 谢谢 / 解决了 up, open complaints and rhetorical questions down) and
  by ``CALM_LOG_ODDS`` when no complaint cue matched; weights hand-set on the tune split of
  helpdesk.tsv (never trained on it; benchmarks/sentiment.py reports the held-out split).

Each utterance is segmented once, by the keyword spotter's jieba tokenizer (bundled lexicon terms kept
whole, HMM on for unknown words); the stock score and the model features share the words, and
keyword hits already found for the call can be handed in, so keyword spotting is not run twice.
snownlp's own character segmenter is never loaded: importing the ``snownlp`` package loads every
bundled model (about 410 MB per worker, 340 MB of it the segmenter), so :func:`_snownlp` imports
only the parts used (Bayes classifier, stop words; about 35 MB). Measured when the switch was made
(model retrained on the same labelled split): helpdesk tune clearest pos/neg 74.3 % -> 75.8 %
(product rule 75.8 % -> 80.3 %), held-out 75.9 % -> 74.9 % (80.4 % -> 79.7 %, about 4 of 403
dialogues), labelled held-out 3-way 80.0 % -> 75.6 %, scoring about 3x faster.

The model file is a snownlp Bayes marshal (gzip), `speechchurn/data/sentiment_callcenter.marshal.3`;
snownlp appends ``.3`` to the name it is given on Python 3, so it is loaded by its stem.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from speechchurn.errors import ConfigError
from speechchurn.resources import DATA_DIR
from speechchurn.schema import ROLE_CUSTOMER, ROLE_MIXED, KeywordHit, Segment
from speechchurn.text.keywords import find_hits, get_tokenizer
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
SEGMENT_HMM = True  # jieba guesses unknown words (tune split: better than HMM off, within noise)
KEEP_STOPWORDS = frozenset({"没有", "别", "非常"})  # snownlp stop words that carry sentiment
PUNCTUATION = frozenset("，。！？、；：,.!?;:…~～ ")
LABELS = ("pos", "neg", "neu")
NAN = float("nan")
CUES_PATH = DATA_DIR / "sentiment_cues.tsv"
CUE_COLUMNS = ("name", "weight", "max_matches", "pattern")
# Added when no cue of weight <= 0 matched. 0: a bonus of 0.3 raised helpdesk tune accuracy by 0.04
# but cost the in-domain labelled set 0.08 of pos/neg accuracy (calm call-center talk is neutral).
CALM_LOG_ODDS = 0.0
MAX_LOG_ODDS = 9.0  # clamp before the logistic (scores stay strictly inside (0, 1))


# ---------------------------------------------------------------- features and model


@functools.lru_cache(maxsize=1)
def _bundled_lexicon() -> Lexicon:
    """Features always use the bundled lexicons: the shipped model was trained on them."""
    return load_lexicons()


def _lexicon_features(text: str, hits: Sequence[KeywordHit] | None = None) -> list[str]:
    """One pseudo-word per keyword hit; `hits` already found for this text are used as they are."""
    if hits is None:
        hits = find_hits([Segment(ROLE_CUSTOMER, 0.0, 0.0, text)], _bundled_lexicon())
    return [f"__{h.category}{'_neg' if h.negated else ''}" for h in hits]


def _snownlp(name: str):
    """A submodule of snownlp (``normal``, ``classification.bayes``) without running the package's
    ``__init__``, which loads every bundled model, its 340 MB character segmenter included."""
    import importlib
    import importlib.util
    import types

    if "snownlp" not in sys.modules:
        spec = importlib.util.find_spec("snownlp")
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError("snownlp is not installed (pip install snownlp)")
        package = types.ModuleType("snownlp", "snownlp's modules, imported one by one (speechchurn)")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["snownlp"] = package
    return importlib.import_module(f"snownlp.{name}")


def _segment(text: str) -> list[str]:

    return get_tokenizer(_bundled_lexicon()).lcut(text, HMM=SEGMENT_HMM)


def _model_words(words: Sequence[str]) -> list[str]:
    stop = _snownlp("normal").stop
    kept = [w for w in words if w not in stop or w in KEEP_STOPWORDS]
    return [w for w in kept if w.strip() and not set(w) <= PUNCTUATION]


def features(
    text: str, hits: Sequence[KeywordHit] | None = None, words: Sequence[str] | None = None
) -> list[str]:
    """snownlp words (stop words removed, negation kept) plus lexicon-category pseudo-words."""
    return _model_words(_segment(text) if words is None else words) + _lexicon_features(text, hits)


def _marshal_stem(path: Path) -> str:
    """The name to hand snownlp: it appends '.3' itself on Python 3."""
    name = str(path)
    if sys.version_info[0] == 3 and name.endswith(MARSHAL_PY3_SUFFIX):
        return name[: -len(MARSHAL_PY3_SUFFIX)]
    return name


def load_bayes(path: Path):
    """A snownlp Bayes model from its gzip marshal file (ConfigError names the file)."""
    model = _snownlp("classification.bayes").Bayes()
    try:
        model.load(_marshal_stem(path), iszip=True)
    except (OSError, EOFError, ValueError, TypeError, KeyError) as e:
        raise ConfigError(f"{path}: cannot load sentiment model: {e}") from e
    return model


@functools.lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH):
    """Load a Bayes model saved by save_model (cached per path)."""
    model = load_bayes(path)
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


@functools.lru_cache(maxsize=1)
def _stock_model():
    """snownlp's bundled review-sentiment Bayes model (what ``SnowNLP(text).sentiments`` uses)."""
    _snownlp("normal")  # registers the package (without its __init__) if nothing imported it yet
    folder = Path(sys.modules["snownlp"].__path__[0])
    return load_bayes(folder / "sentiment" / f"sentiment.marshal{MARSHAL_PY3_SUFFIX}")


def _stock_score(text: str, words: Sequence[str] | None = None) -> float:
    """snownlp's own sentiment classifier on already-cut words (stop words removed as snownlp does)."""
    filter_stop = _snownlp("normal").filter_stop
    label, prob = _stock_model().classify(filter_stop(_segment(text) if words is None else words))
    return float(prob if label == "pos" else 1 - prob)


# ---------------------------------------------------------------- cues


@dataclass(frozen=True)
class Cue:
    name: str
    weight: float  # log-odds added per match (+: more positive)
    max_matches: int  # matches counted at most
    pattern: re.Pattern


def _cue(raw: dict, where: str) -> Cue:
    try:
        weight, max_matches = float(raw["weight"]), int(raw["max_matches"])
        pattern = re.compile(raw["pattern"])
    except (KeyError, TypeError, ValueError, re.error) as e:
        raise ConfigError(f"{where}: bad sentiment cue {raw.get('name')!r}: {e}") from e
    if not math.isfinite(weight) or max_matches < 1 or not raw["pattern"]:
        raise ConfigError(
            f"{where}: cue {raw.get('name')!r} needs a finite weight, max_matches >= 1, a pattern"
        )
    return Cue(raw["name"], weight, max_matches, pattern)


@functools.lru_cache(maxsize=4)
def load_cues(path: Path = CUES_PATH) -> tuple[Cue, ...]:
    """The sentiment cues (tab-separated, '#' comment lines); ConfigError names the bad row."""
    import csv

    try:
        with Path(path).open(encoding="utf-8", newline="") as fh:
            lines = [line for line in fh if not line.startswith("#")]
    except OSError as e:
        raise ConfigError(f"{path}: cannot read sentiment cues: {e.strerror or e}") from e
    reader = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    if tuple(reader.fieldnames or ()) != CUE_COLUMNS:
        raise ConfigError(f"{path}: columns {reader.fieldnames} != {list(CUE_COLUMNS)}")
    return tuple(_cue(raw, f"{path}: row {n}") for n, raw in enumerate(reader, start=2))


def cue_shift(text: str, cues: Sequence[Cue] | None = None) -> float:
    """Log-odds shift of `text` from the cues, plus CALM_LOG_ODDS when no cue of weight <= 0 matched."""
    shift, calm = 0.0, True
    for cue in load_cues() if cues is None else cues:
        n = min(cue.max_matches, len(cue.pattern.findall(text)))
        if n:
            shift += cue.weight * n
            calm = calm and cue.weight > 0
    return shift + (CALM_LOG_ODDS if calm else 0.0)


def _shifted(score: float, shift: float) -> float:
    score = min(1.0 - 1e-6, max(1e-6, score))
    log_odds = max(-MAX_LOG_ODDS, min(MAX_LOG_ODDS, math.log(score / (1.0 - score)) + shift))
    return 1.0 / (1.0 + math.exp(-log_odds))


def blend(probs: dict[str, float], stock: float, mix: float = STOCK_MIX) -> float:
    """Neutral mass sits at 0.5; polar mass goes where in-domain direction and stock snownlp agree."""
    polar = probs.get("pos", 0.0) + probs.get("neg", 0.0)
    direction = probs["pos"] / polar if polar > 0 else NEUTRAL_SCORE
    return NEUTRAL_SCORE * probs.get("neu", 0.0) + polar * (mix * direction + (1 - mix) * stock)


def score_text(
    text: str,
    scorer: str = SCORER_CALLCENTER,
    model_path: Path = MODEL_PATH,
    hits: Sequence[KeywordHit] | None = None,
) -> float:
    """Sentiment of one utterance; `hits`: its keyword hits if already found (else found here)."""
    if not text.strip():
        return NEUTRAL_SCORE
    if scorer not in SCORERS:
        raise ValueError(f"unknown sentiment scorer {scorer!r}; choose from {SCORERS}")
    words = _segment(text)
    stock = _stock_score(text, words)
    if scorer == SCORER_STOCK:
        return stock
    probs = class_probabilities(load_model(model_path), features(text, hits, words))
    return _shifted(min(1.0, max(0.0, blend(probs, stock))), cue_shift(text))


def score_texts(
    texts: Iterable[str],
    scorer: str = SCORER_CALLCENTER,
    model_path: Path = MODEL_PATH,
    hits: Sequence[Sequence[KeywordHit]] | None = None,
) -> list[float]:
    """Sentiment in [0, 1] (1 = positive) for each text; blank text scores 0.5. `hits`, if given,
    holds each text's keyword hits (same order)."""
    texts = list(texts)
    per_text = hits if hits is not None else [None] * len(texts)
    return [score_text(t, scorer, model_path, h) for t, h in zip(texts, per_text, strict=True)]


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


def _hits_by_segment(segments: Sequence[Segment], hits: Iterable[KeywordHit]) -> list[list[KeywordHit]]:
    """Each segment's hits (a hit carries its segment's role, start and end)."""
    grouped: dict[tuple, list[KeywordHit]] = {}
    for hit in hits:
        grouped.setdefault((hit.role, hit.start, hit.end), []).append(hit)
    return [grouped.get((s.role, s.start, s.end), []) for s in segments]


def call_sentiment(
    segments: Sequence[Segment],
    duration_s: float,
    scorer: str = SCORER_CALLCENTER,
    hits: Sequence[KeywordHit] | None = None,
) -> CallSentiment:
    """Aggregate utterance scores of the customer (or mono) side into call-level figures.

    `hits`: the call's keyword hits (find_hits over the same segments), reused as model features
    instead of spotting keywords again."""
    chosen = sorted(customer_segments(segments), key=lambda s: (s.start, s.end))
    if not chosen:
        return EMPTY_CALL_SENTIMENT
    per_segment = _hits_by_segment(chosen, hits) if hits is not None else None
    scores = score_texts([s.text for s in chosen], scorer, hits=per_segment)
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
