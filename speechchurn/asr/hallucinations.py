"""Phrases Whisper writes over silence (subtitle credits, video outros) and how a segment is matched
against them (without punctuation, case-insensitive). Used by asr/transcribe.py's hallucination filter."""

from __future__ import annotations

import re

# Phrases Whisper emits over silence (subtitle credits, video outros), compared without punctuation.
KNOWN_HALLUCINATIONS = (
    "字幕由Amara.org社群提供",
    "字幕由Amara.org社区提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "请不吝点赞订阅转发打赏",
    "谢谢观看",
    "感谢观看",
    "谢谢收看",
    "感谢收看",
    "下次再见",
    "字幕志愿者",
    "中文字幕",
    "优优独播剧场",
    "YoYo Television Series Exclusive",
    "明镜与点点栏目",
    "订阅我的频道",
    "点赞订阅",
    "本字幕由",
    "字幕提供",
    "Thank you for watching",
)
PUNCT_RE = re.compile(r"[\s\W_]+", re.UNICODE)


def matches_known_phrase(text: str) -> bool:
    bare = PUNCT_RE.sub("", text).lower()
    return any(PUNCT_RE.sub("", p).lower() in bare for p in KNOWN_HALLUCINATIONS) if bare else False
