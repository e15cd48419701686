"""Shared helper: write one benchmark's table into its own section of docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEach section is rewritten by the script named in it. Figures are from one run.\n"


def machine_line() -> str:
    cores = os.cpu_count()
    return (
        f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, "
        f"date {dt.date.today().isoformat()}"
    )


def write_section(name: str, markdown: str) -> Path:
    """Replace (or append) the section between BEGIN/END markers named `name`."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n\n_{machine_line()}_\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    return DOC
