"""/metrics on prometheus-client: exact values, escaped labels, one registry per app, and
`promtool check metrics` (Debian `prometheus`, installed by `make test`) on a scrape taken after a
real call through the real model."""
from __future__ import annotations

import re
import shutil
import subprocess
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from web.metrics import Metrics


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_values_are_exact_and_label_values_escaped():
    m = Metrics()
    m.inc("hotline_audio_seconds_total", 1234567)
    m.inc("hotline_audio_seconds_total", 2 ** 40 + 0.5)
    odd = 'a "quoted" back\\slash\nnew line'
    m.inc("hotline_batch_files_total", 3, status=odd)
    text = m.render()
    assert "1.23457e+06" not in text
    got = samples(text)
    assert got[("hotline_audio_seconds_total", ())] == 1234567 + 2 ** 40 + 0.5  # exactly, as a float
    assert got[("hotline_batch_files_total", (("status", odd),))] == 3.0
    assert "# TYPE hotline_audio_seconds_total counter" in text or "# TYPE hotline_audio_seconds counter" in text


def test_registries_are_per_app_and_misuse_is_refused():
    a, b = Metrics(), Metrics()
    a.inc("hotline_calls_total")
    assert ("hotline_calls_total", ()) not in samples(b.render())
    with pytest.raises(ValueError):
        a.inc("hotline_calls")  # counters end in _total
    a.observe("hotline_decode_seconds", 0.3)
    with pytest.raises(ValueError):
        a.observe("hotline_decode_seconds", 0.3, kind="final")  # another label set
    a.gauge("hotline_broken", lambda: 1 / 0, "a source that is not ready")
    a.counter_fn("hotline_digit_passes_total", lambda: 5, "from the decoder")
    got = samples(a.render())  # the broken gauge is left out, the scrape still works
    assert got[("hotline_digit_passes_total", ())] == 5.0 and ("hotline_broken", ()) not in got
    assert got[("hotline_decode_seconds_bucket", (("le", "0.3"),))] == 1.0


def test_app_exposes_a_large_counter_exactly(make_app, fake_pipeline):
    from fastapi.testclient import TestClient

    app = make_app(fake_pipeline)
    app.state.metrics.inc("hotline_audio_seconds_total", 10 ** 6 + 1)
    with TestClient(app) as client:
        response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert samples(response.text)[("hotline_audio_seconds_total", ())] == 1000001.0
    assert re.search(r"^hotline_audio_seconds_total 1\.000001e\+06$", response.text, re.M)


@pytest.mark.slow
def test_promtool_passes_on_a_scrape_after_a_real_call(settings, store, operator_token, calls_dir):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; `make test` installs it as root)")
    import httpx
    from websockets.sync.client import connect

    from server import ServerOptions, create_app
    from stt.audio import load_audio
    from tests.server.conftest import LiveServer

    app = create_app(settings, options=ServerOptions(preload=True), store=store)
    with LiveServer(app) as live:
        app.state.resources.pipeline()
        pcm = (np.clip(load_audio(calls_dir / "dev-002.wav").samples.mean(axis=0), -1, 1) * 32767).astype("<i2")
        pcm = pcm[: 16000 * 12]  # the first 12 s: a few utterances
        with connect(f"{live.ws_url}/ws/call?token={operator_token}", open_timeout=30) as ws:
            ws.send('{"type": "hello", "sample_rate": 16000, "channels": 1, "call_id": "metrics-call"}')
            for i in range(0, len(pcm), 1600):
                ws.send(pcm[i:i + 1600].tobytes())
                time.sleep(0.025)
            ws.send('{"type": "end"}')
            while '"final": true' not in (msg := ws.recv(timeout=120)) or '"draft"' not in msg:
                pass
        text = httpx.get(f"{live.url}/metrics", timeout=30).text
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    got = samples(text)
    assert got[("hotline_hangup_to_draft_seconds_count", ())] == 1.0
    assert got[("hotline_utterance_to_final_seconds_count", ())] >= 2
    assert got[("hotline_decode_seconds_count", ())] >= 2 and got[("hotline_decode_seconds_sum", ())] > 0
    assert got[("hotline_calls_total", ())] == 1.0 and got[("hotline_segments_final_total", ())] >= 2
    assert got[("hotline_stage_seconds_count", (("stage", "asr"),))] == 1.0
    assert got[("hotline_decoder_busy_seconds_total", ())] > 0
    assert ("hotline_digit_passes_total", ()) in got


def test_dashboard_and_docs_use_only_metrics_the_server_declares(make_app, fake_pipeline):
    from pathlib import Path

    from web.metrics import METRICS

    metrics = make_app(fake_pipeline).state.metrics
    declared = set(METRICS) | set(metrics._callbacks.gauges) | set(metrics._callbacks.counters)
    docs = Path(__file__).resolve().parents[2] / "docs" / "integration"
    for name in ("grafana-dashboard.json", "prometheus.md"):
        used = {re.sub(r"_(bucket|count|sum)$", "", m) for m in re.findall(r"hotline_[a-z_]+", (docs / name).read_text())}
        assert used and used <= declared, (name, used - declared)
