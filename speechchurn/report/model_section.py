"""The report's model section: model_report.json, retention.json and cluster_report.json as tables and
plotly charts (ROC and lift curves, feature importance, calibration, retention rates with intervals).

:func:`model_section` returns the context of ``report/templates/_model.html.j2`` (plain values; the
template escapes them) or None when OUT_DIR holds none of those files.
"""

from __future__ import annotations

import json
from pathlib import Path

from speechchurn.labels import CLUSTER_TIER_LABELS, MODEL_LABELS, feature_label
from speechchurn.outputs import CLUSTER_REPORT_JSON, MODEL_REPORT_JSON, RETENTION_JSON
from speechchurn.report.charts import CHART_HEIGHT_PX, FONT_STACK, PLOT_CONFIG

COLORS = {"rules": "#7f8c9a", "logistic": "#4a7bd0", "tree": "#3aa76d", "boosting": "#d64541"}
IMPORTANCE_TOP = 12  # features in the importance chart
CHART_ID_PREFIX = "model-chart-"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _summary_rows(report: dict) -> list[dict]:
    rows = []
    for kind, m in report.get("summary", {}).items():
        if not m:
            continue
        rows.append(
            {
                "model": MODEL_LABELS.get(kind, kind) + (" ★" if kind == report.get("chosen_model") else ""),
                "roc_auc": _num(m.get("roc_auc")),
                "pr_auc": _num(m.get("pr_auc")),
                "warn_size": f"{m['at_warning_size']['size']:.0f}",
                "warn_coverage": _pct(m["at_warning_size"]["coverage"]),
                "warn_hit": _pct(m["at_warning_size"]["hit_rate"]),
                "top10_coverage": _pct(m["top_10pct"]["coverage"]),
                "top10_hit": _pct(m["top_10pct"]["hit_rate"]),
                "top10_lift": _num(m["top_10pct"]["lift"], 2),
                "brier": _num(m.get("brier")),
            }
        )
    return rows


def _layout(fig, title: str, **extra):
    """The overview charts' look (report/charts.py constants)."""

    settings = {
        "title": {"text": title, "x": 0.02, "font": {"size": 15}},
        "template": "plotly_white",
        "font": {"family": FONT_STACK, "size": 12},
        "margin": {"l": 50, "r": 20, "t": 50, "b": 45},
        "height": CHART_HEIGHT_PX,
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    }
    fig.update_layout(**{**settings, **extra})
    return fig


def _latest_fold(report: dict) -> dict | None:
    return next((f for f in report.get("folds", []) if "models" in f), None)


def _curve_figures(fold: dict) -> list:
    import plotly.graph_objects as go

    roc, lift = go.Figure(), go.Figure()
    for kind, m in fold["models"].items():
        name, color = MODEL_LABELS.get(kind, kind), COLORS.get(kind)
        if m.get("roc_curve"):
            roc.add_trace(
                go.Scatter(x=m["roc_curve"]["fpr"], y=m["roc_curve"]["tpr"], name=name, line={"color": color})
            )
        share = [100 * s for s in m["lift_curve"]["share"]]
        lift.add_trace(go.Scatter(x=share, y=m["lift_curve"]["lift"], name=name, line={"color": color}))
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="随机", line={"dash": "dot", "color": "#bbb"}))
    when = f"（测试截止 {fold['test_cutoff']}）"
    return [
        _layout(roc, "ROC 曲线" + when, xaxis_title="误报率", yaxis_title="覆盖率（召回）"),
        _layout(lift, "提升度曲线" + when, xaxis_title="预警名单占比 %", yaxis_title="提升度"),
    ]


def _importance_figure(report: dict):
    import plotly.graph_objects as go

    kind = report.get("chosen_model")
    values = report.get("importance", {}).get(kind) or {}
    top = sorted(values.items(), key=lambda kv: -kv[1])[:IMPORTANCE_TOP][::-1]
    if not any(v for _, v in top):  # none measured (e.g. one class only): no empty chart
        return None
    fig = go.Figure(go.Bar(x=[v for _, v in top], y=[feature_label(n) for n, _ in top], orientation="h"))
    title = f"特征重要性（{MODEL_LABELS.get(kind, kind)}，打乱后 AUC 下降）"
    return _layout(fig, title, xaxis_title="AUC 下降", margin={"l": 140, "r": 20, "t": 50, "b": 45})


