"""Prometheus metrics for the server, on `prometheus-client` with one registry per app.

The server and its threads (decoder, batch jobs) report through one small interface:

    metrics.inc("hotline_calls_total")                    # a counter (exported with `_total`)
    metrics.observe("hotline_decode_seconds", 0.42)       # a histogram
    metrics.gauge("hotline_calls_live", fn, "help")       # a value read at scrape time
    metrics.counter_fn("hotline_digit_passes_total", fn, "help")  # a cumulative count read at scrape

Metrics are made on first use with the label names of that first use; `describe()` or
`histogram()` beforehand gives them their help text (and buckets). Every name, its help and
its buckets are declared in `METRICS` below: one place that the docs and the Grafana dashboard
(docs/integration/) follow. Values are printed exactly (`1.234567e+06`, never rounded), label
values escaped, by the client library's own exposition.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("hotline.server.metrics")

# generate_latest() writes the 0.0.4 text format: say so (every Prometheus 2.x parses it)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds; covers a fast HTTP call up to a slow whole-call decode.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Hang-up -> draft and utterance -> final: the operator waits for these (goal: about a second).
WAIT_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# One utterance's decode (up to 15 s of audio, beam search, second passes).
DECODE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


@dataclass(frozen=True)
class MetricSpec:
    kind: str                       # counter | histogram (gauges are registered with their function)
    help: str
    buckets: tuple[float, ...] = DEFAULT_BUCKETS


# The metrics that the server's parts report (names as exported; counters end in _total).
METRICS: dict[str, MetricSpec] = {
    "hotline_calls_started_total": MetricSpec("counter", "Calls opened (any front end)"),
    "hotline_calls_total": MetricSpec("counter", "Calls ended (hang-up, grace expiry or shutdown)"),
    "hotline_segments_final_total": MetricSpec("counter", "Final transcript segments sent"),
    "hotline_audio_seconds_total": MetricSpec("counter", "Seconds of call audio received"),
    "hotline_ws_partials_dropped_total": MetricSpec("counter", "Partials dropped for a slow websocket client"),
    "hotline_batch_files_total": MetricSpec("counter", "Batch files finished, by status"),
    "hotline_hangup_to_draft_seconds": MetricSpec(
        "histogram", "Hang-up to final draft ticket, per call", WAIT_BUCKETS),
    "hotline_utterance_to_final_seconds": MetricSpec(
        "histogram", "End of an utterance (VAD) to its final segment, per final", WAIT_BUCKETS),
    "hotline_decode_seconds": MetricSpec(
        "histogram", "Decoder time of one final utterance (second passes included)", DECODE_BUCKETS),
    "hotline_stage_seconds": MetricSpec(
        "histogram", "Per-call decoder (asr) and extraction (nlp) time; per batch file (batch_file)"),
    "hotline_http_request_seconds": MetricSpec("histogram", "REST request latency by route"),
}


def _base(name: str) -> str:
    """prometheus-client names a counter without its `_total` suffix (it adds it on export)."""
    return name[: -len("_total")] if name.endswith("_total") else name


class _Callbacks(Collector):
    """Gauges and cumulative counters whose value is read from a function at scrape time."""

    def __init__(self) -> None:
        self.gauges: dict[str, tuple[Callable[[], float], str]] = {}
        self.counters: dict[str, tuple[Callable[[], float], str]] = {}

    def collect(self) -> Iterator[Metric]:
        for name, (fn, text) in sorted(self.gauges.items()):
            value = _read(name, fn)
            if value is not None:
                yield GaugeMetricFamily(name, text, value=value)
        for name, (fn, text) in sorted(self.counters.items()):
            value = _read(name, fn)
            if value is not None:
                yield CounterMetricFamily(_base(name), text, value=value)


def _read(name: str, fn: Callable[[], float]) -> float | None:
    try:
        return float(fn())
    except Exception:  # a source that is not ready yet must not break the scrape
        log.debug("metric %s not available", name, exc_info=True)
        return None


class Metrics:
    """One app's metrics: a `CollectorRegistry` of its own (tests build several apps)."""

    def __init__(self, specs: dict[str, MetricSpec] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._specs = dict(METRICS if specs is None else specs)
        self._lock = threading.Lock()
        self._made: dict[str, tuple[Any, tuple[str, ...]]] = {}
        self._callbacks = _Callbacks()
        self.registry.register(self._callbacks)

    # -- declaring ------------------------------------------------------------------------------
    def describe(self, name: str, kind: str, text: str, buckets: tuple[float, ...] | None = None) -> None:
        if kind not in ("counter", "histogram"):
            raise ValueError(f"{name}: describe() takes counter or histogram, not {kind!r} (gauges: gauge())")
        old = self._specs.get(name)
        self._specs[name] = MetricSpec(kind, text, buckets or (old.buckets if old else DEFAULT_BUCKETS))

    def histogram(self, name: str, text: str, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.describe(name, "histogram", text, buckets)

    def gauge(self, name: str, fn: Callable[[], float], text: str) -> None:
        """A gauge read when scraped (calls live, queue length)."""
        self._callbacks.gauges[name] = (fn, text)

    def counter_fn(self, name: str, fn: Callable[[], float], text: str) -> None:
        """A cumulative count kept elsewhere (e.g. by the decoder), read when scraped."""
        if not name.endswith("_total"):
            raise ValueError(f"counter {name} must end in _total")
        self._callbacks.counters[name] = (fn, text)

    # -- reporting (any thread) ------------------------------------------------------------------
    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"counter {name} must end in _total")
        self._get(name, "counter", labels).inc(value)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        self._get(name, "histogram", labels).observe(float(seconds))

    def _get(self, name: str, kind: str, labels: dict[str, str]) -> Any:
        names = tuple(sorted(labels))
        found = self._made.get(name)
        if found is None:
            with self._lock:
                found = self._made.get(name)
                if found is None:
                    found = self._made[name] = (self._make(name, kind, names), names)
        metric, made_with = found
        if made_with != names:
            raise ValueError(f"metric {name} has labels {made_with}, not {names}")
        return metric.labels(**{k: str(v) for k, v in labels.items()}) if names else metric

    def _make(self, name: str, kind: str, labelnames: tuple[str, ...]) -> Any:
        spec = self._specs.get(name) or MetricSpec(kind, name)
        if spec.kind != kind:
            raise ValueError(f"metric {name} is a {spec.kind}, not a {kind}")
        if kind == "counter":
            return Counter(_base(name), spec.help, labelnames, registry=self.registry)
        return Histogram(name, spec.help, labelnames, registry=self.registry, buckets=spec.buckets)

    # -- exposition ------------------------------------------------------------------------------
    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")


def observe_final(metrics: Metrics, session: Any, segment_id: Any, now: float | None = None) -> None:
    """A final segment went out: utterance end -> final, and its decode time, from the transcriber's
    per-final timings (`final_timing`: id -> (submitted, decoded), `final_seconds`: id -> decode s)."""
    transcriber = getattr(session, "transcriber", None)
    timing = getattr(transcriber, "final_timing", {}).get(segment_id) if transcriber is not None else None
    if timing:
        metrics.observe("hotline_utterance_to_final_seconds", max(0.0, (now or time.monotonic()) - timing[0]))
    seconds = getattr(transcriber, "final_seconds", {}).get(segment_id) if transcriber is not None else None
    if seconds:
        metrics.observe("hotline_decode_seconds", seconds)
