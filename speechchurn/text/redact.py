"""PII redaction for shared outputs: phone numbers, resident IDs, bank cards, e-mail addresses.

Transcripts come from ASR, so numbers arrive in every spelling: ``13800000001``,
``138 0000 0001``, ``一三八零零零零零零零一``, ``幺三八…``, ``两``, full-width digits, and mixtures of
these. A *digit run* is a stretch of digit-like characters (Arabic or Chinese numerals) that may be
split by spaces, dashes or Chinese commas; each run is read as digits and the longest stretches of
its groups that form a number of a known kind are masked:

- mobile: ``1[3-9]`` + 9 digits (optionally after ``86``/``0086``);
- landline: ``0`` + area code + local number (10-12 digits), or an 8-digit local number standing
  alone;
- resident ID: 17 digits + a check character (digit or ``X``) that passes GB 11643's checksum;
- bank card: 16-19 digits that pass the Luhn check.

The caller key column is not text and is left alone; `hash_caller` gives a keyed hash for it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

CHINESE_DIGITS = {
    "零": "0",
    "〇": "0",
    "○": "0",
    "洞": "0",
    "幺": "1",
    "一": "1",
    "壹": "1",
    "二": "2",
    "两": "2",
    "贰": "2",
    "三": "3",
    "叁": "3",
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    "六": "6",
    "陆": "6",
    "七": "7",
    "柒": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "玖": "9",
}
_DIGIT = "0-9０-９" + "".join(CHINESE_DIGITS)
_SEPARATOR = r"[ \t\u3000\-－—_.,，、()（）]"
_GROUP = rf"[{_DIGIT}]+(?:[Xx×叉](?![A-Za-z]))?"
_RUN_RE = re.compile(rf"(?:[+＋]\s?)?{_GROUP}(?:{_SEPARATOR}+{_GROUP})*")
_GROUP_RE = re.compile(_GROUP)
_CUT_RE = re.compile(rf"…{_RUN_RE.pattern}|{_RUN_RE.pattern}…")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+\s?[@＠]\s?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")

MOBILE_RE = re.compile(r"(?:0{0,2}86)?1[3-9]\d{9}")
LANDLINE_RE = re.compile(r"(?:0{0,2}86)?0\d{9,11}")
LOCAL_LANDLINE_RE = re.compile(r"[2-8]\d{7}")  # masked only when it is the whole digit run
RESIDENT_ID_RE = re.compile(r"\d{17}[\dX]")
BANK_CARD_RE = re.compile(r"\d{16,19}")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"  # GB 11643: check character for (sum of weighted digits) mod 11
CUT_NUMBER_MIN_DIGITS = 4  # a cut digit run at least this long is masked
MASK_CALLER_MIN_CHARS = 8  # shorter callers (service numbers) are masked whole
MAX_NUMBER_DIGITS = 19  # the longest personal number: a 19-digit bank card
HASH_HEX_CHARS = 16  # 64 bits of HMAC-SHA256: collision-free for any realistic customer count


@dataclass(frozen=True)
class RedactOptions:
    """What to mask and what to put in its place."""

    phones: bool = True
    resident_ids: bool = True
    bank_cards: bool = True
    emails: bool = True
    phone_mask: str = "[电话]"
    resident_id_mask: str = "[身份证号]"
    bank_card_mask: str = "[银行卡号]"
    email_mask: str = "[邮箱]"
    cut_number_mask: str = "[号码]"  # digits cut by a snippet's … (part of a number we cannot check)


DEFAULT_OPTIONS = RedactOptions()


def redact(text: str, options: RedactOptions = DEFAULT_OPTIONS) -> str:
    """`text` with every personal number and e-mail address masked."""
    if not text:
        return text
    if options.emails:
        text = EMAIL_RE.sub(options.email_mask, text)
    return _RUN_RE.sub(lambda m: _redact_run(m.group(0), options), text)


def redact_fragment(text: str, options: RedactOptions = DEFAULT_OPTIONS) -> str:
    """`redact` for snippets cut out of a longer text: digits cut by `…` are masked too."""
    text = redact(text, options)
    if not options.phones:
        return text
    return _CUT_RE.sub(lambda m: _mask_cut(m, options), text)


def _mask_cut(match: re.Match, options: RedactOptions) -> str:
    run = match.group(0).strip("…")
    if sum(len(as_digits(g)) for g in _GROUP_RE.findall(run)) < CUT_NUMBER_MIN_DIGITS:
        return match.group(0)
    return match.group(0).replace(run, options.cut_number_mask)


def mask_caller(caller: object) -> str:
    """A caller key for display with the middle hidden: 138****0001 (short numbers are masked whole)."""
    text = str(caller)
    if len(text) < MASK_CALLER_MIN_CHARS:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def as_digits(text: str) -> str:
    """Arabic digits for a group of digit-like characters (Chinese numerals, full width, X)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(CHINESE_DIGITS.get(c, "X" if c in "Xx×叉" else c) for c in text)


def _redact_run(run: str, options: RedactOptions) -> str:
    """Mask the longest stretches of consecutive groups that read as a personal number."""
    groups = list(_GROUP_RE.finditer(run))
    digits = [as_digits(g.group(0)) for g in groups]
    pieces, cursor, i = [], 0, 0
    while i < len(groups):
        found = _longest_match(digits, i, options)
        if found is None:
            i += 1
            continue
        end, mask = found
        pieces += [run[cursor : groups[i].start() if i else 0], mask]  # a leading + goes too
        cursor, i = groups[end - 1].end(), end
    return "".join(pieces) + run[cursor:]


def _longest_match(digits: list[str], start: int, options: RedactOptions) -> tuple[int, str] | None:
    """(end group index, mask) of the longest personal number starting at group `start`."""
    best, number = None, ""
    for end in range(start + 1, len(digits) + 1):
        number += digits[end - 1]
        if len(number) > MAX_NUMBER_DIGITS:
            break
        mask = _mask_for(number, options, whole_run=start == 0 and end == len(digits))
        if mask:
            best = (end, mask)
    return best


def _mask_for(number: str, options: RedactOptions, whole_run: bool = False) -> str | None:
    """The mask for a digit string that is a personal number, else None."""
    if options.resident_ids and RESIDENT_ID_RE.fullmatch(number) and resident_id_valid(number):
        return options.resident_id_mask
    if "X" in number:
        return None
    if options.bank_cards and BANK_CARD_RE.fullmatch(number) and luhn_valid(number):
        return options.bank_card_mask
    if options.phones and (MOBILE_RE.fullmatch(number) or LANDLINE_RE.fullmatch(number)):
        return options.phone_mask
    if options.phones and whole_run and LOCAL_LANDLINE_RE.fullmatch(number) and not _is_date(number):
        return options.phone_mask
    return None


def _is_date(number: str) -> bool:
    """YYYYMMDD of the 20th/21st century (2026-11-18 reads as 20261118, not a local phone number)."""
    year, month, day = int(number[:4]), int(number[4:6]), int(number[6:])
    return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


redact_text = redact  # the name speechchurn.app.privacy looks for


def luhn_valid(number: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(number)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def resident_id_valid(number: str) -> bool:
    """GB 11643-1999 check character of an 18-character resident identity number."""
    weighted = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[weighted % 11] == number[17].upper()


def hash_caller(caller: object, salt: str) -> str:
    """A keyed hash of a caller key (HMAC-SHA256, hex, truncated): joinable, not reversible."""
    digest = hmac.new(salt.encode("utf-8"), str(caller).encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:HASH_HEX_CHARS]
