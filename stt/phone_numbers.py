"""What counts as a caller's phone number: the one definition that the digit pass (stt/digits.py)
and the phone extractor (nlp/phones.py) both use.

A mobile is 11 digits 1[3-9]…, also said after the country code 86. A Shanghai landline is 8
digits not starting with 0, 1 or 7 (7 opens no Shanghai number; 0/1 are prefixes and service
lines), also said after the area code 021 (written 021-XXXXXXXX). Service lines (12345 itself,
every 12xxx government line such as 12333 社保, 95598 …) are numbers the caller is referred to,
never the caller's phone. No imports beyond ``re``: stt must not depend on nlp, so this lives
here and nlp imports it.
"""
from __future__ import annotations

import re

MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE_FIRST = "2345689"
AREA_CODE = "021"
_SERVICE = re.compile(r"12\d{3}")
SERVICE_NUMBERS = ("95598", "96777")     # said whole: power, gas … (12xxx lines need no list)


def normalize_phone(digits: str) -> str | None:
    """The number as a ticket records it (mobile ``13917654321``, landline ``64871234`` or
    ``021-64871234``), or None when ``digits`` is no valid phone number."""
    if MOBILE.fullmatch(digits):
        return digits
    if len(digits) == 13 and digits.startswith("86") and MOBILE.fullmatch(digits[2:]):
        return digits[2:]
    if len(digits) == 11 and digits.startswith(AREA_CODE) and digits[3] in LANDLINE_FIRST:
        return f"{AREA_CODE}-{digits[3:]}"
    if len(digits) == 8 and digits[0] in LANDLINE_FIRST:
        return digits
    return None


def valid_phone(digits: str) -> bool:
    """True when ``digits`` (digits only) is a mobile or a Shanghai landline (see module doc)."""
    return normalize_phone(digits) is not None


def service_number(digits: str, known: tuple[str, ...] = SERVICE_NUMBERS) -> bool:
    """A service line said whole (12345, 12333, 95598 …): no one's phone."""
    return digits in known or bool(_SERVICE.fullmatch(digits))
