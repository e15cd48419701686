"""Pure parts of benchmarks/throughput.py and benchmarks/decoding.py (no model runs)."""

from __future__ import annotations

from benchmarks import decoding, throughput
from benchmarks.throughput import Measure


def _m(system: str, wall_s: float, passes: int = 10, cer: float | None = 0.1) -> Measure:
    return Measure(system, "calls", 4, 120.0, wall_s, passes, 900.0, cer, 1.5)


def test_table_gives_ratios_to_the_peer_and_rerun_share():
    rows = [_m("peer", 20.0), _m("previous", 30.0), _m("new", 10.0, passes=5), _m("rerun", 0.4, passes=0)]
    text = throughput.table(rows)
    lines = {line.split("|")[2].strip(): line for line in text.splitlines()[2:]}
    assert "| 6.0× | 1.00 |" in lines["peer"]
    assert "| 12.0× | 2.00 | 2.50 |" in lines["new"], "speed, x peer, encoder passes per audio minute"
    assert "rerun = 4.0% of first" in lines["rerun"]
    assert "| 10.0% |" in lines["previous"]


def test_probe_counts_batches_by_their_size(tmp_path, monkeypatch):
    import faster_whisper.transcribe as t
    import numpy as np

    log = tmp_path / "encode.log"
    monkeypatch.setenv("SPEECHCHURN_ENCODE_LOG", str(log))
    monkeypatch.setattr(t.WhisperModel, "encode", t.WhisperModel.encode)  # restored after the test
    namespace: dict = {}
    exec(compile(throughput.PROBE, "sitecustomize", "exec"), namespace)  # wraps WhisperModel.encode
    shapes = []
    namespace["_encode"] = lambda self, features: shapes.append(features.shape)
    t.WhisperModel.encode(None, np.zeros((80, 3000)))
    t.WhisperModel.encode(None, np.zeros((3, 80, 3000)))
    assert shapes == [(80, 3000), (3, 80, 3000)]
    assert throughput.encoder_passes(log) == 4, "one window plus a batch of three"


def test_decoding_variants_change_one_setting_each():
    assert decoding.VARIANTS["call"] == {}
    for name, overrides in decoding.VARIANTS.items():
        assert len(set(overrides) - {"batched"}) <= 2, name


def test_probe_counts_decoder_work(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import faster_whisper.transcribe as t

    log = tmp_path / "encode.log"
    monkeypatch.setenv("SPEECHCHURN_ENCODE_LOG", str(log))
    monkeypatch.setattr(t.WhisperModel, "encode", t.WhisperModel.encode)  # restored after the test
    monkeypatch.setattr(t.WhisperModel, "__init__", t.WhisperModel.__init__)
    namespace: dict = {}
    exec(compile(throughput.PROBE, "sitecustomize", "exec"), namespace)

    class Model:
        def generate(self, output, prompts, **kwargs):
            return [SimpleNamespace(sequences_ids=[[1, 2, 3, 4]])]

    model, window = namespace["_Counting"](Model()), object()
    model.generate(window, [[0]], beam_size=5)
    model.generate(window, [[0]], beam_size=1, num_hypotheses=5, sampling_temperature=0.2)
    model.generate(object(), [[0]], beam_size=5)
    counts = throughput.probe_counts(log)
    assert counts == dict(encoder_passes=0, tokens=12, beam_steps=60, windows=2, fallback_windows=1)


def test_cost_split_separates_per_call_and_per_minute():
    # wall = 5 s per run + 2 s per call + 6 s per audio minute, on three sets of different call lengths
    rows = [
        Measure("new", name, files, minutes * 60, 5 + 2 * files + 6 * minutes, 0, 0.0, None, 0.0)
        for name, files, minutes in (("short", 100, 9.0), ("calls", 14, 4.5), ("long", 5, 26.0))
    ]
    line = throughput.cost_split(rows).splitlines()[2]
    assert line == "| new | 5.0 | 2.00 | 6.00 | 3 |"
