"""Human-facing reports built from an analyze output folder: a self-contained HTML report and a workbook.

``write_report(out_dir)`` reads calls.csv, callers.csv, review.csv, errors.csv, transcripts.jsonl and
evidence.jsonl from OUT_DIR and writes OUT_DIR/report.html: headline figures, plotly charts, the review
queue with evidence quotes, a customers table and one "page" per customer (hash routing
``#customer-<caller>``) with every call's transcript, keyword hits highlighted. Everything is inline
(plotly.js included), so the file works offline. All text from the inputs is HTML-escaped.

``write_workbook(out_dir)`` writes OUT_DIR/callers.xlsx with customers, calls, review and errors sheets
(frozen header row, auto filter, column widths from content).

Missing or empty input files count as empty tables; unreadable ones raise ``ReportError``.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from speechchurn.errors import SpeechchurnError
from speechchurn.outputs import (
    CALLERS_CSV,
    CALLS_CSV,
    ERRORS_CSV,
    EVIDENCE_JSONL,
    REVIEW_CSV,
    TRANSCRIPTS_JSONL,
    atomic_path,
    read_csv,
)
from speechchurn.schema import ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED

log = logging.getLogger("speechchurn")

REPORT_HTML = "report.html"
WORKBOOK_XLSX = "callers.xlsx"
DEFAULT_TITLE = "客户通话分析报告"

SECONDS_PER_HOUR = 3600.0  # s
SENTIMENT_BIN_WIDTH = 0.1  # sentiment score units per histogram bin (scores run 0..1)
SENTIMENT_NEUTRAL = 0.5  # sentiment score of a neutral utterance
CHART_HEIGHT_PX = 340  # px, overview charts
MAX_COUNT_TICKS = 6  # ticks on a count axis at most (whole-number steps)
TIME_KEY_DECIMALS = 2  # decimals of segment start/end when matching evidence hits to segments

XLSX_MIN_WIDTH = 10  # characters (Excel's default column is ~8.43)
XLSX_MAX_WIDTH = 60  # characters: longer text wraps
XLSX_PADDING = 2  # characters added to the widest cell
XLSX_WIDTH_SAMPLE_ROWS = 5000  # rows scanned per column when computing widths
XLSX_HEADER_FILL = "DDE4EE"  # RGB hex, header row background
XLSX_SHEETS = ("customers", "calls", "review", "errors")  # sheet names, in order

FONT_STACK = (
    '"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", '
    '"Source Han Sans SC", "WenQuanYi Micro Hei", system-ui, sans-serif'
)
ROLE_LABELS = {ROLE_AGENT: "坐席", ROLE_CUSTOMER: "客户", ROLE_MIXED: "通话"}
DIRECTION_LABELS = {"in": "呼入", "out": "呼出"}
DIRECTION_COLORS = {"in": "#4a7bd0", "out": "#f0a030"}
TIER_LABELS = {"VIP": "VIP", "ordinary": "普通", "silent": "沉默"}
TIER_ORDER = ("VIP", "ordinary", "silent")
RISK_LABELS = {"high": "高", "medium": "中", "low": "低"}
RISK_ORDER = ("high", "medium", "low")
RISK_COLORS = {"high": "#d64541", "medium": "#f0a030", "low": "#3aa76d"}
WARNING_LABELS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "none": "无"}
QUADRANT_COLORS = {"放心": "#3aa76d", "操心": "#d64541", "关心": "#f0a030", "用心": "#4a7bd0"}
QUADRANT_HINTS = {
    "放心": "高价值·稳定",
    "操心": "高价值·有风险",
    "关心": "低价值·有风险",
    "用心": "低价值·稳定",
}
CATEGORY_LABELS = {
    "billing": "资费账单",
    "churn_intent": "离网意向",
    "competitor": "竞品",
    "complaint": "投诉",
    "hold": "等待",
    "inquiry": "咨询",
    "network": "网络",
    "praise": "表扬",
    "transfer": "转接",
}
DEFAULT_COLOR = "#7f8c9a"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


class ReportError(SpeechchurnError):
    """An input file of the report is unreadable, or the report cannot be written."""


@dataclass(frozen=True, eq=False)
class ReportData:
    """The tables of one output folder; missing files are empty frames / collections."""

    out_dir: Path
    calls: pd.DataFrame
    callers: pd.DataFrame
    review: pd.DataFrame
    errors: pd.DataFrame
    transcripts: dict[str, list[dict]] = field(default_factory=dict)
    evidence: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- inputs


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        log.info("report: %s not found, treated as empty", path)
        return pd.DataFrame()
    try:
        return read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        raise ReportError(f"{path}: cannot read table: {e}") from e


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        log.info("report: %s not found, treated as empty", path)
        return []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (UnicodeDecodeError, OSError) as e:
        raise ReportError(f"{path}: cannot read: {e}") from e
    records = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ReportError(f"{path}:{lineno}: invalid JSON: {e}") from e
        if not isinstance(record, dict):
            raise ReportError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def _transcripts_by_file(records: list[dict], path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for record in records:
        segments = record.get("segments", [])
        if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
            raise ReportError(f"{path}: {record.get('file')!r}: 'segments' must be a list of objects")
        out[str(record.get("file", ""))] = sorted(segments, key=lambda s: _num(s.get("start")))
    return out


def load_report_data(out_dir: Path) -> ReportData:
    """Read every report input of `out_dir` (missing files read as empty)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ReportError(f"{out_dir}: output folder not found")
    transcripts_path = out_dir / TRANSCRIPTS_JSONL
    return ReportData(
        out_dir=out_dir,
        calls=_read_table(out_dir / CALLS_CSV),
        callers=_read_table(out_dir / CALLERS_CSV),
        review=_read_table(out_dir / REVIEW_CSV),
        errors=_read_table(out_dir / ERRORS_CSV),
        transcripts=_transcripts_by_file(_read_jsonl(transcripts_path), transcripts_path),
        evidence=_read_jsonl(out_dir / EVIDENCE_JSONL),
    )


