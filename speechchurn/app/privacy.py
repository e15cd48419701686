"""`--redact` for the desk: the pages mask personal data exactly as the exported outputs do
(speechchurn.text.redact), and show caller numbers masked; marks stay keyed by the real caller."""

from __future__ import annotations

from collections.abc import Callable

from speechchurn.text.redact import mask_caller, redact, redact_fragment


def redactors(enabled: bool) -> tuple[Callable[[str], str], Callable[[str], str], Callable[[str], str]]:
    """(whole-text redactor, snippet redactor, caller masker); identities when redaction is off."""
    if not enabled:
        return str, str, str

    return (lambda t: redact(str(t))), (lambda t: redact_fragment(str(t))), (lambda c: mask_caller(c))
