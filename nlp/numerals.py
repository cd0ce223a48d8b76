"""Chinese numerals: spoken digits (幺三九 in a phone number) and house numbers said in words
(五零二室, 二十三号楼) written as digits, for phones, addresses and titles."""
from __future__ import annotations

import re

# One spoken digit each, as callers say them digit by digit (幺 and 洞 are the radio readings).
SPOKEN_DIGITS = {"零": "0", "〇": "0", "○": "0", "洞": "0", "幺": "1", "一": "1", "壹": "1", "二": "2",
                 "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
for _i in range(10):
    SPOKEN_DIGITS[str(_i)] = str(_i)
    SPOKEN_DIGITS[chr(0xFF10 + _i)] = str(_i)  # full-width

_CN_VAL = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN_HOUSE_NUM = re.compile(r"[零〇一幺二两三四五六七八九十百千]+(?=号楼|号(?!线)|弄|室|栋|幢|楼|层|单元)")


def cn_to_int(s: str) -> int | None:
    """五零二 → 502 (digit by digit), 二十三 → 23, 一千零五十 → 1050; None if not a number."""
    if not s:
        return None
    if not any(c in _CN_UNIT for c in s):
        try:
            return int("".join(str(_CN_VAL[c]) for c in s))
        except KeyError:
            return None
    total, cur = 0, 0
    for c in s:
        if c in _CN_VAL:
            cur = _CN_VAL[c]
        elif c in _CN_UNIT:
            total += (cur or 1) * _CN_UNIT[c]
            cur = 0
        else:
            return None
    return total + cur


def cn_numbers_to_digits(text: str) -> str:
    """Numbers before 号/弄/室/楼/栋… in digits: 7号五零二室 → 7号502室 (一楼 stays 1楼)."""
    def sub(m: re.Match) -> str:
        v = cn_to_int(m.group(0))
        return str(v) if v is not None else m.group(0)

    return _CN_HOUSE_NUM.sub(sub, text)