# --------------------------------------------------------------------------------------------- helpers


def _num(value, default: float = math.nan) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(number) else number


def _fmt(value, decimals: int = 2, suffix: str = "") -> str:
    number = _num(value)
    if math.isnan(number):
        return "—"
    return f"{number:,.{decimals}f}{suffix}"


def _text(value) -> str:
    """Cell text: '' for missing values, escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value))


def _label(mapping: dict, key) -> str:
    key = "" if key is None or (isinstance(key, float) and math.isnan(key)) else str(key)
    return mapping.get(key, key)


def _slug(value) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", str(value))


def customer_anchor(caller) -> str:
    """The hash route of a customer's page: ``customer-<caller>``."""
    return f"customer-{_slug(caller)}"


def _col(frame: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype="object" if isinstance(default, str) else float)


def _keyword_columns(calls: pd.DataFrame) -> list[str]:
    """Customer-side keyword count columns kw_<category> (not the _agent ones)."""
    return [c for c in calls.columns if c.startswith("kw_") and not c.endswith("_agent")]


def _started_utc(calls: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(_col(calls, "started_at", ""), utc=True, errors="coerce", format="ISO8601")


def _local_time(value) -> str:
    """'2026-11-05T10:15:44+08:00' -> '2026-11-05 10:15' (the call's own wall clock)."""
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return text[:16].replace("T", " ")


def _category_label(category: str) -> str:
    label = CATEGORY_LABELS.get(category)
    return f"{label} {category}" if label else category


# --------------------------------------------------------------------------------------------- headline


def headline_figures(data: ReportData) -> dict[str, str]:
    """Label -> formatted value of the headline cards."""
    calls, callers = data.calls, data.callers
    n_customers = len(callers) if len(callers) else _col(calls, "caller").nunique()
    complaint = _col(calls, "kw_complaint")
    figures = {
        "通话数": f"{len(calls):,}",
        "音频时长": _fmt(_col(calls, "duration_s").sum() / SECONDS_PER_HOUR, 2, " 小时"),
        "客户数": f"{n_customers:,}",
    }
    tiers = _col(callers, "tier", "").value_counts()
    for tier in _ordered(tiers.index, TIER_ORDER):
        figures[f"{_label(TIER_LABELS, tier)}客户"] = f"{int(tiers[tier]):,}"
    figures["投诉率"] = _fmt((complaint >= 1).mean() * 100, 1, " %") if len(calls) else "—"
    figures["平均静默时长"] = _fmt(_col(calls, "non_talk_s").mean(), 1, " 秒")
    figures["高流失风险客户"] = f"{int((_col(callers, 'churn_risk', '') == 'high').sum()):,}"
    figures["处理失败文件"] = f"{len(data.errors):,}"
    return figures


def _ordered(values, preferred: tuple[str, ...]) -> list[str]:
    present = [str(v) for v in values if str(v)]
    return [p for p in preferred if p in present] + sorted(v for v in present if v not in preferred)


def _headline_html(data: ReportData) -> str:
    cards = []
    for label, value in headline_figures(data).items():
        warn = (
            " card-alert" if label in ("高流失风险客户", "处理失败文件") and value not in ("0", "—") else ""
        )
        cards.append(
            f'<div class="card{warn}"><div class="card-value">{html.escape(value)}</div>'
            f'<div class="card-label">{html.escape(label)}</div></div>'
        )
    return f'<section id="overview" class="cards">{"".join(cards)}</section>'


# --------------------------------------------------------------------------------------------- charts


def _layout(fig, title: str, **extra):
    fig.update_layout(
        title={"text": title, "x": 0.02, "font": {"size": 15}},
        template="plotly_white",
        font={"family": FONT_STACK, "size": 12},
        margin={"l": 50, "r": 20, "t": 50, "b": 45},
        height=CHART_HEIGHT_PX,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        **extra,
    )
    return fig


def _tier_chart(callers: pd.DataFrame):
    import plotly.graph_objects as go

    counts = _col(callers, "tier", "").value_counts()
    tiers = _ordered(counts.index, TIER_ORDER)
    if not tiers:
        return None
    bar = go.Bar(
        x=[_label(TIER_LABELS, t) for t in tiers],
        y=[int(counts[t]) for t in tiers],
        text=[int(counts[t]) for t in tiers],
        textposition="auto",
        marker_color="#4a7bd0",
        hovertemplate="%{x}: %{y} 位客户<extra></extra>",
    )
    return _layout(go.Figure(bar), "各等级客户数", yaxis_title="客户数", showlegend=False)


def _risk_by_tier_chart(callers: pd.DataFrame):
    import plotly.graph_objects as go

    if not len(callers) or "churn_risk" not in callers.columns:
        return None
    table = pd.crosstab(_col(callers, "tier", "").astype(str), callers["churn_risk"].astype(str))
    tiers = _ordered(table.index, TIER_ORDER)
    fig = go.Figure()
    for risk in _ordered(table.columns, RISK_ORDER):
        fig.add_trace(
            go.Bar(
                name=f"{_label(RISK_LABELS, risk)}风险",
                x=[_label(TIER_LABELS, t) for t in tiers],
                y=[int(table.loc[t, risk]) for t in tiers],
                marker_color=RISK_COLORS.get(risk, DEFAULT_COLOR),
                hovertemplate="%{x} · " + html.escape(risk) + ": %{y}<extra></extra>",
            )
        )
    return _layout(fig, "各等级的流失风险分布", barmode="stack", yaxis_title="客户数")


def _keyword_chart(calls: pd.DataFrame):
    import plotly.graph_objects as go

    columns = _keyword_columns(calls)
    if not columns:
        return None
    totals = calls[columns].apply(pd.to_numeric, errors="coerce").sum().sort_values()
    categories = [c.removeprefix("kw_") for c in totals.index]
    bar = go.Bar(
        x=totals.to_numpy().tolist(),
        y=[_category_label(c) for c in categories],
        orientation="h",
        marker_color=[
            RISK_COLORS["high"] if c in ("complaint", "churn_intent") else "#4a7bd0" for c in categories
        ],
        hovertemplate="%{y}: %{x} 次<extra></extra>",
    )
    return _layout(go.Figure(bar), "关键词类别（客户侧命中次数）", xaxis_title="命中次数", showlegend=False)


def _sentiment_chart(calls: pd.DataFrame):
    import plotly.graph_objects as go

    values = pd.to_numeric(_col(calls, "sentiment_mean"), errors="coerce").dropna()
    if values.empty:
        return None
    hist = go.Histogram(
        x=values.tolist(),
        xbins={"start": 0.0, "end": 1.0, "size": SENTIMENT_BIN_WIDTH},
        marker_color="#6c8ebf",
        hovertemplate="情绪 %{x}: %{y} 通<extra></extra>",
    )
    fig = _layout(go.Figure(hist), "通话情绪分布（0 负面 · 1 正面）", showlegend=False)
    fig.update_xaxes(range=[0, 1], title="通话平均情绪")
    fig.update_yaxes(title="通话数")
    fig.add_vline(x=SENTIMENT_NEUTRAL, line_dash="dot", line_color=DEFAULT_COLOR)
    return fig


def _calls_per_day_chart(calls: pd.DataFrame):
    import plotly.graph_objects as go

    days = pd.to_datetime(_col(calls, "started_at", "").astype(str).str[:10], errors="coerce")
    frame = pd.DataFrame({"day": days, "direction": _col(calls, "direction", "").astype(str)}).dropna()
    if frame.empty:
        return None
    fig = go.Figure()
    for direction in _ordered(frame["direction"].unique(), ("in", "out")):
        counts = frame[frame["direction"] == direction].groupby("day").size()
        fig.add_trace(
            go.Bar(
                name=_label(DIRECTION_LABELS, direction) or "未知",
                marker_color=DIRECTION_COLORS.get(direction, DEFAULT_COLOR),
                x=[d.strftime("%Y-%m-%d") for d in counts.index],
                y=counts.to_numpy().tolist(),
                hovertemplate="%{x}: %{y} 通<extra></extra>",
            )
        )
    fig = _layout(fig, "每日通话量（有通话的日期）", barmode="stack", yaxis_title="通话数")
    fig.update_xaxes(type="category", categoryorder="category ascending", tickangle=-40, automargin=True)
    fig.update_yaxes(
        rangemode="tozero", tickformat=",d", dtick=_integer_dtick(frame.groupby("day").size().max())
    )
    return fig


def _integer_dtick(max_count: int) -> int:
    """Tick step for a count axis: whole numbers, about MAX_COUNT_TICKS ticks."""
    return max(1, math.ceil(int(max_count) / MAX_COUNT_TICKS))


def _quadrant_chart(callers: pd.DataFrame):
    import plotly.graph_objects as go

    if not len(callers) or "score" not in callers.columns:
        return None
    points = pd.to_numeric(_col(callers, "risk_points"), errors="coerce").fillna(0.0)
    stability = 1.0 - points / max(float(points.max()), 1.0)
    frame = callers.assign(
        _stability=stability, _quadrant=_col(callers, "quadrant", "").fillna("").astype(str)
    )
    fig = go.Figure()
    for quadrant in _ordered(frame["_quadrant"].unique(), tuple(QUADRANT_COLORS)):
        part = frame[frame["_quadrant"] == quadrant]
        fig.add_trace(_quadrant_trace(part, quadrant))
    fig = _layout(
        fig, "价值 × 稳定性 四象限", xaxis_title="价值分 score", yaxis_title="稳定性（1 − 归一化风险分）"
    )
    fig.update_xaxes(range=[-5, 105])
    fig.update_yaxes(range=[-0.08, 1.08])
    return fig


def _quadrant_trace(part: pd.DataFrame, quadrant: str):
    import plotly.graph_objects as go

    custom = np.column_stack(
        [
            _col(part, "caller", "").astype(str),
            _col(part, "tier", "").astype(str).map(lambda t: _label(TIER_LABELS, t)),
            _col(part, "churn_risk", "").astype(str),
            _col(part, "risk_points").fillna(0).astype(float),
        ]
    )
    hint = QUADRANT_HINTS.get(quadrant, "")
    return go.Scatter(
        name=f"{quadrant} {hint}".strip() or "未分象限",
        x=pd.to_numeric(part["score"], errors="coerce").tolist(),
        y=part["_stability"].tolist(),
        mode="markers",
        marker={
            "size": 13,
            "color": QUADRANT_COLORS.get(quadrant, DEFAULT_COLOR),
            "opacity": 0.85,
            "line": {"width": 1, "color": "white"},
        },
        customdata=custom.tolist(),
        hovertemplate=(
            "客户 %{customdata[0]}<br>等级 %{customdata[1]}<br>价值分 %{x:.1f}<br>"
            "流失风险 %{customdata[2]}（%{customdata[3]} 分）<extra>" + html.escape(quadrant) + "</extra>"
        ),
    )


def overview_figures(data: ReportData) -> list:
    """The overview charts (plotly figures) that have data, in display order."""
    builders = (
        lambda: _tier_chart(data.callers),
        lambda: _risk_by_tier_chart(data.callers),
        lambda: _keyword_chart(data.calls),
        lambda: _sentiment_chart(data.calls),
        lambda: _calls_per_day_chart(data.calls),
        lambda: _quadrant_chart(data.callers),
    )
    return [fig for fig in (build() for build in builders) if fig is not None]


def _charts_html(data: ReportData) -> str:
    figures = overview_figures(data)
    if not figures:
        return ""
    divs = [
        '<div class="chart">'
        + fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, div_id=f"chart-{i}")
        + "</div>"
        for i, fig in enumerate(figures, start=1)
    ]
    return f'<section id="charts"><h2>图表</h2><div class="charts">{"".join(divs)}</div></section>'


