"""The desk (speechchurn serve) through Starlette's TestClient: pages, audio with Range, marking,
security (token, Host, CSRF, traversal, escaping), marks export and lexicon-stats, tier overrides."""

from __future__ import annotations

import asyncio
import io
import re
import wave

import pytest
from conftest import SAMPLES
from desk_support import analyze_samples
from typer.testing import CliRunner

from benchmarks.serve_load import free_port
from speechchurn import outputs
from speechchurn.cli import app as cli_app

pytest.importorskip("starlette.testclient")
from starlette.testclient import TestClient  # noqa: E402

from speechchurn.app.web import DeskConfig, create_app  # noqa: E402

HEAVY_CALLER = "13998765402"  # complaint-heavy sample customer
TOKEN = "s3cret-token"
runner = CliRunner()


@pytest.fixture(scope="module")
def desk_out(tmp_path_factory):
    return analyze_samples(tmp_path_factory.mktemp("desk") / "out")


def _client(out, **config) -> TestClient:
    config.setdefault("reviewer", "王主管")
    app = create_app(DeskConfig(out, SAMPLES, allowed_hosts=("testserver",) + ("127.0.0.1",), **config))
    return TestClient(app)


@pytest.fixture(scope="module")
def client(desk_out):
    return _client(desk_out)


def _csrf(client: TestClient) -> str:
    client.get("/")
    return client.cookies["desk_csrf"]


def _hit_ids(html: str) -> list[int]:
    return [int(h) for h in re.findall(r'data-hit="(\d+)"', html)]


def test_queue_customer_call_and_search_pages(client):
    queue = client.get("/")
    assert queue.status_code == 200
    assert f'href="/customer/{HEAVY_CALLER}"' in queue.text
    assert "离网意向" in queue.text  # reasons as Chinese labels
    everyone = client.get("/", params={"all": "1"})
    assert everyone.status_code == 200 and everyone.text.count("/customer/") >= queue.text.count("/customer/")
    customer = client.get(f"/customer/{HEAVY_CALLER}")
    assert customer.status_code == 200 and _hit_ids(customer.text)
    assert 'id="player"' in customer.text and "data-t=" in customer.text
    call_id = re.search(r'href="/call/(\d+)"', customer.text).group(1)
    call = client.get(f"/call/{call_id}")
    assert call.status_code == 200
    assert call.text.count('class="line') >= 1 and 'id="timeline"' in call.text
    assert 'class="hitmark' in call.text and 'class="speech' in call.text
    found = client.get("/search", params={"q": "销户"})
    assert found.status_code == 200 and found.text.count('href="/call/') >= 1
    assert client.get("/search", params={"q": "不存在的词语组合"}).text.count('href="/call/') == 0


@pytest.mark.parametrize("path", ["/customer/00000000000", "/call/999999", "/hit/999999/mark"])
def test_unknown_things_are_404(client, path):
    method = client.post if path.endswith("mark") else client.get
    headers = {"x-csrf-token": _csrf(client)}
    assert method(path, headers=headers).status_code == 404


