"""The CLI through typer's CliRunner: help, each command, bad paths, exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from speechchurn.cli import app
from speechchurn.cli import main as cli

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["analyze", "--help"],
        ["grade", "--help"],
        ["review", "--help"],
        ["report", "--help"],
        ["models", "--help"],
        ["models", "list", "--help"],
        ["models", "install", "--help"],
        ["models", "convert", "--help"],
    ],
)
def test_help(args):
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 2) if not args else result.exit_code == 0
    assert "Usage" in result.output


def test_help_is_instant_and_imports_no_heavy_modules():
    code = (
        "import sys; import speechchurn.cli; "
        "heavy = [m for m in ('torch', 'whisper', 'ctranslate2', 'faster_whisper', 'pandas', 'av') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "/no/such/dir", "--out", "x"], "does not exist"),
        (["grade", "/no/such/out"], "does not exist"),
        (["review", "/no/such/out"], "does not exist"),
        (["report", "/no/such/out"], "does not exist"),
        (["analyze", ".", "--out", "x", "--channels", "left,right"], "--channels"),
        (["analyze", ".", "--out", "x", "--engine", "kaldi"], "unknown engine"),
        (["analyze", ".", "--out", "x", "--executor", "dask"], "--scheduler"),
        (["analyze", ".", "--out", "x", "--as-of", "2026-13-40"], "YYYY-MM-DD"),
        (["models", "install", "tiny-imaginary"], "unknown bundled model"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code in (cli.EXIT_USAGE, cli.EXIT_ERROR)
    assert message in result.output


def test_usage_exit_code_is_2_for_bad_path():
    assert runner.invoke(app, ["analyze", "/no/such/dir", "--out", "x"]).exit_code == cli.EXIT_USAGE


def test_analyze_grade_review_report(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out)])
    assert result.exit_code == cli.EXIT_OK, result.output
    assert "3 done" in result.output and "13812345601" in result.output
    for name in (
        "calls.csv",
        "callers.csv",
        "review.csv",
        "errors.csv",
        "transcripts.jsonl",
        "evidence.jsonl",
        "report.html",
        "callers.xlsx",
    ):
        assert (out / name).is_file(), name
    again = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out)])
    assert "3 skipped (cached)" in again.output
    graded = runner.invoke(app, ["grade", str(out), "--as-of", "2027-06-01"])
    assert graded.exit_code == 0 and "graded 2 customers" in graded.output
    assert "silent" in graded.output, "as of mid-2027 both customers have been silent > 90 days"
    review = runner.invoke(app, ["review", str(out), "--top", "5"])
    assert review.exit_code == 0 and "review queue" in review.output
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0 and "report.html" in report.output


def test_partial_failure_exits_3(calls_dir, tmp_path, fake_engine):
    (calls_dir / "broken.wav").write_bytes(b"RIFF....garbage")
    result = runner.invoke(app, ["analyze", str(calls_dir), "--out", str(tmp_path / "out")])
    assert result.exit_code == cli.EXIT_PARTIAL
    assert "1 failed" in result.output and "broken.wav" in result.output


def test_grade_without_store_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["grade", str(tmp_path)])
    assert result.exit_code == cli.EXIT_ERROR
    assert result.output.strip().startswith("error:") and "analyze" in result.output


def test_review_without_callers(tmp_path):
    result = runner.invoke(app, ["review", str(tmp_path)])
    assert result.exit_code == cli.EXIT_USAGE and "callers.csv" in result.output


def test_bad_rules_file_names_the_key(calls_dir, tmp_path, fake_engine):
    out = tmp_path / "out"
    runner.invoke(app, ["analyze", str(calls_dir), "--out", str(out)])
    rules = tmp_path / "rules.toml"
    rules.write_text("[score.weights]\nminutes_3d = 1.0\n", encoding="utf-8")
    result = runner.invoke(app, ["grade", str(out), "--rules", str(rules)])
    assert result.exit_code == cli.EXIT_USAGE
    assert "minutes_3d" in result.output


def test_models_list_and_convert_errors(tmp_path, model_home):
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and "base:" in listed.output and str(model_home) in listed.output
    shutil.rmtree(tmp_path / "empty", ignore_errors=True)
    (tmp_path / "empty").mkdir()
    converted = runner.invoke(app, ["models", "convert", str(tmp_path / "empty"), str(tmp_path / "x.pt")])
    assert converted.exit_code == cli.EXIT_ERROR and "cannot convert" in converted.output


def test_roster_lexicons_and_channel_swap(calls_dir, tmp_path, fake_engine):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "caller,plan,tenure_months\n13812345601,畅享,36\n139-0000-0000,基础,3\n", encoding="utf-8-sig"
    )
    extra = tmp_path / "lex"
    extra.mkdir()
    (extra / "refund.txt").write_text("# refunds\n退款\n乱扣费 2.0\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "analyze",
            str(calls_dir),
            "--out",
            str(out),
            "--customers",
            str(roster),
            "--lexicons",
            str(extra),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    from speechchurn import outputs

    callers = outputs.read_csv(out / "callers.csv").set_index("caller")
    assert callers.loc["13900000000", "tier"] == "silent" and callers.loc["13900000000", "calls"] == 0
    assert callers.loc["13812345601", "plan"] == "畅享"
    calls = outputs.read_csv(out / "calls.csv")
    assert (calls["kw_refund"] >= 1).all(), "the added category counts the fake line's 乱扣费"
    swapped = tmp_path / "swapped"
    runner.invoke(
        app, ["analyze", str(calls_dir), "--out", str(swapped), "--channels", "customer,agent", "-q"]
    )
    flipped = outputs.read_csv(swapped / "calls.csv")
    assert list(flipped["talk_s_agent"]) == list(calls["talk_s_customer"])


def _typer_commands() -> dict[str, set[str]]:
    """Every command path ("marks export") with the long options its --help shows (--help aside)."""
    import typer.main
    from typer.core import TyperOption

    found: dict[str, set[str]] = {}

    def walk(command, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        options = {o for p in command.params if isinstance(p, TyperOption) for o in p.opts + p.secondary_opts}
        found[" ".join(path)] = {o for o in options if o.startswith("--")}

    walk(typer.main.get_command(app), [])
    return found


def _readme_reference() -> dict[str, set[str]]:
    """The README's CLI reference block: command path -> the long options its lines name."""
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## CLI reference", 1)[1].split("```", 2)[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        words = line.split("#", 1)[0]
        if line.startswith("speechchurn "):
            tokens = words.split()[1:]
            current = " ".join(t for t in tokens[:2] if re.fullmatch(r"[a-z][a-z-]*", t))
            entries[current] = words
        elif current is not None and line.strip():
            entries[current] += words
    commands = set(_typer_commands())
    out = {}
    for key, text in entries.items():
        path = key if key in commands else key.split()[0]
        out[path] = set(re.findall(r"--[a-z][a-z-]*", text))
    return out


def test_readme_cli_reference_lists_every_command_and_option():
    assert _readme_reference() == _typer_commands()


def test_help_shows_flags_as_flags_and_arguments_by_name():
    text = runner.invoke(app, ["grade", "--help"], terminal_width=200).output
    assert "<bool>" not in text and "{" not in text
    assert "OUT_DIR" in text.splitlines()[1] or "[OPTIONS] OUT_DIR" in text