# --------------------------------------------------------------------------------------------- tables


def _badge(kind: str, value, labels: dict) -> str:
    raw = _text(value)
    if not raw:
        return ""
    return f'<span class="badge {kind}-{_slug(raw)}">{html.escape(_label(labels, value))}</span>'


def _caller_link(caller) -> str:
    return f'<a href="#{customer_anchor(caller)}">{_text(caller)}</a>'


def _table(headers: list[str], rows: list[list[str]], table_id: str) -> str:
    """Rows are lists of already-escaped HTML cells."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f'<div class="table-wrap"><table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _review_html(data: ReportData) -> str:
    review = data.review
    if not len(review):
        empty = '<p class="empty">复核队列为空：没有需要回访的客户。</p>'
        return f'<section id="review"><h2>复核队列</h2>{empty}</section>'
    headers = ["#", "客户", "等级", "价值分", "流失风险", "预警", "象限", "风险原因", "证据引用"]
    rows = []
    for rec in review.to_dict("records"):
        reasons = "<br>".join(
            html.escape(r.strip()) for r in str(rec.get("risk_reason") or "").split(";") if r.strip()
        )
        quotes = "".join(f'<div class="quote">{html.escape(q)}</div>' for q in _lines(rec.get("evidence")))
        rows.append(
            [
                _text(rec.get("rank")),
                _caller_link(rec.get("caller")),
                html.escape(_label(TIER_LABELS, rec.get("tier"))),
                _fmt(rec.get("score"), 1),
                _badge("risk", rec.get("churn_risk"), RISK_LABELS)
                + f' <small class="nowrap">{_fmt(rec.get("risk_points"), 0)} 分</small>',
                _badge("warn", rec.get("warning_level"), WARNING_LABELS),
                _text(rec.get("quadrant")),
                f'<div class="reason">{reasons}</div>',
                quotes,
            ]
        )
    return f'<section id="review"><h2>复核队列</h2>{_table(headers, rows, "review-table")}</section>'


def _lines(value) -> list[str]:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return [line for line in text.splitlines() if line.strip()]


def _last_call_local(data: ReportData) -> dict[str, str]:
    calls = data.calls
    if not len(calls) or "caller" not in calls.columns:
        return {}
    ordered = calls.assign(_t=_started_utc(calls)).sort_values("_t")
    return {
        str(c): _local_time(s)
        for c, s in zip(ordered["caller"], _col(ordered, "started_at", ""), strict=True)
    }


def _customer_rows(data: ReportData) -> list[dict]:
    """One dict per customer: callers.csv rows, plus callers seen only in calls.csv."""
    rows = data.callers.to_dict("records") if len(data.callers) else []
    known = {str(r.get("caller")) for r in rows}
    for caller in _col(data.calls, "caller", "").dropna().astype(str).unique():
        if caller not in known:
            rows.append({"caller": caller})
            known.add(caller)
    risk_rank = {r: i for i, r in enumerate(RISK_ORDER)}
    return sorted(
        rows,
        key=lambda r: (
            risk_rank.get(str(r.get("churn_risk")), len(RISK_ORDER)),
            -_num(r.get("risk_points"), 0),
            -_num(r.get("score"), 0),
            str(r.get("caller")),
        ),
    )


def _customers_html(data: ReportData, customers: list[dict]) -> str:
    if not customers:
        return '<section id="customers"><h2>客户</h2><p class="empty">暂无客户数据。</p></section>'
    last = _last_call_local(data)
    headers = [
        "客户",
        "等级",
        "价值分",
        "流失风险",
        "风险分",
        "预警",
        "象限",
        "通话数",
        "总分钟",
        "情绪均值",
        "投诉较多",
        "最近通话",
    ]
    rows = [
        [
            _caller_link(rec.get("caller")),
            html.escape(_label(TIER_LABELS, rec.get("tier"))),
            _fmt(rec.get("score"), 1),
            _badge("risk", rec.get("churn_risk"), RISK_LABELS),
            _fmt(rec.get("risk_points"), 0),
            _badge("warn", rec.get("warning_level"), WARNING_LABELS),
            _text(rec.get("quadrant")),
            _fmt(rec.get("calls"), 0),
            _fmt(rec.get("total_minutes"), 1),
            _fmt(rec.get("sentiment_mean"), 2),
            "是" if str(rec.get("complaint_heavy")) == "True" else "",
            html.escape(last.get(str(rec.get("caller")), _local_time(rec.get("last_call")))),
        ]
        for rec in customers
    ]
    search = '<input id="customer-filter" type="search" placeholder="筛选客户（号码、等级、象限…）">'
    return (
        f'<section id="customers"><h2>客户</h2>{search}{_table(headers, rows, "customers-table")}</section>'
    )


def _errors_html(data: ReportData) -> str:
    errors = data.errors
    if not len(errors):
        return ""
    rows = [[_text(r.get("file")), _text(r.get("reason"))] for r in errors.to_dict("records")]
    return (
        f'<section id="errors"><h2>处理失败的文件（{len(rows)}）</h2>'
        f"{_table(['文件', '原因'], rows, 'errors-table')}</section>"
    )


# --------------------------------------------------------------------------------------------- transcripts


def _segment_key(role, start, end) -> tuple:
    return (str(role), round(_num(start, 0.0), TIME_KEY_DECIMALS), round(_num(end, 0.0), TIME_KEY_DECIMALS))


def _evidence_index(evidence: list[dict]) -> dict[str, dict[tuple, list[dict]]]:
    """file -> segment key (role, start, end) and (role, snippet) -> hits."""
    index: dict[str, dict[tuple, list[dict]]] = {}
    for hit in evidence:
        per_file = index.setdefault(str(hit.get("file", "")), {})
        per_file.setdefault(_segment_key(hit.get("role"), hit.get("start"), hit.get("end")), []).append(hit)
        per_file.setdefault((str(hit.get("role")), str(hit.get("snippet", ""))), []).append(hit)
    return index


def _segment_hits(hits_by_key: dict[tuple, list[dict]], segment: dict) -> list[dict]:
    by_time = hits_by_key.get(_segment_key(segment.get("role"), segment.get("start"), segment.get("end")))
    if by_time:
        return by_time
    return hits_by_key.get((str(segment.get("role")), str(segment.get("text", ""))), [])


def _hit_spans(text: str, hits: list[dict]) -> list[tuple[int, int, dict]]:
    """Non-overlapping (start, end, hit) spans of every occurrence of each hit's heard text; longest first."""
    spans: list[tuple[int, int, dict]] = []
    for hit in sorted(hits, key=lambda h: -len(str(h.get("heard") or ""))):
        heard = str(hit.get("heard") or "")
        pos = text.find(heard) if heard else -1
        while pos >= 0:
            end = pos + len(heard)
            if all(end <= s or pos >= e for s, e, _ in spans):
                spans.append((pos, end, hit))
            pos = text.find(heard, end)
    return sorted(spans, key=lambda span: span[0])


