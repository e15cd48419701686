"""Arabic numbers spelled the way they are read, for CER (speechchurn.dev.numerals)."""

from __future__ import annotations

import pytest

from speechchurn.dev.numerals import cardinal, normalize_numbers


@pytest.mark.parametrize(
    ("n", "spoken"),
    [
        (0, "零"),
        (7, "七"),
        (10, "十"),
        (15, "十五"),
        (105, "一百零五"),
        (1005, "一千零五"),
        (7840, "七千八百四十"),
        (14400, "一万四千四百"),
        (100200, "十万零二百"),
        (3509, "三千五百零九"),
    ],
)
def test_cardinal(n, spoken):
    assert cardinal(n) == spoken


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("四G", "四G"),
        ("4G", "四G"),
        ("20块钱", "二十块钱"),
        ("2019年", "二零一九年"),
        ("13812345601", "一三八一二三四五六零一"),
        ("0571", "零五七一"),
        ("幺零九零", "一零九零"),
        ("两个人", "二个人"),
        ("三四百", "三四百"),
    ],
)
def test_normalize_numbers(text, expected):
    assert normalize_numbers(text) == expected
