"""--redact and --hash-callers on real outputs (fake engine speaking personal data)."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from speechchurn import outputs
from speechchurn.analyze import analyze
from speechchurn.batch.options import AnalyzeOptions
from speechchurn.privacy import PrivacyOptions, protect_outputs
from speechchurn.report.data import load_report_data
from speechchurn.report.html import write_reports
from speechchurn.text.redact import hash_caller

SPOKEN = (
    "我要投诉，我的号码是一三八 零零零零 幺二三四，身份证11010519491231002X，"
    "卡号4111 1111 1111 1111，邮箱zs@qq.com，我要销户"
)
SECRETS = ("一三八 零零零零 幺二三四", "11010519491231002X", "4111 1111 1111 1111", "zs@qq.com")
NOTE = "客户留了座机010-87654321"
SALT = "team-salt"


@pytest.fixture(scope="module")
def raw_template(tmp_path_factory, samples_dir):
    """One analyzed folder whose transcripts, snippets, quotes and manifest notes hold personal data."""
    from conftest import FakeEngine, copy_three_calls

    import speechchurn.asr.transcribe as transcribe

    folder = tmp_path_factory.mktemp("privacy")
    calls = folder / "calls"
    calls.mkdir()
    chosen = copy_three_calls(samples_dir, calls)
    manifest = folder / "manifest.csv"
    rows = ["file,caller,direction,started_at,note"]
    rows += [f"{f},{f.split('_')[2]},in,2026-11-1{i} 09:30,{NOTE}" for i, f in enumerate(chosen)]
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transcribe, "load_engine", lambda options: FakeEngine(SPOKEN))
        analyze(calls, folder / "out", AnalyzeOptions(manifest=manifest, workers=1))
    return folder / "out"


@pytest.fixture
def raw_out(raw_template, tmp_path):
    """A private copy of the analyzed folder (tests rewrite it in place)."""
    return shutil.copytree(raw_template, tmp_path / "out")


def _everything(out) -> str:
    """Every output's text, workbook cells included."""
    texts = [
        (out / n).read_text(encoding="utf-8-sig")
        for n in (
            "calls.csv",
            "callers.csv",
            "review.csv",
            "errors.csv",
            "transcripts.jsonl",
            "evidence.jsonl",
            "report.html",
        )
    ]
    with zipfile.ZipFile(out / "callers.xlsx") as book:
        texts += [book.read(n).decode("utf-8") for n in book.namelist() if n.endswith(".xml")]
    return "\n".join(texts)


def test_raw_outputs_hold_the_secrets(raw_out):
    text = _everything(raw_out)
    assert all(secret in text for secret in SECRETS) and NOTE in text and "13812345601" in text


def test_redact_masks_text_and_keeps_the_caller_key(raw_out):
    before = outputs.read_csv(raw_out / "calls.csv")
    protect_outputs(raw_out, PrivacyOptions(redact=True))
    write_reports(raw_out)
    text = _everything(raw_out)
    for secret in (*SECRETS, "010-87654321"):
        assert secret not in text, secret
    assert "[电话]" in text and "[身份证号]" in text and "[银行卡号]" in text and "[邮箱]" in text
    callers = outputs.read_csv(raw_out / "callers.csv")
    assert sorted(callers["caller"]) == ["13812345601", "13998765402"]  # the join key stays
    calls = outputs.read_csv(raw_out / "calls.csv")
    assert calls["note"].eq("客户留了座机[电话]").all()
    numbers = before.select_dtypes("number").columns
    assert len(numbers) > 10 and calls[numbers].equals(before[numbers])  # numbers stay numbers
    segments = [
        json.loads(line)["segments"] for line in (raw_out / "transcripts.jsonl").open(encoding="utf-8")
    ]
    assert any("[电话]" in s["text"] for segs in segments for s in segs)