def _mark(text: str, hit: dict) -> str:
    category = str(hit.get("category", ""))
    negated = bool(hit.get("negated")) and str(hit.get("negated")) != "False"
    title = (
        f"{_category_label(category)} · 词条 {hit.get('term', '')} · {hit.get('match', '')} "
        f"{_fmt(hit.get('confidence'), 2)}" + (" · 否定（不计数）" if negated else "")
    )
    classes = f"kw kw-{_slug(category)}" + (" kw-negated" if negated else "")
    return f'<mark class="{classes}" title="{html.escape(title)}">{html.escape(text)}</mark>'


def highlight(text: str, hits: list[dict]) -> str:
    """Escaped `text` with every hit's heard text wrapped in <mark class="kw kw-<category>">."""
    out, cursor = [], 0
    for start, end, hit in _hit_spans(text, hits):
        out.append(html.escape(text[cursor:start]))
        out.append(_mark(text[start:end], hit))
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


def _transcript_html(segments: list[dict], hits_by_key: dict[tuple, list[dict]]) -> str:
    if not segments:
        return '<p class="empty">没有转写文本。</p>'
    bubbles = []
    for seg in segments:
        role = str(seg.get("role", ""))
        text = str(seg.get("text", ""))
        body = highlight(text, _segment_hits(hits_by_key, seg))
        bubbles.append(
            f'<div class="turn turn-{_slug(role)}"><div class="who">{html.escape(_label(ROLE_LABELS, role))}'
            f' <span class="ts">{_fmt(seg.get("start"), 1)}–{_fmt(seg.get("end"), 1)} s</span></div>'
            f'<div class="bubble">{body}</div></div>'
        )
    return f'<div class="transcript">{"".join(bubbles)}</div>'


