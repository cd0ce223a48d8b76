"""place_key: one normalised string per place, so repeated reports of one spot group together.

Most specific first: crossing (two roads, order-free) > road + number (号/弄) > compound
(小区/新村/...) > road > street. The district is prefixed when known so that same-named roads
in two districts stay apart. Examples:
    曹杨路兰溪路口 / 兰溪路与曹杨路交叉口  -> 普陀区|路口:兰溪路+曹杨路
    营口路５８８号旁                      -> 杨浦区|营口路588号
    控江路1500弄3号                       -> 杨浦区|控江路1500弄
"""
from __future__ import annotations

import re
import unicodedata

ROAD = r"[\u4e00-\u9fa5]{1,8}?(?:大道|公路|路|街|巷)"
_CROSSING = re.compile(rf"({ROAD})(?:与|和|、|/|跟)?({ROAD})(?:交叉口|交叉路口|路口|口)")
_NUMBER = re.compile(rf"({ROAD})(\d+)(弄|号)")
_COMPOUND = re.compile(r"([\u4e00-\u9fa5A-Za-z0-9]{2,10}?(?:小区|新村|花园|公寓|家园|华庭|名邸|公馆|别墅|[湾花新]城|苑|大厦|广场|村))")
_ROAD_ONLY = re.compile(rf"({ROAD})(?!道)")  # not the 街 of a 街道
_CN_DIGITS = {"零": "0", "〇": "0", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4",
              "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
_NOISE = re.compile(r"[\s，,。.、；;：:（）()\"'“”]")
_CITY = re.compile(r"^上海市?")
_DISTRICT = re.compile(r"^[\u4e00-\u9fa5]{1,4}?(?:新区|区)")
# words that end a compound name match too eagerly when they are really a road or a district
_COMPOUND_STOP = ("区", "路", "街", "号", "弄", "镇", "道")


def _digits(text: str) -> str:
    """Full-width to ASCII, and spelled digit runs before 号/弄 (五八八号) to numbers."""
    text = unicodedata.normalize("NFKC", text)

    def spell(match: re.Match[str]) -> str:
        return "".join(_CN_DIGITS[c] for c in match.group(1)) + match.group(2)

    return re.sub(r"([零〇一二两三四五六七八九]{2,})(号|弄)", spell, text)


def normalise(text: str | None) -> str:
    if not text:
        return ""
    text = _NOISE.sub("", _digits(text))
    return _CITY.sub("", text)


def _strip_district(text: str, district: str | None) -> str:
    if district and text.startswith(district):
        return text[len(district):]
    return _DISTRICT.sub("", text) if re.match(r"^[\u4e00-\u9fa5]{1,4}?(?:新区|区)[\u4e00-\u9fa5]", text) else text


_COMPOUND_SUFFIX = re.compile(r"(?:小区|新村|花园|公寓|家园|华庭|名邸|公馆|别墅|[湾花新]城|苑|大厦|广场|村)$")


def _compound(text: str) -> str | None:
    for match in _COMPOUND.finditer(text):
        if text.startswith(("街道", "镇"), match.end()):
            continue  # 上钢新村街道 is a street, not the compound 上钢新村
        name = match.group(1)
        # keep only what follows the last road/number/street word: 控江路XX小区 -> XX小区;
        # looked for before the suffix, whose own 区 (小区) is not a stop
        stem = name[:_COMPOUND_SUFFIX.search(name).start()]
        cut = max(stem.rfind(ch) for ch in _COMPOUND_STOP)
        name = name[cut + 1:] if cut >= 0 else name
        if len(name) >= 3:
            return name
    return None


def place_key(*, district: str | None = None, street: str | None = None, road: str | None = None,
              address: str | None = None, landmark: str | None = None) -> str | None:
    if not district and address and (m := _DISTRICT.match(normalise(address))):
        district = m.group(0)
    prefix = f"{district}|" if district else ""
    texts = [_strip_district(normalise(t), district) for t in (address, landmark) if t]
    for text in texts:
        if m := _CROSSING.search(text):
            a, b = sorted({m.group(1), m.group(2)})
            if a != b:
                return f"{prefix}路口:{a}+{b}"
    for text in texts:
        if m := _NUMBER.search(text):
            return f"{prefix}{m.group(1)}{m.group(2)}{m.group(3)}"
    for text in texts:
        if name := _compound(text):
            return f"{prefix}{name}"
    road = normalise(road) or next((m.group(1) for t in texts if (m := _ROAD_ONLY.search(t))), "")
    if road:
        return f"{prefix}{road}"
    if street:
        return f"{prefix}{normalise(street)}"
    return None


def place_key_of(fields: dict) -> str | None:
    return place_key(district=fields.get("district"), street=fields.get("street"), road=fields.get("road"),
                     address=fields.get("address"), landmark=fields.get("landmark"))
