"""Loop and prompt-echo guards on Whisper text (speechchurn.asr.loops)."""

from __future__ import annotations

import pytest

from speechchurn.asr.loops import collapse_loops, guard_text, strip_prompt_echo

PROMPT = "以下是普通话的句子。"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("有很大关系的。请问问问问问问问问问问问问问", "有很大关系的。请问问"),
        ("我认认认认论论论论论论论论论", "我认认认认论论"),
        ("哈哈哈哈哈哈", "哈哈"),
        ("好的好的好的好的好的好的", "好的好的"),
        ("谢谢谢谢", "谢谢谢谢"),  # four copies: real speech, kept
        ("一三八一二三四五六零一", "一三八一二三四五六零一"),
        ("", ""),
    ],
)
def test_collapse_loops(text, expected):
    assert collapse_loops(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("以下是普通话的句子。", ""),
        ("以下是普通话的句子", ""),
        ("还有其他问题吗?以下是普通话的句子。", "还有其他问题吗?"),
        ("好的，再见。", "好的，再见。"),
    ],
)
def test_strip_prompt_echo(text, expected):
    assert strip_prompt_echo(text, PROMPT) == expected


def test_guard_without_prompt_only_collapses():
    assert guard_text("以下是普通话的句子。问问问问问问", None) == "以下是普通话的句子。问问"
