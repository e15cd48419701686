"""False-hit benchmark for ASR-tolerant keyword matching.

Runs the matcher over the praise/inquiry/neutral utterances (labels pos and neu) of
tests/data/sentiment_utterances.tsv and counts complaint/churn_intent/competitor hits that came from
pinyin or fuzzy matching: none of them should fire there. Writes docs/benchmarks.md section
"keywords_fuzzy".

    python benchmarks/keywords_fuzzy.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from speechchurn.dev.sentiment_training import read_labelled  # noqa: E402
from speechchurn.schema import ROLE_CUSTOMER, Segment  # noqa: E402
from speechchurn.text.keywords import MatchOptions, find_hits  # noqa: E402
from speechchurn.text.lexicon import load_lexicons  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "sentiment_utterances.tsv"
WATCHED = ("complaint", "churn_intent", "competitor")
CONFIGS = {
    "exact only": MatchOptions(pinyin=False, fuzzy=False),
    "exact + pinyin": MatchOptions(fuzzy=False),
    "exact + pinyin + fuzzy (default)": MatchOptions(),
    "default, no token alignment": MatchOptions(align_tokens=False),
}


def sound_false_hits(options: MatchOptions) -> tuple[list, list, int, float]:
    """(pinyin/fuzzy hits in watched categories, in any category, utterances scanned, ms/utterance)."""
    lexicon = load_lexicons()
    texts = [u.text for u in read_labelled(DATA) if u.label in ("pos", "neu")]
    t0 = time.perf_counter()
    hits = find_hits([Segment(ROLE_CUSTOMER, 0.0, 1.0, t) for t in texts], lexicon, options)
    ms = 1000 * (time.perf_counter() - t0) / len(texts)
    sound = [h for h in hits if h.match != "exact"]
    return [h for h in sound if h.category in WATCHED], sound, len(texts), ms


def report() -> str:
    head = "| matching | sound hits: complaint/churn/competitor | sound hits: all | utterances | ms/utt |"
    lines = [head]
    lines.append("|---|---|---|---|---|")
    examples = []
    find_hits([Segment(ROLE_CUSTOMER, 0.0, 1.0, "预热")], load_lexicons())  # load jieba outside the timing
    for name, options in CONFIGS.items():
        false, sound, n, ms = sound_false_hits(options)
        lines.append(f"| {name} | {len(false)} | {len(sound)} | {n} | {ms:.2f} |")
        examples += [f"- {h.heard} -> {h.term} ({h.category}, {h.match}) in 「{h.snippet}」" for h in sound]
    text = "\n".join(lines)
    if examples:
        text += "\n\nPinyin/fuzzy hits found (all configurations):\n\n" + "\n".join(dict.fromkeys(examples))
    return text


def main() -> None:
    table = report()
    print(table)
    path = write_section("keywords_fuzzy", "## Keyword matching: false pinyin/fuzzy hits\n\n" + table)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
