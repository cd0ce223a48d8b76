"""Settings from the environment, with embedded defaults (SQLite, bundled model, demo data).

Every option here can also be given on the command line; the CLI overrides these values.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent
NLP_DATA = PROJECT_ROOT / "nlp" / "data"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def hotline_home() -> Path:
    """Where the user's data lives: the SQLite file, the assembled model, tokens."""
    home = Path(_env("HOTLINE_HOME", str(Path.home() / ".local" / "share" / "hotline")))
    home.mkdir(parents=True, exist_ok=True)
    return home


@dataclass
class Settings:
    home: Path = field(default_factory=hotline_home)
    database_url: str | None = field(default_factory=lambda: _env("HOTLINE_DATABASE_URL"))
    model_dir: str | None = field(default_factory=lambda: _env("HOTLINE_MODEL_DIR"))
    device: str = field(default_factory=lambda: _env("HOTLINE_DEVICE", "cpu"))
    compute_type: str = field(default_factory=lambda: _env("HOTLINE_COMPUTE_TYPE", "int8"))
    cpu_threads: int = field(default_factory=lambda: int(_env("HOTLINE_CPU_THREADS", "0")))
    decoder_workers: int = field(default_factory=lambda: int(_env("HOTLINE_DECODER_WORKERS", "0")))
    # the decoder pool: None/"local" = in this process; "ray://HOST:PORT[?replicas=N&gpus=1...]" = Ray Serve
    decoder: str | None = field(default_factory=lambda: _env("HOTLINE_DECODER"))
    taxonomy_path: Path = field(default_factory=lambda: Path(_env("HOTLINE_TAXONOMY", str(NLP_DATA / "taxonomy.json"))))
    companies_path: Path = field(default_factory=lambda: Path(_env("HOTLINE_COMPANIES", str(NLP_DATA / "companies.csv"))))
    kb_path: Path = field(default_factory=lambda: Path(_env("HOTLINE_KB", str(NLP_DATA / "kb.jsonl"))))
    # batch jobs and their uploads are removed this long after they finish
    job_retention_s: float = field(default_factory=lambda: float(_env("HOTLINE_JOB_RETENTION_S", "86400")))
    # uploads of batch jobs: a folder every server of the centre reaches (default HOME/jobs)
    jobs_folder: str | None = field(default_factory=lambda: _env("HOTLINE_JOBS_DIR"))
    # a batch file whose server sent no heartbeat this long is run again by another server
    job_stale_s: float = field(default_factory=lambda: float(_env("HOTLINE_JOB_STALE_S", "60")))
    open311_jurisdiction: str | None = field(default_factory=lambda: _env("HOTLINE_OPEN311_JURISDICTION"))

    def jobs_dir(self) -> Path:
        return Path(self.jobs_folder) if self.jobs_folder else self.home / "jobs"

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'hotline.db'}"


def get_settings() -> Settings:
    return Settings()