def _call_meta_html(call: dict) -> str:
    items = [
        ("方向", _label(DIRECTION_LABELS, call.get("direction")) or "—"),
        ("时长", _fmt(call.get("duration_s"), 1, " 秒")),
        ("静默", _fmt(call.get("non_talk_s"), 1, " 秒")),
        ("转接", _fmt(call.get("transfers"), 0)),
        ("保持", _fmt(call.get("hold_count"), 0)),
        ("坐席", _label({}, call.get("agent")) or "—"),
        ("情绪均值", _fmt(call.get("sentiment_mean"), 2)),
        ("结束情绪", _fmt(call.get("sentiment_end"), 2)),
    ]
    cells = "".join(f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in items)
    return f'<dl class="meta">{cells}</dl>'


def _quarter_chart_html(call: dict) -> str:
    quarters = [_num(call.get(f"sentiment_q{i}")) for i in range(1, 5)]
    data = [None if math.isnan(q) else round(q, 3) for q in quarters]
    labels = " · ".join(f"Q{i} {_fmt(q, 2)}" for i, q in enumerate(quarters, start=1))
    return (
        f'<div class="quarters"><div class="qtitle">分段情绪（按通话四等分）</div>'
        f'<div class="qchart" data-q="{html.escape(json.dumps(data))}"></div>'
        f'<div class="qtext">{html.escape(labels)}</div></div>'
    )


