"""Road, lane, house-number and compound surfaces in call text (no gazetteer needed).

normalise_house_number("一千零五十弄，七号五零二室") -> "1050弄7号502室"; the number said right after a
road or compound; the number given in reply to 多少号; names ending 路/大道 or 小区/苑/新村 found by
their suffix (roads and compounds the gazetteer does not know).
"""
from __future__ import annotations

import re

_NUM_CHARS = "0-9零〇一二两三四五六七八九十百千幺"
_NUM_UNIT_RE = re.compile(rf"([{_NUM_CHARS}]+)(支弄|弄|号楼|号|栋|幢|室)")
# the operator asking for the number: 多少号, 门牌号, 几号楼, or a numberless 号楼/弄 question (X号楼呢？)
_NUMBER_QUESTION_RE = re.compile(r"多少号|几号|门牌号|几弄|多少弄|哪一?栋|哪一?幢|号楼[呢吗]?[？?]|号楼呢")
# the junction of two roads: X路Y路口, X路和Y路交叉口, X路Y路附近 (near where they meet)
_CROSSING_TAIL_RE = re.compile(r"口|[^。？！\n]{0,6}?(?:路口|口子|交叉口|交界|附近|一带)")
_ROAD_SUFFIX_RE = re.compile(r"(?:[东西南北中]路|大道|公路|路)")
_COMPOUND_SUFFIX_RE = re.compile(r"(?:新村|小区|花园|雅苑|家园|公寓|华庭|名邸|公馆|别墅|新城|[一二三四五六七八九十]村|[湾花]城|苑)")
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


# ----------------------------------------------------------------------------- numbers as heard

# Whisper writes an address unit by its sound: 弄 (nong, long in Shanghai) as 龙/农/梦/孟 or Meng,
# 号 as 好/浩, 室 as 是/市. After a road (or a lane) a number followed by one of these is the
# unit; 路 right after a road's number is its lane (roads are not numbered within a road).
_LANE_ALIKE = "弄农浓龙隆笼梦孟蒙"
_NO_ALIKE = "好浩豪毫耗"
_ROOM_ALIKE = "是市事式"
_HEARD_UNIT_RE = re.compile(
    rf"([{_NUM_CHARS}]+)\s?(支弄|号楼|好楼|弄|号|栋|幢|单元|室|组|(?i:meng|nong|long)(?![a-z])|[{_LANE_ALIKE}{_NO_ALIKE}{_ROOM_ALIKE}路])")
_BARE_ROOM_RE = re.compile(rf"([{_NUM_CHARS}]{{3,4}})(?=[，。,.、！？!?\s]|$)")
# hesitations and fillers between a road and its number, or between the parts of a number
_FILLER = r"(?:嗯+|呃+|啊|那个|就是|好像是|大概是?|应该是|是|上面?的?|的)"
_SEP_RE = re.compile(r"[，,、 …]{0,3}(?:嗯+|呃+|那个)?[，,、 …]{0,3}")
_LEAD_RE = re.compile(rf"(?:[，,、 …]{{0,3}}{_FILLER})?(?:[，,、 …]{{0,3}}{_FILLER})?[，,、 …]{{0,3}}")


def _canonical_unit(unit: str, value: int, previous: list[str], first: bool) -> str | None:
    if unit in ("支弄", "号楼", "弄", "号", "栋", "幢", "室"):
        return unit
    if unit == "组":                      # 新桥村5组12号: the villagers' group, before the house number
        return unit if not previous and value < 50 else None
    if unit == "单元":                    # 3栋2单元501室: after a building number
        return unit if previous and previous[-1] in ("号", "号楼", "栋", "幢") and value < 100 else None
    if unit == "好楼":
        return "号楼"
    if unit in _NO_ALIKE:
        return "号"
    if unit.lower() in ("meng", "nong", "long") or unit in _LANE_ALIKE:
        return "弄" if value >= 10 and "弄" not in previous else None
    if unit == "路":                       # 375路 said after 临汾路: the lane
        return "弄" if first and value >= 10 else None
    if unit in _ROOM_ALIKE:               # 7号502是 -> 502室
        return "室" if value >= 100 and previous and previous[-1] in ("号", "号楼") else None
    return None


