"""Put numbers in one written form for CER: Arabic digits become Chinese numerals as they are read.

Mandarin references write numbers in characters (四G, 一万四千四百元, 幺零九零…); Whisper often
writes digits (4G, 14400元, 1090…). `spell_numbers` rewrites every run of Arabic digits the way a
speaker reads it, and `unify_numeral_variants` maps the spoken variants 幺 -> 一 and 两 -> 二 (and
〇 -> 零) so both sides compare character by character:

* a run with a leading 0, or of 5+ digits not followed by a unit (元, 块, 万, 个, 人…), or
  followed by 年 (a year), is read digit by digit: 2019年 -> 二零一九年, 10086 -> 一零零八六;
* otherwise as a cardinal: 14400元 -> 一万四千四百元, 10 -> 十, 105 -> 一百零五;
* a decimal point between digits is 点 (3.5 -> 三点五), a trailing % is 百分之… (50% -> 百分之五十).

Numbers that people say vaguely (三四百, 四六级) are left as characters on both sides.
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
SMALL_UNITS = ("", "十", "百", "千")
BIG_UNITS = ("", "万", "亿")
CARDINAL_MAX_DIGITS = 12  # longer runs are always read digit by digit
DIGIT_BY_DIGIT_MIN = 5  # runs this long are codes / phone numbers unless a unit follows
COUNT_UNITS = "元块毛角分万亿千百个人岁次天月号楼层米斤台部张条位名种家份"
_NUMBER_RE = re.compile(r"(\d+)(?:\.(\d+))?(%?)")
_VARIANTS = str.maketrans({"幺": "一", "两": "二", "〇": "零"})


def digit_by_digit(run: str) -> str:
    return "".join(DIGITS[int(d)] for d in run)


def _four_digits(n: int) -> str:
    """0 < n < 10000 as characters, with 零 for inner gaps (1005 -> 一千零五)."""
    out, zero_pending = [], False
    for power in (3, 2, 1, 0):
        d = n // 10**power % 10
        if d == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        out.append(DIGITS[d] + SMALL_UNITS[power])
    return "".join(out)


def cardinal(n: int) -> str:
    """Integer as read aloud: 0 -> 零, 10 -> 十, 14400 -> 一万四千四百, 100200 -> 十万零二百."""
    if n == 0:
        return DIGITS[0]
    groups, parts = [], []
    while n:
        groups.append(n % 10_000)
        n //= 10_000
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        if parts and g < 1000:
            parts.append("零")
        parts.append(_four_digits(g) + BIG_UNITS[i])
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text


def _read_run(run: str, after: str) -> str:
    if (
        run.startswith("0")
        and len(run) > 1
        or len(run) > CARDINAL_MAX_DIGITS
        or after.startswith("年")
        or (len(run) >= DIGIT_BY_DIGIT_MIN and not (after and after[0] in COUNT_UNITS))
    ):
        return digit_by_digit(run)
    return cardinal(int(run))


def spell_numbers(text: str) -> str:
    """Every Arabic number in `text` written as spoken Chinese numerals."""

    def replace(m: re.Match) -> str:
        whole, frac, percent = m.group(1), m.group(2), m.group(3)
        spoken = _read_run(whole, text[m.end() :])
        if frac:
            spoken += "点" + digit_by_digit(frac)
        return "百分之" + spoken if percent else spoken

    return _NUMBER_RE.sub(replace, text)


def unify_numeral_variants(text: str) -> str:
    return text.translate(_VARIANTS)


def normalize_numbers(text: str) -> str:
    """Both steps: Arabic digits spelled out, then 幺/两/〇 mapped to 一/二/零."""
    return unify_numeral_variants(spell_numbers(text))
