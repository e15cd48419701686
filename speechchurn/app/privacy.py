"""`--redact` for the desk: what the pages show of phone numbers and other personal data in text.

Delegates to speechchurn.text.redact (the outputs' redaction) when it is available, so the app and
the CSVs redact alike; until then a conservative built-in mask hides digit runs that look like phone,
ID or card numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

LONG_DIGITS = re.compile(r"\d[\d\- ]{5,}\d")  # 7+ digits, possibly grouped: phone / ID / card numbers
KEEP_HEAD, KEEP_TAIL = 3, 2  # digits left visible of a masked caller number


def _mask_digits(text: str) -> str:
    return LONG_DIGITS.sub(lambda m: "*" * len(m.group()), str(text))


def _mask_caller(caller: str) -> str:
    caller = str(caller)
    if len(caller) <= KEEP_HEAD + KEEP_TAIL:
        return "*" * len(caller)
    return caller[:KEEP_HEAD] + "*" * (len(caller) - KEEP_HEAD - KEEP_TAIL) + caller[-KEEP_TAIL:]


def redactors(enabled: bool) -> tuple[Callable[[str], str], Callable[[str], str]]:
    """(text redactor, caller redactor); identities when redaction is off."""
    if not enabled:
        return str, str
    try:
        from speechchurn.text import redact as shared
    except ImportError:
        return _mask_digits, _mask_caller
    text = getattr(shared, "redact_text", None) or _mask_digits
    caller = getattr(shared, "mask_caller", None) or getattr(shared, "redact_caller", None) or _mask_caller
    return text, caller
