"""Phone numbers: one canonical form per customer, and which ones may become a customer key.

:func:`normalize_phone` folds the ways one number is written (``+86``, ``0086``, separators,
full-width digits, Excel's ``.0``); :func:`normalize_phones` does it for a whole column;
:func:`caller_key` accepts only plausible callers (``PLAUSIBLE_CALLERS``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

UNKNOWN_CALLER = "unknown"

_PHONE_STRIP = re.compile(r"[\s\-()（）.·/_]+")
MOBILE_DIGITS = 11  # Chinese mobile numbers: 1xx xxxx xxxx
CN_COUNTRY_CODE = "86"

# What a normalised caller must look like to become a customer key (anything else is `unknown`).
PLAUSIBLE_CALLERS = {
    "mobile": r"1[3-9]\d{9}",  # mainland mobile, 11 digits
    "landline": r"0(?:10|2\d)\d{8}|0[3-9]\d{2}\d{7,8}",  # area code (010, 02x, 0xxx) + local number
    "local landline": r"[2-8]\d{6,7}",  # caller ID of a local call, no area code
    "service": r"1[0-2]\d{3}|9[56]\d{3,6}|[48]00\d{7}",  # 10086, 12315, 95588, 400/800 numbers
    "international": r"\+[1-9]\d{6,14}",  # E.164 outside mainland China
}
_PLAUSIBLE_CALLER = re.compile("|".join(f"(?:{p})" for p in PLAUSIBLE_CALLERS.values()))


def normalize_phone(raw: object) -> str:
    """Canonical form of a phone number so that one customer aggregates as one.

    Full-width characters are folded, spaces/dashes/dots/parentheses removed, and the Chinese country
    code (``+86``, ``0086``, or a bare ``86`` in front of an 11-digit mobile) is dropped. A landline
    written with country code regains its trunk ``0`` (``+86 10 1234 5678`` -> ``01012345678``);
    landlines with area code keep it (``010-12345678`` -> ``01012345678``). Other international
    numbers keep a leading ``+``. Blank input gives ``unknown``; text that is not a number
    (``anonymous``) is returned lower-cased and stripped.
    """
    if raw is None:
        return UNKNOWN_CALLER
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # a number that went through Excel as a float
        text = text[:-2]
    compact = _PHONE_STRIP.sub("", text)
    if not compact:
        return UNKNOWN_CALLER
    plus = compact.startswith("+")
    digits = compact.lstrip("+")
    if not digits.isdigit():
        return compact.lower()
    if plus or digits.startswith("00"):
        return _strip_country_code(digits.removeprefix("00"))
    if len(digits) == MOBILE_DIGITS + len(CN_COUNTRY_CODE) and digits.startswith(CN_COUNTRY_CODE + "1"):
        return digits[len(CN_COUNTRY_CODE) :]
    return digits


# Digits only, no international prefix and no +86 mobile: normalize_phone returns these unchanged.
_CANONICAL_DIGITS = r"(?!00)(?!861[0-9]{10}$)[0-9]+"


def normalize_phones(values) -> np.ndarray:
    """normalize_phone over a column (object array): once per distinct value, already-canonical
    digit strings skipped in bulk; blank or missing cells give ``""`` (not ``unknown``)."""
    codes, numbers = phone_codes(values)
    return numbers[codes]


def phone_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """(codes, numbers): the normalised numbers of a column as integer codes into distinct
    ``numbers`` (object array; ``""`` for blank or missing cells), so ``numbers[codes]`` is
    :func:`normalize_phones`. Each distinct cell is normalised once."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    distinct = pd.Series([str(v) for v in uniques.tolist()] + [""], dtype=object)  # last: missing
    canonical = distinct.str.fullmatch(_CANONICAL_DIGITS).to_numpy(dtype=bool)
    normal = distinct.to_numpy(dtype=object, copy=True)
    for i in np.flatnonzero(~canonical):
        normal[i] = normalize_phone(normal[i]) if normal[i].strip() else ""
    merged, numbers = pd.factorize(normal)  # two spellings of one number become one code
    return merged[codes], np.asarray(numbers, dtype=object)


def caller_key(raw: object) -> str | None:
    """The normalised phone number when it is a plausible one, else None (never a customer key).

    Accepted: mainland mobiles, landlines (with or without area code), service numbers (10086,
    95xxx, 400/800) and international numbers, written with ``+86``/``0086``/separators or not.
    """
    number = normalize_phone(raw)
    return number if _PLAUSIBLE_CALLER.fullmatch(number) else None


def _strip_country_code(international: str) -> str:
    """``international`` is country code + national number, without ``+``/``00``."""
    international = international.lstrip("0")  # no country code starts with 0: '+0049' is '+49'
    if not international:
        return UNKNOWN_CALLER
    if not international.startswith(CN_COUNTRY_CODE):
        return "+" + international
    national = international[len(CN_COUNTRY_CODE) :]
    if len(national) == MOBILE_DIGITS and national.startswith("1"):
        return national
    if national and not national.startswith("0"):
        return "0" + national  # landline: area code without trunk prefix after +86
    return national
