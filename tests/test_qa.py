"""QA scorecards (speechchurn/qa): criteria on segments, form validation, scoring, appeals, outputs.

The criterion tests run the real phrase matcher (jieba + pinyin); no model is needed. The end-to-end
test on audio_samples with the real Whisper weights is in tests/test_qa_e2e.py (slow).
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speechchurn.errors import FormError
from speechchurn.qa.form import load_form, parse_form
from speechchurn.qa.score import score_call
from speechchurn.schema import Segment

GOLDEN_STORE = Path(__file__).resolve().parent / "golden" / "store.sql"


def form_of(*criteria: dict, **top):
    return parse_form({"criteria": list(criteria), **top}, "test.toml")


def seg(role: str, start: float, text: str, end: float | None = None) -> Segment:
    return Segment(role, start, end if end is not None else start + 3.0, text)


def result_of(criterion: dict, segments, row=None):
    form = form_of({"id": "c", "label": "c", **criterion})
    call = score_call(form, segments, {"file": "x.wav", "duration_s": 60.0, **(row or {})})
    return call.result("c")


GREET = {"say_any": ["很高兴为您服务"]}
FORBID = {"say_none": ["不归我管", "你自己去查", "不知道"]}

# (name, criterion keys, segments, calls.csv row, expected result, expected at_s)
CRITERION_CASES = [
    ("heard by the agent", GREET, [seg("agent", 0.5, "您好，很高兴为您服务")], {}, 1, 0.5),
    ("not heard", GREET, [seg("agent", 0.5, "喂，什么事")], {}, 0, None),
    ("only the customer said it", GREET, [seg("customer", 0.5, "很高兴为您服务")], {}, 0, None),
    ("role customer", {**GREET, "role": "customer"}, [seg("customer", 2, "很高兴为您服务")], {}, 1, 2),
    ("role any", {**GREET, "role": "any"}, [seg("customer", 2, "很高兴为您服务")], {}, 1, 2),
    ("mono call: mixed counts", GREET, [seg("mixed", 1, "很高兴为您服务")], {}, 1, 1),
    ("first window met", {**GREET, "within_first_s": 15}, [seg("agent", 3, "很高兴为您服务")], {}, 1, 3),
    (
        "first window missed",
        {**GREET, "within_first_s": 15},
        [seg("agent", 20, "很高兴为您服务")],
        {},
        0,
        None,
    ),
    (
        "last window met",
        {"say_any": ["再见"], "within_last_s": 20},
        [seg("agent", 5, "再见"), seg("agent", 50, "好的再见", 55)],
        {},
        1,
        50,
    ),
    (
        "last window missed",
        {"say_any": ["再见"], "within_last_s": 20},
        [seg("agent", 5, "再见")],
        {},
        0,
        None,
    ),
    ("forbidden said", FORBID, [seg("agent", 7, "这个不归我管")], {}, 0, 7),
    ("forbidden not said", FORBID, [seg("agent", 7, "我马上帮您处理")], {}, 1, None),
    ("forbidden by the customer only", FORBID, [seg("customer", 7, "你自己去查吧")], {}, 1, None),
    ("forbidden negated", FORBID, [seg("agent", 7, "我没有让你自己去查")], {}, 1, None),
    ("ASR misspelling 不知到", FORBID, [seg("agent", 9, "这个我不知到")], {}, 0, 9),
    ("ASR misspelling 你自己去差", FORBID, [seg("agent", 9, "那你自己去差吧")], {}, 0, 9),
    ("ASR misspelling 再建", {"say_any": ["再见"]}, [seg("agent", 30, "好的，再建")], {}, 1, 30),
    ("greeting heard as 很高兴为你服务", GREET, [seg("agent", 0, "很高兴为你服务")], {}, 1, 0),
    ("when holds", {"when": "longest_silence_s <= 10"}, [], {"longest_silence_s": 8}, 1, None),
    ("when fails", {"when": "longest_silence_s <= 10"}, [], {"longest_silence_s": 12.5}, 0, None),
    ("when column missing", {"when": "longest_silence_s <= 10"}, [], {}, None, None),
    ("when column empty", {"when": "interruptions_agent <= 2"}, [], {"interruptions_agent": ""}, None, None),
    (
        "not applicable",
        {"say_any": ["抱歉"], "applies_when": "kw_complaint >= 1"},
        [seg("agent", 3, "非常抱歉")],
        {"kw_complaint": 0},
        None,
        None,
    ),
    (
        "applicable, apologised",
        {"say_any": ["抱歉"], "applies_when": "kw_complaint >= 1"},
        [seg("agent", 3, "非常抱歉")],
        {"kw_complaint": 2},
        1,
        3,
    ),
    (
        "applicable, no apology",
        {"say_any": ["抱歉"], "applies_when": "kw_complaint >= 1"},
        [seg("agent", 3, "好的")],
        {"kw_complaint": "1"},
        0,
        None,
    ),
    ("applies_when column missing", {"say_any": ["抱歉"], "applies_when": "kw_x >= 1"}, [], {}, None, None),
]


@pytest.mark.parametrize(
    ("criterion", "segments", "row", "expected", "at_s"),
    [case[1:] for case in CRITERION_CASES],
    ids=[case[0] for case in CRITERION_CASES],
)
def test_criterion(criterion, segments, row, expected, at_s):
    result = result_of(criterion, segments, row)
    assert result.result == expected
    assert result.at_s == at_s
    if at_s is not None:
        assert result.quote and result.evidence


def test_score_weights_not_applicable_and_auto_fail():
    form = form_of(
        {"id": "greet", "weight": 3, "say_any": ["您好"]},
        {"id": "sorry", "weight": 2, "say_any": ["抱歉"], "applies_when": "kw_complaint >= 1"},
        {"id": "silence", "weight": 1, "when": "longest_silence_s <= 10"},
        {"id": "forbidden", "weight": 1, "say_none": ["不归我管"], "auto_fail": True},
        fail_below=80,
    )
    segments = [seg("agent", 0, "您好")]
    call = score_call(form, segments, {"file": "a.wav", "kw_complaint": 0, "longest_silence_s": 30})
    assert [r.result for r in call.results] == [1, None, 0, 1]
    assert call.score == pytest.approx(100 * 4 / 5)  # greet 3 + forbidden 1 of 3 + 1 + 1
    assert not call.auto_failed and not call.failed and call.agent == "unknown"
    bad = score_call(form, [*segments, seg("agent", 5, "不归我管")], {"file": "a.wav", "agent": "A7"})
    assert bad.score == 0 and bad.auto_failed and bad.failed and bad.agent == "A7"
    nothing = score_call(form_of({"id": "s", "when": "longest_silence_s <= 1"}), [], {"file": "b"})
    assert nothing.score is None and not nothing.failed


# ------------------------------------------------------------------------------------ form validation

BAD_FORMS = [
    ("unknown key", {"id": "a", "say_any": ["x"], "sya_none": ["y"]}, "criteria[0] (a).sya_none"),
    ("bad condition", {"id": "a", "when": "longest_silence_s =< 3"}, "criteria[0] (a).when"),
    ("bad applies_when", {"id": "a", "say_any": ["x"], "applies_when": "kw complaint"}, "(a).applies_when"),
    ("weight 0", {"id": "a", "weight": 0, "say_any": ["x"]}, "criteria[0] (a).weight"),
    ("weight negative", {"id": "a", "weight": -2, "say_any": ["x"]}, "criteria[0] (a).weight"),
    ("weight text", {"id": "a", "weight": "3", "say_any": ["x"]}, "criteria[0] (a).weight"),
    ("two kinds", {"id": "a", "say_any": ["x"], "when": "duration_s > 1"}, "criteria[0] (a).when"),
    ("no kind", {"id": "a", "label": "A"}, "criteria[0] (a)"),
    ("bad role", {"id": "a", "role": "boss", "say_any": ["x"]}, "criteria[0] (a).role"),
    ("bad id", {"id": "Greeting", "say_any": ["x"]}, "(Greeting).id"),
    ("missing id", {"say_any": ["x"]}, "criteria[0].id"),
    ("window on when", {"id": "a", "when": "duration_s > 1", "within_first_s": 5}, "(a).within_first_s"),
    ("window zero", {"id": "a", "say_any": ["x"], "within_last_s": 0}, "(a).within_last_s"),
    ("auto_fail text", {"id": "a", "say_any": ["x"], "auto_fail": "yes"}, "(a).auto_fail"),
    ("empty phrase list", {"id": "a", "say_any": []}, "(a).say_any"),
    ("blank phrase", {"id": "a", "say_none": ["  "]}, "(a).say_none[0]"),
]


@pytest.mark.parametrize(("table", "where"), [c[1:] for c in BAD_FORMS], ids=[c[0] for c in BAD_FORMS])
def test_bad_criterion_is_refused_naming_criterion_and_key(table, where):
    with pytest.raises(FormError) as err:
        form_of(table)
    message = str(err.value)
    assert message.startswith("test.toml: ") and where in message, message


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"criteria": [{"id": "a", "say_any": ["x"]}, {"id": "a", "when": "duration_s > 1"}]}, "(a).id"),
        ({"criteria": [{"id": "a_at", "say_any": ["x"]}, {"id": "a", "say_any": ["y"]}]}, "(a).id"),
        ({"criteria": [{"id": "score", "say_any": ["x"]}]}, "(score).id"),
        ({"criteria": []}, "criteria"),
        ({"criteria": [{"id": "a", "say_any": ["x"]}], "title": "x"}, "title"),
        ({"criteria": [{"id": "a", "say_any": ["x"]}], "fail_below": 120}, "fail_below"),
    ],
    ids=["duplicate id", "column clash", "reserved column", "no criteria", "unknown top key", "fail_below"],
)
def test_bad_form_is_refused(data, where):
    with pytest.raises(FormError, match=r"^test\.toml: ") as err:
        parse_form(data, "test.toml")
    assert where in str(err.value)


def test_load_form_files(tmp_path):
    default = load_form()
    assert default.ids[:4] == ("greeting", "identity_check", "polite", "forbidden")
    assert {c.label for c in default.criteria} >= {"开场白", "服务禁语", "致歉安抚", "结束语", "静音", "抢话"}
    assert default.criterion("forbidden").auto_fail
    path = tmp_path / "f.toml"
    path.write_text('[[criteria]]\nid = "x"\nsay_any = ["您好"]\n', encoding="utf-8")
    assert load_form(path).criteria[0].weight == 1.0
    path.write_text("[[criteria]\nid = ", encoding="utf-8")
    with pytest.raises(FormError, match="not valid TOML"):
        load_form(path)
    with pytest.raises(FormError, match="cannot read"):
        load_form(tmp_path / "missing.toml")


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 30),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.text(max_size=6), max_size=3),
    st.sampled_from(["longest_silence_s <= 10", "kw_complaint >= 1", "agent", "any", "x y"]),
)
KEYS = st.sampled_from(
    [
        "id",
        "label",
        "weight",
        "role",
        "say_any",
        "say_none",
        "within_first_s",
        "when",
        "applies_when",
        "auto_fail",
        "x",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(KEYS, VALUES, max_size=6), max_size=4))
def test_form_parser_accepts_or_names_the_problem(tables):
    """Whatever the TOML holds, the parser returns a valid form or raises a FormError naming the file."""
    try:
        form = parse_form({"criteria": tables}, "h.toml")
    except FormError as e:
        assert str(e).startswith("h.toml: ")
        return
    assert len(set(form.ids)) == len(form.ids) == len(tables)
    for cr in form.criteria:
        assert cr.weight > 0 and sum(bool(x) for x in (cr.say_any, cr.say_none, cr.when)) == 1


# ------------------------------------------------------------------------------- run, appeals, CLI


@pytest.fixture
def golden_out(tmp_path) -> Path:
    """An OUT_DIR holding the golden store (a real analyze of audio_samples) and its exports."""
    from speechchurn.batch.pipeline import export_outputs
    from speechchurn.batch.store import STORE_NAME, Store

    out = tmp_path / "out"
    out.mkdir()
    with sqlite3.connect(out / STORE_NAME) as db:
        db.executescript(GOLDEN_STORE.read_text(encoding="utf-8"))
    with Store(out) as store:
        export_outputs(store, out)
    return out


def test_run_qa_writes_outputs_and_appeals_survive(golden_out):
    import json

    from speechchurn import outputs
    from speechchurn.qa.run import run_qa
    from speechchurn.review.qa_appeals import load_appeals, record_appeal

    result = run_qa(golden_out)
    calls = outputs.read_csv(golden_out / "qa_calls.csv")
    assert len(calls) == 11 and set(calls["agent"]) == {"unknown"}
    assert list(calls.columns[:8]) == [
        "file", "agent", "caller", "started_at", "qa_score", "qa_auto_failed", "qa_failed", "qa_reviewed_by"
    ]  # fmt: skip
    assert {"qa_greeting", "qa_greeting_at", "qa_agent_emotion"} <= set(calls.columns)
    assert calls["qa_greeting"].eq(1).all()  # every sample call opens with 您好，很高兴为您服务
    complaint = calls["file"].str.contains("13998765402")
    assert calls.loc[complaint, "qa_apology"].eq(1).all() and calls.loc[~complaint, "qa_apology"].isna().all()
    agents = outputs.read_csv(golden_out / "qa_agents.csv")
    assert agents["calls"].tolist() == [11] and agents["pass_greeting"].tolist() == [1.0]
    assert any(c.startswith("week_2026-W") for c in agents.columns)
    rows = [
        json.loads(line) for line in (golden_out / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    qa_rows = [r for r in rows if r.get("kind") == "qa"]
    assert qa_rows and len(rows) - len(qa_rows) > 0  # keyword rows kept
    greet = next(r for r in qa_rows if r["criterion"] == "greeting")
    assert greet["result"] == 1 and "很高兴为您服务" in greet["quote"] and greet["at"] is not None

    file = calls["file"][0]
    before = result.calls[0]
    assert before.result("identity_check").result == 0
    record_appeal(golden_out, file, "identity_check", 1, "agent checked the name off-script", "王组长")
    rerun = run_qa(golden_out)  # re-scoring keeps the appeal; the score is recomputed
    assert rerun.appealed == 1 and rerun.calls[0].score > before.score
    again = outputs.read_csv(golden_out / "qa_calls.csv").iloc[0]
    assert again["qa_identity_check"] == 1 and again["qa_reviewed_by"] == "王组长"
    assert load_appeals(golden_out)[file]["identity_check"].reason == "agent checked the name off-script"
    qa_rows = [
        json.loads(x) for x in (golden_out / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert sum(r.get("kind") == "qa" for r in qa_rows) == sum(r.get("kind") == "qa" for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("f.wav", "greeting", 2, "r", "me"), r"0 \(fail\) or 1 \(pass\)"),
        (("f.wav", "greeting", 1, " ", "me"), "reason"),
        (("f.wav", "greeting", 1, "r", ""), "reviewer"),
        (("missing.wav", "greeting", 1, "r", "me"), "no analysed call"),
    ],
)
def test_bad_appeal(golden_out, args, message):
    from speechchurn.review.qa_appeals import AppealError, record_appeal

    with pytest.raises(AppealError, match=message):
        record_appeal(golden_out, *args)


def test_grading_gets_qa_columns(golden_out):
    from speechchurn.grading_run import GradingOptions, run_grading
    from speechchurn.qa.run import run_qa

    def grade(out):
        return run_grading(out, GradingOptions()).graded

    graded = grade(golden_out)
    assert graded["qa_failed_calls"].eq(0).all() and graded["qa_score_min"].isna().all()  # no QA run yet
    strict = form_of({"id": "never", "say_any": ["从来不会说的话"], "auto_fail": True})
    run_qa(golden_out, strict)
    graded = grade(golden_out).set_index("caller")
    assert (graded["qa_failed_calls"] == graded["calls"]).all() and graded["qa_score_min"].eq(0).all()
    assert graded.loc["13998765402", "qa_failed_complaint_calls"] == 2
    assert graded.loc["13812345601", "qa_failed_complaint_calls"] == 0


def test_cli_qa(golden_out, tmp_path):
    from typer.testing import CliRunner

    from speechchurn.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["qa", str(golden_out)])
    assert ok.exit_code == 0, ok.output
    assert "11 calls of 1 agents" in ok.output and (golden_out / "qa_agents.csv").is_file()
    form = tmp_path / "bad.toml"
    form.write_text('[[criteria]]\nid = "x"\nsay_any = ["您好"]\nweight = 0\n', encoding="utf-8")
    bad = runner.invoke(app, ["qa", str(golden_out), "--form", str(form)])
    assert bad.exit_code == 2 and "criteria[0] (x).weight" in bad.output
    missing = runner.invoke(app, ["qa", str(tmp_path)])
    assert missing.exit_code == 1 and "no result store" in missing.output


def test_analyze_refuses_a_bad_form_before_transcribing(tmp_path, calls_dir, fake_engine):
    from typer.testing import CliRunner

    from speechchurn.cli import app

    form = tmp_path / "bad.toml"
    form.write_text('[[criteria]]\nid = "x"\nwhen = "longest_silence_s <> 3"\n', encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", str(calls_dir), "-o", str(out), "--qa-form", str(form)])
    assert result.exit_code == 2 and "criteria[0] (x).when" in result.output
    assert fake_engine.decodes == 0 and not (out / "calls.csv").exists()


def test_analyze_scores_every_call(tmp_path, calls_dir, fake_engine):
    """analyze ends with QA: the fake engine's line (我要投诉…) is a complaint with no apology."""
    from speechchurn import outputs
    from speechchurn.analyze import AnalyzeOptions, analyze

    out = tmp_path / "out"
    analyze(calls_dir, out, AnalyzeOptions(workers=1))
    calls = outputs.read_csv(out / "qa_calls.csv")
    assert len(calls) == 3 and calls["qa_apology"].eq(0).all() and calls["qa_greeting"].eq(0).all()
    callers = outputs.read_csv(out / "callers.csv")
    assert not math.isnan(callers["qa_score_min"].max())


def test_qa_command_regrades_and_keeps_the_last_runs_protection(golden_out, tmp_path):
    """`speechchurn qa` re-grades (callers.csv's QA columns) and refuses hashed outputs without the salt."""
    import shutil

    from typer.testing import CliRunner

    from speechchurn.cli import app as cli_app
    from speechchurn.grading_run import GradingOptions, run_grading
    from speechchurn.privacy import PrivacyOptions

    out = golden_out
    assert not (out / "callers.csv").exists()
    result = CliRunner().invoke(cli_app, ["qa", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "qa_score_min" in (out / "callers.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    hashed = tmp_path / "hashed"
    shutil.copytree(out, hashed)
    run_grading(hashed, GradingOptions(privacy=PrivacyOptions(caller_salt="pepper"), privacy_tables=None))
    before = (hashed / "qa_calls.csv").read_bytes()
    refused = CliRunner().invoke(cli_app, ["qa", str(hashed), "-q"])
    assert refused.exit_code == 2 and "--hash-callers" in refused.output
    assert (hashed / "qa_calls.csv").read_bytes() == before
    agreed = CliRunner().invoke(cli_app, ["qa", str(hashed), "-q", "--hash-callers", "pepper"])
    assert agreed.exit_code == 0, agreed.output