def _call_html(call: dict, data: ReportData, evidence_index: dict) -> str:
    file = str(call.get("file", ""))
    segments = data.transcripts.get(file, [])
    return (
        f'<article class="call"><header><h3>{html.escape(_local_time(call.get("started_at")) or "时间未知")}'
        " · "
        f"{html.escape(_label(DIRECTION_LABELS, call.get('direction')) or '—')}</h3>"
        f'<span class="file">{html.escape(file)}</span></header>'
        f'<div class="call-top">{_call_meta_html(call)}{_quarter_chart_html(call)}</div>'
        f"{_transcript_html(segments, evidence_index.get(file, {}))}</article>"
    )


def _customer_page_html(customer: dict, calls: list[dict], data: ReportData, evidence_index: dict) -> str:
    caller = customer.get("caller")
    facts = [
        ("等级", html.escape(_label(TIER_LABELS, customer.get("tier")) or "—")),
        ("价值分", _fmt(customer.get("score"), 1)),
        ("流失风险", _badge("risk", customer.get("churn_risk"), RISK_LABELS) or "—"),
        ("风险分", _fmt(customer.get("risk_points"), 0)),
        ("预警", _badge("warn", customer.get("warning_level"), WARNING_LABELS) or "—"),
        ("象限", _text(customer.get("quadrant")) or "—"),
        ("通话", f"{len(calls)}"),
    ]
    fact_html = "".join(f"<div><dt>{html.escape(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    reasons = [("等级依据", customer.get("tier_reason")), ("风险原因", customer.get("risk_reason"))]
    reason_html = "".join(f"<p><b>{k}：</b>{_text(v)}</p>" for k, v in reasons if _text(v))
    body = "".join(_call_html(c, data, evidence_index) for c in calls) or '<p class="empty">没有通话。</p>'
    return (
        f'<section class="page customer-page" id="{customer_anchor(caller)}" hidden>'
        f'<p><a href="#customers" class="back">← 返回客户列表</a></p>'
        f'<h2>客户 {_text(caller)}</h2><dl class="facts">{fact_html}</dl>'
        f'<div class="reasons">{reason_html}</div>'
        f'<h3 class="calls-title">通话（按时间顺序）</h3>{body}</section>'
    )


def _customer_pages_html(data: ReportData, customers: list[dict]) -> str:
    calls = data.calls
    if len(calls):
        calls = calls.assign(_t=_started_utc(calls)).sort_values(
            ["_t", "file"] if "file" in calls else ["_t"]
        )
    by_caller: dict[str, list[dict]] = {}
    for rec in calls.to_dict("records") if len(calls) else []:
        by_caller.setdefault(str(rec.get("caller")), []).append(rec)
    index = _evidence_index(data.evidence)
    return "".join(
        _customer_page_html(c, by_caller.get(str(c.get("caller")), []), data, index) for c in customers
    )


# --------------------------------------------------------------------------------------------- page


STYLE = """
:root { --fg:#1f2d3d; --muted:#6b7785; --line:#e3e8ef; --bg:#f5f7fa; --accent:#2f6fce; }
* { box-sizing:border-box; }
body { margin:0; font-family:FONTS; color:var(--fg); background:var(--bg); font-size:14px; line-height:1.55; }
header.top { background:#1f3b63; color:#fff; padding:14px 28px; position:sticky; top:0; z-index:10; }
header.top h1 { margin:0; font-size:20px; }
header.top .sub { color:#c9d6ea; font-size:12px; }
header.top nav a { color:#fff; margin-right:18px; text-decoration:none; font-size:13px; }
main { padding:18px 28px 40px; max-width:1500px; margin:0 auto; }
section, .customer-page { scroll-margin-top:100px; }
h2 { font-size:17px; margin:26px 0 10px; border-left:4px solid var(--accent); padding-left:8px; }
a { color:var(--accent); }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(150px,1fr)); gap:12px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card-value { font-size:22px; font-weight:600; }
.card-label { color:var(--muted); font-size:12px; }
.card-alert .card-value { color:#c0392b; }
.charts { display:grid; grid-template-columns:repeat(auto-fill,minmax(460px,1fr)); gap:14px; }
.chart { background:#fff; border:1px solid var(--line); border-radius:8px; padding:6px; min-height:350px; }
.table-wrap { max-height:560px; overflow:auto; background:#fff; border:1px solid var(--line);
  border-radius:8px; }
table { border-collapse:collapse; width:100%; }
th, td { padding:7px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { position:sticky; top:0; background:#eef2f7; z-index:1; cursor:pointer; white-space:nowrap; }
tbody tr:hover { background:#f8fafc; }
.quote { background:#fff8e6; border-left:3px solid #f0a030; padding:2px 6px; margin:2px 0; font-size:13px; }
.nowrap { white-space:nowrap; }
.reason { font-size:12px; color:var(--muted); min-width:220px; }
.badge { display:inline-block; white-space:nowrap; padding:1px 8px; border-radius:10px; font-size:12px;
  color:#fff; background:#7f8c9a; }
.risk-high, .warn-red { background:#d64541; } .risk-medium, .warn-orange { background:#f0a030; }
.risk-low { background:#3aa76d; } .warn-yellow { background:#e8c840; color:#333; }
.warn-none { background:#b8c2cc; }
.empty { color:var(--muted); background:#fff; border:1px dashed var(--line); padding:16px;
  border-radius:8px; }
#customer-filter { margin:0 0 8px; padding:6px 10px; width:320px; border:1px solid var(--line);
  border-radius:6px; }
dl.facts, dl.meta { display:flex; flex-wrap:wrap; gap:8px 22px; margin:6px 0; }
dl.facts div, dl.meta div { min-width:70px; } dt { color:var(--muted); font-size:12px; }
dd { margin:0; font-weight:600; }
.reasons p { margin:4px 0; font-size:13px; overflow-wrap:anywhere; }
.bubble, .quote, td { overflow-wrap:break-word; }
.call { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:12px 0; }
.call header { display:flex; justify-content:space-between; align-items:baseline; gap:10px; }
.call h3 { margin:0; font-size:15px; } .file { color:var(--muted); font-size:12px; }
.call-top { display:flex; flex-wrap:wrap; gap:16px; align-items:flex-start; justify-content:space-between; }
.quarters { width:300px; } .qtitle, .qtext { font-size:12px; color:var(--muted); } .qchart { height:120px; }
.transcript { display:flex; flex-direction:column; gap:6px; margin-top:8px; }
.turn { max-width:72%; } .turn .who { font-size:12px; color:var(--muted); }
.turn .ts { font-size:11px; color:#9aa5b1; }
.bubble { padding:7px 11px; border-radius:10px; }
.turn-agent { align-self:flex-start; } .turn-agent .bubble { background:#eef3fb; border:1px solid #d6e2f5; }
.turn-customer { align-self:flex-end; text-align:right; }
.turn-customer .bubble { background:#e9f7ef; border:1px solid #cdebd9; text-align:left; }
.turn-mixed { align-self:center; } .turn-mixed .bubble { background:#f3f3f3; }
mark.kw { padding:0 1px; border-radius:3px; background:#fde68a; cursor:help; }
mark.kw-complaint, mark.kw-churn_intent { background:#fbc4c0; } mark.kw-competitor { background:#f9d3a8; }
mark.kw-praise { background:#c6efd5; } mark.kw-negated { background:#e2e2e2; text-decoration:line-through; }
footer { color:var(--muted); font-size:12px; padding:20px 28px; }
""".replace("FONTS", FONT_STACK)

SCRIPT = """
(function () {
  function renderQuarters(root) {
    if (!window.Plotly) return;
    root.querySelectorAll('.qchart:not(.done)').forEach(function (el) {
      var q = JSON.parse(el.getAttribute('data-q'));
      var colors = q.map(function (v) {
        return v === null ? '#ccc' : v < 0.4 ? '#d64541' : v < 0.6 ? '#f0a030' : '#3aa76d';
      });
      Plotly.newPlot(el, [{type: 'bar', x: ['Q1', 'Q2', 'Q3', 'Q4'], y: q, marker: {color: colors},
        hovertemplate: '%{x}: %{y:.2f}<extra></extra>'}],
        {height: 120, margin: {l: 30, r: 8, t: 8, b: 22}, yaxis: {range: [0, 1], tickvals: [0, 0.5, 1]},
         shapes: [{type: 'line', xref: 'paper', x0: 0, x1: 1, y0: 0.5, y1: 0.5,
                   line: {dash: 'dot', color: '#999'}}],
         font: {size: 11}}, {displayModeBar: false, responsive: true});
      el.classList.add('done');
    });
  }
  function show() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    var isCustomer = target && target.classList.contains('customer-page');
    var page = isCustomer ? target : document.getElementById('main');
    document.querySelectorAll('.page').forEach(function (p) { p.hidden = (p !== page); });
    if (page.id === 'main') {
      if (window.Plotly) {
        page.querySelectorAll('.js-plotly-plot').forEach(function (el) { Plotly.Plots.resize(el); });
      }
      if (target) target.scrollIntoView(); else window.scrollTo(0, 0);
    } else {
      renderQuarters(page);
      window.scrollTo(0, 0);
    }
  }
  var filter = document.getElementById('customer-filter');
  if (filter) filter.addEventListener('input', function () {
    var needle = filter.value.trim().toLowerCase();
    document.querySelectorAll('#customers-table tbody tr').forEach(function (tr) {
      tr.hidden = needle && tr.textContent.toLowerCase().indexOf(needle) < 0;
    });
  });
  document.querySelectorAll('table.sortable thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var tbody = th.closest('table').tBodies[0];
      var asc = th.getAttribute('data-sort') !== 'asc';
      th.setAttribute('data-sort', asc ? 'asc' : 'desc');
      var key = function (tr) {
        var t = tr.cells[col].textContent.trim();
        var n = parseFloat(t.replace(/,/g, ''));
        return isNaN(n) || !/^[-\\d.,]+/.test(t) ? t : n;
      };
      Array.from(tbody.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        var bothNumbers = typeof x === 'number' && typeof y === 'number';
        var c = bothNumbers ? x - y : String(x).localeCompare(String(y), 'zh');
        return asc ? c : -c;
      }).forEach(function (tr) { tbody.appendChild(tr); });
    });
  });
  window.addEventListener('hashchange', show);
  show();
})();
"""


def _no_data_html(data: ReportData) -> str:
    if len(data.calls):
        return ""
    return (
        '<section id="no-data"><p class="empty"><b>没有数据（no data）：</b>本批次没有成功分析的通话。'
        + ("失败的文件见下方列表。" if len(data.errors) else "")
        + "</p></section>"
    )


def render_report(data: ReportData, title: str | None = None) -> str:
    """The complete, self-contained report.html text."""
    customers = _customer_rows(data)
    charts = _charts_html(data)
    title = title or DEFAULT_TITLE
    generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %z")
    nav = (
        '<nav><a href="#overview">概览</a><a href="#charts">图表</a><a href="#review">复核队列</a>'
        '<a href="#customers">客户</a>'
        + ('<a href="#errors">失败文件</a>' if len(data.errors) else "")
        + "</nav>"
    )
    plotly_js = f"<script>{_plotly_js()}</script>" if charts or customers else ""
    main = (
        f'<main><div class="page" id="main">{_headline_html(data)}{_no_data_html(data)}{charts}'
        f"{_review_html(data)}{_customers_html(data, customers)}{_errors_html(data)}</div>"
        f"{_customer_pages_html(data, customers)}</main>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>{plotly_js}</head><body>"
        f'<header class="top"><h1>{html.escape(title)}</h1><div class="sub">输出目录 '
        f"{html.escape(data.out_dir.name)} · 生成于 {html.escape(generated)}</div>{nav}</header>"
        f"{main}<footer>speechchurn · 离线报告，可直接用浏览器打开</footer>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_report(out_dir: Path, title: str | None = None) -> Path:
    """Write OUT_DIR/report.html from the analyze outputs in OUT_DIR; return its path."""
    data = load_report_data(out_dir)
    text = render_report(data, title)
    path = Path(out_dir) / REPORT_HTML
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"{path}: cannot write report: {e}") from e
    log.info("report: wrote %s (%d calls, %d customers)", path, len(data.calls), len(_customer_rows(data)))
    return path


# --------------------------------------------------------------------------------------------- workbook


def display_width(value) -> int:
    """Width of a cell's text in Excel character units: East Asian wide/full-width characters count 2."""
    text = "" if value is None else str(value)
    return max(
        (
            sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in line)
            for line in text.split("\n")
        ),
        default=0,
    )


