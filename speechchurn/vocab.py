"""Domain vocabulary: each value that more than one module needs lives here, once."""

from __future__ import annotations

DEFAULT_TIMEZONE = "Asia/Shanghai"  # time zone of naive timestamps (mainland China call centres)
