"""The desk's QA (质检) views through Starlette's TestClient: agents leaderboard, agent pages, the call
page's scorecard with seekable evidence, appeals (复核 / 申诉: CSRF, validation, re-scoring, surviving a
restart and re-scoring), links from customer pages, escaping, and a desk without QA results.

The OUT_DIR is a fake-transcriber analyze of audio_samples with its manifest (agents A001..A006) whose
every line is AGENT_LINE, scored by the real ``run_qa`` with the shipped form: each call passes 开场白
and fails the auto-fail 服务禁语 (这是规定), so its score is 0 until a reviewer overturns that."""

from __future__ import annotations

import csv
import re
import shutil

import pytest
from conftest import SAMPLES
from desk_support import analyze_samples
from qa_support import drop_qa_results, iso_week
from typer.testing import CliRunner

from benchmarks.serve_load import free_port
from speechchurn import outputs

pytest.importorskip("starlette.testclient")
from starlette.testclient import TestClient  # noqa: E402

from speechchurn.app.web import DeskConfig, create_app  # noqa: E402

AGENT_LINE = "您好，请问您是机主吗？我要投诉，这是规定，再见"
XSS = '<script>alert("x")</script>'
XSS_IMG = '<img src=x onerror="alert(2)">'


def _client(out, **config) -> TestClient:
    config.setdefault("reviewer", "王主管")
    return TestClient(create_app(DeskConfig(out, SAMPLES, allowed_hosts=("testserver",), **config)))


def _run_qa(out):
    from speechchurn.qa.run import run_qa

    return run_qa(out)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = analyze_samples(
        tmp_path_factory.mktemp("qa_desk") / "out", text=AGENT_LINE, manifest=SAMPLES / "manifest.csv"
    )
    return out  # analyze scored every call (run_qa with the shipped form)


@pytest.fixture(scope="module")
def client(scored):
    return _client(scored)


@pytest.fixture
def out(scored, tmp_path):
    """A private copy of the scored OUT_DIR (for tests that appeal)."""
    copy = tmp_path / "out"
    shutil.copytree(scored, copy)
    return copy


def _csrf(client: TestClient) -> str:
    client.get("/")
    return client.cookies["desk_csrf"]


def _qa_calls(out) -> list[dict]:
    return outputs.read_csv(out / "qa_calls.csv").to_dict("records")


def _call_id(client: TestClient, file: str) -> int:
    db = client.app.state.desk.db()
    return db.execute("SELECT id FROM desk_calls WHERE file = ?", (file,)).fetchone()[0]


def _score(html: str) -> str:
    return re.search(r'<b id="qa-score">([^<]*)</b>', html).group(1)


def test_agents_leaderboard_links_every_agent(client, scored):
    page = client.get("/agents")
    assert page.status_code == 200
    agents = sorted({str(r["agent"]) for r in _qa_calls(scored)})
    assert sorted(re.findall(r'<a class="agent" href="/agent/\d+">([^<]+)</a>', page.text)) == agents
    assert 'href="/agents"' in client.get("/").text  # the header links every page (the queue too)


def test_agent_page_lists_calls_and_weekly_history(client, scored):
    rows = [r for r in _qa_calls(scored) if r["agent"] == "A001"]
    page = client.get("/agents").text
    agent_id = re.search(r'href="/agent/(\d+)">A001<', page).group(1)
    html = client.get(f"/agent/{agent_id}").text
    assert '<span id="agent">A001</span>' in html
    listed = re.findall(r'<td class="mono">([^<]+)</td>', html)
    assert sorted(listed) == sorted(r["file"] for r in rows)
    weeks = re.findall(r"<tr><td>(\d{4}-W\d{2})</td>", html)
    assert weeks == sorted({iso_week(r["started_at"]) for r in rows})
    assert "服务禁语" in html and "开场白" in html  # pass rates under the form's Chinese labels


@pytest.mark.parametrize("path", ["/agent/999999", "/agent/A001", "/agent/..%2f..%2fetc", "/agent/-1"])
def test_unknown_agents_are_404(client, path):
    assert client.get(path).status_code == 404


def test_call_page_scorecard_with_seekable_evidence(client, scored):
    row = _qa_calls(scored)[0]
    call_id = _call_id(client, row["file"])
    html = client.get(f"/call/{call_id}").text
    assert _score(html) == f"{row['qa_score']:.1f}" == "0.0"
    assert "致命项未通过" in html
    greeting = re.search(r'<tr id="qa-greeting".*?</tr>', html, re.S).group(0)
    assert "开场白" in greeting and "通过" in greeting
    seek = f'class="seek" href="/call/{call_id}#t={row["qa_greeting_at"]:.2f}" data-call="{call_id}"'
    assert seek in greeting and f'data-t="{row["qa_greeting_at"]:.2f}"' in greeting
    assert "「" + AGENT_LINE + "」" in greeting
    forbidden = re.search(r'<tr id="qa-forbidden".*?</tr>', html, re.S).group(0)
    assert 'class="qa-item qa-fail"' in forbidden and "致命项" in forbidden
    assert f'action="/call/{call_id}/qa/forbidden"' in forbidden and 'name="csrf"' in forbidden


