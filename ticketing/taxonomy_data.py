"""Read the taxonomy JSON (path from config.Settings), cached per path."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_taxonomy(path: str | Path | None = None) -> dict[str, Any]:
    if path is None:
        from config import Settings

        path = Settings().taxonomy_path
    return _load(str(path))


def category_info(code: str | None, taxonomy: dict[str, Any] | None = None) -> dict[str, Any] | None:
    if not code:
        return None
    for cat in (taxonomy or load_taxonomy())["categories"]:
        if cat["code"] == code:
            return cat
    return None
