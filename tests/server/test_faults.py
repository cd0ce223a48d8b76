"""The cheap faults of bench/faults.py (issue 16: 1, 4, 5, 8, 9) as tests: one real `hotline serve`
subprocess on SQLite with the real model, driven by the bench's own fault code (bench/faultkit).
Shorter signals than the bench (20 s each instead of 2 minutes); the bench runs both backends."""
from __future__ import annotations

import asyncio

import pytest

from bench.faultkit import Context, run_fault
from bench.faultkit.calls import client_vanishes
from bench.faultkit.harness import Backend, Server, make_tokens
from bench.faultkit.inputs import bad_recordings, fuzz, not_speech
from bench.faultkit.tickets import two_operators

pytestmark = pytest.mark.slow

CALL_LIMIT_S = 50.0  # above fault 1's 28 s and the 47 s control call, below fault 8's 85 s call


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    home = tmp_path_factory.mktemp("faults")
    backend = Backend.sqlite(home)
    tokens = make_tokens(backend)
    server = Server(backend, grace_s=2.0, env={"HOTLINE_WS_MAX_CONNECTIONS_PER_TOKEN": "20",
                                                "HOTLINE_WS_HELLO_TIMEOUT_S": "5",
                                                "HOTLINE_WS_MAX_CALL_S": str(CALL_LIMIT_S)}).start()
    context = Context(backend, server, tokens, home, speed=4.0)
    yield context
    context.close()
    server.stop()
    backend.close()


def _run(ctx, fn, **kwargs):
    res = asyncio.run(run_fault(ctx, fn, **kwargs))
    assert res.survived, res.to_dict()
    assert res.lost_finals == 0 and res.duplicated_finals == 0
    return res


def test_fault_1_client_vanishes_then_resumes(ctx):
    res = _run(ctx, client_vanishes)
    assert res.figures["ended_after_s"] >= ctx.server.grace_s
    assert res.figures["resent"] >= 1  # finals decoded after the drop reached the resumed socket


def test_fault_4_no_text_from_silence_music_noise_dtmf(ctx):
    res = _run(ctx, not_speech, seconds=20.0)
    assert all(res.figures[name]["finals"] == 0 for name in ("silence", "music", "white_noise", "dtmf"))


def test_fault_5_bad_files_fail_alone(ctx):
    res = _run(ctx, bad_recordings)
    assert res.figures["job"]["good.wav"] == "done"
    assert res.figures["job"]["truncated.wav"].startswith("failed: truncated.wav: truncated WAV")


def test_fault_8_fuzz_and_limits(ctx):
    res = _run(ctx, fuzz, call_limit_s=CALL_LIMIT_S, restart=False, max_hangup_s=30.0)  # CI boxes vary
    assert res.figures["silent_sockets"]["too_many_connections"] == 80
    assert "call_too_long" in res.figures["call_length"]["errors"]


def test_fault_9_two_operators_one_ticket(ctx):
    res = _run(ctx, two_operators, rounds=5)
    assert res.figures["dispatch"] == {"won": 5, "409": 5}