def numbers_as_heard(text: str, start: int, limit: int = 30) -> tuple[str, int] | None:
    """The house number said at text[start:] (after a road, lane or compound): '588号',
    '1050弄7号502室', with the units Whisper writes by sound read as units; (number, end) or None."""
    lead = _LEAD_RE.match(text, start)
    pos = lead.end() if lead else start
    out: list[str] = []
    units: list[str] = []
    end = None
    stop = min(len(text), start + limit)
    while pos < stop:
        m = _HEARD_UNIT_RE.match(text, pos, stop)
        if not m:
            break
        n = cn_number(m.group(1))
        # 路 as the lane only right after the road (临汾路375路), not after a pause (八一路，八一路…)
        first = not out and (pos == start or (n or 0) >= 100)
        unit = _canonical_unit(m.group(2), n or 0, units, first) if n is not None else None
        if unit is not None and f"{n}{unit}" in out:
            # the caller says the part again before going on (八百弄，八百弄三十二号)
            end = m.end()
            pos = _SEP_RE.match(text, end).end()
            continue
        if unit is None or unit in units:
            break
        out.append(f"{n}{unit}")
        units.append(unit)
        end = m.end()
        pos = _SEP_RE.match(text, end).end()
    # 3号楼201 / 450弄10号，302: the room, 室 unsaid (after a lane's house, not a road's number)
    if out and "室" not in units and (units[-1] in ("号楼", "栋", "幢", "单元")
                                      or (units[-1] == "号" and "弄" in units)):
        room = _BARE_ROOM_RE.match(text, pos, stop)        # 3号楼201: the room, 室 unsaid
        n = cn_number(room.group(1)) if room else None
        if n is not None and n >= 100:
            out.append(f"{n}室")
            end = room.end()
    return ("".join(out), end) if out else None


# ----------------------------------------------------------------------------- roads and compounds as heard

_NAME_PREFIX_WORDS = ("门口", "楼下", "旁边", "对面", "边上", "附近", "就是", "还是", "也是", "那个", "这个",
                      "我家", "家里", "我们", "他们", "路过", "经过", "隔壁", "前面", "后面", "里面", "外面")
_NOT_ROAD_STEMS = ("十字", "丁字", "三岔", "岔", "马", "大马", "柏油", "水泥", "小马", "条")
_NUMERAL_STEM = re.compile(rf"^[{_NUM_CHARS}号线]+$")
ROAD_AFTER_RE = re.compile(r"上|这边|那边|这里|那里|附近|一带|旁边|边上|门口|口|路口|交叉口|交界|[，,、 ]?靠近|[，,、 ]?近")
_ROAD_CUE_BEFORE = ("在", "到", "住", "近", "靠近", "是", "就是", "走", "往", "从")


def _trim_stem(word: str, suffix_len: int) -> str:
    cut = word.rfind("区", 0, len(word) - suffix_len)      # 黄浦区打浦路: the district is no part of it
    if cut >= 0:
        word = word[cut + 1:]
    for w in _NAME_PREFIX_WORDS:
        if word.startswith(w) and len(word) - len(w) - suffix_len >= 2:
            return word[len(w):]
    return word


# 路 as Whisper writes it by sound (lu, luo): such a name counts only when a known road fits it
ROAD_SUFFIX_ALIKE = "陆录鹿露炉卢芦庐萝罗落洛"
_ROAD_HEARD_RE = re.compile(rf"(?:[东西南北中]路|大道|公路|路|大街|街(?!道)|[{ROAD_SUFFIX_ALIKE}])")
_NOT_STREET_STEMS = ("商业", "步行", "美食", "小吃", "老", "一条", "整条", "逛", "上", "满", "沿", "这条", "那条")


_PREV_ROAD_RE = re.compile(r".*(?:路|大道|街(?!道))[和与跟及、]?")


