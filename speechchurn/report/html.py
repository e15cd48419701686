"""The self-contained report.html: Jinja2 templates + inlined CSS/JS assets + inlined plotly.js.

``write_report(out_dir)`` reads calls.csv, callers.csv, review.csv, errors.csv, transcripts.jsonl and
evidence.jsonl from OUT_DIR and writes OUT_DIR/report.html: headline figures, plotly charts, the review
queue with evidence quotes, a customers table and one "page" per customer (hash routing
``#customer-<caller>``) with every call's transcript, keyword hits highlighted. Everything is inline,
so the file works offline.

Templates live in ``report/templates/*.html.j2`` and assets in ``report/static/`` (package data).
Jinja2 autoescapes every value (with the standard library's entity forms); only markup built here
from escaped parts (keyword highlights) and the assets are marked safe. Thresholds, colours and
labels reach the JavaScript as a JSON data block, never as literals in the script.
"""

from __future__ import annotations

import functools
import html
import json
import logging
from datetime import datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from speechchurn.errors import ReportError
from speechchurn.labels import (
    DIRECTION_LABELS,
    RISK_LABELS,
    ROLE_LABELS,
    TIER_LABELS,
    WARNING_LABELS,
    model_reason_lines,
    probability_text,
    risk_reason_lines,
    tier_reason_text,
)
from speechchurn.outputs import atomic_path
from speechchurn.report import data as d
from speechchurn.report.charts import FONT_STACK, RISK_COLORS, chart_divs, plotly_js
from speechchurn.report.data import ReportData, customer_anchor, fmt, label, local_time, text
from speechchurn.report.model_section import model_section
from speechchurn.report.workbook import write_workbook
from speechchurn.vocab import (
    NEGATIVE_BELOW,
    POSITIVE_ABOVE,
    RISK_HIGH,
    RISK_LOW,
    RISK_MEDIUM,
)

log = logging.getLogger("speechchurn")

REPORT_HTML = "report.html"
REPORT_TEMPLATE = "report.html.j2"
DEFAULT_TITLE = "客户通话分析报告"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
SENTIMENT_NEUTRAL = 0.5  # sentiment score of a neutral utterance (mid line of the quarter charts)
QUARTERS = 4  # calls.csv has sentiment_q1 .. sentiment_q4
MISSING_COLOR = "#ccc"


# --------------------------------------------------------------------------------------------- Jinja


class CompactLoader(jinja2.FileSystemLoader):
    """Loads templates with every line stripped and the lines joined, so the HTML has no layout
    whitespace between tags (text from the data is never touched)."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        return "".join(line.strip() for line in source.splitlines()), filename, uptodate


def _escape(value):
    """Autoescape with html.escape's entities (&quot; &#x27;); Markup passes through unchanged."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value)))