def _cell_value(value):
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _fill_sheet(ws, frame: pd.DataFrame) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    if not len(frame.columns):
        ws.append(["无数据 (no data)"])
        return
    ws.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        ws.append([_cell_value(v) for v in row])
    header_font, header_fill = Font(bold=True), PatternFill("solid", fgColor=XLSX_HEADER_FILL)
    for cell in ws[1]:
        cell.font, cell.fill = header_font, header_fill
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    sample = frame.head(XLSX_WIDTH_SAMPLE_ROWS)
    for i, column in enumerate(frame.columns, start=1):
        widest = max([display_width(column)] + [display_width(_cell_value(v)) for v in sample[column]])
        width = min(max(widest + XLSX_PADDING, XLSX_MIN_WIDTH), XLSX_MAX_WIDTH)
        ws.column_dimensions[get_column_letter(i)].width = width
        if widest + XLSX_PADDING > XLSX_MAX_WIDTH or sample[column].astype(str).str.contains("\n").any():
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def write_workbook(out_dir: Path) -> Path:
    """Write OUT_DIR/callers.xlsx (customers, calls, review, errors sheets); return its path."""
    from openpyxl import Workbook

    data = load_report_data(out_dir)
    frames = {"customers": data.callers, "calls": data.calls, "review": data.review, "errors": data.errors}
    book = Workbook()
    book.remove(book.active)
    for name in XLSX_SHEETS:
        _fill_sheet(book.create_sheet(name), frames[name])
    path = Path(out_dir) / WORKBOOK_XLSX
    try:
        with atomic_path(path) as tmp:
            book.save(tmp)
    except OSError as e:
        raise ReportError(f"{path}: cannot write workbook: {e}") from e
    log.info("report: wrote %s", path)
    return path
