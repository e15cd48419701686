"""Tables of benchmarks/levers.py runs: CER and decoder work per lever, per set and split, per speaker.

Used as ``python benchmarks/levers.py report FILE...``; see levers.py for what was decoded.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import accuracy  # noqa: E402
from benchmarks._report import write_section  # noqa: E402

EDGE_TOLERANCE_S = 0.1  # nots: a segment edge agrees with the beam's when within this
DOMINANT_SPEAKER = "mdcs-F01"  # the MagicData customer-service voice: 120 of 135 realspeech clips


def _items_by_key(files: list[str]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in files:
        for entry in json.loads(Path(path).read_text(encoding="utf-8")):
            groups[(entry["set"], entry["split"])].append(entry)
    return groups


def _ref(entry: dict) -> accuracy.Item:
    """The accuracy.Item of an entry (reference turns), looked up once per set."""
    if entry["set"] not in _REFS:
        if entry["set"] == "long_calls":
            from benchmarks import long_calls

            items = long_calls.load_items()
        else:
            items = accuracy.load_items(entry["set"])
        _REFS[entry["set"]] = {i.name: i for i in items}
    return _REFS[entry["set"]][entry["name"]]


_REFS: dict[str, dict] = {}


def cer_of(entries: list[dict], variant: str) -> tuple[int, int]:
    edits = chars = 0
    for entry in entries:
        if variant not in entry["variants"]:
            continue
        e, c, _s, _h = accuracy.item_counts(_ref(entry), entry["variants"][variant]["segments"])
        edits, chars = edits + e, chars + c
    return edits, chars


def _pct(pair: tuple[int, int]) -> str:
    return f"{100 * pair[0] / pair[1]:.1f}%" if pair[1] else "-"


def gate_work(entries: list[dict], gate: str) -> dict:
    """Decoder work of gated decoding: the greedy pass of every window + the beam pass of the failing ones."""
    totals = defaultdict(float)
    for entry in entries:
        v = entry["variants"][gate]
        for passed, greedy, beam in zip(v["passed"], v["greedy_work"], v["beam_work"], strict=True):
            for key in ("tokens", "beam_steps", "generate_calls"):
                totals[key] += greedy[key] + (0 if passed else beam[key])
                totals[f"beam_{key}"] += beam[key]
            totals["fallback_windows"] += 0 if passed else beam["fallback_windows"]
            totals["beam_fallback_windows"] += beam["fallback_windows"]
            totals["windows"] += 1
            totals["passed"] += passed
    return totals


def _minutes(entries: list[dict]) -> float:
    return sum(e["audio_s"] for e in entries) / 60 or 1.0


def gate_rows(key, entries: list[dict]) -> list[str]:
    gates = [v for v in entries[0]["variants"] if v.startswith("gate")]
    minutes, rows = _minutes(entries), []
    base = gate_work(entries, gates[0])
    rows.append(
        f"| {key[0]} | {key[1]} | beam everywhere (shipped) | {_pct(cer_of(entries, 'record'))} | - "
        f"| {base['beam_tokens'] / minutes:.0f} | {base['beam_beam_steps'] / minutes:.0f} "
        f"| {base['beam_fallback_windows'] / minutes:.2f} |"
    )
    if all("peer" in e["variants"] for e in entries):
        rows.append(
            f"| {key[0]} | {key[1]} | plain faster-whisper loop (peer) | {_pct(cer_of(entries, 'peer'))} "
            "| - | - | - | - |"
        )
    for gate in gates:
        w = gate_work(entries, gate)
        rows.append(
            f"| {key[0]} | {key[1]} | {gate} | {_pct(cer_of(entries, gate))} "
            f"| {100 * w['passed'] / w['windows']:.0f}% | {w['tokens'] / minutes:.0f} "
            f"| {w['beam_steps'] / minutes:.0f} | {w['fallback_windows'] / minutes:.2f} |"
        )
    return rows


def path_rows(key, entries: list[dict], gate: str) -> list[str]:
    """CER of each path of ``gate``: items whose windows all passed (greedy kept) vs the others."""
    kept = [e for e in entries if all(e["variants"][gate]["passed"])]
    redone = [e for e in entries if not all(e["variants"][gate]["passed"])]
    return [
        f"| {key[0]} | {key[1]} | {gate} | greedy kept ({len(kept)} items) | {_pct(cer_of(kept, gate))} "
        f"| {_pct(cer_of(kept, 'record'))} |",
        f"| {key[0]} | {key[1]} | {gate} | beam for failing windows ({len(redone)} items) "
        f"| {_pct(cer_of(redone, gate))} | {_pct(cer_of(redone, 'record'))} |",
    ]


def _variant_work(entries: list[dict], variant: str) -> dict:
    totals = defaultdict(float)
    for entry in entries:
        for k, v in entry["variants"].get(variant, {}).get("work", {}).items():
            totals[k] += v
    return totals


def lever_rows(key, all_entries: list[dict]) -> list[str]:
    rows = []
    for variant, label in (("bound", "tokens bounded by speech"), ("nots", "without_timestamps")):
        entries = [e for e in all_entries if variant in e["variants"]]  # nots: only some runs
        if not entries:
            continue
        minutes = _minutes(entries)
        beam = gate_work(entries, next(v for v in entries[0]["variants"] if v.startswith("gate")))
        w = _variant_work(entries, variant)
        rows.append(
            f"| {key[0]} | {key[1]} | {label} ({len(entries)} items) | {_pct(cer_of(entries, variant))} "
            f"| {_pct(cer_of(entries, 'record'))} "
            f"| {w['tokens'] / minutes:.0f} ({beam['beam_tokens'] / minutes:.0f}) "
            f"| {w['encoder_passes'] / minutes:.2f} | {edge_agreement(entries, variant)} |"
        )
    return rows


def edge_agreement(entries: list[dict], variant: str) -> str:
    """Share of the beam's segment edges (per role) with an edge of ``variant`` within EDGE_TOLERANCE_S."""
    hit = total = 0
    for entry in entries:
        mine = entry["variants"][variant]["segments"]
        for role, start, end, _text in entry["variants"]["record"]["segments"]:
            edges = [t for r, s, e, _ in mine if r == role for t in (s, e)]
            for t in (start, end):
                total += 1
                hit += any(abs(t - x) <= EDGE_TOLERANCE_S for x in edges)
    return f"{100 * hit / total:.0f}%" if total else "-"


