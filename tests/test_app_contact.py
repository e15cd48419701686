"""First-contact probes of the desk (issue 24, rows 8-12): huge ids and pages, blank tokens, foreign
Origin / Referer on POSTs, two desks indexing one OUT_DIR at once, a port already in use."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from conftest import SAMPLES
from desk_support import analyze_samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from speechchurn.cli import app as cli_app
from speechchurn.cli.options import EXIT_CANNOT_LISTEN, EXIT_USAGE
from speechchurn.errors import ConfigError

pytest.importorskip("starlette.testclient")
from starlette.testclient import TestClient  # noqa: E402

from speechchurn.app.web import DeskConfig, create_app  # noqa: E402

HEAVY_CALLER = "13998765402"
HUGE = "99999999999999999999999"
runner = CliRunner()


@pytest.fixture(scope="module")
def desk_out(tmp_path_factory):
    return analyze_samples(tmp_path_factory.mktemp("contact") / "out")


@pytest.fixture(scope="module")
def client(desk_out):
    # raise_server_exceptions (the default): a 500 would raise here instead of answering
    return TestClient(create_app(DeskConfig(desk_out, SAMPLES, allowed_hosts=("testserver",), reviewer="王")))


def _csrf(client: TestClient) -> str:
    client.get("/")
    return client.cookies["desk_csrf"]


def _one_line_error(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


# --- row 8: numbers past SQLite's integer range -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/call/{HUGE}", 404),
        (f"/audio/{HUGE}", 404),
        (f"/call/{2**63}", 404),
        (f"/audio/{2**63 - 1}", 404),  # in range, names no call
        (f"/call/{'9' * 5000}", 404),  # past Python's int-string limit too
        (f"/?page={HUGE}", 400),
        ("/?page=" + "9" * 5000, 400),
        (f"/?page=-{HUGE}", 400),
        ("/?page=1000001", 400),
        ("/?page=1000000", 200),  # past the last page: an empty page
        ("/?page=abc", 200),  # not a number: the first page
        ("/?page=%EF%BC%91", 200),  # a full-width digit: the first page
    ],
)
def test_huge_numbers_are_404_or_400(client, path, status):
    response = client.get(path)
    assert response.status_code == status, (path, response.text[:200])


@pytest.mark.parametrize(
    ("range_header", "statuses"),
    [
        (f"bytes={HUGE}-", (416,)),
        (f"bytes=0-{HUGE}", (206,)),
        (f"bytes=-{HUGE}", (206,)),
        ("bytes=" + "9" * 5000 + "-", (416,)),
        ("bytes=0-" + "9" * 5000, (206,)),
    ],
)
def test_huge_ranges_are_416_or_the_whole_file(client, range_header, statuses):
    response = client.get("/audio/1", headers={"Range": range_header})
    assert response.status_code in statuses, (range_header, response.status_code)


def test_huge_hit_id_in_a_post_is_404(client):
    response = client.post(f"/hit/{HUGE}/mark", data={"verdict": "wrong", "csrf": _csrf(client)})
    assert response.status_code == 404


# --- row 9: blank and short tokens ----------------------------------------------------------------------


@pytest.mark.parametrize("token", [" ", "", "   \t", "short", "has a space in it", "tab\tinside-token"])
def test_serve_refuses_a_blank_or_short_token(desk_out, token, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: pytest.fail("server started"))
    result = runner.invoke(cli_app, ["serve", str(desk_out), "--host", "0.0.0.0", "--token", token])
    assert result.exit_code == EXIT_USAGE
    assert "token" in _one_line_error(result.output)


def test_serve_refuses_a_blank_token_from_the_environment(desk_out, monkeypatch):
    monkeypatch.setenv("SPEECHCHURN_TOKEN", "  ")
    result = runner.invoke(cli_app, ["serve", str(desk_out), "--host", "0.0.0.0"])
    assert result.exit_code == EXIT_USAGE and "blank" in _one_line_error(result.output)


def test_the_library_refuses_a_blank_token_too(desk_out):
    with pytest.raises(ConfigError, match="blank"):
        create_app(DeskConfig(desk_out, SAMPLES, token=" "))


# --- row 10: foreign Origin / Referer -------------------------------------------------------------


def _hit(client: TestClient) -> int:
    import re

    return int(re.findall(r'data-hit="(\d+)"', client.get(f"/customer/{HEAVY_CALLER}").text)[0])


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # sandboxed frames, file:// pages
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "http://testserver:8001"},  # another port is another origin
        {"Origin": "ftp://testserver"},
        {"Origin": "http://[::1"},  # malformed
        {"Referer": "http://evil.example/page"},
        {"Origin": "http://evil.example", "Referer": "http://testserver/customer/1"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"},
    ],
)
def test_posts_from_another_origin_are_refused(client, headers):
    csrf = _csrf(client)  # a matching cookie and field: only the origin is wrong
    hit = _hit(client)
    marked = client.post(f"/hit/{hit}/mark", data={"verdict": "wrong", "csrf": csrf}, headers=headers)
    assert marked.status_code == 403 and "cross-site" in marked.text
    review = client.post(
        f"/customer/{HEAVY_CALLER}/review",
        data={"outcome": "retained", "csrf": csrf},
        headers=headers,
        follow_redirects=False,
    )
    assert review.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no browser headers at all (scripts): the CSRF pair still decides
        {"Origin": "http://testserver"},
        {"Origin": "http://testserver:80"},
        {"Referer": "http://testserver/customer/13998765402"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    ],
)
def test_same_origin_posts_still_work(client, headers):
    marked = client.post(
        f"/hit/{_hit(client)}/mark", data={"verdict": "correct", "csrf": _csrf(client)}, headers=headers
    )
    assert marked.status_code == 200 and marked.json()["verdict"] == "correct"


def test_get_requests_do_not_need_an_origin(client):
    assert client.get("/", headers={"Origin": "http://evil.example"}).status_code == 200


def test_pages_send_the_referrer_only_to_their_own_origin(client):
    assert client.get("/").headers["referrer-policy"] == "same-origin"


# --- row 11: two desks index a fresh OUT_DIR at once -----------------------------------------------

_START_DESK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from speechchurn.app.web import DeskConfig, create_app
    app = create_app(DeskConfig(Path(sys.argv[1]), Path(sys.argv[2])))
    db = app.state.desk.db()
    print(db.execute("SELECT COUNT(*) FROM desk_calls").fetchone()[0])
    """
)


