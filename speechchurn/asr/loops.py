"""Text-level guards against two Whisper failure modes that survive temperature fallback.

* Looping: the decoder repeats a character or a short phrase to the end of the window
  (请问问问问问…). A run of more than ``MAX_REPEATS`` back-to-back copies of a 1-4 character unit
  is cut to ``KEEP_REPEATS`` copies; real speech rarely says the same short unit 5 times in a row.
* Prompt echo: with an ``initial_prompt`` Whisper sometimes writes the prompt itself over a pause
  or at the end of a window (以下是普通话的句子。). A segment whose text, without punctuation, is
  the prompt is dropped; the prompt is removed where it is glued to real words.
"""

from __future__ import annotations

import re

MAX_REPEATS = 4  # back-to-back copies of a short unit allowed before the run is cut
KEEP_REPEATS = 2  # copies kept of a cut run
_LOOP_RE = re.compile(r"(.{1,4}?)\1{" + str(MAX_REPEATS) + ",}", re.S)
_PUNCT_RE = re.compile(r"[\s\W_]+", re.UNICODE)


def collapse_loops(text: str) -> str:
    """Cut every run of more than MAX_REPEATS copies of a 1-4 character unit to KEEP_REPEATS copies."""
    return _LOOP_RE.sub(lambda m: m.group(1) * KEEP_REPEATS, text)


def strip_prompt_echo(text: str, prompt: str | None) -> str:
    """The text without a copy of the prompt (compared without punctuation); '' if it was only that."""
    if not prompt:
        return text
    bare_prompt = _PUNCT_RE.sub("", prompt)
    if not bare_prompt or bare_prompt not in _PUNCT_RE.sub("", text):
        return text
    if _PUNCT_RE.sub("", text) == bare_prompt:
        return ""
    pattern = r"[\s\W_]*".join(map(re.escape, bare_prompt)) + r"[\s\W_]*"
    return re.sub(pattern, "", text)


def guard_text(text: str, prompt: str | None) -> str:
    return collapse_loops(strip_prompt_echo(text, prompt))
