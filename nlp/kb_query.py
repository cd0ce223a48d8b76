"""The caller's question in a call transcript: the lines a KB search ranks by.

Transcripts are mono (no speaker labels): a line is the caller's when it asks or speaks in the
first person and does not look like the operator (the greeting, 好的/请问/您… openings, any line
addressing 您). The caller's lines decide: a suggestion must come from what the caller asked,
before the operator answers. The other lines (the operator's answer is often the article read
aloud) only add a little weight at the end of the call (see :meth:`nlp.kb.KnowledgeBase.search_call`).
"""
from __future__ import annotations

import re

_GREETING = re.compile(r"12345|很高兴为您服务|请讲|有什么可以帮|市民服务热线")
_OPERATOR = re.compile(r"^\s*(?:好的|好，|明白|我跟您确认|我们会|我帮您|那您|是什么情况|具体|不客气|不用谢|"
                       r"跟您|帮您|给您|您)")
_OPERATOR_ANY = re.compile(r"^[\u4e00-\u9fff]{1,2}(?:先生|女士|阿姨|师傅|老师)[，,。]|我们会|会尽快|转交|帮您")
# a caller's polite 您 (跟您讲, 麻烦您): any other 您 is the operator addressing the caller
_CALLER_NIN = re.compile(r"[跟和给]您[讲说反映]|麻烦您|谢谢您|拜托您|您好")
_CALLER = re.compile(r"我|咨询|想问|问一下|问问|怎么|如何|能不能|可不可以|要不要|吗|？|\?|哪里|哪儿|多少|什么|"
                     r"有没有|是不是|几[点天年个岁]")
_HELLO = re.compile(r"^\s*(?:[喂为位][，,、\s]*)?(?:[你您]好[啊呀]?[，,。！!\s]*)+")
MAX_LINES = 6


def split_call(text: str) -> tuple[list[str], list[str]]:
    """(the caller's asking lines, the other lines but the greeting) of ``text`` (one turn or
    segment a line); at most MAX_LINES caller lines, the rest go with the others."""
    caller, other = [], []
    for ln in (x.strip() for x in (text or "").split("\n")):
        if not ln or _GREETING.search(ln):
            continue
        body = _HELLO.sub("", ln)
        if not body:
            continue
        if (len(caller) < MAX_LINES and _CALLER.search(body) and "您" not in _CALLER_NIN.sub("", body)
                and not _OPERATOR.match(body) and not _OPERATOR_ANY.search(body)):
            caller.append(body)
        else:
            other.append(body)
    return caller, other


def caller_lines(text: str) -> list[str]:
    """The lines of ``text`` that the caller asks in."""
    return split_call(text)[0]


def caller_question(text: str) -> str:
    """What to search the KB with for a whole call: the caller's lines, else the text itself."""
    caller, other = split_call(text)
    return "\n".join(caller or other) or (text or "")
