"""The decoder pool on Ray Serve: Whisper replicas anywhere in a Ray cluster, one queue per client.

``HOTLINE_DECODER=ray://HOST:PORT`` (or ``--decoder``, ``Pipeline.load(decoder=...)``) gives a
`RayDecoder`: the same `DecoderPool` as the in-process `SharedDecoder` — the priority queue
stays on this side (hung-up calls' finals, then finals, then partials; partials dropped when
stale or late, finals never: a final whose replica died is sent again) — but its lanes send the
jobs to `WhisperReplica`, a Ray Serve deployment. Each replica loads the model from its local
folder (the bundled Whisper base, assembled by `models/`; never a hub) and batches concurrent
finals with ``@serve.batch``, grouped by options, encoder length and prompt length (the batches
the in-process pool forms). The first client deploys the application if it is not running;
later clients, and other front ends, use the running one.

The address takes the deployment's settings as a query string::

    ray://10.0.0.5:10001?replicas=4&cpus=1&gpus=0&batch=4&lanes=8
    ray://10.0.0.5:10001?autoscale=1&min_replicas=1&max_replicas=16&target=2
    ray                      # the cluster this process is part of, or a local one

Importing this module imports Ray (the ``scale`` extra): `stt.decoder.load_decoder` imports it
only when a Ray address is asked for.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ray
from ray import serve

from stt.decoder import DecodeJob, DecoderPool
from stt.options import TranscriberOptions
from stt.whisper import DecodeResult, WhisperDecoder

log = logging.getLogger(__name__)

APP_NAME = "hotline-decoder"


@dataclass
class RayDecoderOptions:
    address: str | None = None      # passed to ray.init: "ray://HOST:PORT", "HOST:PORT", None = here/local
    replicas: int = 2               # num_replicas (without autoscale)
    cpus: float = 1.0               # ray_actor_options per replica
    gpus: float = 0.0               # > 0: the replica decodes on CUDA
    batch: int = 4                  # @serve.batch max_batch_size (finals)
    batch_wait_s: float = 0.02      # @serve.batch batch_wait_timeout_s
    max_ongoing: int = 8            # requests a replica accepts at once (the autoscaler's queue)
    autoscale: bool = False         # autoscaling_config on the replicas' ongoing requests
    min_replicas: int = 1
    max_replicas: int = 8
    target: float = 2.0             # target_ongoing_requests per replica
    lanes: int = 0                  # this client's requests in flight; 0 -> 2 per replica
    retry_s: float = 120.0          # a final is sent again (another replica, a restarted one) this long
    app: str = APP_NAME

    @classmethod
    def parse(cls, spec: str | None) -> "RayDecoderOptions":
        where, _, query = (spec or "").strip().partition("?")
        if where in ("", "ray", "auto"):
            address = "auto" if where == "auto" else None
        elif where.startswith("ray://"):
            address = "ray://" + urlsplit(where).netloc
        else:
            address = where
        opts = cls(address=address)
        types = {f.name: f.type for f in fields(cls)}
        for key, value in parse_qsl(query):
            if key not in types or key == "address":
                raise ValueError(f"unknown decoder option {key!r} in {spec!r} (known: {', '.join(types)})")
            kind = types[key]
            if kind == "bool":
                setattr(opts, key, value.lower() in ("1", "true", "yes", "on"))
            elif kind == "int":
                setattr(opts, key, int(value))
            elif kind == "float":
                setattr(opts, key, float(value))
            else:
                setattr(opts, key, value)
        return opts

    def deployment_options(self) -> dict[str, Any]:
        """`Deployment.options(...)`: replicas or autoscaling, CPU/GPU per replica, queue size."""
        out: dict[str, Any] = {"ray_actor_options": {"num_cpus": self.cpus, "num_gpus": self.gpus},
                               "max_ongoing_requests": self.max_ongoing}
        if self.autoscale:
            out["autoscaling_config"] = {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                                         "target_ongoing_requests": self.target}
        else:
            out["num_replicas"] = self.replicas
        return out


# -- the replica (runs in a Ray actor) ---------------------------------------------------------------
@serve.deployment(name="WhisperReplica")
class WhisperReplica:
    """One Whisper model; finals arriving together are decoded in batches of equal shape."""

    def __init__(self, model_options: dict, max_batch: int = 4, batch_wait_s: float = 0.02) -> None:
        from models import ModelOptions, load_whisper

        opts = ModelOptions(**{**model_options, "workers": 1})
        self.model = load_whisper(opts)
        self._decoders: dict[str, WhisperDecoder] = {}
        self._lock = threading.Lock()      # one decode at a time on this replica's model
        self.decode_final.set_max_batch_size(max_batch)
        self.decode_final.set_batch_wait_timeout_s(batch_wait_s)
        self.batches = 0
        self.decoded = 0

    def _decoder(self, options: TranscriberOptions) -> WhisperDecoder:
        key = repr(options)
        dec = self._decoders.get(key)
        if dec is None:
            dec = self._decoders[key] = WhisperDecoder(self.model, options)
        return dec

    def _finals(self, requests: list[dict]) -> list[DecodeResult]:
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            dec = self._decoder(r["options"])
            shape = (id(dec), dec.frames_for(len(r["audio"])), len(dec.prompt(tuple(r["hotwords"]), r["context"])))
            groups.setdefault(shape, []).append(i)
        out: list[Any] = [None] * len(requests)
        for idx in groups.values():
            dec = self._decoder(requests[idx[0]]["options"])
            with self._lock:
                res = dec.decode([requests[i]["audio"] for i in idx], [tuple(requests[i]["hotwords"]) for i in idx],
                                 contexts=[requests[i]["context"] for i in idx])
            self.batches += 1
            self.decoded += len(idx)
            for i, r in zip(idx, res):
                out[i] = r
        return out

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.02)
    async def decode_final(self, requests: list[dict]) -> list[DecodeResult]:
        return await asyncio.to_thread(self._finals, requests)

    def _partial(self, r: dict) -> DecodeResult:
        dec = self._decoder(r["options"])
        with self._lock:
            return dec.decode([r["audio"]], [tuple(r["hotwords"])], contexts=[r["context"]], beam_size=1,
                              bucket=r["options"].partial_frame_bucket)[0]

    async def decode_partial(self, request: dict) -> DecodeResult:
        return await asyncio.to_thread(self._partial, request)

    def stats(self) -> dict:
        return {"batches": self.batches, "decoded": self.decoded,
                "digit_passes": sum(d.digit_passes for d in self._decoders.values()),
                "digit_seconds": sum(d.digit_seconds for d in self._decoders.values())}


# -- cluster and application ---------------------------------------------------------------------------
def ensure_ray(address: str | None) -> None:
    """Join the cluster at ``address``; without one, the cluster this process runs in or a local one."""
    if ray.is_initialized():
        return
    logging.getLogger("ray.serve").setLevel(logging.WARNING)     # not a line per replica event on stderr
    kwargs = {"ignore_reinit_error": True, "log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        ray.init(address=address, **kwargs)
        return
    try:
        ray.init(address="auto", **kwargs)
    except (ConnectionError, RuntimeError):
        ray.init(**kwargs)


def deploy(cfg: RayDecoderOptions, model_options=None):
    """The running decoder application's handle, deploying it first when it is not running."""
    try:
        return serve.get_app_handle(cfg.app)
    except Exception:  # RayServeException: no such application (or Serve not started)
        pass
    mo = asdict(model_options) if model_options is not None else {}
    mo.pop("workers", None)
    if cfg.gpus > 0:
        mo["device"] = "cuda"
        if mo.get("compute_type", "int8") == "int8":
            mo["compute_type"] = "int8_float16"
    serve.start(proxy_location="Disabled")                  # handles only: no HTTP proxy
    app = WhisperReplica.options(**cfg.deployment_options()).bind(mo, cfg.batch, cfg.batch_wait_s)
    log.info("deploying %s: %s", cfg.app, cfg.deployment_options())
    return serve.run(app, name=cfg.app, route_prefix=None)


