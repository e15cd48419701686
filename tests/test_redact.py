"""PII redaction: phone numbers, resident IDs, bank cards and e-mails in every ASR spelling."""

from __future__ import annotations

import pytest

from speechchurn.text.redact import RedactOptions, hash_caller, luhn_valid, redact, resident_id_valid

PHONE, ID, CARD, EMAIL = "[电话]", "[身份证号]", "[银行卡号]", "[邮箱]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # mobiles, any spelling
        ("我的手机是13800000001谢谢", f"我的手机是{PHONE}谢谢"),
        ("号码 138 0000 0001", f"号码 {PHONE}"),
        ("138-0000-0001", PHONE),
        ("+86 138 0000 0001", PHONE),
        ("电话是+8613800000001。", f"电话是{PHONE}。"),
        ("１３８００００００01", PHONE),  # full width
        ("一三八零零零零零零零一", PHONE),  # Chinese numerals
        ("幺三八，零零零零，零零零一", PHONE),  # 幺 for 1, pauses as commas
        ("幺三九两两两两三三三三", PHONE),  # 两 for 2
        ("1三8 零零零零 0001", PHONE),  # mixed digits and numerals
        ("1 3 8 0 0 0 0 0 0 0 1", PHONE),  # digits split by spaces
        ("一 三 八 零 零 零 零 零 零 零 一", PHONE),
        ("两个号码13800000001和13900000002", f"两个号码{PHONE}和{PHONE}"),
        ("13800000001 13900000002", f"{PHONE} {PHONE}"),
        # landlines
        ("电话010-12345678", f"电话{PHONE}"),
        ("0755 8765 4321", PHONE),
        ("零七五五八七六五四三二一", PHONE),
        ("（0755）87654321", f"（{PHONE}"),
        ("座机 8765 4321", f"座机 {PHONE}"),
        # resident IDs (checksum, X in any case or as 叉)
        ("身份证11010519491231002X", f"身份证{ID}"),
        ("身份证号 110105 19491231 002x", f"身份证号 {ID}"),
        ("幺幺零幺零五幺九四九幺两三幺零零两叉", ID),
        ("440304199001011233", ID),
        # bank cards (Luhn)
        ("卡号6217000010012345677", f"卡号{CARD}"),
        ("卡号 6217 0000 1001 2345 677", f"卡号 {CARD}"),
        ("4111 1111 1111 1111", CARD),
        ("六二二二零二零二零零幺幺两两三三四四六", CARD),
        # e-mail
        ("邮箱 zhang.san@qq.com 联系", f"邮箱 {EMAIL} 联系"),
        ("发到 li_si+bill@example.com.cn", f"发到 {EMAIL}"),
        # left alone
        ("订单号1234567890123456", "订单号1234567890123456"),  # 16 digits, not Luhn-valid
        ("身份证110105194912310021", "身份证110105194912310021"),  # bad check digit
        ("我交了200块", "我交了200块"),
        ("两三个人", "两三个人"),
        ("一百二十块", "一百二十块"),
        ("10086", "10086"),
        ("时间2026年11月18日", "时间2026年11月18日"),
        ("套餐一共三十八元", "套餐一共三十八元"),
        ("", ""),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (RedactOptions(), f"{PHONE} {ID} {EMAIL}"),
        (RedactOptions(phones=False), f"13800000001 {ID} {EMAIL}"),
        (RedactOptions(resident_ids=False, emails=False), f"{PHONE} 11010519491231002X a@b.cn"),
        (RedactOptions(phone_mask="***"), f"*** {ID} {EMAIL}"),
    ],
)
def test_options_choose_what_is_masked(options, expected):
    assert redact("13800000001 11010519491231002X a@b.cn", options) == expected


def test_options_are_frozen():
    with pytest.raises(AttributeError):
        RedactOptions().phones = False  # type: ignore[misc]


@pytest.mark.parametrize(("number", "valid"), [("4111111111111111", True), ("4111111111111112", False)])
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(("number", "valid"), [("11010519491231002X", True), ("110105194912310021", False)])
def test_resident_id_checksum(number, valid):
    assert resident_id_valid(number) is valid


def test_hash_caller_is_keyed_stable_and_short():
    first = hash_caller("13800000001", "salt-a")
    assert first == hash_caller("13800000001", "salt-a")
    assert first != hash_caller("13800000001", "salt-b")
    assert first != hash_caller("13800000002", "salt-a")
    assert len(first) == 16 and "13800000001" not in first
