"""QA scorecards end to end: a real analyze of audio_samples (real Whisper weights, its manifest) with
the default form, then `speechchurn qa` re-scoring the same store. Marked slow."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

COMPLAINER = "13998765402"  # two calls, both with 投诉 and an agent who says 非常抱歉
FAREWELL = "20261102_093012_13812345601_in.wav"  # agent: 感谢您的支持，祝您生活愉快，再见
NO_FAREWELL = "20261105_101544_13998765402_in.wav"  # ends with 会尽快给您回复 (no goodbye)
PASSWORD = "20261012_110530_13600001103_in.wav"  # agent: 请您在手机上输入服务密码


@pytest.fixture(scope="module")
def qa_calls(samples_run):
    from speechchurn import outputs

    return outputs.read_csv(samples_run / "qa_calls.csv").set_index("file")


def test_analyze_scores_every_sample_call(qa_calls, samples_dir):
    from speechchurn import outputs

    manifest = outputs.read_csv(samples_dir / "manifest.csv").set_index("file")
    assert sorted(qa_calls.index) == sorted(manifest.index)
    assert (qa_calls["agent"] == manifest.loc[qa_calls.index, "agent"]).all()  # agents from the manifest
    assert qa_calls["qa_greeting"].eq(1).all()  # every call opens with 您好
    assert qa_calls["qa_greeting_at"].lt(2).all()
    assert qa_calls["qa_forbidden"].eq(1).all() and qa_calls["qa_auto_failed"].eq(0).all()
    assert qa_calls["qa_agent_emotion"].eq(1).all()
    complainer = qa_calls.index.str.contains(COMPLAINER)
    assert qa_calls.loc[complainer, "qa_apology"].eq(1).all()  # 致歉安抚 applies and passes
    assert qa_calls.loc[~complainer, "qa_apology"].isna().all()  # not applicable without a complaint
    assert qa_calls.loc[FAREWELL, "qa_closing"] == 1 and qa_calls.loc[NO_FAREWELL, "qa_closing"] == 0
    assert qa_calls.loc[PASSWORD, "qa_identity_check"] == 1
    assert qa_calls["qa_silence"].eq(1).all() and qa_calls["qa_interruption"].eq(1).all()
    assert qa_calls["qa_score"].between(50, 100).all()


def test_agents_table_and_callers(samples_run, qa_calls):
    from speechchurn import outputs

    agents = outputs.read_csv(samples_run / "qa_agents.csv").set_index("agent")
    assert agents["calls"].sum() == len(qa_calls) and set(agents.index) == set(qa_calls["agent"])
    assert agents["pass_greeting"].eq(1).all()
    callers = outputs.read_csv(samples_run / "callers.csv").set_index("caller")
    assert callers["qa_score_min"].notna().all() and "qa_failed_calls" in callers


def test_rescoring_the_store_gives_the_same_scores(samples_run, tmp_path, qa_calls):
    import sqlite3

    from typer.testing import CliRunner

    from speechchurn import outputs
    from speechchurn.batch.store import STORE_NAME
    from speechchurn.cli import app

    again = tmp_path / "out"
    again.mkdir()
    with sqlite3.connect(samples_run / STORE_NAME) as source, sqlite3.connect(again / STORE_NAME) as copy:
        source.backup(copy)
    result = CliRunner().invoke(app, ["qa", str(again)])
    assert result.exit_code == 0, result.output
    rescored = outputs.read_csv(again / "qa_calls.csv").set_index("file")
    assert rescored.equals(qa_calls)