def test_customer_page_links_agents_and_scores(client, scored):
    row = _qa_calls(scored)[0]
    html = client.get(f"/customer/{row['caller']}").text
    assert re.search(rf'<a class="agent" href="/agent/\d+">{row["agent"]}</a>', html)
    assert "质检得分" in html


def _appeal(client, call_id, criterion="forbidden", **form):
    data = {"csrf": _csrf(client), "result": "1", "reason": "客户说的，不是坐席", "reviewer": "李组长"}
    data.update(form)
    return client.post(f"/call/{call_id}/qa/{criterion}", data=data, follow_redirects=False)


def test_appeal_rescored_and_shown_with_the_reviewer(out):
    client = _client(out)
    row = _qa_calls(out)[0]
    call_id = _call_id(client, row["file"])
    response = _appeal(client, call_id)
    assert response.status_code == 303 and response.headers["location"] == f"/call/{call_id}#qa-forbidden"
    rescored = next(r for r in _qa_calls(out) if r["file"] == row["file"])
    assert (
        rescored["qa_forbidden"] == 1 and rescored["qa_score"] > 0 and rescored["qa_reviewed_by"] == "李组长"
    )
    html = client.get(f"/call/{call_id}").text
    assert _score(html) == f"{rescored['qa_score']:.1f}" and "复核人 李组长" in html
    forbidden = re.search(r'<tr id="qa-forbidden".*?</tr>', html, re.S).group(0)
    assert "qa-pass" in forbidden and "李组长：客户说的，不是坐席" in forbidden
    others = [r for r in _qa_calls(out) if r["file"] != row["file"]]
    assert all(r["qa_score"] == 0 for r in others)  # only the appealed call moved
    restarted = _client(out)  # a new desk over the same folder: the appeal is stored, not cached
    assert _score(restarted.get(f"/call/{call_id}").text) == f"{rescored['qa_score']:.1f}"
    _run_qa(out)  # `speechchurn qa OUT_DIR` again: the appeal is applied again
    assert next(r for r in _qa_calls(out) if r["file"] == row["file"])["qa_score"] == rescored["qa_score"]
    agent_id = re.search(r'href="/agent/(\d+)"', html).group(1)
    assert "李组长" in restarted.get(f"/agent/{agent_id}").text


@pytest.mark.parametrize(
    ("criterion", "form", "status"),
    [
        ("forbidden", {"csrf": "forged"}, 403),
        ("no_such_criterion", {}, 404),
        ("..%2f..%2fetc", {}, 404),
        ("forbidden", {"result": "2"}, 400),
        ("forbidden", {"result": ""}, 400),
        ("forbidden", {"reason": "   "}, 400),
        ("forbidden", {"reviewer": ""}, 400),
    ],
)
def test_bad_appeals_are_refused(out, criterion, form, status):
    client = _client(out, reviewer="")
    call_id = _call_id(client, _qa_calls(out)[0]["file"])
    before = (out / "qa_calls.csv").read_bytes()
    response = _appeal(client, call_id, criterion, **form)
    assert response.status_code == status, response.text[:200]
    assert (out / "qa_calls.csv").read_bytes() == before


def test_appeal_for_an_unknown_call_is_404(out):
    client = _client(out)
    assert _appeal(client, 999_999).status_code == 404


def test_appeal_needs_the_csrf_cookie(out):
    client = _client(out)
    call_id = _call_id(client, _qa_calls(out)[0]["file"])
    token = _csrf(client)
    client.cookies.clear()
    response = client.post(
        f"/call/{call_id}/qa/forbidden", data={"csrf": token, "result": "1", "reason": "x"}
    )
    assert response.status_code == 403


def _manifest(calls_dir, agent: str):
    rows = list(csv.DictReader((SAMPLES / "manifest.csv").open(encoding="utf-8")))
    names = {p.name for p in calls_dir.glob("*.wav")}
    path = calls_dir / "manifest.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "agent": agent} for r in rows if r["file"] in names)
    return path


