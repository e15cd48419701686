"""Signed model files: `grade --model` never unpickles a file this installation did not write.

A model file is `MAGIC`, then the HMAC-SHA256 of the payload, then the payload (joblib bytes). The
key is 32 random bytes in `$SPEECHCHURN_HOME/keys/model-signing.key` (mode 0600), made by the first
`train`. Loading checks the magic and the HMAC over the raw bytes *before* anything is unpickled; a
file that fails (another format, edited, signed elsewhere, a pickle with a payload) is refused with a
one-line `ModelFileError`. To use a model on another machine, copy the key file along with it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from speechchurn.errors import ModelFileError

MAGIC = b"SPEECHCHURN-MODEL v2 HMAC-SHA256\n"
KEY_FILE = Path("keys") / "model-signing.key"
KEY_BYTES = 32
DIGEST_BYTES = hashlib.sha256().digest_size


def key_path() -> Path:
    from speechchurn.asr.models import home_dir

    return home_dir() / KEY_FILE


def signing_key(create: bool = False) -> bytes | None:
    """This installation's key; made (0600) on first use when `create`, else None if there is none."""
    path = key_path()
    if not path.is_file() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
    try:
        key = path.read_bytes()
    except OSError:
        return None
    return key if len(key) == KEY_BYTES else None


def sign(payload: bytes) -> bytes:
    """The bytes of a signed model file holding `payload`."""
    key = signing_key(create=True)
    if key is None:
        raise ModelFileError(f"{key_path()}: cannot read or create the model signing key")
    return MAGIC + hmac.new(key, payload, hashlib.sha256).digest() + payload


def verified_payload(data: bytes, name: str) -> bytes:
    """The payload of a signed model file, or ModelFileError; nothing in `data` is interpreted first."""
    refuse = f"{name}: not a speechchurn model file signed by this installation"
    if not data.startswith(MAGIC):
        raise ModelFileError(f"{refuse} (no speechchurn signature); refused without loading it")
    key = signing_key()
    if key is None:
        raise ModelFileError(f"{refuse}: no signing key at {key_path()} (copy it from where you trained)")
    digest = data[len(MAGIC) : len(MAGIC) + DIGEST_BYTES]
    payload = data[len(MAGIC) + DIGEST_BYTES :]
    if not hmac.compare_digest(digest, hmac.new(key, payload, hashlib.sha256).digest()):
        raise ModelFileError(f"{refuse} (signature does not match); refused without loading it")
    return payload
