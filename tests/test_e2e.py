"""End to end with the real Whisper base weights on real sample audio (slow)."""

from __future__ import annotations

import difflib
import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from speechchurn import outputs
from speechchurn.cli import app

pytestmark = pytest.mark.slow

COMPLAINT_CALL = "20261105_101544_13998765402_in.wav"
OLD_CALL = "20260615_091245_15900003305_in.wav"


@pytest.fixture(scope="module")
def e2e_out(tmp_path_factory, samples_dir, model_home):
    folder = tmp_path_factory.mktemp("e2e_calls")
    for name in (COMPLAINT_CALL, OLD_CALL):
        shutil.copy(samples_dir / name, folder / name)
    out = tmp_path_factory.mktemp("e2e_out")
    result = CliRunner().invoke(app, ["analyze", str(folder), "--out", str(out), "--threads", "2"])
    assert result.exit_code == 0, result.output
    return out


def test_complaint_call_is_transcribed_and_spotted(e2e_out):
    transcripts = {
        r["file"]: r["segments"]
        for r in map(json.loads, (e2e_out / "transcripts.jsonl").read_text(encoding="utf-8").splitlines())
    }
    customer_text = "".join(s["text"] for s in transcripts[COMPLAINT_CALL] if s["role"] == "customer")
    assert "投诉" in customer_text
    assert {s["role"] for s in transcripts[COMPLAINT_CALL]} == {"agent", "customer"}
    calls = outputs.read_csv(e2e_out / "calls.csv").set_index("file")
    assert calls.loc[COMPLAINT_CALL, "kw_complaint"] >= 1
    assert calls.loc[COMPLAINT_CALL, "kw_churn_intent"] >= 1


def test_tiers_follow_the_rules(e2e_out):
    callers = outputs.read_csv(e2e_out / "callers.csv").set_index("caller")
    old = callers.loc["15900003305"]
    assert old["tier"] == "silent" and old["days_since_last"] > 90
    assert re.search(r"days_since_last=[\d.]+>90", old["tier_reason"])
    complainer = callers.loc["13998765402"]
    assert complainer["tier"] == "ordinary", "one call in 30 days is not VIP"
    assert complainer["churn_risk"] in ("high", "medium")
    review = outputs.read_csv(e2e_out / "review.csv")
    assert review["caller"].iloc[0] == "13998765402"
    assert "投诉" in review["evidence"].iloc[0] or "销户" in review["evidence"].iloc[0]


def _bare(text: str) -> str:
    return re.sub(r"[\W_]+", "", text)


@pytest.mark.parametrize("name", [COMPLAINT_CALL, OLD_CALL])
def test_converted_checkpoint_agrees_with_faster_whisper(name, samples_dir, model_home):
    pytest.importorskip("whisper")
    from speechchurn.asr.transcribe import TranscribeOptions, transcribe_audio
    from speechchurn.call.audio import decode_audio

    audio = decode_audio(samples_dir / name)
    texts = {}
    for engine in ("faster-whisper", "openai-whisper"):
        options = TranscribeOptions(
            engine=engine, beam_size=1, temperatures=(0.0,), cpu_threads=2, compute_type="float32"
        )
        texts[engine] = _bare("".join(s.text for s in transcribe_audio(audio, options)))
    matcher = difflib.SequenceMatcher(None, texts["faster-whisper"], texts["openai-whisper"], autojunk=False)
    assert matcher.ratio() >= 0.90, texts
