"""The report's overview charts (plotly), drawn from ReportData; plotly.js is inlined by html.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from speechchurn.labels import DIRECTION_LABELS, RISK_LABELS, TIER_LABELS
from speechchurn.report.data import (
    ReportData,
    category_label,
    col,
    keyword_columns,
    label,
    ordered,
)
from speechchurn.vocab import (
    ALARM_CATEGORIES,
    DIRECTION_IN,
    DIRECTION_OUT,
    RISK_HIGH,
    RISK_LEVELS,
    RISK_LOW,
    RISK_MEDIUM,
    TIER_ORDER,
    kw_category,
)

SENTIMENT_BIN_WIDTH = 0.1  # sentiment score units per histogram bin (scores run 0..1)
SENTIMENT_NEUTRAL = 0.5  # sentiment score of a neutral utterance
CHART_HEIGHT_PX = 340  # px, overview charts
MAX_COUNT_TICKS = 6  # ticks on a count axis at most (whole-number steps)
FONT_STACK = (
    '"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", '
    '"Source Han Sans SC", "WenQuanYi Micro Hei", system-ui, sans-serif'
)
RISK_COLORS = {RISK_HIGH: "#d64541", RISK_MEDIUM: "#f0a030", RISK_LOW: "#3aa76d"}
DIRECTION_COLORS = {DIRECTION_IN: "#4a7bd0", DIRECTION_OUT: "#f0a030"}
QUADRANT_COLORS = {"放心": "#3aa76d", "操心": "#d64541", "关心": "#f0a030", "用心": "#4a7bd0"}
QUADRANT_HINTS = {
    "放心": "高价值·稳定",
    "操心": "高价值·有风险",
    "关心": "低价值·有风险",
    "用心": "低价值·稳定",
}
BAR_COLOR = "#4a7bd0"
HISTOGRAM_COLOR = "#6c8ebf"
DEFAULT_COLOR = "#7f8c9a"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _escape(value: str) -> str:
    import html

    return html.escape(value)


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


def tier_chart(callers: pd.DataFrame):
    import plotly.graph_objects as go

    counts = col(callers, "tier", "").value_counts()
    tiers = ordered(counts.index, TIER_ORDER)
    if not tiers:
        return None
    bar = go.Bar(
        x=[label(TIER_LABELS, t) for t in tiers],
        y=[int(counts[t]) for t in tiers],
        text=[int(counts[t]) for t in tiers],
        textposition="auto",
        marker_color=BAR_COLOR,
        hovertemplate="%{x}: %{y} 位客户<extra></extra>",
    )
    return _layout(go.Figure(bar), "各等级客户数", yaxis_title="客户数", showlegend=False)


def risk_by_tier_chart(callers: pd.DataFrame):
    import plotly.graph_objects as go

    if not len(callers) or "churn_risk" not in callers.columns:
        return None
    table = pd.crosstab(col(callers, "tier", "").astype(str), callers["churn_risk"].astype(str))
    tiers = ordered(table.index, TIER_ORDER)
    fig = go.Figure()
    for risk in ordered(table.columns, RISK_LEVELS):
        fig.add_trace(
            go.Bar(
                name=f"{label(RISK_LABELS, risk)}风险",
                x=[label(TIER_LABELS, t) for t in tiers],
                y=[int(table.loc[t, risk]) for t in tiers],
                marker_color=RISK_COLORS.get(risk, DEFAULT_COLOR),
                hovertemplate="%{x} · " + _escape(risk) + ": %{y}<extra></extra>",
            )
        )
    return _layout(fig, "各等级的流失风险分布", barmode="stack", yaxis_title="客户数")


def keyword_chart(calls: pd.DataFrame):
    import plotly.graph_objects as go

    columns = keyword_columns(calls)
    if not columns:
        return None
    totals = calls[columns].apply(pd.to_numeric, errors="coerce").sum().sort_values()
    categories = [kw_category(c) for c in totals.index]
    bar = go.Bar(
        x=totals.to_numpy().tolist(),
        y=[category_label(c) for c in categories],
        orientation="h",
        marker_color=[RISK_COLORS[RISK_HIGH] if c in ALARM_CATEGORIES else BAR_COLOR for c in categories],
        hovertemplate="%{y}: %{x} 次<extra></extra>",
    )
    return _layout(go.Figure(bar), "关键词类别（客户侧命中次数）", xaxis_title="命中次数", showlegend=False)


def sentiment_chart(calls: pd.DataFrame):
    import plotly.graph_objects as go

    values = pd.to_numeric(col(calls, "sentiment_mean"), errors="coerce").dropna()
    if values.empty:
        return None
    hist = go.Histogram(
        x=values.tolist(),
        xbins={"start": 0.0, "end": 1.0, "size": SENTIMENT_BIN_WIDTH},
        marker_color=HISTOGRAM_COLOR,
        hovertemplate="情绪 %{x}: %{y} 通<extra></extra>",
    )
    fig = _layout(go.Figure(hist), "通话情绪分布（0 负面 · 1 正面）", showlegend=False)
    fig.update_xaxes(range=[0, 1], title="通话平均情绪")
    fig.update_yaxes(title="通话数")
    fig.add_vline(x=SENTIMENT_NEUTRAL, line_dash="dot", line_color=DEFAULT_COLOR)
    return fig


def calls_per_day_chart(calls: pd.DataFrame):
    import plotly.graph_objects as go

    days = pd.to_datetime(col(calls, "started_at", "").astype(str).str[:10], errors="coerce")
    frame = pd.DataFrame({"day": days, "direction": col(calls, "direction", "").astype(str)}).dropna()
    if frame.empty:
        return None
    fig = go.Figure()
    for direction in ordered(frame["direction"].unique(), (DIRECTION_IN, DIRECTION_OUT)):
        counts = frame[frame["direction"] == direction].groupby("day").size()
        fig.add_trace(
            go.Bar(
                name=label(DIRECTION_LABELS, direction) or "未知",
                marker_color=DIRECTION_COLORS.get(direction, DEFAULT_COLOR),
                x=[d.strftime("%Y-%m-%d") for d in counts.index],
                y=counts.to_numpy().tolist(),
                hovertemplate="%{x}: %{y} 通<extra></extra>",
            )
        )
    fig = _layout(fig, "每日通话量（有通话的日期）", barmode="stack", yaxis_title="通话数")
    fig.update_xaxes(type="category", categoryorder="category ascending", tickangle=-40, automargin=True)
    fig.update_yaxes(
        rangemode="tozero", tickformat=",d", dtick=integer_dtick(frame.groupby("day").size().max())
    )
    return fig


def integer_dtick(max_count: int) -> int:
    """Tick step for a count axis: whole numbers, about MAX_COUNT_TICKS ticks."""
    return max(1, math.ceil(int(max_count) / MAX_COUNT_TICKS))


def quadrant_chart(callers: pd.DataFrame):
    import plotly.graph_objects as go

    if not len(callers) or "score" not in callers.columns:
        return None
    points = pd.to_numeric(col(callers, "risk_points"), errors="coerce").fillna(0.0)
    stability = 1.0 - points / max(float(points.max()), 1.0)
    frame = callers.assign(
        _stability=stability, _quadrant=col(callers, "quadrant", "").fillna("").astype(str)
    )
    fig = go.Figure()
    for quadrant in ordered(frame["_quadrant"].unique(), tuple(QUADRANT_COLORS)):
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
            col(part, "caller", "").astype(str),
            col(part, "tier", "").astype(str).map(lambda t: label(TIER_LABELS, t)),
            col(part, "churn_risk", "").astype(str),
            col(part, "risk_points").fillna(0).astype(float),
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
            "流失风险 %{customdata[2]}（%{customdata[3]} 分）<extra>" + _escape(quadrant) + "</extra>"
        ),
    )


def overview_figures(data: ReportData) -> list:
    """The overview charts (plotly figures) that have data, in display order."""
    builders = (
        lambda: tier_chart(data.callers),
        lambda: risk_by_tier_chart(data.callers),
        lambda: keyword_chart(data.calls),
        lambda: sentiment_chart(data.calls),
        lambda: calls_per_day_chart(data.calls),
        lambda: quadrant_chart(data.callers),
    )
    return [fig for fig in (build() for build in builders) if fig is not None]


def chart_divs(data: ReportData) -> list[str]:
    """One plotly <div> (markup made by plotly from our data) per chart, ids chart-1, chart-2, ..."""
    return [
        fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, div_id=f"chart-{i}")
        for i, fig in enumerate(overview_figures(data), start=1)
    ]


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