def speaker_rows(key, entries: list[dict], gate: str | None) -> list[str]:
    by: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        by[entry["speaker"]].append(entry)
    rows = []
    others = [e for e in entries if DOMINANT_SPEAKER not in e["speaker"]]
    if others and len(others) < len(entries):
        by[f"all but {DOMINANT_SPEAKER}"] = others
    for speaker, group in sorted(by.items(), key=lambda kv: -len(kv[1])):
        cells = [_pct(cer_of(group, v)) for v in ("record", "peer", "bound")]
        cells.append(_pct(cer_of(group, gate)) if gate else "-")
        rows.append(f"| {key[0]} | {key[1]} | {speaker} | {len(group)} | " + " | ".join(cells) + " |")
    return rows


def render(groups, gate: str | None) -> str:
    keys = sorted(groups)
    out = ["### Confidence-gated beam (replayed per gate: greedy kept where the gate passes)", ""]
    out += [
        "| set | split | gate (min avg logprob / max compression) | CER | windows passing "
        "| decoder tokens / audio min | beam steps / audio min | fallback windows / audio min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        out += gate_rows(key, groups[key])
    if gate:
        out += ["", f"CER of each path of `{gate}` (gated text / beam text on the same items):", ""]
        out += ["| set | split | gate | path | CER gated | CER beam |", "|---|---|---|---|---|---|"]
        for key in keys:
            out += path_rows(key, groups[key], gate)
    out += ["", "### Token bound and timestamps", ""]
    out += [
        "| set | split | lever | CER | CER beam | tokens / audio min (beam) | encoder passes / audio min "
        f"| beam segment edges within {EDGE_TOLERANCE_S} s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        out += lever_rows(key, groups[key])
    out += ["", "### Per speaker / corpus", ""]
    out += [
        "| set | split | speaker | items | CER beam (shipped) | CER peer | CER bound "
        f"| CER {gate or 'gated'} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        out += speaker_rows(key, groups[key], gate)
    return "\n".join(out) + "\n"


def main(args) -> None:
    groups = _items_by_key(args.files)
    gate = getattr(args, "gate", None)
    text = render(groups, gate)
    print(text)
    if getattr(args, "write", False):
        note = Path(args.note).read_text(encoding="utf-8") if getattr(args, "note", None) else ""
        write_section("levers", "## Decoder levers (benchmarks/levers.py)\n\n" + INTRO + text + note)


INTRO = (
    "`python benchmarks/levers.py run --splits tune|held-out ...` then `report`: every item decoded "
    "with the shipped settings (beam 5, temperatures 0/0.2/0.4) and, per window, greedily on the same "
    "encoder output; the confidence gate is replayed per threshold (greedy text kept where it passes). "
    "Work counts (tokens, beam steps = tokens x beam width, temperature-fallback windows, encoder "
    "passes) are per audio minute and do not depend on the machine's load; no wall time is given "
    "(the 2 cores were shared by seven sessions, load 8-14). realspeech sets: every speaker other than "
    "the MagicData customer-service voice, and every 3rd-4th of that voice's clips.\n\n"
)