def test_agent_names_quotes_and_reasons_are_escaped(tmp_path, calls_dir):
    manifest = _manifest(calls_dir, XSS)
    out = analyze_samples(tmp_path / "out", audio_dir=calls_dir, text=XSS_IMG + AGENT_LINE, manifest=manifest)
    client = _client(out)
    agent_id = re.search(r'href="/agent/(\d+)"', client.get("/agents").text).group(1)
    assert _appeal(client, 1, reason=XSS_IMG, reviewer=XSS).status_code == 303
    caller = _qa_calls(out)[0]["caller"]
    for path in ("/agents", f"/agent/{agent_id}", "/call/1", f"/customer/{caller}"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, path
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in client.get("/call/1").text


def test_desk_without_qa_results(tmp_path, calls_dir):
    out = drop_qa_results(analyze_samples(tmp_path / "out", audio_dir=calls_dir))
    client = _client(out)
    call = client.get("/call/1").text
    assert 'id="qa"' not in call and 'id="timeline"' in call
    caller = re.search(r'href="/customer/(\d+)"', call).group(1)
    assert "质检得分" not in client.get(f"/customer/{caller}").text
    assert "没有质检结果" in client.get("/agents").text
    assert client.post("/call/1/qa/forbidden", data={"csrf": _csrf(client), "result": "1"}).status_code == 404


def test_agent_ids_stay_the_same_when_results_change(out):
    from speechchurn.app import qa_index

    client = _client(out)
    db = client.app.state.desk.db()
    before = dict(db.execute("SELECT agent, id FROM desk_agents"))
    _run_qa(out)
    assert qa_index.sync(db, out, force=True).calls == len(_qa_calls(out))
    assert dict(db.execute("SELECT agent, id FROM desk_agents")) == before


CUSTOM_FORM = """
name = "自定义表"
[[criteria]]
id = "hello"
label = "问候语"
weight = 1
say_any = ["您好"]

[[criteria]]
id = "rule_words"
label = "规定用语"
weight = 3
say_none = ["这是规定"]
auto_fail = true
"""


@pytest.fixture
def custom_scored(out, tmp_path):
    """The OUT_DIR re-scored with a form of its own (`speechchurn qa OUT --form F`); the form's path."""
    from speechchurn.qa.form import load_form
    from speechchurn.qa.run import run_qa

    form = tmp_path / "form.toml"
    form.write_text(CUSTOM_FORM, encoding="utf-8")
    run_qa(out, load_form(form))
    return form


def test_appeals_rescore_with_the_form_serve_was_given(out, custom_scored, monkeypatch):
    import uvicorn

    from speechchurn.cli import app as cli_app

    started = {}

    def run(server, sockets=None):  # the desk's socket is bound; the server itself is not started
        started.update(app=server.config.app)
        server.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    args = ["serve", str(out), "--audio-root", str(SAMPLES), "--qa-form", str(custom_scored)]
    args += ["--port", str(free_port())]
    assert CliRunner().invoke(cli_app, args).exit_code == 0
    client = TestClient(started["app"], base_url="http://127.0.0.1")
    call_id = _call_id(client, _qa_calls(out)[0]["file"])
    html = client.get(f"/call/{call_id}").text
    assert "问候语" in html and "规定用语" in html and "开场白" not in html
    assert _appeal(client, call_id, "rule_words").status_code == 303
    row = next(r for r in _qa_calls(out) if r["file"] == _qa_calls(out)[0]["file"])
    assert (row["qa_rule_words"], row["qa_score"], row["qa_reviewed_by"]) == (1, 100.0, "李组长")
    assert "qa_greeting" not in row  # still scored with the custom form


def test_appeal_with_another_form_than_the_results_is_409(out, custom_scored):
    client = _client(out)  # the shipped form; qa_calls.csv was scored with the custom one
    call_id = _call_id(client, _qa_calls(out)[0]["file"])
    html = client.get(f"/call/{call_id}").text  # labels the shipped form lacks: from the QA evidence
    assert "<td>问候语</td>" in html and "规定用语" in html
    before = (out / "qa_calls.csv").read_bytes()
    response = _appeal(client, call_id, "rule_words")
    assert response.status_code == 409 and "--qa-form" in response.text
    assert (out / "qa_calls.csv").read_bytes() == before


def test_one_call_rescored_in_the_index_equals_the_full_rescore(out):
    """The desk's immediate re-score of the appealed call (index only) matches what run_qa then writes."""
    import json

    from speechchurn.app import qa_index
    from speechchurn.app.qa_pages import QAViews
    from speechchurn.review.qa_appeals import record_appeal

    client = _client(out)
    desk = client.app.state.desk
    views = QAViews(desk, views=None)
    file = _qa_calls(out)[2]["file"]
    record_appeal(out, file, "forbidden", 1, "复核：客户原话", "李组长")
    record_appeal(out, file, "greeting", 0, "开场白不完整", "李组长")
    views.rescore_call(_call_id(client, file), file)
    db = desk.db()
    quick = db.execute(
        "SELECT qa_score, reviewed_by, row FROM desk_qa_calls WHERE file = ?", (file,)
    ).fetchone()
    quick_evidence = dict(
        db.execute("SELECT criterion, evidence FROM desk_qa_evidence WHERE file = ?", (file,))
    )
    _run_qa(out)
    qa_index.sync(db, out, force=True)
    full = db.execute(
        "SELECT qa_score, reviewed_by, row FROM desk_qa_calls WHERE file = ?", (file,)
    ).fetchone()
    assert quick[:2] == full[:2] and quick[1] == "李组长" and quick[0] > 0
    assert json.loads(quick[2]) == json.loads(full[2])
    full_evidence = dict(
        db.execute("SELECT criterion, evidence FROM desk_qa_evidence WHERE file = ?", (file,))
    )
    assert {k: json.loads(v) for k, v in quick_evidence.items()} == {
        k: json.loads(v) for k, v in full_evidence.items()
    }
