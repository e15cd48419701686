"""report.html and callers.xlsx from a small hand-made output folder (no browser; see test_report_browser)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from speechchurn.errors import ReportError
from speechchurn.outputs import (
    CALLERS_CSV,
    CALLS_CSV,
    ERRORS_CSV,
    EVIDENCE_JSONL,
    REVIEW_CSV,
    TRANSCRIPTS_JSONL,
    read_csv,
    write_csv,
    write_jsonl,
)
from speechchurn.report.data import customer_anchor
from speechchurn.report.html import REPORT_HTML, highlight, write_report
from speechchurn.report.workbook import (
    WORKBOOK_XLSX,
    XLSX_MAX_WIDTH,
    XLSX_SHEETS,
    display_width,
    write_workbook,
)

HEAVY_CALLER = "13900000002"  # the complaint-heavy, high-risk customer of the sample batch
HEAVY_SENTENCE = "你们的服务太差了，我要投诉！"  # one of their customer turns
SCRIPT_TEXT = '<script>alert("owned")</script>'  # an untrusted transcript line
EXCEL_DEFAULT_WIDTH = 8.43  # characters, openpyxl/Excel default column width
PLOTLY_JS_MIN_CHARS = 1_000_000  # characters: the inlined plotly.js bundle is larger than this


def _turns(*pairs: tuple[str, str]) -> list[dict]:
    """(role, text) pairs -> segments 4 s apart."""
    return [
        {"role": role, "start": 4.0 * i + 0.5, "end": 4.0 * i + 3.5, "text": text}
        for i, (role, text) in enumerate(pairs)
    ]


# (file, caller, direction, started_at, duration_s, non_talk_s, transfers, sentiment_mean, kw_complaint)
CALLS = [
    (
        "20261101_090000_13800000001_in.wav",
        "13800000001",
        "in",
        "2026-11-01T09:00:00+08:00",
        45.0,
        0.0,
        0,
        0.8,
        0,
    ),
    (
        "20261110_100000_13800000001_out.wav",
        "13800000001",
        "out",
        "2026-11-10T10:00:00+08:00",
        38.0,
        4.0,
        0,
        0.7,
        0,
    ),
    (
        "20261105_101500_13900000002_in.wav",
        "13900000002",
        "in",
        "2026-11-05T10:15:00+08:00",
        57.0,
        0.0,
        1,
        0.2,
        2,
    ),
    (
        "20261119_164200_13900000002_in.wav",
        "13900000002",
        "in",
        "2026-11-19T16:42:00+08:00",
        58.0,
        6.0,
        2,
        0.25,
        1,
    ),
    (
        "20260615_091200_15900000003_in.wav",
        "15900000003",
        "in",
        "2026-06-15T09:12:00+08:00",
        31.0,
        0.0,
        0,
        0.55,
        0,
    ),
]

TRANSCRIPTS = {
    CALLS[0][0]: _turns(("agent", "您好，很高兴为您服务。"), ("customer", "我想查一下这个月的话费。")),
    CALLS[1][0]: _turns(("agent", "您好，这里是客户回访。"), ("customer", "挺好的，谢谢你们。")),
    CALLS[2][0]: _turns(
        ("agent", "您好，请问有什么可以帮您？"),
        ("customer", HEAVY_SENTENCE),
        ("agent", "非常抱歉，我马上帮您处理。"),
        ("customer", "再这样我就换联通了。"),
    ),
    CALLS[3][0]: _turns(
        ("agent", "您好。"), ("customer", "上次投诉的问题还没人管。"), ("customer", SCRIPT_TEXT)
    ),
    CALLS[4][0]: _turns(("agent", "您好。"), ("customer", "国际漫游怎么开通？")),
}

HITS = [  # (file index, segment index, heard, term, category, negated)
    (0, 1, "话费", "话费", "billing", False),
    (1, 1, "谢谢", "谢谢", "praise", False),
    (2, 1, "太差了", "太差了", "complaint", False),
    (2, 1, "投诉", "投诉", "complaint", False),
    (2, 3, "换联通", "换联通", "competitor", False),
    (3, 1, "投诉", "投诉", "complaint", False),
    (3, 1, "没人管", "没人管", "complaint", False),
]

CALLERS = [  # (caller, tier, score, churn_risk, risk_points, warning_level, quadrant, complaint_heavy)
    ("13800000001", "VIP", 90.0, "low", 0, "none", "放心", False),
    (HEAVY_CALLER, "ordinary", 70.0, "high", 8, "red", "操心", True),
    ("15900000003", "silent", 5.0, "low", 0, "none", "用心", False),
]


def _calls_frame() -> pd.DataFrame:
    cols = [
        "file",
        "caller",
        "direction",
        "started_at",
        "duration_s",
        "non_talk_s",
        "transfers",
        "sentiment_mean",
    ]
    frame = pd.DataFrame([row[:8] for row in CALLS], columns=cols)
    frame["kw_complaint"] = [row[8] for row in CALLS]
    frame["kw_complaint_agent"] = 0
    frame["kw_praise"] = [0, 1, 0, 0, 0]
    frame["kw_billing"] = [1, 0, 0, 0, 0]
    frame["kw_competitor"] = [0, 0, 1, 0, 0]
    for quarter in range(1, 5):
        frame[f"sentiment_q{quarter}"] = frame["sentiment_mean"] + 0.02 * quarter
    return frame


def _callers_frame() -> pd.DataFrame:
    cols = [
        "caller",
        "tier",
        "score",
        "churn_risk",
        "risk_points",
        "warning_level",
        "quadrant",
        "complaint_heavy",
    ]
    frame = pd.DataFrame(CALLERS, columns=cols)
    frame["calls"] = [2, 2, 1]
    frame["tier_reason"] = [
        "VIP: minutes_30d=1.38>=1",
        "ordinary: no tier rule matched " + "x" * 80,
        "silent",
    ]
    frame["risk_reason"] = ["", "complaint +1 (complaint_calls=2>=1); competitor +2", ""]
    return frame


def _review_frame() -> pd.DataFrame:
    quote = f"「{HEAVY_SENTENCE}」 ({CALLS[2][0]} @ 4.5s, 投诉)"
    return pd.DataFrame(
        [{"rank": 1, "caller": HEAVY_CALLER, "tier": "ordinary", "score": 70.0, "churn_risk": "high",
          "risk_points": 8, "warning_level": "red", "quadrant": "操心", "risk_reason": "complaint +1",
          "evidence": quote + "\n「上次投诉的问题还没人管。」 (x.wav @ 4.5s, 没人管)"}]
    )  # fmt: skip


def _evidence() -> list[dict]:
    records = []
    for file_i, seg_i, heard, term, category, negated in HITS:
        file = CALLS[file_i][0]
        seg = TRANSCRIPTS[file][seg_i]
        records.append(
            {"file": file, "caller": CALLS[file_i][1], "heard": heard, "term": term, "category": category,
             "role": seg["role"], "start": seg["start"], "end": seg["end"], "match": "exact",
             "confidence": 1.0, "negated": negated, "snippet": seg["text"]}
        )  # fmt: skip
    return records


def write_sample_batch(out_dir: Path, errors: list[tuple[str, str]] = ()) -> Path:
    """A small analyze output folder: 3 customers, 5 calls with Chinese transcripts and keyword hits."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(_calls_frame(), out_dir / CALLS_CSV)
    write_csv(_callers_frame(), out_dir / CALLERS_CSV)
    write_csv(_review_frame(), out_dir / REVIEW_CSV)
    write_csv(pd.DataFrame(list(errors), columns=["file", "reason"]), out_dir / ERRORS_CSV)
    write_jsonl(({"file": f, "segments": s} for f, s in TRANSCRIPTS.items()), out_dir / TRANSCRIPTS_JSONL)
    write_jsonl(_evidence(), out_dir / EVIDENCE_JSONL)
    return out_dir


