"""File names that are not UTF-8: one printable name for the store and the outputs, the bytes kept.

On Linux a file name is bytes. Python decodes names that are not valid UTF-8 with `surrogateescape`
(`os.fsdecode`), which gives strings that SQLite, CSV, JSON and the terminal refuse. Every name a
batch records goes through `printable_name`: a valid UTF-8 name is unchanged; each byte that is not
UTF-8 becomes the four characters `\\xNN` (e.g. `20261101_100000_13700002299_in_\\xff\\xfe.wav`).
The store also keeps the name's exact bytes (`Store.record_raw_names`), and `filesystem_name` turns a
printable name back into the name on disk, so the desk can still play the recording.
"""

from __future__ import annotations

import os
import re

_ESCAPED_BYTE = re.compile(r"\\x([0-9a-f]{2})")


def printable_name(name: str) -> str:
    """`name` as valid UTF-8 text: bytes that are not UTF-8 become `\\xNN` escapes."""
    return printable_text(name)


def printable_text(text: str) -> str:
    """Any text made safe for UTF-8 outputs (surrogate-escaped bytes and lone surrogates escaped)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # lone surrogates outside the surrogateescape range
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_printable(name: str) -> bool:
    return printable_name(name) == name


def name_bytes(name: str) -> bytes:
    """The exact bytes of a file name as the file system gave it (`os.fsencode`)."""
    return os.fsencode(name)


def filesystem_name(printable: str) -> str:
    """The inverse of `printable_name` for names that had escapes (`os.fsdecode` of the bytes)."""
    parts = _ESCAPED_BYTE.split(printable)
    data = b"".join(bytes([int(part, 16)]) if i % 2 else part.encode("utf-8") for i, part in enumerate(parts))
    return os.fsdecode(data)
