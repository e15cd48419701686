"""Export a fitted decision tree as readable rules in the rules-TOML syntax (docs/rules.md).

Each leaf the tree predicts as "churn" becomes one ``[[risk.points]]`` entry whose ``when`` lists the
conditions on the path from the root (``indicator <= threshold`` / ``indicator > threshold``) and whose
points equal ``risk.high_at_least``, so ``churn_risk == "high"`` exactly where the tree predicts churn
(the leaves are disjoint). Leaves just below the tree's decision threshold (weighted churn share of at
least ``MEDIUM_SHARE``) become medium-risk entries. Tiers, score, warning and quadrant settings are
copied from the base rules so the file is complete; a supervisor can read, edit and adopt it.

Thresholds are written as the shortest decimal that splits every float32 value as the tree's threshold
does. The tree is fitted on float32 features (its own precision) and only on indicators that are never
missing, so on the same feature table the rules decide exactly as it does.
"""

from __future__ import annotations

import json

import numpy as np

HIGH_POINTS = 2  # points of a leaf predicted as churn (= risk.high_at_least)
MEDIUM_POINTS = 1  # points of a leaf close to the decision threshold (= risk.medium_at_least)
MEDIUM_SHARE = 0.4  # weighted churn share of a leaf for medium risk (the tree predicts churn above 0.5)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # TOML basic strings accept JSON string escapes


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def threshold_text(t: float) -> str:
    """The shortest decimal that splits every float32 value exactly as ``t`` does (features are float32)."""
    f = np.float32(t)
    lo = f if float(f) <= t else np.nextafter(f, np.float32(-np.inf))
    hi = float(np.nextafter(lo, np.float32(np.inf)))
    for digits in range(1, 18):
        text = f"{t:.{digits}g}"
        if float(lo) <= float(text) < hi:
            return text
    return repr(float(t))


def tree_leaves(tree, names: list[str]) -> list[dict]:
    """Every leaf: its path conditions, weighted churn share, training customers and churn rate."""
    t = tree.tree_
    leaves: list[dict] = []
    stack = [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == right:  # leaf
            weights = t.value[node][0]
            share = float(weights[1] / weights.sum()) if weights.sum() else 0.0
            leaves.append(
                {
                    "node": int(node),
                    "conditions": path,
                    "share": share,
                    "samples": int(t.n_node_samples[node]),
                }
            )
            continue
        name, threshold = names[t.feature[node]], float(t.threshold[node])
        stack.append((right, [*path, f"{name} > {threshold_text(threshold)}"]))
        stack.append((left, [*path, f"{name} <= {threshold_text(threshold)}"]))
    return sorted(leaves, key=lambda leaf: leaf["node"])


def _predicted_churn(tree, leaf: dict) -> bool:
    return int(np.argmax(tree.tree_.value[leaf["node"]][0])) == list(tree.classes_).index(1)


def _risk_block(tree, names: list[str]) -> list[str]:
    lines = [
        "[risk]                              # learned from outcomes: decision-tree leaves",
        f"high_at_least = {HIGH_POINTS}                   # a leaf the tree predicts as churn",
        f"medium_at_least = {MEDIUM_POINTS}                 # a leaf close to the tree's threshold",
        "",
    ]
    count = 0
    for leaf in tree_leaves(tree, names):
        churn = _predicted_churn(tree, leaf)
        if not churn and leaf["share"] < MEDIUM_SHARE:
            continue
        points = HIGH_POINTS if churn else MEDIUM_POINTS
        label = f"tree_leaf_{leaf['node']}"
        conds = leaf["conditions"] or ["calls >= 0"]
        lines += [
            f"[[risk.points]]                     # weighted churn share {leaf['share']:.2f}, "
            f"{leaf['samples']} training customers",
            f"name = {_q(label)}",
            "when = [" + ", ".join(_q(c) for c in conds) + "]",
            f"points = {points}",
            "",
        ]
        count += 1
    return (
        lines
        if count
        else [*lines[:3], "points = []                         # the tree predicts no churn", ""]
    )


def _conditions(conds) -> str:
    return "[" + ", ".join(_q(f"{c.indicator} {c.op} {_num(c.value)}") for c in conds) + "]"


def _base_blocks(rules) -> list[str]:
    """Tiers, score and moves of the base rules, in TOML."""
    lines = [
        "version = 1",
        f"fallback_tier = {_q(rules.fallback_tier)}",
        "extra_indicators = [" + ", ".join(_q(x) for x in rules.extra_indicators) + "]",
        "",
    ]
    for tier in rules.tiers:
        lines += ["[[tiers]]", f"name = {_q(tier.name)}"]
        lines += [f"all = {_conditions(tier.all)}"] if tier.all else []
        lines += [f"any = {_conditions(tier.any)}"] if tier.any else []
        lines.append("")
    score = rules.score
    lines += ["[score]", f"normalization = {_q(score.normalization)}"]
    lines += ["negative = [" + ", ".join(_q(n) for n in sorted(score.negative)) + "]", "", "[score.weights]"]
    lines += [f"{name} = {_num(weight)}" for name, weight in score.weights]
    lines += ["", "[score.ranges]"] + [f"{n} = [{_num(lo)}, {_num(hi)}]" for n, lo, hi in score.ranges]
    for move in rules.moves:
        key = "score_at_least" if move.kind == "promote" else "score_below"
        lines += ["", f"[[{move.kind}]]", f"from = {_q(move.from_tier)}", f"to = {_q(move.to_tier)}"]
        lines.append(f"{key} = {_num(move.threshold)}")
    return [*lines, ""]


def _tail_blocks(rules) -> list[str]:
    warning, quadrant = rules.warning, rules.quadrant
    return [
        "[complaint_heavy]",
        f"any = {_conditions(rules.risk.complaint_heavy_any)}",
        "",
        "[warning]",
        f"yellow_any = {_conditions(warning.yellow_any)}",
        f"yellow_if_complaint_heavy = {'true' if warning.yellow_if_complaint_heavy else 'false'}",
        "",
        "[quadrant]",
        f"value_at_least = {_num(quadrant.value_at_least)}",
        "stable_levels = [" + ", ".join(_q(level) for level in quadrant.stable_levels) + "]",
        "",
    ]


def export_tree_rules(tree, names: list[str], base_rules, header: str = "") -> str:
    """The complete rules TOML text: base tiers/score/warning/quadrant + the tree's leaves as risk."""
    intro = [
        "# speechchurn rules learned from outcomes (speechchurn train --export-rules).",
        "# Risk points: one entry per decision-tree leaf; `when` lists the path conditions (all must hold).",
    ]
    intro += [f"# {line}" for line in header.splitlines()]
    text = intro + [""] + _base_blocks(base_rules) + _risk_block(tree, names) + _tail_blocks(base_rules)
    return "\n".join(text)
