"""How long `speechchurn qa` takes on a 10,000-call store (no transcription).

    python benchmarks/qa_speed.py                  # 10,000 calls into a temporary store, then run_qa
    python benchmarks/qa_speed.py --calls 2000 --write

The store is synthetic but its text is not repetitive: customer turns are clauses of the real
helpdesk dialogues in ../shared/realtext/helpdesk.tsv (3,060 dialogues; falls back to generated
sentences without it), agent turns are service sentences with random numbers, names and dates, so
almost every segment text is distinct (the count is printed); a call has 16 segments, about 400
characters, and a calls.csv row with the columns the default form reads. Timed: `run_qa` end to end
(read the store, match, score, write qa_calls.csv, qa_agents.csv, qa_weekly.csv, evidence.jsonl).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from _report import write_section  # noqa: E402

HELPDESK = REPO.parent / "shared" / "realtext" / "helpdesk.tsv"
SEGMENTS_PER_SIDE = 8
AGENTS = 40
AGENT_TEMPLATES = (
    "您好，工号{n}很高兴为您服务，请问有什么可以帮您？",
    "您的套餐是每月{n}元，包含{m}G流量和{k}分钟通话。",
    "请您稍等，我帮您查一下{d}号的账单。",
    "这笔{n}元的费用是{d}号订购的流量包，按月收费。",
    "好的，{name}，已经帮您退订了，下个月{d}号生效。",
    "非常抱歉给您带来不便，{name}，我马上为您处理。",
    "您可以在手机营业厅的我的权益里面领取{m}个月的会员。",
    "系统显示您所在的{name}小区基站正在维护，预计{k}小时恢复。",
    "还有其他可以帮您的吗？感谢您的来电，祝您生活愉快，再见。",
)
NAMES = ("王先生", "李女士", "张先生", "刘女士", "陈先生", "杨女士", "赵先生", "黄女士", "周先生", "吴女士")


def customer_clauses(rng: random.Random) -> list[str]:
    if not HELPDESK.is_file():
        words = ("信号", "网速", "话费", "账单", "投诉", "销户", "流量", "套餐", "扣费", "宽带", "客服")
        return ["".join(rng.choice(words) for _ in range(6)) + "怎么回事" for _ in range(20_000)]
    with HELPDESK.open(encoding="utf-8", newline="") as f:
        texts = [row["customer_text"] for row in csv.DictReader(f, delimiter="\t")]
    clauses = [
        c.strip() for t in texts for c in t.replace("‖", "。").split("。") if 6 <= len(c.strip()) <= 60
    ]
    rng.shuffle(clauses)
    return clauses


def agent_line(rng: random.Random) -> str:
    return rng.choice(AGENT_TEMPLATES).format(
        n=rng.randint(1, 999),
        m=rng.randint(1, 60),
        k=rng.randint(1, 500),
        d=rng.randint(1, 28),
        name=rng.choice(NAMES),
    )


def build_store(out: Path, n_calls: int, seed: int) -> int:
    """Write `n_calls` calls into OUT_DIR's store; returns the number of distinct segment texts."""
    from speechchurn.batch.store import Store
    from speechchurn.batch.worker import CallRecord
    from speechchurn.schema import Segment

    rng = random.Random(seed)
    clauses = customer_clauses(rng)
    texts: set[str] = set()
    with Store(out) as store:
        store.mark_pending((f"call_{i:05d}.wav", f"sha{i}") for i in range(n_calls))
        for i in range(n_calls):
            segments, t = [], 0.5
            for k in range(SEGMENTS_PER_SIDE):
                for role, text in (
                    ("agent", agent_line(rng)),
                    ("customer", clauses[(i * SEGMENTS_PER_SIDE + k) % len(clauses)]),
                ):
                    segments.append(Segment(role, round(t, 2), round(t + 4.0, 2), text))
                    texts.add(text)
                    t += 5.0
            day = 1 + i % 28
            row = {
                "file": f"call_{i:05d}.wav",
                "caller": f"138{i % 3000:08d}",
                "agent": f"A{i % AGENTS:03d}",
                "direction": "in",
                "started_at": f"2026-11-{day:02d}T10:00:00+08:00",
                "duration_s": t + 1.0,
                "longest_silence_s": rng.uniform(0.5, 25.0),
                "interruptions_agent": rng.randint(0, 4),
                "talk_speed_cpm_agent": rng.uniform(200, 420),
                "kw_complaint": rng.randint(0, 2),
            }
            store.record_call(
                CallRecord(row["file"], f"sha{i}", "run", f"t{i}", t + 1.0, tuple(segments), row, ())
            )
    return len(texts)


def main() -> None:
    from speechchurn.qa.run import run_qa

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        distinct = build_store(out, args.calls, args.seed)
        started = time.monotonic()
        result = run_qa(out)
        wall = time.monotonic() - started
    lines = [
        "## `speechchurn qa` on a 10,000-call store (`benchmarks/qa_speed.py`)",
        "",
        f"{args.calls} calls ({args.calls * 2 * SEGMENTS_PER_SIDE} segments, {distinct} distinct segment "
        "texts: real helpdesk clauses on the customer side, service sentences with random numbers on the "
        "agent side), "
        f"{result.agents} agents, default form: run_qa end to end **{wall:.1f} s** "
        f"({args.calls / wall:.0f} calls/s), measured on a loaded shared 2-core machine.",
    ]
    print("\n".join(lines))
    if args.write:
        print(write_section("qa-speed", "\n".join(lines)), file=sys.stderr)


if __name__ == "__main__":
    main()
