"""What operations watch: /healthz (liveness and readiness), /metrics (Prometheus) and the
server's gauges and counters read at scrape time (web/metrics.py declares every name)."""
from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from web.calls import CallRegistry
from web.jobs import JobManager
from web.leases import LeaseKeeper
from web.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics
from web.resources import Resources


def add_routes(app: FastAPI, res: Resources, registry: CallRegistry, leases: LeaseKeeper | None,
               metrics: Metrics) -> None:
    @app.get("/healthz", tags=["ops"], summary="Liveness and readiness")
    def healthz() -> JSONResponse:
        body = {"status": "ok", "model_loaded": res.pipeline_loaded, "calls_live": registry.live}
        if leases is not None:
            body["server_id"] = leases.server_id
        if res.pipeline_error:
            body.update(status="degraded", model_error=res.pipeline_error)
        try:
            res.store.count()
            body["database"] = "ok"
        except Exception as exc:  # report, do not crash: the probe must answer
            body.update(status="degraded", database=f"error: {type(exc).__name__}")
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse, summary="Prometheus metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=METRICS_CONTENT_TYPE)


def add_gauges(metrics: Metrics, res: Resources, registry: CallRegistry, jobs: JobManager) -> None:
    """The values /metrics reads from the live server when it is scraped."""

    def decode_queue_length() -> float:
        if not res.pipeline_loaded:
            return 0.0
        pipe = res.pipeline()
        for owner in (pipe, getattr(pipe, "decoder", None)):
            for name in ("queue_length", "pending", "qsize"):
                value = getattr(owner, name, None) if owner is not None else None
                if value is not None:
                    return float(value() if callable(value) else value)
        raise LookupError("pipeline exposes no queue length")

    def decoder_stat(name: str) -> Callable[[], float]:
        return lambda: float(getattr(res.pipeline().decoder, name)) if res.pipeline_loaded else 0.0

    metrics.gauge("hotline_calls_live", lambda: registry.live, "Calls currently streaming or finishing")
    metrics.gauge("hotline_decode_queue_length", decode_queue_length, "Utterances waiting for the decoder")
    metrics.gauge("hotline_batch_files_pending", jobs.pending, "Batch files queued or running")
    metrics.gauge("hotline_model_loaded", lambda: 1.0 if res.pipeline_loaded else 0.0, "1 once the model is loaded")
    metrics.counter_fn("hotline_digit_passes_total", decoder_stat("digit_passes"),
                       "Finals decoded again for a broken phone number")
    metrics.counter_fn("hotline_digit_pass_seconds_total", decoder_stat("digit_seconds"),
                       "Decoder seconds spent on those second passes")
    metrics.counter_fn("hotline_decoder_busy_seconds_total", decoder_stat("busy_seconds"),
                       "Decoder time summed over its workers (partials and finals)")
