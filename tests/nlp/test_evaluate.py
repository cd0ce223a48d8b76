"""nlp.evaluate: reading other transcripts (ASR dumps) and scoring optional fields."""
from __future__ import annotations

import json

import pytest

from nlp.evaluate import _read_transcripts, score_fields


def test_read_jsonl_and_eval_dump(tmp_path):
    jl = tmp_path / "asr.jsonl"
    jl.write_text('{"id": "a", "text": "甲"}\n\n{"id": "b", "transcript": "乙"}\n', encoding="utf-8")
    assert _read_transcripts(jl) == {"a": "甲", "b": "乙"}
    dump = tmp_path / "eval.json"
    dump.write_text(json.dumps({"summary": {}, "calls": [{"id": "a", "text_16k": "甲", "text_8k": "丙"}]},
                               ensure_ascii=False), encoding="utf-8")
    assert _read_transcripts(dump, "text_8k") == {"a": "丙"}
    with pytest.raises(ValueError, match="text_16k"):
        dump.write_text(json.dumps({"calls": [{"id": "a"}]}), encoding="utf-8")
        _read_transcripts(dump, "text_16k")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        _read_transcripts(bad)


def test_optional_field_scoring():
    # a company the caller never named: silence is not counted, an invented one is an error
    assert score_fields({"company": None}, {"company": None})["company"] is None
    assert score_fields({"company": None}, {"company": "上海飞跃体育发展有限公司"})["company"] is False
    assert score_fields({"company": "上海飞跃体育发展有限公司"}, {"company": None})["company"] is False