def test_hash_callers_replaces_the_key_everywhere(raw_out):
    protect_outputs(raw_out, PrivacyOptions(caller_salt=SALT))
    write_reports(raw_out)
    text = _everything(raw_out)
    for caller in ("13812345601", "13998765402"):
        assert caller not in text, caller  # not in keys, file names, report anchors or sheets
        assert hash_caller(caller, SALT) in text
    callers = outputs.read_csv(raw_out / "callers.csv")
    assert sorted(callers["caller"]) == sorted(hash_caller(c, SALT) for c in ("13812345601", "13998765402"))
    calls = outputs.read_csv(raw_out / "calls.csv")
    assert all(
        hash_caller(c, SALT) in f for c, f in zip(calls["caller"], calls["file"], strict=True) if False
    )
    assert calls.groupby("caller").size().sort_values().tolist() == [1, 2]  # still joins per customer
    transcripts = {
        json.loads(line)["file"] for line in (raw_out / "transcripts.jsonl").open(encoding="utf-8")
    }
    assert transcripts == set(calls["file"])  # file names hashed alike in every output


def test_report_redacts_on_load(raw_out):
    data = load_report_data(raw_out, PrivacyOptions(redact=True, caller_salt=SALT))
    texts = [s["text"] for segs in data.transcripts.values() for s in segs]
    texts += [row["snippet"] for row in data.evidence] + list(data.review["evidence"])
    assert texts and not any(secret in t for t in texts for secret in SECRETS)
    assert set(data.callers["caller"]) == {hash_caller(c, SALT) for c in ("13812345601", "13998765402")}
    assert set(data.transcripts) == set(data.calls["file"])


def test_cli_analyze_redact_and_hash_callers(calls_dir, tmp_path, fake_engine):
    from typer.testing import CliRunner

    from speechchurn.cli import app

    fake_engine.text = SPOKEN
    out = tmp_path / "out"
    args = ["analyze", str(calls_dir), "--out", str(out), "--redact", "--hash-callers", SALT, "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = _everything(out)
    for secret in (*SECRETS, "13812345601", "13998765402"):
        assert secret not in text, secret
        assert secret not in result.output, secret
    assert hash_caller("13812345601", SALT) in text


def test_cli_report_redact(raw_out):
    from typer.testing import CliRunner

    from speechchurn.cli import app

    result = CliRunner().invoke(app, ["report", str(raw_out), "--redact"])
    assert result.exit_code == 0, result.output
    page = (raw_out / "report.html").read_text(encoding="utf-8")
    assert not any(secret in page for secret in SECRETS)
    assert "13812345601" in page  # the caller key stays without --hash-callers


def test_cli_grade_keeps_outputs_protected(raw_out):
    from typer.testing import CliRunner

    from speechchurn.cli import app

    result = CliRunner().invoke(app, ["grade", str(raw_out), "--redact", "--hash-callers", SALT, "-q"])
    assert result.exit_code == 0, result.output
    for name in ("callers.csv", "review.csv"):
        text = (raw_out / name).read_text(encoding="utf-8-sig")
        assert "13812345601" not in text and not any(secret in text for secret in SECRETS), name
    assert hash_caller("13812345601", SALT) in (raw_out / "callers.csv").read_text(encoding="utf-8-sig")


def test_cli_review_redact(raw_out):
    """`review` prints the queue (redacted on request) and writes nothing; `grade --redact` writes
    review.csv redacted."""
    from typer.testing import CliRunner

    from speechchurn.cli import app

    def run(*args: str) -> tuple[str, str]:
        result = CliRunner().invoke(app, [*args, str(raw_out)])
        assert result.exit_code == 0, result.output
        return (raw_out / "review.csv").read_text(encoding="utf-8-sig"), result.output

    plain, _ = run("review")
    assert any(secret in plain for secret in SECRETS)  # the quotes do carry personal data
    still, shown = run("review", "--redact")
    assert still == plain and not any(secret in shown for secret in SECRETS)
    written, _ = run("grade", "--redact")
    assert not any(secret in written for secret in SECRETS)
