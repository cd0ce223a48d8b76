"""Surname-answer second pass (stt/names.py): the trigger and the choice, and the real model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stt.audio import load_audio
from stt.names import name_pass, needs_name_pass

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"


@pytest.mark.parametrize("text, needed", [
    ("我先扬。", True),                  # 我姓杨 with 姓 heard as 先
    ("新戴、戴新生。", True),             # 姓戴，戴先生
    ("免贵姓长", True),                   # 免贵姓 is an answer, not the question
    ("姓言，变先生，电话15026391847。", True),
    ("请问您贵姓", False),                # the operator asking
    ("好的，谢谢", False),
    ("我去医院看了一下", False),
])
def test_needs_name_pass(text, needed):
    assert needs_name_pass(text, 2.0) is needed


def test_long_utterances_are_not_answers():
    assert not needs_name_pass("我姓杨", 12.0)


def _fake(out: str):
    return lambda audios: [out]


def test_name_pass_keeps_a_stated_surname_and_rejects_the_rest():
    audio = np.zeros(16000, np.float32)
    assert name_pass(audio, "我先扬。", _fake("我姓杨。")).text == "我姓杨。"
    assert name_pass(audio, "我先扬。", _fake("我先扬。")).text == "我先扬。"           # no 姓X: keep
    # a number the first pass had must survive
    assert name_pass(audio, "新华，电话13764208815", _fake("姓华。")).text == "新华，电话13764208815"
    assert name_pass(audio, "新皇，电话13764208815", _fake("姓黄，电话13764208815")).text == "姓黄，电话13764208815"
    # the prompt echoed back is not an answer
    assert name_pass(audio, "新新", _fake("我姓王。")).text == "新新"
    # a surname nothing in the first pass sounds like comes from the prompt, not the caller
    assert name_pass(audio, "新疆", _fake("姓郑。")).text == "新疆"
    assert name_pass(audio, "经济困难是怎么算等？", _fake("姓郑魁男士怎么算等？")).text == "经济困难是怎么算等？"
    assert name_pass(audio, "我希望电话13917654321", _fake("我姓王，电话13917654321")).text.startswith("我姓王")
    assert name_pass(audio, "新带，带新生", _fake("姓戴，戴先生")).text == "姓戴，戴先生"


@pytest.mark.slow
def test_real_answer_keeps_the_surname(decoder):
    """dev-008's answer turn (我姓王，电话幺三九…) decodes with the caller's surname stated."""
    label = next(json.loads(l) for l in (CALLS / "labels.jsonl").read_text(encoding="utf-8").splitlines()
                 if l.strip() and json.loads(l)["id"] == "dev-008")
    i = next(k for k, t in enumerate(label["turns"]) if "贵姓" in t["text"])
    turn = label["turns"][i + 1]
    for name in ("dev-008.wav", "dev-008.8k.wav"):
        x = load_audio(CALLS / name).samples[0]
        piece = x[int((turn["start"] - 0.2) * 16000): int((turn["end"] + 0.3) * 16000)]
        text = decoder.decoder.decode([piece])[0].text
        assert "姓王" in text, (name, text)
