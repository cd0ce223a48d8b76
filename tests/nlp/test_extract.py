"""Extractor: schema of the draft, evidence spans, incremental == whole text, and end-to-end runs
on the shipped test calls with the real taxonomy / classifier / directory / KB (+ location)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
import os
from pathlib import Path

import jsonschema
import pytest

from nlp.classify import Classification
from nlp.draft import SCHEMA_FIELDS
from nlp.evaluate import FIELDS, address_equal, normalize_address, score_fields, summarize
from nlp.extract import Extractor, NlpResources, extract_text, load_resources
from nlp.kb import KnowledgeBase
from nlp.companies import CompanyDirectory
from nlp.taxonomy import Taxonomy

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "nlp" / "data" / "draft_ticket.schema.json").read_text("utf-8"))


# ---- small fakes for the location and classifier parts (unit tests of the extractor only) --------
@dataclass
class FakePlace:
    value: str
    kind: str
    confidence: float
    span: tuple[int, int]
    candidates: list = field(default_factory=list)


@dataclass
class FakeLocation:
    district: FakePlace | None = None
    street: FakePlace | None = None
    road: FakePlace | None = None
    address: FakePlace | None = None
    landmark: FakePlace | None = None
    location: dict | None = None
    corrected_text: str = ""


class FakeLocator:
    """Finds fixed names; corrects the homophone 营口鲁 → 营口路 (same length) like the real one."""
    PLACES = {"杨浦区": "district", "营口路": "road", "长海路街道": "street", "浦东新区": "district"}

    def __init__(self):
        self.calls = 0

    def extract(self, text: str) -> FakeLocation:
        self.calls += 1
        text = text.replace("营口鲁", "营口路")
        loc = FakeLocation(corrected_text=text)
        for name, kind in self.PLACES.items():
            i = text.find(name)
            if i >= 0 and getattr(loc, kind) is None:
                setattr(loc, kind, FakePlace(name, kind, 0.9, (i, i + len(name)), [(name, 0.9)]))
        if loc.road and loc.district:
            j = text.find("588号")
            if j >= 0:
                loc.address = FakePlace(f"{loc.district.value}营口路588号", "address", 0.8, (loc.road.span[0], j + 4))
                loc.street = loc.street or FakePlace("长海路街道", "street", 0.7, loc.road.span)
                loc.location = {"lat": 31.3, "lon": 121.5}
        return loc

    def hotwords(self, text: str) -> list[str]:
        return [n for n in self.PLACES if n in text]


class FakeClassifier:
    def __init__(self):
        self.calls = 0

    def predict(self, text: str) -> Classification:
        self.calls += 1
        if "补办" in text or "想问" in text:
            return Classification("咨询", 0.9, "real_estate_registration", 0.9, "规划资源", "normal", 0.9,
                                  [("咨询", 0.9)], [("real_estate_registration", 0.9)])
        i = text.find("栅栏")
        return Classification("投诉", 0.8, "road_obstruction", 0.85, "市容环境", "normal", 0.9,
                              [("投诉", 0.8), ("举报", 0.1)], [("road_obstruction", 0.85)],
                              {"category": (i, i + 2)} if i >= 0 else {})


@pytest.fixture(scope="module")
def shared_parts():
    return Taxonomy.load(), CompanyDirectory.load(), KnowledgeBase.load()


@pytest.fixture()
def fake_res(shared_parts) -> NlpResources:
    tax, comp, kb = shared_parts
    return NlpResources(taxonomy=tax, locator=FakeLocator(), classifier=FakeClassifier(), companies=comp, kb=kb)


CALL_008 = ("您好，12345市民服务热线，请问有什么可以帮您？\n"
            "喂，你好，我要反映个事情，杨浦区营口鲁，营口路588号，那个大楼门口。\n"
            "一楼那个健身房，叫飞跃体育的，在门口人行道上围了一圈铁栅栏，人根本走不过去。\n"
            "好的，跟您核实一下，杨浦区营口路588号门口人行道，被飞跃体育私设铁栅栏，影响通行，对吗？\n"
            "对对，就是这个。\n请问您贵姓，联系电话多少？\n我姓王，电话幺三九，幺七六五，四三二一。\n"
            "好的王先生，我们会转交属地街道和城管部门处理。")


def _stable(d: dict) -> dict:
    d = dict(d)
    d.pop("timings", None)
    return d


def test_draft_schema_and_fields(fake_res):
    d = extract_text(CALL_008, call_id="c1", resources=fake_res).to_dict()
    jsonschema.validate(d, SCHEMA)
    assert set(SCHEMA["properties"]) <= set(d) and list(d)[:len(SCHEMA_FIELDS)] == list(SCHEMA_FIELDS)
    assert d["call_id"] == "c1"
    assert d["district"] == "杨浦区" and d["road"] == "营口路" and d["street"] == "长海路街道"
    assert d["department"] == "杨浦区长海路街道办事处" and d["co_handler"] == "杨浦区城市管理行政执法局"
    assert d["company"] == "上海飞跃体育发展有限公司"
    assert d["caller_name"] == "王先生" and d["phone"] == "13917654321"
    assert d["kb_ids"] == []          # not a consultation
    assert d["summary"].startswith("反映") and "营口路588号" in d["summary"] and "铁栅栏" in d["summary"]
    assert d["location"] == {"lat": 31.3, "lon": 121.5}
    assert all(0.0 <= c <= 1.0 for c in d["confidence"].values())
    assert d["candidates"]["company"][0]["value"] == d["company"]
    assert d["final"] is True


def test_transcript_is_corrected_and_evidence_indexes_it(fake_res):
    d = extract_text(CALL_008, resources=fake_res).to_dict()
    t = d["transcript"]
    assert "营口鲁" not in t and t.count("\n") == CALL_008.count("\n")
    for f, (s, e) in d["evidence"].items():
        assert 0 <= s < e <= len(t), f
    ev = lambda f: t[d["evidence"][f][0]:d["evidence"][f][1]]  # noqa: E731
    assert ev("district") == "杨浦区" and ev("road") == "营口路"
    assert ev("company") == "飞跃体育"
    assert ev("phone") == "幺三九，幺七六五，四三二一"
    assert ev("caller_name") == "王"
    assert ev("category") == "栅栏"


def test_incremental_equals_whole_text(fake_res):
    whole = extract_text(CALL_008, call_id="c", resources=fake_res)
    ex = Extractor(fake_res, call_id="c")
    drafts = []
    t = 0.0
    for i, line in enumerate(CALL_008.split("\n")):
        drafts.append(ex.update({"id": i, "start": t, "end": t + 2, "text": line, "speaker": None, "final": True}))
        t += 2.5
    fin = ex.finalize().to_dict()
    w = whole.to_dict()
    for k in ("segments",):
        fin.pop(k), w.pop(k)
    assert _stable(fin) == _stable(w)
    # the draft fills in as the call goes: no phone before it is said, then the right one
    assert drafts[1].district == "杨浦区" and drafts[1].phone is None
    assert drafts[-2].phone == "13917654321"
    assert all(not x.final for x in drafts)


def test_classifier_is_throttled(fake_res):
    ex = Extractor(fake_res)
    for i, w in enumerate("路灯 坏了 不亮 好几天 了".split()):
        ex.update({"id": i, "start": i, "end": i + 1, "text": w, "final": True})
    during = fake_res.classifier.calls
    assert 1 <= during < 5
    ex.finalize()
    assert fake_res.classifier.calls == during + 1


def test_segments_partials_retractions_and_objects(fake_res):
    from stt.transcribe import Segment

    ex = Extractor(fake_res, call_id="s")
    d0 = ex.update(Segment(0, 0.0, 1.0, "喂，你好", None, final=False))
    assert d0.transcript == "" and ex.segments == []
    ex.update(Segment(0, 0.0, 1.0, "喂，你好，杨浦区营口路", "caller", final=True))
    ex.update(Segment(1, 1.0, 2.0, "嗯嗯", "caller", final=True))
    d = ex.update({"id": 1, "start": 1.0, "end": 2.0, "text": "", "speaker": "caller", "final": True})
    assert d.transcript == "喂，你好，杨浦区营口路"
    d = ex.update({"id": 0, "start": 0.0, "end": 1.0, "text": "喂，你好，浦东新区", "final": True})
    assert d.transcript == "喂，你好，浦东新区" and d.district == "浦东新区"
    assert d.segments[0]["speaker"] is None or isinstance(d.segments[0]["speaker"], str)
    assert ex.hotwords() == ["浦东新区"]
    with pytest.raises(ValueError):
        ex.update({"id": 3})


def test_kb_only_for_consultations(fake_res):
    d = extract_text("您好，12345。\n你好，我想问一下，房产证丢了要怎么补办啊？\n在浦东新区。", resources=fake_res)
    assert d.appeal_type == "咨询" and d.kb_ids[0] == "kb-0001"
    assert d.summary.startswith("咨询")
    assert d.department == "浦东新区不动产登记事务中心"


def test_missing_parts_degrade(shared_parts):
    tax, _, _ = shared_parts
    d = extract_text(CALL_008, resources=NlpResources(taxonomy=tax)).to_dict()
    jsonschema.validate(d, SCHEMA)
    assert d["phone"] == "13917654321" and d["category"] is None and d["department"] is None


# ---- end to end: the real resources on the shipped labelled calls ------------------------------
def _labels(calls_dir) -> list[dict]:
    return [json.loads(x) for x in (calls_dir / "labels.jsonl").read_text("utf-8").splitlines() if x.strip()]


@pytest.fixture(scope="module")
def real_res() -> NlpResources:
    res = load_resources()
    if res.classifier is None:
        pytest.skip(f"classifier not available: {res.missing}")
    return res


def test_real_end_to_end(real_res, calls_dir):
    has_location = real_res.locator is not None
    for lab in _labels(calls_dir):
        d = extract_text(lab["transcript"], call_id=lab["id"], resources=real_res).to_dict()
        jsonschema.validate(d, SCHEMA)
        for f in ("phone", "caller_name", "company", "category", "category_l1", "urgency"):
            assert d[f] == lab[f], (lab["id"], f, d[f], lab[f])
        if lab["kb_id"]:
            assert lab["kb_id"] in d["kb_ids"][:3]
        if has_location:
            sc = score_fields(lab, d)
            for f in ("district", "department"):
                assert sc[f], (lab["id"], f, d[f], lab[f])
        for s, e in d["evidence"].values():
            assert 0 <= s < e <= len(d["transcript"])
        assert d["summary"]


def test_real_incremental_equals_whole(real_res, calls_dir):
    lab = _labels(calls_dir)[2]
    whole = extract_text(lab["transcript"], call_id="x", resources=real_res).to_dict()
    ex = Extractor(real_res, call_id="x")
    for i, turn in enumerate(lab["turns"]):
        ex.update({"id": i, "start": turn["start"], "end": turn["end"], "text": turn["text"],
                   "speaker": None, "final": True})
    fin = ex.finalize().to_dict()
    for k in ("segments", "timings"):
        fin.pop(k), whole.pop(k)
    assert fin == whole


def test_dev_corpus_text_accuracy(real_res):
    """Whole dev corpus from text (skips without it): every field ≥ 0.8 here; the
    target (≥ 0.95) is tracked by `python -m nlp.evaluate`."""
    root = Path(os.environ["HOTLINE_DEV_CORPUS"])
    if not (root / "labels.jsonl").is_file() or real_res.locator is None:
        pytest.skip("dev corpus or location extractor not available")
    from nlp.evaluate import evaluate_dir

    out = evaluate_dir(root)
    low = {f: v["accuracy"] for f, v in out["summary"].items() if v["accuracy"] is not None and v["accuracy"] < 0.8}
    assert not low, low


# ---- evaluate ------------------------------------------------------------------------------------
def test_score_fields_rules():
    lab = {"district": "杨浦区", "street": None, "road": "营口路", "address": "杨浦区营口路588号",
           "appeal_type": "投诉", "category": "x", "category_l1": "y", "urgency": "normal",
           "department": "d", "co_handler": None, "company": None, "caller_name": "王先生",
           "phone": None, "kb_id": None}
    dr = dict(lab, kb_ids=["kb-1"], address="杨浦区营口路588号门口")
    sc = score_fields(lab, dr)
    assert set(sc) == set(FIELDS)
    assert sc["address"] is True and sc["street"] is True and sc["co_handler"] is True
    assert sc["company"] is None and sc["phone"] is None and sc["kb_id_top3"] is None
    sc = score_fields(lab, dict(dr, company="上海甲有限公司", phone="13900000000", address="杨浦区营口路558号"))
    assert sc["company"] is False and sc["phone"] is False and sc["address"] is False
    sc = score_fields(dict(lab, kb_id="kb-2"), dict(dr, kb_ids=["kb-1", "kb-3", "kb-2", "kb-4"]))
    assert sc["kb_id_top3"] is True
    sc = score_fields(dict(lab, kb_id="kb-4"), dict(dr, kb_ids=["kb-1", "kb-3", "kb-2", "kb-4"]))
    assert sc["kb_id_top3"] is False
    s = summarize([{"district": True, "company": None}, {"district": False, "company": True}])
    assert s["district"] == {"n": 2, "correct": 1, "accuracy": 0.5}
    assert s["company"]["n"] == 1 and s["phone"]["accuracy"] is None


@pytest.mark.parametrize("a, b, same", [
    ("虹口区凉城路1050弄7号502室", "虹口区凉城路1050弄7号五零二室", True),
    ("宝山区顾村镇泰和雅苑23号楼", "宝山区泰和雅苑二十三号楼", True),
    ("普陀区曹杨路兰溪路口公交站旁人行道", "普陀区曹杨路兰溪路口", True),
    ("普陀区曹杨路兰溪路口公交站旁人行道", "普陀区曹杨路枫桥路口", False),
    ("嘉定区清河路88号", "嘉定区清河路8号", False),
    ("嘉定区清河路88号", None, False),
    (None, None, True),
    ("普陀区长风新村街道枫岭苑", "普陀区枫岭苑", True),
    ("普陀区长风新村街道枫岭苑", "普陀区金桂苑", False),
])
def test_address_equal(a, b, same):
    assert address_equal(a, b) is same


def test_normalize_address():
    assert normalize_address("上海市 杨浦区营口路，五百八十八号") == "杨浦区营口路588号"


def test_spans_follow_a_correction_that_changes_length(fake_res):
    class Lengthening(FakeLocator):
        def extract(self, text):
            raw_i = text.find("营口路")
            loc = FakeLocation(corrected_text=text.replace("叫非越", "叫做非越"))
            loc.road = FakePlace("营口路", "road", 0.9, (raw_i, raw_i + 3))
            return loc

    res = NlpResources(taxonomy=fake_res.taxonomy, locator=Lengthening())
    text = "您好。\n健身房叫非越体育的，在营口路。"
    d = extract_text(text, resources=res)
    s, e = d.evidence["road"]
    assert "叫做非越" in d.transcript and d.transcript[s:e] == "营口路"


def test_evaluate_cli_on_other_transcripts(real_res, calls_dir, tmp_path, capsys):
    from nlp.evaluate import main

    labs = _labels(calls_dir)
    asr = tmp_path / "asr.jsonl"
    # an ASR-like copy: the phone digits said with a dropped digit must now score False
    rows = [{"id": lab["id"], "text": lab["transcript"].replace("13816572039", "1381657203")} for lab in labs]
    asr.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert main([str(calls_dir), "--transcripts", str(asr), "--json", "--errors"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["calls"] == len(labs)
    assert "dev-005 phone" in out and summary["fields"]["phone"] < 1.0
    assert main([str(tmp_path / "nowhere")]) == 1


def test_stereo_speakers_keep_the_operator_name_out(fake_res):
    ex = Extractor(fake_res)
    ex.update({"id": 0, "start": 0, "end": 2, "text": "您好，我姓李，请问有什么可以帮您？", "speaker": "operator", "final": True})
    d = ex.update({"id": 1, "start": 2, "end": 4, "text": "杨浦区营口路路灯坏了。", "speaker": "caller", "final": True})
    assert d.caller_name is None
    d = ex.update({"id": 2, "start": 4, "end": 6, "text": "好的王先生。", "speaker": "operator", "final": True})
    assert d.caller_name == "王先生"


def test_road_through_several_districts_leaves_district_candidates():
    d = extract_text("我要反映一下，在中山北路上有个井盖没了，很危险。").to_dict()
    assert d["district"] is None and d["road"] == "中山北路"
    values = {c["value"] for c in d["candidates"]["district"]}
    assert {"普陀区", "虹口区"} <= values