def write_empty_batch(out_dir: Path, errors: list[tuple[str, str]] = ()) -> Path:
    """What analyze leaves when no call succeeds: header-only tables, empty JSONL."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(pd.DataFrame(columns=["file", "caller", "started_at", "duration_s"]), out_dir / CALLS_CSV)
    write_csv(pd.DataFrame(columns=["caller", "tier", "score"]), out_dir / CALLERS_CSV)
    write_csv(pd.DataFrame(columns=["rank", "caller", "evidence"]), out_dir / REVIEW_CSV)
    write_csv(pd.DataFrame(list(errors), columns=["file", "reason"]), out_dir / ERRORS_CSV)
    write_jsonl([], out_dir / TRANSCRIPTS_JSONL)
    write_jsonl([], out_dir / EVIDENCE_JSONL)
    return out_dir


class _TagBalance(HTMLParser):
    """Checks that container tags open and close in order (script/style bodies are raw text)."""

    CHECKED = frozenset(
        ("html", "head", "body", "main", "section", "div", "table", "thead", "tbody", "tr", "td", "th",
         "article", "header", "nav", "dl", "mark", "script", "style", "h1", "h2", "h3", "p", "a")
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.CHECKED:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag not in self.CHECKED:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def assert_valid_html(text: str) -> None:
    assert text.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in text and '<meta charset="utf-8">' in text
    checker = _TagBalance()
    checker.feed(text)
    checker.close()
    assert checker.problems == [] and checker.stack == []


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory) -> Path:
    out = write_sample_batch(tmp_path_factory.mktemp("report") / "out", errors=[("broken.wav", "empty file")])
    write_report(out)
    write_workbook(out)
    return out


@pytest.fixture(scope="module")
def report_html(sample_out) -> str:
    return (sample_out / REPORT_HTML).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------- HTML report


def test_report_is_valid_offline_html(report_html):
    assert_valid_html(report_html)
    assert not re.search(r"<script[^>]*\bsrc\s*=", report_html, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", report_html, re.I)
    assert not re.search(r"<(img|iframe)[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", report_html, re.I)
    assert "Plotly.newPlot" in report_html and "Microsoft YaHei" in report_html


@pytest.mark.parametrize(
    "fragment",
    [
        "客户通话分析报告",  # title
        "复核队列",  # review queue section
        f'href="#{customer_anchor(HEAVY_CALLER)}"',  # customers table links to the page
        f'id="{customer_anchor(HEAVY_CALLER)}"',  # the customer page
        f"「{HEAVY_SENTENCE}」",  # review quote
        "再这样我就",  # transcript text
        '<mark class="kw kw-competitor"',  # highlighted hit
        "坐席",  # speaker labels
        "客户",
        'id="chart-6"',  # six overview charts
        "broken.wav",  # failed file
    ],
)
def test_report_contains(report_html, fragment):
    assert fragment in report_html


def test_report_reasons_read_in_chinese(report_html):
    """Supervisors read Chinese: the raw expressions stay in callers.csv."""
    assert "投诉 +1：2 通电话投诉" in report_html and "VIP：近30天分钟=1.38&gt;=1" in report_html
    assert "complaint_calls=2&gt;=1" not in report_html and "minutes_30d=" not in report_html


def test_report_escapes_transcripts(report_html):
    assert SCRIPT_TEXT not in report_html
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in report_html


def test_report_headline_figures(report_html):
    cards = dict(
        (label, value)
        for value, label in re.findall(
            r'card-value">([^<]*)</div><div class="card-label">([^<]*)<', report_html
        )
    )
    assert cards["通话数"] == str(len(CALLS))
    assert cards["客户数"] == str(len(CALLERS))
    assert cards["高流失风险客户"] == "1"
    assert cards["投诉率"] == f"{100 * 2 / len(CALLS):.1f} %"
    assert cards["处理失败文件"] == "1"


def test_customer_calls_in_time_order(report_html):
    page = report_html.split(f'id="{customer_anchor("13800000001")}"', 1)[1].split("</section>", 1)[0]
    assert page.index("2026-11-01 09:00") < page.index("2026-11-10 10:00")


@pytest.mark.parametrize("batch", ["no_files", "header_only"])
def test_report_on_empty_batch(tmp_path, batch):
    out = tmp_path / "out"
    if batch == "no_files":
        out.mkdir()
    else:
        write_empty_batch(out)
    text = write_report(out).read_text(encoding="utf-8")
    assert_valid_html(text)
    assert "没有数据" in text and "no data" in text
    assert 'class="chart"' not in text and 'id="chart-1"' not in text
    assert len(text) < PLOTLY_JS_MIN_CHARS  # nothing to plot: plotly.js is not inlined


def test_report_lists_failures(tmp_path):
    errors = [("坏文件_01.wav", "AudioDecodeError: 文件为空"), ("x<b>.mp3", "unsupported <codec>")]
    text = write_report(write_empty_batch(tmp_path / "out", errors=errors)).read_text(encoding="utf-8")
    assert_valid_html(text)
    assert "处理失败的文件（2）" in text
    assert "坏文件_01.wav" in text and "AudioDecodeError: 文件为空" in text
    assert "x&lt;b&gt;.mp3" in text and "unsupported &lt;codec&gt;" in text
    assert "<codec>" not in text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (TRANSCRIPTS_JSONL, b'{"file": "a.wav", "segments": []}\n{not json\n', "transcripts.jsonl:2"),
        (EVIDENCE_JSONL, b"[1, 2]\n", "expected a JSON object"),
        (CALLS_CSV, b"\xff\xfe\x00\x81garbage\n\x00\x9f", "calls.csv"),
        (TRANSCRIPTS_JSONL, b'{"file": "a.wav", "segments": "text"}\n', "segments"),
    ],
)
def test_unreadable_inputs_raise_report_error(tmp_path, name, content, message):
    out = write_sample_batch(tmp_path / "out")
    (out / name).write_bytes(content)
    with pytest.raises(ReportError, match=re.escape(message)):
        write_report(out)
    assert not (out / REPORT_HTML).exists()


def test_missing_folder_raises(tmp_path):
    with pytest.raises(ReportError, match="not found"):
        write_report(tmp_path / "nope")


def test_custom_title_is_escaped(tmp_path):
    out = write_sample_batch(tmp_path / "out")
    text = write_report(out, title="报告 <2026>").read_text(encoding="utf-8")
    assert "<title>报告 &lt;2026&gt;</title>" in text


def _hit(heard: str, category: str = "complaint", negated: bool = False) -> dict:
    return {"heard": heard, "term": heard, "category": category, "match": "exact", "confidence": 1.0,
            "negated": negated}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "hits", "expected"),
    [
        ("我要投诉你们", [_hit("投诉")], "我要<mark>投诉</mark>你们"),
        ("太差了太差了", [_hit("太差了")], "<mark>太差了</mark><mark>太差了</mark>"),
        ("服务太差了", [_hit("太差"), _hit("太差了")], "服务<mark>太差了</mark>"),  # longest wins
        ("不要投诉", [_hit("投诉", negated=True)], "不要<mark>投诉</mark>"),
        ("<b>投诉</b>", [_hit("投诉")], "&lt;b&gt;<mark>投诉</mark>&lt;/b&gt;"),
        ("没有命中", [_hit("投诉")], "没有命中"),
        ("a&b", [], "a&amp;b"),
    ],
)
def test_highlight(text, hits, expected):
    out = highlight(text, hits)
    assert re.sub(r"<mark[^>]*>", "<mark>", out) == expected
    for match in re.findall(r"<mark[^>]*>", out):
        negated = hits[0]["negated"]
        assert ("kw-negated" in match) == negated and "kw kw-complaint" in match and 'title="' in match


# ------------------------------------------------------------------------------------------- workbook


@pytest.fixture(scope="module")
def workbook(sample_out):
    from openpyxl import load_workbook

    return load_workbook(sample_out / WORKBOOK_XLSX)


def test_workbook_sheets(workbook):
    assert workbook.sheetnames == list(XLSX_SHEETS)


@pytest.mark.parametrize(
    ("sheet", "source"), [("customers", CALLERS_CSV), ("calls", CALLS_CSV), ("review", REVIEW_CSV)]
)
def test_workbook_sheet_layout(workbook, sample_out, sheet, source):
    ws = workbook[sheet]
    frame = read_csv(sample_out / source)
    assert [c.value for c in ws[1]] == list(frame.columns)
    assert ws.max_row == len(frame) + 1
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}"
    widths = [ws.column_dimensions[c.column_letter].width for c in ws[1]]
    assert all(EXCEL_DEFAULT_WIDTH < w <= XLSX_MAX_WIDTH for w in widths)


def test_workbook_values(workbook):
    ws = workbook["customers"]
    header = [c.value for c in ws[1]]
    callers = [row[header.index("caller")] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert HEAVY_CALLER in callers  # phone numbers stay text, not 1.39e10
    heavy = next(
        r for r in ws.iter_rows(min_row=2, values_only=True) if r[header.index("caller")] == HEAVY_CALLER
    )
    assert heavy[header.index("quadrant")] == "操心" and heavy[header.index("complaint_heavy")] is True
    reason = ws.cell(1, header.index("tier_reason") + 1).column_letter
    assert ws.column_dimensions[reason].width == XLSX_MAX_WIDTH  # long text capped (and wrapped)
    assert workbook["errors"]["A2"].value == "broken.wav"


def test_workbook_cjk_width(workbook):
    ws = workbook["review"]
    header = [c.value for c in ws[1]]
    quadrant = ws.cell(1, header.index("quadrant") + 1).column_letter
    risk = ws.cell(1, header.index("churn_risk") + 1).column_letter
    # "quadrant" (8) vs "操心" (4 wide) -> header wins; "churn_risk" (10) > "high" (4)
    assert ws.column_dimensions[quadrant].width < ws.column_dimensions[risk].width


def test_workbook_on_empty_batch(tmp_path):
    from openpyxl import load_workbook

    path = write_workbook(tmp_path)  # no input files at all
    book = load_workbook(path)
    assert book.sheetnames == list(XLSX_SHEETS)
    assert book["customers"]["A1"].value == "无数据 (no data)"


@pytest.mark.parametrize(
    ("value", "width"),
    [
        ("abc", 3),
        ("投诉", 4),
        ("a投b", 4),
        ("ＡＢ", 4),
        ("短\n长一点的行", 10),
        ("", 0),
        (None, 0),
        (12.5, 4),
    ],
)
def test_display_width(value, width):
    assert display_width(value) == width
