"""The appeal mix fitted on real tuning calls (scripts/fit_appeal_mix.py) and its use."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nlp.classify import DEFAULT_PATH, Classifier  # noqa: E402
from scripts import fit_appeal_mix  # noqa: E402

# invented calls, one per line: appeal type | transcript
CALLS = [
    ("举报", "您好，12345。\n我们弄堂里有人在家里开小作坊做熟食卖，什么证都没有，卫生很差。"),
    ("投诉", "您好，12345。\n我在网上订的家具送来就是坏的，商家不肯换，还要我出运费。"),
    ("咨询", "您好，12345。\n请问一下，居住证到期了续签要带哪些东西，去哪里办？"),
    ("建议", "您好，12345。\n我觉得我们这里的公交站应该加个顶棚，下雨天等车的人都淋湿了。"),
    ("表扬", "您好，12345。\n我想表扬一下社区医院的张医生，对我们老人特别耐心。"),
    ("求助", "您好，12345。\n我们楼道里的水管爆了，水一直往下流，能不能马上派人来关水？"),
]


def test_fit_on_a_labelled_folder(tmp_path):
    lines = [json.dumps({"id": f"x-{i}", "transcript": t, "appeal_type": a}, ensure_ascii=False)
             for i, (a, t) in enumerate(CALLS)]
    (tmp_path / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    asr = tmp_path / "eval.json"   # a saved `hotline eval --out`: its ASR text is fitted on too
    asr.write_text(json.dumps({"calls": [{"id": "x-0", "text_16k": CALLS[0][1].replace("作坊", "做坊")}]},
                              ensure_ascii=False), encoding="utf-8")
    calls = fit_appeal_mix.load_calls(tmp_path, asr)
    assert len(calls) == 7 and {s for s, _, _ in calls} == {"text", "text_16k"}
    clf = Classifier.load()
    o, right, nll = fit_appeal_mix.fit(clf, calls)
    assert o.model_weight in fit_appeal_mix.GRID["model_weight"] and o.temperature in fit_appeal_mix.TEMPERATURES
    analyses = [(clf.analyse(t), g) for _, t, g in calls]
    assert right >= fit_appeal_mix.score(clf, analyses, clf.appeal_options)[0]   # never worse than the shipped mix
    assert right == fit_appeal_mix.score(clf, analyses, o)[0] and nll >= 0


def test_shipped_pipeline_uses_the_fitted_mix():
    """The retrain (scripts/train_classifier.py) and the shipped pipeline carry appeal_mix.json."""
    mix = json.loads(fit_appeal_mix.MIX_FILE.read_text(encoding="utf-8"))["appeal"]
    meta = json.loads((DEFAULT_PATH / "hotline_cues" / "meta.json").read_text(encoding="utf-8"))
    assert meta["combine"]["appeal"] == mix
    assert Classifier.load().appeal_options.model_weight == mix["model_weight"]
