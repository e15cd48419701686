"""Talk time and non-talk time on calls we did not tune on (issue 13 item 5).

    python benchmarks/talk_time.py                 # synth + realspeech_calls, held-out; writes "talk_time"
    python benchmarks/talk_time.py --splits tune,held-out --no-write

For every two-channel call of the randomised synthetic set (benchmarks/synth.py) and of the
``make_telephone.sh --calls`` telephone calls, `speechchurn.call.acoustics.measure_call` (Silero VAD
per channel, energy gate, crosstalk filter; no ASR needed) is compared with the truth:

* talk time per role: the sum of that role's reference turns (synthetic: trimmed TTS clips); for
  the realspeech calls, whose turns are whole source clips with their own leading and trailing
  silence, each turn is first trimmed to the span of 10 ms frames within 40 dB of the clip's
  loudest frame, measured on the clean 16 kHz source clip; tolerance +-10 %;
* non-talk time: interior gaps with nobody talking longer than 3 s, between the first and the
  last reference turn (the definition in docs/acoustics.md); tolerance +-1 s.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from benchmarks.accuracy import SHARED, Item, load_items  # noqa: E402

TALK_TOLERANCE = 0.10  # relative
NON_TALK_TOLERANCE_S = 1.0
NON_TALK_MIN_S = 3.0
SETS = ("synth", "realspeech_calls")


TRIM_FRAME_S = 0.010  # s, frames for the reference speech extent of a source clip
TRIM_DB_BELOW_PEAK = 40.0  # dB, frames quieter than the loudest minus this are silence


def speech_extent_s(path: Path) -> float:
    """Seconds from the first to the last frame within TRIM_DB_BELOW_PEAK of the loudest (clean clip)."""
    import wave

    import numpy as np

    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
    frame = int(TRIM_FRAME_S * rate)
    n = len(x) // frame
    db = 10 * np.log10(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(db > db.max() - TRIM_DB_BELOW_PEAK)
    return (loud[-1] + 1 - loud[0]) * TRIM_FRAME_S


def clip_talk(shared: Path) -> dict[tuple[str, float], float]:
    """(call file, turn start) -> trimmed speech seconds of the source clip, for the realspeech calls."""
    import json

    from benchmarks.accuracy import telephone_dir

    calls = json.loads((telephone_dir(True, shared) / "calls_truth.json").read_text(encoding="utf-8"))[
        "calls"
    ]
    audio = shared / "realspeech" / "audio"
    return {
        (c["file"], float(t["start"])): speech_extent_s(audio / t["source"])
        for c in calls
        for t in c["turns"]
    }


TRIMMED: dict[tuple[str, float], float] = {}


def truth_talk(item: Item, role: str) -> float:
    return sum(TRIMMED.get((item.name, t.start), t.end - t.start) for t in item.turns if t.role == role)


def truth_non_talk(item: Item) -> float:
    spans = sorted((t.start, t.end) for t in item.turns)
    total, cursor = 0.0, spans[0][1]
    for start, end in spans[1:]:
        if start - cursor > NON_TALK_MIN_S:
            total += start - cursor
        cursor = max(cursor, end)
    return total


def measure(item: Item) -> dict:
    from speechchurn.call.acoustics import measure_call
    from speechchurn.call.audio import decode_audio

    audio = decode_audio(item.path)
    result = measure_call(audio.channels, [], [])
    row = {"non_talk": (result.non_talk_s, truth_non_talk(item))}
    for role in ("agent", "customer"):
        row[role] = (getattr(result, f"talk_s_{role}"), truth_talk(item, role))
    return row


def within(measured: float, truth: float, role: str) -> bool:
    if role == "non_talk":
        return abs(measured - truth) <= NON_TALK_TOLERANCE_S
    return abs(measured - truth) <= TALK_TOLERANCE * truth


def summarise(items: list[Item], rows: dict[str, dict]) -> str:
    lines = [
        "| set | split | calls | talk within +-10 % (agent / customer) "
        "| mean talk error % (agent / customer) | non-talk within +-1 s | mean abs non-talk error s |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        groups.setdefault((item.set, item.split), []).append(item)
    for (set_name, split), group in sorted(groups.items()):
        cells = []
        for role in ("agent", "customer"):
            ok = sum(within(*rows[i.name][role], role) for i in group)
            err = sum((rows[i.name][role][0] - rows[i.name][role][1]) / rows[i.name][role][1] for i in group)
            cells.append((ok, 100 * err / len(group)))
        nt_ok = sum(within(*rows[i.name]["non_talk"], "non_talk") for i in group)
        nt_err = sum(abs(rows[i.name]["non_talk"][0] - rows[i.name]["non_talk"][1]) for i in group) / len(
            group
        )
        lines.append(
            f"| {set_name} | {split} | {len(group)} | {cells[0][0]} / {cells[1][0]} of {len(group)} "
            f"| {cells[0][1]:+.1f} / {cells[1][1]:+.1f} | {nt_ok} of {len(group)} | {nt_err:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--splits", default="held-out")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every call")
    args = parser.parse_args()
    items = [
        i
        for s in args.sets.split(",")
        for i in load_items(s, args.shared)
        if i.split in args.splits.split(",")
    ]
    if "realspeech_calls" in args.sets:
        TRIMMED.update(clip_talk(args.shared))
    rows = {}
    for item in items:
        rows[item.name] = measure(item)
        if args.verbose:
            print(
                item.name,
                {k: tuple(round(x, 2) for x in v) for k, v in rows[item.name].items()},
                file=sys.stderr,
            )
    text = (
        "## Talk and non-talk time on unseen calls\n\n"
        "`python benchmarks/talk_time.py`: `measure_call` (VAD, no ASR) against the reference turns. "
        "Non-talk = interior silences > 3 s (call edges excluded, docs/acoustics.md). Reference talk "
        "of the realspeech calls: each source clip trimmed to its loud span (see the docstring).\n\n"
        + summarise(items, rows)
        + f"\n\nLoad (uptime) at end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.\n"
    )
    print(text)
    if not args.no_write:
        print(f"written to {write_section('talk_time', text)}", file=sys.stderr)


if __name__ == "__main__":
    main()