def _calibration_figure(fold: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    for kind, m in fold["models"].items():
        if "calibration" in m:
            cal = m["calibration"]
            fig.add_trace(
                go.Scatter(
                    x=cal["predicted"],
                    y=cal["observed"],
                    mode="lines+markers",
                    name=MODEL_LABELS.get(kind, kind),
                    line={"color": COLORS.get(kind)},
                )
            )
    top = max([max(t.x + t.y) for t in fig.data] + [0.05])
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], name="完美校准", line={"dash": "dot", "color": "#bbb"}))
    return _layout(fig, "校准：预测流失概率 vs 实际流失率", xaxis_title="预测", yaxis_title="实际")


def _rate_bars(groups: list[tuple[str, dict]], title: str):
    import plotly.graph_objects as go

    groups = [(name, g) for name, g in groups if g.get("rate") is not None]  # an empty group has no rate
    y = [100 * g["rate"] for _, g in groups]
    plus = [100 * (g["high"] - g["rate"]) for _, g in groups]
    minus = [100 * (g["rate"] - g["low"]) for _, g in groups]
    text = [f"{g['churned']}/{g['total']}" for _, g in groups]
    fig = go.Figure(
        go.Bar(
            x=[n for n, _ in groups],
            y=y,
            text=text,
            error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": True},
        )
    )
    return _layout(fig, title, yaxis_title="流失率 %（95% 置信区间）")


def _retention_figures(retention: dict) -> list:
    figs = []
    cvn = retention.get("contacted_vs_not")
    if cvn:
        figs.append(
            _rate_bars(
                [("已联系", cvn["contacted"]), ("未联系", cvn["not_contacted"])], "预警客户：联系与否的流失率"
            )
        )
    ba = retention.get("before_after")
    if ba:
        groups = [
            (f"之前 {ba['before']['from']}–{ba['before']['to']}", ba["before"]),
            (f"之后 {ba['after']['from']}–{ba['after']['to']}", ba["after"]),
        ]
        figs.append(_rate_bars(groups, f"{ba['split_date']} 前后的流失率"))
    return figs


def _divs(figures: list) -> list[str]:

    return [
        fig.to_html(
            full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, div_id=f"{CHART_ID_PREFIX}{i}"
        )
        for i, fig in enumerate(figures, start=1)
    ]


def _retention_rows(retention: dict) -> list[dict]:
    rows = []
    cvn = retention.get("contacted_vs_not")
    if cvn:
        d = cvn["difference_contacted_minus_not"]
        rows.append(
            {
                "what": "已联系 − 未联系（预警客户）",
                "value": _pct(d["difference"]),
                "interval": f"{_pct(d['low'])} ~ {_pct(d['high'])}",
            }
        )
    ba = retention.get("before_after")
    if ba:
        d = ba["difference_after_minus_before"]
        rows.append(
            {
                "what": f"{ba['split_date']} 之后 − 之前",
                "value": _pct(d["difference"]),
                "interval": f"{_pct(d['low'])} ~ {_pct(d['high'])}",
            }
        )
    return rows


def _cluster_rows(cluster: dict) -> list[dict]:
    return [
        {"cluster": CLUSTER_TIER_LABELS.get(key.split(":", 1)[1], key), "size": size}
        for key, size in cluster.get("sizes", {}).items()
    ]


def model_section(out_dir: Path) -> dict | None:
    """Context for _model.html.j2, or None when there is nothing to show."""
    out_dir = Path(out_dir)
    report = _read(out_dir / MODEL_REPORT_JSON)
    retention = _read(out_dir / RETENTION_JSON)
    cluster = _read(out_dir / CLUSTER_REPORT_JSON)
    if not (report or retention or cluster):
        return None
    figures, context = [], {"summary": [], "retention": [], "clusters": [], "notes": []}
    if report:
        context["summary"] = _summary_rows(report)
        context["cutoff"], context["horizon"] = report.get("cutoff"), report.get("horizon_days")
        fold = _latest_fold(report)
        if fold:
            figures += _curve_figures(fold) + [_calibration_figure(fold)]
        else:
            context["notes"].append("历史不足，无法做时间交叉验证（见 model_report.json 的 folds）。")
        importance = _importance_figure(report)
        figures += [importance] if importance is not None else []
    if retention:
        context["retention"] = _retention_rows(retention)
        figures += _retention_figures(retention)
    if cluster:
        context["clusters"] = _cluster_rows(cluster)
        agreement = cluster.get("agreement", {})
        context["cluster_agreement"] = {
            "k": cluster.get("k"),
            "ari": _num(agreement.get("adjusted_rand")),
            "match": _pct(agreement.get("matching_share")),
        }
    context["charts"] = _divs(figures)
    return context
