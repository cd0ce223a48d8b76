"""Road, lane, house-number and compound surfaces in call text (no gazetteer needed).

normalise_house_number("一千零五十弄，七号五零二室") -> "1050弄7号502室"; the number said right after a
road or compound; the number given in reply to 多少号; names ending 路/大道 or 小区/苑/新村 found by
their suffix (roads and compounds the gazetteer does not know).
"""
from __future__ import annotations

import re

_NUM_CHARS = "0-9零〇一二两三四五六七八九十百千幺"
_NUM_UNIT_RE = re.compile(rf"([{_NUM_CHARS}]+)(支弄|弄|号楼|号|栋|幢|室)")
_NUMBER_QUESTION_RE = re.compile(r"多少号|几号|门牌号|几弄|哪一?栋|哪一?幢")
_CROSSING_TAIL_RE = re.compile(r"口|[^。？！\n]{0,6}?(?:路口|口子)")
_ROAD_SUFFIX_RE = re.compile(r"(?:[东西南北中]路|大道|公路|路)")
_COMPOUND_SUFFIX_RE = re.compile(r"(?:新村|小区|花园|雅苑|家园|公寓|苑)")
_LANDMARK_SUFFIX_RE = re.compile(
    r"地铁站|火车站|公交站|汽车站|大厦|广场|卫生服务中心|医院|小学|中学|大学|幼儿园|学校|公园|商场|超市|"
    r"菜市场|菜场|古镇|体育馆|游泳馆|图书馆|派出所|加油站|人行天桥|天桥|助餐点")
_STOP_PREFIX = set("在的到是那这个条上了住近靠我们你他她它就也还都跟与及从往向去来说叫有个边旁里吗呢啊吧一")
_LANDMARK_STOP = _STOP_PREFIX | set("映要想问找坐座家过了把被让给不对面用")
_NOT_ROAD_WORDS = {"马路", "走路", "道路", "公路", "小路", "大路", "一路", "线路", "绕路", "带路", "出路",
                   "思路", "铁路", "水路", "半路", "过路", "问路", "让路", "开路", "上路", "赶路", "迷路",
                   "近路", "远路", "电路", "回路", "套路", "弯路", "后路", "网路", "进路", "退路", "环路"}
_NOT_COMPOUND_PREFIX = ("我们", "你们", "他们", "这个", "那个", "隔壁", "边上", "旁边", "对面", "附近",
                        "整个", "一个", "老", "新", "别的", "其他", "周边", "本", "请问", "哪个", "什么",
                        "这些", "那些", "所有", "住的", "咱们")



def name_before(text: str, end: int, max_len: int, blocked: set[int],
                 stop: set[str] | None = None) -> int:
    """Start of the name that ends at `end`: walk back over name characters (not function
    words, not inside another mention)."""
    stop = _STOP_PREFIX if stop is None else stop
    k = end
    while k > 0 and end - k < max_len:
        c = text[k - 1]
        if not ("\u4e00" <= c <= "\u9fff" or c.isdigit()) or c in stop or (k - 1) in blocked:
            break
        k -= 1
    return k


def cn_number(s: str) -> int | None:
    """五百八十八 -> 588, 一千零五十 -> 1050, 五零二 -> 502, 幺三九 -> 139, 588 -> 588."""
    s = s.replace("幺", "一").replace("两", "二").replace("〇", "零")
    if s.isdigit():
        return int(s)
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")}
    if not any(c in "十百千" for c in s):
        if all(c in digits or c.isdigit() for c in s):
            return int("".join(str(digits.get(c, c)) for c in s))
        return None
    total, cur = 0, 0
    units = {"十": 10, "百": 100, "千": 1000}
    for c in s:
        if c in digits:
            cur = digits[c]
        elif c.isdigit():
            cur = int(c)
        elif c in units:
            total += (cur or 1) * units[c]
            cur = 0
        else:
            return None
    return total + cur


def unit_kinds(number: str) -> set[str]:
    return set(re.findall(r"支弄|弄|号楼|号|栋|幢|室", number))


def normalise_house_number(text: str) -> str:
    """'1050弄，7号五零二室' -> '1050弄7号502室'; unparsable parts are dropped."""
    out = []
    for num, unit in _NUM_UNIT_RE.findall(text):
        n = cn_number(num)
        if n is not None:
            out.append(f"{n}{unit}")
    return "".join(out)


# ----------------------------------------------------------------------------- extractor
