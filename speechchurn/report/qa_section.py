"""The report's QA (质检) section: agent leaderboard, pass rate per criterion, the worst calls with their
quotes, and each agent's weekly mean score as a chart.

:func:`qa_section` returns the context of ``report/templates/_qa.html.j2`` (plain values; the template
escapes them) or None when OUT_DIR has no qa_calls.csv, so a run without QA renders exactly as before.
Criterion ids come from qa_calls.csv's ``qa_<id>`` / ``qa_<id>_at`` column pairs; their Chinese labels
from the form (:func:`speechchurn.report.qa_data.criterion_labels`).
"""

from __future__ import annotations

import pandas as pd

from speechchurn.report import qa_data as q
from speechchurn.report.data import ReportData, fmt, local_time, num, text

WORST_CALLS = 10  # calls listed under 最低分通话
QA_CHART_ID_PREFIX = "qa-chart-"
PERCENT = 100.0


def _pct(value: float) -> str:
    return fmt(value * PERCENT, 0, "%")


def _leaderboard(agents: pd.DataFrame) -> list[dict]:
    rows = []
    for rec in agents.sort_values(["qa_mean", "agent"], ascending=[False, True]).to_dict("records"):
        rows.append(
            {
                "agent": text(rec.get("agent")),
                "calls": fmt(rec.get("calls"), 0),
                "mean": fmt(rec.get("qa_mean"), 1),
                "min": fmt(rec.get("qa_min"), 1),
                "auto_failed": fmt(rec.get("auto_failed"), 0),
                "failed": fmt(rec.get("failed"), 0),
            }
        )
    return rows


def _criteria_rows(calls: pd.DataFrame, agents: pd.DataFrame, ids: list[str], labels: dict) -> list[dict]:
    """Per criterion: label, overall pass rate (over calls where it applies) and the rate per agent."""
    names = agents["agent"].astype(str).tolist()
    rows = []
    for cid in ids:
        results = pd.to_numeric(calls[q.result_column(cid)], errors="coerce")
        per_agent = results.groupby(calls["agent"].astype(str)).mean()
        rows.append(
            {
                "id": cid,
                "label": labels.get(cid, cid),
                "applicable": f"{int(results.notna().sum()):,}",
                "rate": _pct(results.mean()),
                "agents": [_pct(per_agent.get(name, float("nan"))) for name in names],
            }
        )
    return rows


def _worst_calls(data: ReportData, calls: pd.DataFrame, ids: list[str], labels: dict) -> list[dict]:
    evidence = q.qa_evidence(data.evidence)
    started = {
        str(f): text(s)
        for frame in (data.calls, calls)
        for f, s in zip(frame.get("file", []), frame.get("started_at", []), strict=False)
        if text(s)
    }
    ranked = calls.assign(_score=pd.to_numeric(calls["qa_score"], errors="coerce")).dropna(subset=["_score"])
    rows = []
    for rec in ranked.sort_values(["_score", "file"]).head(WORST_CALLS).to_dict("records"):
        file = text(rec.get("file"))
        failed = [cid for cid in ids if num(rec.get(q.result_column(cid))) == 0]
        rows.append(
            {
                "file": file,
                "agent": text(rec.get("agent")),
                "when": local_time(started.get(file)),
                "score": fmt(rec.get("qa_score"), 1),
                "auto_failed": q.truthy(rec.get("qa_auto_failed")),
                "failed": [_failure(cid, rec, evidence.get((file, cid)), labels) for cid in failed],
            }
        )
    return rows


def _failure(cid: str, rec: dict, hit: dict | None, labels: dict) -> dict:
    at = num(rec.get(q.at_column(cid)))
    if hit is not None and at != at:
        at = num(hit.get("at"), num(hit.get("start")))
    return {
        "label": labels.get(cid, cid),
        "at": "" if at != at else fmt(at, 1, " 秒"),
        "quote": q.quote_of(hit),
    }


def _trend_figure(weekly: pd.DataFrame):
    """One line per agent: the mean QA score of each ISO week (``YYYY-Www``, the call's local time)."""
    import plotly.graph_objects as go

    from speechchurn.report.charts import _layout

    if weekly.empty:
        return None
    fig = go.Figure()
    for agent, part in weekly.groupby("agent", sort=True):
        fig.add_trace(
            go.Scatter(
                name=str(agent),
                x=part["week"].tolist(),
                y=part["mean"].round(1).tolist(),
                mode="lines+markers",
                hovertemplate="%{x}：平均 %{y} 分<extra>%{fullData.name}</extra>",
            )
        )
    fig = _layout(fig, "坐席质检得分周趋势", yaxis_title="平均质检得分")
    fig.update_xaxes(type="category", categoryorder="category ascending", title="周")
    fig.update_yaxes(range=[0, 105])
    return fig


def _pass_rate_figure(rows: list[dict], calls: pd.DataFrame):
    import plotly.graph_objects as go

    from speechchurn.report.charts import BAR_COLOR, _layout

    rates = [pd.to_numeric(calls[q.result_column(r["id"])], errors="coerce").mean() * PERCENT for r in rows]
    shown = [(r["label"], rate) for r, rate in zip(rows, rates, strict=True) if rate == rate]
    if not shown:
        return None
    bar = go.Bar(
        x=[rate for _, rate in shown][::-1],
        y=[name for name, _ in shown][::-1],
        orientation="h",
        marker_color=BAR_COLOR,
        hovertemplate="%{y}：%{x:.0f}%<extra></extra>",
    )
    fig = _layout(go.Figure(bar), "各质检项通过率", xaxis_title="通过率 %", showlegend=False)
    fig.update_xaxes(range=[0, 100])
    return fig


def _divs(figures: list) -> list[str]:
    from speechchurn.report.charts import PLOT_CONFIG

    return [
        fig.to_html(
            full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, div_id=f"{QA_CHART_ID_PREFIX}{i}"
        )
        for i, fig in enumerate((f for f in figures if f is not None), start=1)
    ]


def qa_section(data: ReportData) -> dict | None:
    """Context for _qa.html.j2, or None when the output folder has no QA results."""
    tables = q.load_qa_tables(data)
    if tables is None:
        return None
    calls, agents, ids = tables.calls, tables.agents, tables.criteria
    labels = q.criterion_labels(ids, data.evidence)
    criteria = _criteria_rows(calls, agents, ids, labels)
    weekly = q.weekly_means(data.qa_agents)
    return {
        "agents": _leaderboard(agents),
        "agent_names": agents["agent"].astype(str).tolist(),
        "criteria": criteria,
        "worst": _worst_calls(data, calls, ids, labels),
        "charts": _divs([_trend_figure(weekly), _pass_rate_figure(criteria, calls)]),
        "calls": f"{len(calls):,}",
        "mean": fmt(pd.to_numeric(calls["qa_score"], errors="coerce").mean(), 1),
        "auto_failed": f"{int(calls['qa_auto_failed'].map(q.truthy).sum()):,}",
    }
