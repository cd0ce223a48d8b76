"""What every benchmark script prints alongside its numbers: the machine, and one JSON line."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import psutil


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"


def emit(bench: str, record: dict, out: Path | None = None) -> None:
    """Print one JSON line (bench name, machine, date + record) and append it to `out` if given."""
    line = json.dumps({"bench": bench, "machine": machine(), "date": time.strftime("%Y-%m-%d"), **record},
                      ensure_ascii=False)
    print(line)
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
