"""Prometheus text exposition for the server: gauges, counters and latency histograms.

Hand-rolled (a few dozen lines) so the server needs no extra dependency; thread-safe because
the decoder and batch threads report too.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

# Seconds; covers a fast HTTP call up to a slow whole-call decode.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.n += 1
        self.total += value
        for i, upper in enumerate(self.buckets):
            if value <= upper:
                self.counts[i] += 1


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple], float] = {}
        self._histograms: dict[tuple[str, tuple], _Histogram] = {}
        self._gauges: dict[str, Callable[[], float]] = {}
        self._help: dict[str, tuple[str, str]] = {}

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def gauge(self, name: str, fn: Callable[[], float], text: str) -> None:
        """A gauge read when scraped (calls live, queue length)."""
        self._gauges[name] = fn
        self.describe(name, "gauge", text)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            hist = self._histograms.get(key)
            if hist is None:
                hist = self._histograms[key] = _Histogram(DEFAULT_BUCKETS)
            hist.observe(float(seconds))

    def render(self) -> str:
        lines: list[str] = []
        seen: set[str] = set()

        def header(name: str, default_kind: str) -> None:
            if name in seen:
                return
            seen.add(name)
            kind, text = self._help.get(name, (default_kind, name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")

        for name, fn in sorted(self._gauges.items()):
            try:
                value = float(fn())
            except Exception:  # a gauge source that is not ready yet must not break the scrape
                continue
            header(name, "gauge")
            lines.append(f"{name} {value:g}")
        with self._lock:
            counters = sorted(self._counters.items())
            histograms = sorted(self._histograms.items(), key=lambda kv: kv[0])
            for (name, labels), value in counters:
                header(name, "counter")
                lines.append(f"{name}{_labels(dict(labels))} {value:g}")
            for (name, labels), hist in histograms:
                header(name, "histogram")
                base = dict(labels)
                for upper, count in zip(hist.buckets, hist.counts):
                    lines.append(f"{name}_bucket{_labels({**base, 'le': f'{upper:g}'})} {count}")
                lines.append(f"{name}_bucket{_labels({**base, 'le': '+Inf'})} {hist.n}")
                lines.append(f"{name}_sum{_labels(base)} {hist.total:g}")
                lines.append(f"{name}_count{_labels(base)} {hist.n}")
        return "\n".join(lines) + "\n"