def roads_as_heard(text: str, blocked: set[int], attach: dict[int, int] | None = None) -> list[tuple[int, int, str]]:
    """Names shaped like a road (X路, X大道, X公路, X中路; X陆/X萝: 路 misheard) outside known
    mentions, said as a place: a house number or 上/这边/路口 after them, or a cue (在/到/住/靠近)
    before them. (start, end, word) each; bus lines (76路), everyday words (马路, 线路) are not
    roads. A word ending in a sound-alike of 路 is for matching by sound only. attach: {end: start}
    of known short names a road may be named after (九亭 -> 九亭大街)."""
    out = []
    blocked = set(blocked)
    for mt in _ROAD_HEARD_RE.finditer(text):
        e = mt.end()
        if mt.start() in blocked or (e < len(text) and text[e] in "面军程线费灯况过径由数子段人边"):
            continue
        s_ = name_before(text, mt.start(), 4, blocked)
        if s_ == mt.start() and attach and mt.start() in attach:
            s_ = attach[mt.start()]
        if mt.start() - s_ == 1 and s_ > 0 and text[s_ - 1] == "上":
            s_ -= 1                           # 上X路 (上川路, 上南路): 上 starts many roads' names
        word = _trim_stem(text[s_:e], e - mt.start())
        # X路和Y路路口: Y's name starts after the road before it (and its 和/与/跟)
        prev = _PREV_ROAD_RE.search(word[:-(e - mt.start())])
        if prev:
            word = word[prev.end():]
        elif word[:1] in ("和", "与", "跟", "及", "、") and text[e - len(word) - 1:e - len(word)] in ("路", "道", "街"):
            word = word[1:]
        s_ = e - len(word)
        stem = word[:-(e - mt.start())]
        # 马路/线路/公路 are everyday words, but X公路 (朱行公路) is a road: only a bare 路 suffix
        everyday = word in _NOT_ROAD_WORDS or (e - mt.start() == 1 and word[-2:] in _NOT_ROAD_WORDS)
        if len(stem) < 2 or everyday \
                or stem.endswith(_NOT_ROAD_STEMS) or _NUMERAL_STEM.match(stem) or any(c.isdigit() for c in stem):
            continue
        before = text[max(0, s_ - 2):s_]
        numbered = numbers_as_heard(text, e) is not None
        if word.endswith("街") and (stem.endswith(_NOT_STREET_STEMS) or not numbered):
            continue                          # X街 is a road only with its house number (北大街216号)
        said = bool(ROAD_AFTER_RE.match(text, e)) or any(before.endswith(c) for c in _ROAD_CUE_BEFORE) \
            or (s_ - 1) in blocked or (s_ >= 2 and (s_ - 2) in blocked and text[s_ - 1] in "，,、 ")
        if numbered or said:
            out.append((s_, e, word))
            blocked.update(range(s_, e))        # 青枫塘路樱桃湾路口: the next name starts after it
    return out


# ASR writes 苑 (yuan) as 院/园/元: a compound said by sound is matched against known compounds
COMPOUND_HEARD_RE = re.compile(r"(?:新村|小区|花园|花苑|雅苑|家园|公寓|华庭|名邸|公馆|别墅|新城|[一二三四五六七八九十]村|"
                               r"[湾花]城|苑|雅院|亚院|雅园|院|园)")
_NOT_COMPOUND_STEM = ("医", "法", "学", "剧", "影", "戏", "研究", "科学", "书", "庭", "寺", "公", "动物", "植物",
                      "游乐", "幼儿", "校", "家", "果", "菜", "花", "庄")


_HOUSE_NUMBER_IN_NAME = re.compile(rf"[{_NUM_CHARS}]+(?:支弄|弄|号楼|号|栋|幢|室)")


def compounds_as_heard(text: str, blocked: set[int],
                       named_after: dict[int, int] | None = None) -> list[tuple[int, int, str]]:
    """Names shaped like a compound as heard (X苑, X雅院, X新村), for matching by sound.
    A compound's name never holds the lane said before it (600弄天山新村 is 天山新村);
    named_after {end: start}: a place mention right before the suffix is the compound's
    own name (华新家园 after the town 华新, 上大雅苑 after 上大路)."""
    out = []
    for mt in COMPOUND_HEARD_RE.finditer(text):
        if mt.start() in blocked:
            continue
        bl = blocked
        if named_after and mt.start() in named_after:
            bl = blocked - set(range(named_after[mt.start()], mt.start()))
        s_ = name_before(text, mt.start(), 4, bl)
        # a compound named after the road it is on, whose name starts with a stop character
        # (上大路上大雅苑: 上 is no "on the road" there, the name is the road's own)
        if s_ > 0 and text[s_ - 1] in _STOP_PREFIX:
            own = text[s_ - 1:mt.start()]
            if len(own) >= 2 and text[:s_ - 1].endswith(tuple(own + suf for suf in ("路", "街", "大道", "公路"))):
                s_ -= 1
        num = None
        for num in _HOUSE_NUMBER_IN_NAME.finditer(text, max(0, s_ - 8), mt.start()):
            pass
        if num is not None and num.end() > s_:
            s_ = num.end()
        inner = max(text.rfind("路", s_, mt.start() - 2), text.rfind("街", s_, mt.start() - 2))
        if inner >= 0:                  # 华志路华新家园: the road said before is no part of the name
            s_ = inner + 1
        word = text[s_:mt.end()]
        stem = text[s_:mt.start()]
        if len(word) < 3 or len(stem) < 2 or word.startswith(_NOT_COMPOUND_PREFIX) or stem.endswith(_NOT_COMPOUND_STEM):
            continue
        out.append((s_, mt.end(), word))
    return out