@functools.lru_cache(maxsize=1)
def template_environment():
    """The Jinja2 environment of the report templates (autoescape on). Other pages (the review app)
    can extend ``base.html.j2`` and import ``_macros.html.j2`` through it or a ChoiceLoader."""
    env = jinja2.Environment(
        loader=CompactLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        finalize=_escape,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["slug"] = d.slug
    env.globals.update(label=label, anchor=customer_anchor, newline="\n")
    return env


@functools.lru_cache(maxsize=4)
def asset(name: str) -> str:
    """A file of report/static/, read once."""
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def _json_for_script(value) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def report_settings() -> dict:
    """Thresholds, colours and labels the report's JavaScript needs (a JSON block in the page)."""
    return {
        "sentiment": {
            "negative_below": NEGATIVE_BELOW,
            "positive_above": POSITIVE_ABOVE,
            "neutral": SENTIMENT_NEUTRAL,
            "colors": {
                "negative": RISK_COLORS[RISK_HIGH],
                "neutral": RISK_COLORS[RISK_MEDIUM],
                "positive": RISK_COLORS[RISK_LOW],
                "missing": MISSING_COLOR,
            },
        },
        "quarter_labels": [f"Q{i}" for i in range(1, QUARTERS + 1)],
    }


# --------------------------------------------------------------------------------------------- highlights


def _mark(text_: str, hit: dict) -> str:
    category = str(hit.get("category", ""))
    negated = bool(hit.get("negated")) and str(hit.get("negated")) != "False"
    title = (
        f"{d.category_label(category)} · 词条 {hit.get('term', '')} · {hit.get('match', '')} "
        f"{fmt(hit.get('confidence'), 2)}" + (" · 否定（不计数）" if negated else "")
    )
    classes = f"kw kw-{d.slug(category)}" + (" kw-negated" if negated else "")
    return f'<mark class="{classes}" title="{html.escape(title)}">{html.escape(text_)}</mark>'


def highlight(text_: str, hits: list[dict]):
    """Escaped `text_` with every hit's heard text wrapped in <mark class="kw kw-<category>"> (Markup)."""
    out, cursor = [], 0
    for start, end, hit in d.hit_spans(text_, hits):
        out.append(html.escape(text_[cursor:start]))
        out.append(_mark(text_[start:end], hit))
        cursor = end
    out.append(html.escape(text_[cursor:]))
    return Markup("".join(out))


# --------------------------------------------------------------------------------------------- views


def _cards(data: ReportData) -> list[dict]:
    return [
        {"label": name, "value": value, "alert": name in d.ALERT_FIGURES and value not in ("0", d.MISSING)}
        for name, value in d.headline_figures(data).items()
    ]


def _grade_cells(rec: dict) -> dict:
    """The customer's grade as the review queue and the customers table both show it."""
    return {
        "phone": text(rec.get("caller")),
        "tier": label(TIER_LABELS, rec.get("tier")),
        "score": fmt(rec.get("score"), 1),
        "risk": text(rec.get("churn_risk")),
        "risk_points": fmt(rec.get("risk_points"), 0),
        "warning": text(rec.get("warning_level")),
        "quadrant": text(rec.get("quadrant")),
    }


def _review_rows(data: ReportData) -> list[dict]:
    return [
        {
            "rank": text(rec.get("rank")),
            **_grade_cells(rec),
            "reasons": risk_reason_lines(text(rec.get("risk_reason"))),
            "quotes": d.lines(rec.get("evidence")),
        }
        for rec in (data.review.to_dict("records") if len(data.review) else [])
    ]


def _customer_row(rec: dict, last: dict[str, str]) -> dict:
    return {
        **_grade_cells(rec),
        "calls": fmt(rec.get("calls"), 0),
        "total_minutes": fmt(rec.get("total_minutes"), 1),
        "sentiment_mean": fmt(rec.get("sentiment_mean"), 2),
        "complaint_heavy": "是" if str(rec.get("complaint_heavy")) == "True" else "",
        "last_call": last.get(str(rec.get("caller")), local_time(rec.get("last_call"))),
    }


def _call_view(call: dict, data: ReportData, index: dict) -> dict:
    file = str(call.get("file", ""))
    hits_by_key = index.get(file, {})
    quarters = [d.num(call.get(f"sentiment_q{i}")) for i in range(1, QUARTERS + 1)]
    return {
        "when": local_time(call.get("started_at")) or "时间未知",
        "direction": label(DIRECTION_LABELS, call.get("direction")) or "—",
        "file": file,
        "meta": [
            ("方向", label(DIRECTION_LABELS, call.get("direction")) or "—"),
            ("时长", fmt(call.get("duration_s"), 1, " 秒")),
            ("静默", fmt(call.get("non_talk_s"), 1, " 秒")),
            ("转接", fmt(call.get("transfers"), 0)),
            ("保持", fmt(call.get("hold_count"), 0)),
            ("坐席", label({}, call.get("agent")) or "—"),
            ("情绪均值", fmt(call.get("sentiment_mean"), 2)),
            ("结束情绪", fmt(call.get("sentiment_end"), 2)),
        ],
        "quarters_json": json.dumps([None if q != q else round(q, 3) for q in quarters]),
        "quarters_text": " · ".join(f"Q{i} {fmt(q, 2)}" for i, q in enumerate(quarters, start=1)),
        "turns": [_turn_view(seg, hits_by_key) for seg in data.transcripts.get(file, [])],
    }


def _turn_view(seg: dict, hits_by_key: dict) -> dict:
    role = str(seg.get("role", ""))
    return {
        "role": role,
        "who": label(ROLE_LABELS, role),
        "start": fmt(seg.get("start"), 1),
        "end": fmt(seg.get("end"), 1),
        "body": highlight(str(seg.get("text", "")), d.segment_hits(hits_by_key, seg)),
    }


def _reason_texts(rec: dict) -> list[tuple[str, str]]:
    """The customer's reasons in Chinese (raw expressions stay in callers.csv); model and break facts
    appear after grade --model and with a behaviour break."""
    reasons = [
        ("等级依据", tier_reason_text(text(rec.get("tier_reason")))),
        ("风险原因", "；".join(risk_reason_lines(text(rec.get("risk_reason"))))),
    ]
    probability = probability_text(rec.get("churn_prob"))
    if probability:
        rank = text(rec.get("churn_rank"))
        lines = [f"流失概率 {probability}" + (f"，第 {rank} 位" if rank else "")]
        reasons.append(("模型预测", "；".join(lines + model_reason_lines(text(rec.get("model_reason"))))))
    return reasons + [("行为断层", text(rec.get("break_reason")))]


def _customer_pages(data: ReportData, customers: list[dict]) -> list[dict]:
    by_caller, index = d.calls_by_caller(data), d.evidence_index(data.evidence)
    pages = []
    for rec in customers:
        reasons = _reason_texts(rec)
        pages.append(
            {
                "phone": text(rec.get("caller")),
                "tier": label(TIER_LABELS, rec.get("tier")) or "—",
                "score": fmt(rec.get("score"), 1),
                "risk": text(rec.get("churn_risk")),
                "risk_points": fmt(rec.get("risk_points"), 0),
                "warning": text(rec.get("warning_level")),
                "quadrant": text(rec.get("quadrant")) or "—",
                "reasons": [(k, v) for k, v in reasons if v],
                "calls": [_call_view(c, data, index) for c in by_caller.get(str(rec.get("caller")), [])],
            }
        )
    return pages


def report_context(data: ReportData, title: str | None = None) -> dict:
    """Everything report.html.j2 renders (plain values; the template escapes them)."""
    customers = d.customer_rows(data)
    charts = [Markup(div) for div in chart_divs(data)]  # plotly's markup around our (JSON) data
    model = _model_context(data.out_dir)
    last = d.last_call_local(data)
    return {
        "title": title or DEFAULT_TITLE,
        "out_dir_name": data.out_dir.name,
        "generated": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %z"),
        "cards": _cards(data),
        "no_data": not len(data.calls),
        "charts": charts,
        "review": _review_rows(data),
        "customers": [_customer_row(rec, last) for rec in customers],
        "errors": _error_rows(data),
        "pages": _customer_pages(data, customers),
        "labels": {"risk": RISK_LABELS, "warning": WARNING_LABELS},
        "css": Markup(f":root {{ --font-stack:{FONT_STACK}; }}\n" + asset("report.css")),
        "js": Markup(asset("report.js")),
        "model": model,
        "plotly_js": Markup(plotly_js()) if charts or customers or model else "",
        "settings_json": Markup(_json_for_script(report_settings())),
    }


def _model_context(out_dir: Path) -> dict | None:
    """The model section (speechchurn/outcomes): plotly's chart markup wrapped as Markup."""

    model = model_section(out_dir)
    if model is not None:
        model["charts"] = [Markup(div) for div in model["charts"]]
    return model


def _error_rows(data: ReportData) -> list[dict]:
    records = data.errors.to_dict("records") if len(data.errors) else []
    return [{"file": text(r.get("file")), "reason": text(r.get("reason"))} for r in records]


def render_report(data: ReportData, title: str | None = None) -> str:
    """The complete, self-contained report.html text."""
    return template_environment().get_template(REPORT_TEMPLATE).render(report_context(data, title))


def write_report(out_dir: Path, title: str | None = None, privacy=None) -> Path:
    """Write OUT_DIR/report.html from the analyze outputs in OUT_DIR; return its path.

    `privacy` (speechchurn.privacy.PrivacyOptions) redacts text / hashes callers as data is read.
    """
    data = d.load_report_data(out_dir, privacy)
    page = render_report(data, title)
    path = Path(out_dir) / REPORT_HTML
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(page, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"{path}: cannot write report: {e}") from e
    log.info("report: wrote %s (%d calls, %d customers)", path, len(data.calls), len(d.customer_rows(data)))
    return path


def write_reports(out_dir: Path, title: str | None = None, privacy=None) -> tuple[Path, Path]:
    """report.html and callers.xlsx from the exported outputs (`privacy` applied as they are read)."""
    return write_report(out_dir, title, privacy), write_workbook(out_dir, privacy)
