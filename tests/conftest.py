"""Shared test settings: every test run gets its own HOTLINE_HOME so nothing touches the user's data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CALLS = TESTS / "data" / "calls"
# The labelled dev corpus lives beside the checkout (shared/corpus/dev), not in it: tests that
# score the whole corpus read this variable and skip when the folder is absent.
os.environ.setdefault("HOTLINE_DEV_CORPUS", str(TESTS.parent.parent / "shared" / "corpus" / "dev"))


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("hotline-home")
    old = os.environ.get("HOTLINE_HOME")
    os.environ["HOTLINE_HOME"] = str(home)
    # The assembled model is reused across runs: keep it out of the throwaway home.
    os.environ.setdefault("HOTLINE_MODEL_CACHE", str(Path.home() / ".cache" / "hotline" / "models"))
    yield home
    if old is None:
        os.environ.pop("HOTLINE_HOME", None)
    else:
        os.environ["HOTLINE_HOME"] = old


@pytest.fixture(scope="session")
def calls_dir() -> Path:
    return CALLS


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Browser tests save screenshots here: tests/artifacts/ (ignored by git), or docs/img/ for
    the README with HOTLINE_UPDATE_SCREENSHOTS=1."""
    import os

    if os.environ.get("HOTLINE_UPDATE_SCREENSHOTS") == "1":
        path = TESTS.parent / "docs" / "img"
    else:
        path = TESTS / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