def test_audio_is_transcoded_stereo_with_ranges(client):
    response = client.get("/audio/1")
    assert response.status_code == 200 and response.headers["accept-ranges"] == "bytes"
    with wave.open(io.BytesIO(response.content)) as w:  # 8 kHz two-channel PCM -> 16 kHz, channels kept
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16_000, 2)
    size = len(response.content)
    part = client.get("/audio/1", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == response.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    tail = client.get("/audio/1", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == response.content[-10:]
    assert client.get("/audio/1", headers={"Range": f"bytes={size}-"}).status_code == 416


def _raw_get(app, raw_path: bytes) -> tuple[int, bytes]:
    """Send a request path byte for byte (HTTP clients normalise ../ before sending)."""
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    path = raw_path.split(b"?")[0].decode("latin-1")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": raw_path, "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return messages[0]["status"], body


TRAVERSALS = [
    b"/audio/../../../../etc/passwd",
    b"/audio/..%2f..%2f..%2fetc%2fpasswd",
    b"/audio/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    b"/audio/%2e%2e%2f%2e%2e%2fspeechchurn.db",
    b"/audio//etc/passwd",
    b"/audio/%2Fetc%2Fpasswd",
    b"/audio/20261105_101544_13998765402_in.wav",
    b"/audio/1/../../speechchurn.db",
    b"/audio/-1",
    b"/audio/99999",
    b"/static/../web.py",
    b"/static/%2e%2e/web.py",
    b"/static/..%2f..%2fbatch%2fstore.py",
]


@pytest.mark.parametrize("raw_path", TRAVERSALS, ids=[p.decode() for p in TRAVERSALS])
def test_traversal_attempts_are_404(client, raw_path):
    status, body = _raw_get(client.app, raw_path)
    assert status == 404, body[:200]
    assert b"root:" not in body and b"SQLite" not in body and b"import" not in body


@pytest.mark.parametrize("stored", ["../../../../etc/passwd", "/etc/passwd", "../out/speechchurn.db"])
def test_audio_never_leaves_the_audio_root(desk_out, stored):
    """Even a tampered store row cannot point the player outside --audio-root."""
    client = _client(desk_out)
    db = client.app.state.desk.db()
    call_id = db.execute(
        "INSERT INTO desk_calls (file, sha256, row) VALUES (?, 'x', '{}')", (stored,)
    ).lastrowid
    try:
        assert client.get(f"/audio/{call_id}").status_code == 404
    finally:
        db.execute("DELETE FROM desk_calls WHERE id = ?", (call_id,))


def test_token_required_for_everything(desk_out):
    client = _client(desk_out, token=TOKEN)
    for path in ("/", f"/customer/{HEAVY_CALLER}", "/call/1", "/audio/1", "/search?q=x", "/static/desk.js"):
        assert client.get(path).status_code == 401, path
    assert client.post("/hit/1/mark").status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/login", params={"token": "wrong"}).status_code == 401
    login = client.get("/login", params={"token": TOKEN}, follow_redirects=False)
    assert login.status_code == 303 and "httponly" in login.headers["set-cookie"].lower()
    assert client.get("/audio/1").status_code == 200  # the cookie now carries the token


def test_foreign_host_header_rejected(desk_out):
    client = TestClient(create_app(DeskConfig(desk_out, SAMPLES)))  # loopback defaults
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_posts_need_the_csrf_token(desk_out):
    client = _client(desk_out)
    hit = _hit_ids(client.get(f"/customer/{HEAVY_CALLER}").text)[0]
    assert client.post(f"/hit/{hit}/mark", data={"verdict": "wrong"}).status_code == 403
    bad = client.post(f"/hit/{hit}/mark", data={"verdict": "wrong", "csrf": "forged"})
    assert bad.status_code == 403
    review = client.post(f"/customer/{HEAVY_CALLER}/review", data={"outcome": "retained"})
    assert review.status_code == 403
    ok = client.post(f"/hit/{hit}/mark", data={"verdict": "correct", "csrf": _csrf(client)})
    assert ok.status_code == 200 and ok.json()["verdict"] == "correct"


def test_marks_persist_and_survive_reanalysis(tmp_path):
    out = analyze_samples(tmp_path / "out")
    client = _client(out)
    page = client.get(f"/customer/{HEAVY_CALLER}").text
    hit = _hit_ids(page)[0]
    token = _csrf(client)
    marked = client.post(f"/hit/{hit}/mark", data={"verdict": "wrong", "csrf": token, "reviewer": "李组长"})
    assert (marked.json()["verdict"], marked.json()["reviewer"]) == ("wrong", "李组长")
    note = {"outcome": "escalated", "note": "已转二线", "csrf": token, "reviewer": "李组长"}
    assert (
        client.post(f"/customer/{HEAVY_CALLER}/review", data=note, follow_redirects=False).status_code == 303
    )
    analyze_samples(out, non_talk_min_s=2.5)  # a different analysis key: every call re-analysed
    fresh = _client(out)
    page = fresh.get(f"/customer/{HEAVY_CALLER}").text
    assert re.search(r'data-hit="\d+" data-verdict="wrong"', page)
    assert "已转二线" in page and "李组长" in page
    assert "待审核" not in fresh.get("/").text.split(HEAVY_CALLER, 1)[1].split("</tr>", 1)[0]


def test_user_strings_are_escaped(tmp_path, calls_dir):
    evil = "<script>alert(1)</script>我要投诉"
    out = analyze_samples(tmp_path / "out", audio_dir=calls_dir, text=evil)
    client = _client(out)
    caller = re.search(r'href="/customer/(\d+)"', client.get("/call/1").text).group(1)
    token = _csrf(client)
    note = '<img src=x onerror="alert(2)">'
    client.post(f"/customer/{caller}/review", data={"outcome": "no_action", "note": note, "csrf": token})
    client.post(f"/customer/{caller}/tier", data={"tier": "VIP", "reason": note, "csrf": token})
    for path in (f"/customer/{caller}", "/call/1", f"/search?q={evil}", "/"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/call/1").text


def test_redact_masks_callers_and_numbers(desk_out):
    client = _client(desk_out, redact=True)
    html = client.get("/").text
    assert f">{HEAVY_CALLER}<" not in html and "已脱敏" in html
    assert f">{HEAVY_CALLER}<" not in client.get(f"/customer/{HEAVY_CALLER}").text


def test_tier_override_reaches_callers_csv_and_survives_grade(tmp_path):
    out = analyze_samples(tmp_path / "out")
    client = _client(out)
    form = {"tier": "VIP", "reason": "集团大客户，人工确认", "csrf": _csrf(client), "reviewer": "王主管"}
    assert client.post(f"/customer/{HEAVY_CALLER}/tier", data=form, follow_redirects=False).status_code == 303
    for callers in (outputs.read_csv(out / "callers.csv"), _regraded(out)):
        row = callers.set_index("caller").loc[HEAVY_CALLER]
        assert row["tier"] == "VIP" and row["tier_override_reason"] == "集团大客户，人工确认"
        assert "王主管" in row["tier_reason"] and row["tier_rule"] != "VIP"
    assert "集团大客户" in (out / "report.html").read_text(encoding="utf-8")


def _regraded(out):
    assert runner.invoke(cli_app, ["grade", str(out), "-q"]).exit_code == 0
    return outputs.read_csv(out / "callers.csv")


def test_marks_export_lexicon_stats_and_skip_wrong(tmp_path):
    out = analyze_samples(tmp_path / "out")
    client = _client(out)
    token = _csrf(client)
    page = client.get(f"/customer/{HEAVY_CALLER}").text
    before = outputs.read_csv(out / "callers.csv").set_index("caller").loc[HEAVY_CALLER, "complaint_calls"]
    for hit in _hit_ids(page):
        client.post(f"/hit/{hit}/mark", data={"verdict": "wrong", "csrf": token})
    note = {"outcome": "retained", "note": '=HYPERLINK("http://x")', "csrf": token}
    client.post(f"/customer/{HEAVY_CALLER}/review", data=note)
    exported = runner.invoke(cli_app, ["marks", "export", str(out)])
    assert exported.exit_code == 0, exported.output
    marks = outputs.read_csv(out / "marks.csv")
    assert (marks["kind"] == "hit").sum() == len(_hit_ids(page)) and set(marks["reviewer"]) == {"王主管"}
    assert marks.loc[marks["kind"] == "review", "note"].iloc[0].startswith("'=")  # formula neutralised
    stats = runner.invoke(cli_app, ["lexicon-stats", str(out)])
    assert stats.exit_code == 0, stats.output
    table = outputs.read_csv(out / "lexicon_stats.csv")
    assert (table.loc[table["match"] == "all", "precision"] == 0).all() and "suggest drop" in stats.output
    assert (out / "lexicon_suggestions.diff").read_text(encoding="utf-8").count("\n-") >= 1
    assert runner.invoke(cli_app, ["grade", str(out), "-q", "--skip-wrong-hits"]).exit_code == 0
    after = outputs.read_csv(out / "callers.csv").set_index("caller").loc[HEAVY_CALLER, "complaint_calls"]
    assert before > 0 and after == 0


def test_serve_binds_loopback_and_needs_a_token_elsewhere(desk_out, monkeypatch):
    import uvicorn

    started = {}

    def run(server, sockets=None):
        started.update(app=server.config.app, host=server.config.host)
        server.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    local = runner.invoke(cli_app, ["serve", str(desk_out), "--port", str(free_port())])
    assert local.exit_code == 0 and "http://127.0.0.1:" in local.output and "token" not in local.output
    assert started["host"] == "127.0.0.1"
    wide = runner.invoke(cli_app, ["serve", str(desk_out), "--host", "0.0.0.0", "--port", str(free_port())])
    token = re.search(r"login\?token=(\S+)", wide.output).group(1)
    assert started["host"] == "0.0.0.0" and len(token) >= 20
    client = TestClient(started["app"])
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_model_and_break_facts_in_chinese(desk_out, tmp_path):
    """After grade --model --tiering cluster: the queue shows churn probabilities, the customer page the
    cluster tier, the model's reason and the behaviour break in Chinese, the (untrusted) CSV text escaped."""
    import shutil

    out = shutil.copytree(desk_out, tmp_path / "out")
    callers = outputs.read_csv(out / "callers.csv")
    callers["churn_prob"] = 0.05
    callers["churn_rank"] = range(2, len(callers) + 2)
    callers["model_reason"] = ""
    callers["break_reason"] = ""
    heavy = callers["caller"] == HEAVY_CALLER
    callers.loc[heavy, ["churn_prob", "churn_rank"]] = [0.834, 1]
    callers.loc[heavy, "tier"] = "at-risk"  # grade --tiering cluster's names read in Chinese too
    callers.loc[heavy, "model_reason"] = "complaint_calls=2 (+0.21); kw_<b>竞品</b>=1 (+0.05)"
    callers.loc[heavy, "break_reason"] = "通话次数骤降 <script>x</script>"
    outputs.write_csv(callers, out / "callers.csv")
    client = _client(out)
    queue = client.get("/").text
    assert "<th>流失概率</th>" in queue and '<td class="prob">83%</td>' in queue
    page = client.get(f"/customer/{HEAVY_CALLER}").text
    assert "流失概率 83% · 第 1 位" in page and "风险型" in page and "at-risk" not in page
    assert "投诉通话数 2（流失概率 +0.21）" in page
    assert "&lt;b&gt;" in page and "<b>竞品</b>" not in page
    assert "通话次数骤降 &lt;script&gt;" in page and "<script>x</script>" not in page


def test_no_model_columns_without_a_model(client):
    assert "流失概率" not in client.get("/").text
    assert 'id="model-facts"' not in client.get(f"/customer/{HEAVY_CALLER}").text


def test_hashed_outputs_join_again_with_the_salt(desk_out, tmp_path):
    """Outputs written with --hash-callers: `serve --hash-callers SALT` maps the keys back to the store's."""
    import shutil

    from speechchurn.text.redact import hash_caller

    out = shutil.copytree(desk_out, tmp_path / "out")
    callers = outputs.read_csv(out / "callers.csv")
    callers["caller"] = callers["caller"].map(lambda c: hash_caller(c, "pepper"))
    outputs.write_csv(callers, out / "callers.csv")
    client = _client(out, caller_salt="pepper")
    queue = client.get("/").text
    assert f">{HEAVY_CALLER}<" not in queue and f'href="/customer/{HEAVY_CALLER}"' in queue
    assert _hit_ids(client.get(f"/customer/{HEAVY_CALLER}").text)
    form = {"tier": "VIP", "reason": "人工确认", "csrf": _csrf(client)}
    assert client.post(f"/customer/{HEAVY_CALLER}/tier", data=form).status_code == 200
    row = outputs.read_csv(out / "callers.csv").set_index("caller").loc[hash_caller(HEAVY_CALLER, "pepper")]
    assert row["tier"] == "VIP" and row["tier_override_reason"] == "人工确认"
