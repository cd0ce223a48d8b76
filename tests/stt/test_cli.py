"""`hotline transcribe` over a folder with one broken file: the rest finish, exit code says it failed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli import main

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"
pytestmark = pytest.mark.slow


def test_transcribe_skips_broken_file(tmp_path, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(CALLS / "dev-002.wav", src / "sub" / "good.wav")
    (src / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio")
    (src / "notes.txt").write_text("not audio, not picked up")
    out = tmp_path / "out"
    code = main(["transcribe", str(src), "--out", str(out), "--cpu-threads", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.wav" in err and "1 of 2 file(s) done, 1 failed" in err
    assert "real-time factor" in err
    text = (out / "good.txt").read_text(encoding="utf-8")
    assert "12345" in text and "路灯" in text
    doc = json.loads((out / "good.json").read_text(encoding="utf-8"))
    assert doc["segments"] and doc["segments"][0]["start"] < 1.0
    assert "\n".join(s["text"] for s in doc["segments"]) == text.strip()
    assert not (out / "broken.txt").exists()


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="cannot load the model"):
        main(["transcribe", str(CALLS / "dev-002.wav"), "--model-dir", str(tmp_path)])


def test_process_keeps_one_draft_per_file_when_names_share_a_stem(tmp_path):
    out = tmp_path / "out"
    code = main(["process", str(CALLS / "dev-005.wav"), str(CALLS / "dev-005.8k.wav"), "--out", str(out),
                 "--no-store", "--cpu-threads", "2"])
    assert code == 0
    drafts = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")}
    assert set(drafts) == {"dev-005.json", "dev-005.8k.json"}
    assert drafts["dev-005.8k.json"]["call_id"] == "dev-005.8k" and drafts["dev-005.json"]["call_id"] == "dev-005"
