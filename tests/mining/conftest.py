"""Two generated histories shared by the mining tests: one with planted anomalies, one pure noise."""
from __future__ import annotations

from datetime import date

import pytest

END = date(2026, 11, 26)


@pytest.fixture(scope="session")
def planted_db(tmp_path_factory):
    from ticketing.demo_data import DemoOptions, generate
    from ticketing.mining.db import engine_for

    path = tmp_path_factory.mktemp("mining") / "planted.db"
    url = f"sqlite:///{path}"
    result = generate(url, DemoOptions(years=2, per_day=200, seed=7, end=END))
    return engine_for(url), result


@pytest.fixture(scope="session")
def noise_db(tmp_path_factory):
    """Rhythm only: weekdays, months, no storms and nothing planted."""
    from ticketing.demo_data import DemoOptions, generate
    from ticketing.mining.db import engine_for

    path = tmp_path_factory.mktemp("mining") / "noise.db"
    url = f"sqlite:///{path}"
    result = generate(url, DemoOptions(years=2, per_day=200, seed=11, end=END, plant=False, storms=False))
    return engine_for(url), result
