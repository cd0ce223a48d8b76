"""Manifests for `hotline transcribe --ray` (cli/ray_batch.py): no Ray needed to read them."""
from __future__ import annotations

from pathlib import Path

from cli.ray_batch import collect, finished, marker, read_manifest, write_outputs


def test_manifests_and_folders(tmp_path: Path):
    (tmp_path / "a").mkdir()
    for name in ("a/x.wav", "a/y.mp3", "a/notes.md"):
        (tmp_path / name).write_bytes(b"")
    txt = tmp_path / "list.txt"
    txt.write_text("# archive 2025\na/x.wav\n\n/abs/z.wav\n", encoding="utf-8")
    csv = tmp_path / "calls.csv"
    csv.write_text("id,path,duration\n1,a/y.mp3,30\n2,a/x.wav,40\n", encoding="utf-8")
    assert read_manifest(txt) == [tmp_path / "a/x.wav", Path("/abs/z.wav")]
    assert read_manifest(csv) == [tmp_path / "a/y.mp3", tmp_path / "a/x.wav"]
    got = collect([txt, csv, tmp_path / "a"])
    assert got == [tmp_path / "a/x.wav", Path("/abs/z.wav"), tmp_path / "a/y.mp3"]   # each once, in order


def test_marker_names_its_file(tmp_path: Path):
    src = tmp_path / "one" / "call.wav"
    other = tmp_path / "two" / "call.wav"            # same stem, another file
    draft = {"transcript": "您好", "segments": [{"id": 0, "text": "您好"}]}
    assert not finished(tmp_path, src)
    write_outputs(tmp_path, src, 3.0, draft, ticket=False)
    assert finished(tmp_path, src) and not finished(tmp_path, other)
    assert marker(tmp_path, src).name == "call.done" and (tmp_path / "call.txt").read_text(encoding="utf-8") == "您好\n"
    assert not list(tmp_path.glob(".*.tmp"))