# -- the client ---------------------------------------------------------------------------------------------
class RayDecoder(DecoderPool):
    """`DecoderPool` whose lanes send jobs to the Ray Serve replicas."""

    def __init__(self, handle, options: TranscriberOptions | None = None, lanes: int = 4,
                 retry_s: float = 120.0) -> None:
        super().__init__(options, lanes, name="ray-decoder")
        self.handle = handle
        self.retry_s = retry_s
        self.retries = 0        # finals sent again after a replica failed
        self._start()

    @classmethod
    def connect(cls, spec: str | None = None, model_options=None,
                options: TranscriberOptions | None = None) -> "RayDecoder":
        cfg = RayDecoderOptions.parse(spec)
        ensure_ray(cfg.address)
        handle = deploy(cfg, model_options)
        replicas = cfg.max_replicas if cfg.autoscale else cfg.replicas
        return cls(handle, options, cfg.lanes or 2 * replicas, cfg.retry_s)

    def _request(self, job: DecodeJob) -> dict:
        return {"audio": job.audio, "hotwords": list(job.hotwords), "context": job.context, "options": self.options}

    def _decode(self, lane: int, jobs: list[DecodeJob], final: bool) -> list[DecodeResult | None]:
        if not final:   # a partial that fails is dropped: the next one comes a second later
            return [self.handle.decode_partial.remote(self._request(j)).result(timeout_s=self.retry_s) for j in jobs]
        out: list[DecodeResult | None] = []
        for job in jobs:
            deadline = time.monotonic() + self.retry_s
            delay = 0.5
            while True:
                try:
                    out.append(self.handle.decode_final.remote(self._request(job)).result(timeout_s=self.retry_s))
                    break
                except Exception as exc:  # the replica died or restarts: another one takes it
                    if time.monotonic() + delay > deadline or self._closed:
                        log.error("final of %s lost after %.0f s of retries: %s", job.owner, self.retry_s, exc)
                        out.append(None)
                        break
                    log.warning("final decode failed (%s: %s); sending again in %.1f s",
                                type(exc).__name__, exc, delay)
                    self.retries += 1
                    time.sleep(delay)
                    delay = min(5.0, delay * 2)
        return out

    def replica_stats(self) -> dict:
        """One replica's counters (the one the handle routes to)."""
        return self.handle.stats.remote().result(timeout_s=30)
