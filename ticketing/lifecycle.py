"""The ticket state machine, read from ticketing/data/lifecycle.json (data, not if-chains)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

LIFECYCLE_PATH = Path(__file__).resolve().parent / "data" / "lifecycle.json"


class TransitionError(ValueError):
    """A state change the lifecycle does not allow, or one that lacks what it needs."""


class ConflictError(TransitionError):
    """The ticket changed since the version the caller acted on (another operator was first)."""


@lru_cache(maxsize=1)
def lifecycle() -> dict[str, Any]:
    with open(LIFECYCLE_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def states() -> list[str]:
    return list(lifecycle()["transitions"])


def allowed(state: str) -> list[str]:
    return list(lifecycle()["transitions"].get(state, {}))


def rule(from_state: str, to_state: str) -> dict[str, Any]:
    """The rule for a move, or TransitionError naming the allowed targets."""
    table = lifecycle()["transitions"]
    if from_state not in table:
        raise TransitionError(f"unknown state {from_state!r}; states: {', '.join(table)}")
    if to_state not in table:
        raise TransitionError(f"unknown state {to_state!r}; states: {', '.join(table)}")
    found = table[from_state].get(to_state)
    if found is None:
        targets = ", ".join(table[from_state]) or "none (final state)"
        raise TransitionError(f"cannot go from {from_state} to {to_state}; allowed: {targets}")
    return found


def open_states() -> list[str]:
    return list(lifecycle()["open_states"])


def clock_states() -> list[str]:
    """States in which the department's deadlines run (overdue applies)."""
    return list(lifecycle()["clock_states"])


def satisfaction_values() -> list[str]:
    return list(lifecycle()["satisfaction"])
