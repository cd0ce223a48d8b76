"""Phone-number second pass (stt/digits.py): the pure parts, and the real model on fixture calls."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stt.audio import load_audio
from stt.digits import _merge, digit_runs, needs_second_pass, second_pass, stretch, valid_number

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"


def test_digit_runs_join_separators_and_chinese_digits():
    assert [r.digits for r in digit_runs("电话136-185-452。")] == ["136185452"]
    assert [r.digits for r in digit_runs("一三九一八二六七五四三")] == ["13918267543"]
    assert [r.digits for r in digit_runs("要三六零二一八七七五四", yao=True)] == ["13602187754"]
    assert valid_number("13601855472") and valid_number("64381275") and not valid_number("1360185547")


@pytest.mark.parametrize("digits, want", [
    ("13917654321", "13917654321"),
    ("8613917654321", "13917654321"),      # country code
    ("02164871234", "021-64871234"),       # area code
    ("64871234", "64871234"),
    ("12345678901", None),                 # 1[3-9] only
    ("74871234", None),                    # no Shanghai number opens with 7
    ("0216487123", None),
    ("12333", None),
])
def test_one_phone_definition_for_stt_and_nlp(digits, want):
    from nlp.phones import extract_phone
    from stt.phone_numbers import normalize_phone

    assert normalize_phone(digits) == want
    assert valid_number(digits) is (want is not None)          # the digit pass asks the same rule
    got = extract_phone(f"我的电话是{digits}。")                  # ... as the phone extractor
    assert (got.value if got else None) == want


@pytest.mark.parametrize("text, needed", [
    ("我姓马，电话136-185-452。", True),          # 9 digits: broken
    ("姓姚，电话136017-2396", True),
    ("我姓王，电话139、1765、421。", True),       # cue + short groups that make no number
    ("电话13601855472", False),                  # already valid
    ("电话135-2468-1390", False),                # valid, grouped as people say it (3-4-4)
    ("电话136-1018-545-2", True),                # 11 digits, but no one says 3-4-3-1: digits lost
    ("座机6248 1234", False),                    # a landline, 4-4
    ("座机021-6248 1234", False),                # ... with the area code, 3-4-4
    ("电话02162481234", False),
    ("您的电话是多少？", False),                  # the question alone: no digits to fix
    ("我住1050弄7号502室", False),               # house numbers
    ("您好，12345，很高兴为您服务。", False),      # the hotline's own number
    ("您可以在平台上12333上直接申请", False),      # another 12xxx service line
    ("也可以拨打12366电话咨询", False),            # ... with a phone cue
    ("电话12333", False),
])
def test_needs_second_pass(text, needed):
    assert needs_second_pass(text) is needed


def test_merge_replaces_the_broken_group_only():
    assert _merge("我姓王，电话139、1765、421。", "13917654321", 5) == "我姓王，电话13917654321。"
    assert _merge("1050弄，电话136-185-452。", "13601855472", 5) == "1050弄，电话13601855472。"


def test_second_pass_stops_when_two_tries_agree_and_keeps_text_without_a_number():
    calls = []

    def fake(xs):
        calls.append(len(xs[0]))
        return ["电话一三六零一八五五四七二。"]

    audio = np.zeros(16000, np.float32)
    res = second_pass(audio, "电话136-185-452。", fake)
    assert res.number == "13601855472" and res.text == "电话13601855472。" and len(calls) == 2
    res = second_pass(audio, "电话136-185-452。", lambda xs: ["电话一三六。"])
    assert res.number is None and res.text == "电话136-185-452。" and len(res.tries) == 4


def test_second_pass_takes_the_number_heard_most_often():
    heard = iter(["一三六零一八五五四七一", "电话一三六。", "一三六零一八五五四七二", "一三六零一八五五四七二"])
    res = second_pass(np.zeros(16000, np.float32), "电话136-185-452。", lambda xs: [next(heard)])
    assert res.number == "13601855472" and len(res.tries) == 4
    # no agreement: the first number heard
    heard = iter(["一三六零一八五五四七一", "一三六零一八五五四七二", "电话", "电话"])
    res = second_pass(np.zeros(16000, np.float32), "电话136-185-452。", lambda xs: [next(heard)])
    assert res.number == "13601855471"


def test_stretch_slows_down():
    audio = (0.1 * np.sin(np.arange(32000) / 10)).astype(np.float32)
    out = stretch(audio, 0.8)
    assert abs(len(out) - len(audio) / 0.8) < 0.05 * len(audio)


@pytest.mark.parametrize("name", ["dev-005.wav", "dev-005.8k.wav", "dev-008.wav", "dev-008.8k.wav"])
def test_phone_recovered_from_audio(decoder, labels, name):
    from nlp.phones import extract_phone
    from stt.transcribe import transcribe_audio

    call_id = name.split(".")[0]
    phone = labels[call_id]["phone"]
    st = transcribe_audio(decoder, load_audio(CALLS / name).samples, call_id=call_id)
    text = st.transcript()
    # The number is whole in the transcript (dev-008's "139、1765、421" is rebuilt by the second pass).
    assert any(r.digits == phone for r in digit_runs(text)), text
    got = extract_phone(text)
    assert got is not None and got.value == phone, text


def test_stt_imports_nothing_from_nlp():
    # data flows stt -> nlp: the phone rule the digit pass shares with nlp lives in stt
    import ast

    for name in ("digits.py", "phone_numbers.py", "echo.py"):
        tree = ast.parse((Path(__file__).resolve().parents[2] / "stt" / name).read_text("utf-8"))
        mods = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        mods += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in mods if m == "nlp" or m.startswith("nlp.")], name


def test_operator_asking_is_the_cue_when_the_callers_own_is_misheard():
    """电话 heard as 华: the digits left (三九，七六五，四三二一) have no cue of their own, but the
    operator's question just before asks for the number."""
    from stt.digits import phone_asked

    text = "我姓王，华妖三九，七六五，四三二一"
    assert not needs_second_pass(text)
    assert phone_asked("您好。\n请问您贵姓，联系电话多少？") and needs_second_pass(text, asked=True)
    assert not phone_asked("电话是13917654321。好的，我们会转交。")   # asked before, answered since