def _drop_desk_index(out) -> None:
    db = sqlite3.connect(out / "speechchurn.db")
    for table in ("desk_calls", "desk_segments", "desk_fts", "desk_hits", "desk_callers", "desk_meta"):
        db.execute(f"DROP TABLE IF EXISTS {table}")
    db.commit()
    db.close()


def test_two_desks_start_at_once_on_an_unindexed_out_dir(tmp_path):
    out = analyze_samples(tmp_path / "out")
    calls = sqlite3.connect(out / "speechchurn.db").execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    for _ in range(2):  # two rounds: the race is timing-dependent, each round starts from scratch
        _drop_desk_index(out)
        command = [sys.executable, "-c", _START_DESK, str(out), str(SAMPLES)]
        desks = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"
        ]
        results = [d.communicate(timeout=300) for d in desks]
        for desk, (stdout, stderr) in zip(desks, results, strict=True):
            assert desk.returncode == 0, stderr[-2000:]
            assert int(stdout.strip()) == calls
    db = sqlite3.connect(out / "speechchurn.db")
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT file) FROM desk_calls").fetchone() == (calls, calls)


def test_a_request_does_not_wait_for_another_desks_build(desk_out):
    from filelock import FileLock

    from speechchurn.app import index
    from speechchurn.review import marks

    db = marks.connect(desk_out)
    try:
        with FileLock(str(desk_out / index.INDEX_LOCK)):
            assert index.sync(db, desk_out, wait_s=0) is None
        assert index.sync(db, desk_out, wait_s=0) is not None
    finally:
        db.close()


# --- row 12: a port already in use ---------------------------------------------------------------


def test_serve_on_a_port_in_use_exits_with_its_own_code(desk_out, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: pytest.fail("server started"))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(cli_app, ["serve", str(desk_out), "--port", str(port)])
    assert result.exit_code == EXIT_CANNOT_LISTEN != 3
    assert "already in use" in _one_line_error(result.output)


def test_serve_listens_on_the_socket_it_bound(desk_out, monkeypatch):
    import uvicorn

    seen = {}

    def run(self, sockets=None):
        seen["address"] = sockets[0].getsockname()
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    result = runner.invoke(cli_app, ["serve", str(desk_out), "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert seen["address"] == ("127.0.0.1", port)


# --- any text in a URL: never a server error ------------------------------------------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(
        ["/search?q=", "/?page=", "/customer/", "/call/", "/audio/", "/login?token=", "/?open=1&page="]
    ),
    st.text(st.characters(codec="utf-8"), max_size=40),
)
def test_any_text_in_a_url_is_never_a_server_error(client, prefix, text):
    from urllib.parse import quote

    response = client.get(prefix + quote(text, safe=""), follow_redirects=False)
    assert response.status_code < 500, (prefix, text, response.status_code)
