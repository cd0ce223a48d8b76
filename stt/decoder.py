"""The decoder pool: an utterance's work (`DecodeJob`) in, its text (`DecodeResult`) out.

`DecoderPool` is the one interface every caller uses (`StreamingTranscriber`, the pipeline,
metrics): a priority queue on the caller's side — finals of calls that have hung up, then other
finals, then partials; partials are dropped when stale or when they waited past
`partial_max_wait_s` (the pool is busy), finals never — drained by a fixed number of lanes.
What a lane does with the jobs it takes is the implementation's:

- `SharedDecoder` (the default): one loaded model in this process, a lane per CTranslate2
  replica (on CPU one single-threaded replica per core: twice the throughput of one two-threaded
  model on 2 cores); finals of equal encoder and prompt length are batched here.
- `stt.ray_decoder.RayDecoder`: lanes are requests in flight to a Ray Serve deployment of Whisper
  replicas, which batches finals of equal prompt length itself (``HOTLINE_DECODER=ray://HOST:PORT``).

`load_decoder(spec)` picks one: None/"" / "local" -> in-process; "ray", "ray://HOST:PORT" or
"HOST:PORT" -> Ray (imported only then).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from stt.options import TranscriberOptions
from stt.postprocess import Vocabulary
from stt.whisper import DecodeResult, WhisperDecoder

log = logging.getLogger(__name__)

PRIORITY_HUNG_UP, PRIORITY_FINAL, PRIORITY_PARTIAL = 0, 1, 2


@dataclass(order=True)
class _Entry:
    priority: int
    seq: int
    job: "DecodeJob" = field(compare=False)


@dataclass
class DecodeJob:
    audio: np.ndarray
    hotwords: tuple[str, ...]
    final: bool
    callback: Callable[[DecodeResult | None], None]     # None: dropped (stale partial)
    owner: object = None
    context: str = ""                                   # the call's earlier text (TranscriberOptions.context_chars)
    is_stale: Callable[[], bool] = lambda: False
    submitted: float = field(default_factory=time.monotonic)


class DecoderPool:
    """A priority queue of decode jobs drained by ``lanes`` threads; subclasses decode.

    A call's finals may finish out of order on several lanes: `StreamingTranscriber` emits them
    in order.
    """

    #: batch finals in `_take` (the in-process pool); a remote pool batches on its side
    local_batching = False

    def __init__(self, options: TranscriberOptions | None, lanes: int, name: str = "decoder") -> None:
        self.options = options or TranscriberOptions()
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stats = threading.Lock()
        self._closed = False
        self.busy_seconds = 0.0   # decoder time summed over lanes
        self.decoded = 0
        self.batches = 0
        self.dropped_partials = 0
        self.partial_cost = 0.0   # moving average of a partial's decode time (s)
        self._lanes = max(1, lanes)
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"{name}-{i}", daemon=True)
                         for i in range(self._lanes)]

    def _start(self) -> None:
        for t in self._threads:
            t.start()

    @property
    def workers(self) -> int:
        """Decodes that can run at once (StreamingTranscriber paces its partials by it)."""
        return self._lanes

    # -- the queue ---------------------------------------------------------------------------
    def submit(self, job: DecodeJob, priority: int) -> None:
        with self._cv:
            if self._closed:
                raise RuntimeError(f"{type(self).__name__} is closed")
            heapq.heappush(self._heap, _Entry(priority, next(self._seq), job))
            self._cv.notify()

    def promote(self, owner: object) -> None:
        """A call hung up: its queued finals jump ahead of every other call's."""
        with self._cv:
            changed = False
            for e in self._heap:
                if e.job.owner is owner and e.job.final and e.priority != PRIORITY_HUNG_UP:
                    e.priority = PRIORITY_HUNG_UP
                    changed = True
            if changed:
                heapq.heapify(self._heap)

    def queue_length(self) -> int:
        with self._cv:
            return len(self._heap)

    def finals_waiting(self) -> int:
        with self._cv:
            return sum(1 for e in self._heap if e.job.final)

    @property
    def digit_passes(self) -> int:
        return 0

    @property
    def digit_seconds(self) -> float:
        return 0.0

    def _take(self) -> list[DecodeJob] | None:
        with self._cv:
            while not self._heap and not self._closed:
                self._cv.wait()
            if not self._heap:
                return None
            first = heapq.heappop(self._heap).job
            jobs = [first]
            if first.final and self.local_batching and self.options.max_batch > 1:
                # Batch only finals of the same encoder length (padding would change their results)
                # and the same prompt length (CTranslate2's Whisper decodes a batch of prompts of
                # different lengths wrongly: measured, most of the text lost).
                shape = self._batch_shape(first)
                keep = []
                while self._heap and len(jobs) < self.options.max_batch:
                    e = heapq.heappop(self._heap)
                    if e.job.final and self._batch_shape(e.job) == shape:
                        jobs.append(e.job)
                    else:
                        keep.append(e)
                for e in keep:
                    heapq.heappush(self._heap, e)
            return jobs

    def _batch_shape(self, job: DecodeJob) -> tuple[int, int]:
        raise NotImplementedError

    def _decode(self, lane: int, jobs: list[DecodeJob], final: bool) -> list[DecodeResult | None]:
        """Decode jobs (all finals or one partial); a result per job, None when it failed."""
        raise NotImplementedError

    def _run(self, lane: int) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            live = []
            now = time.monotonic()
            for job in jobs:
                if not job.final and (job.is_stale() or now - job.submitted > self.options.partial_max_wait_s):
                    self.dropped_partials += 1
                    job.callback(None)
                else:
                    live.append(job)
            if not live:
                continue
            t0 = time.perf_counter()
            try:
                results = self._decode(lane, live, live[0].final)
            except Exception:  # a bad job must not kill the lane that every call shares
                log.exception("decode failed")
                results = [None] * len(live)
            spent = time.perf_counter() - t0
            with self._stats:
                self.busy_seconds += spent
                if not live[0].final:
                    self.partial_cost = spent if not self.partial_cost else 0.8 * self.partial_cost + 0.2 * spent
                self.decoded += len(live)
                self.batches += 1
            for job, res in zip(live, results):
                try:
                    job.callback(res)
                except Exception:
                    log.exception("segment callback failed")

    def close(self, timeout: float | None = 10.0) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout)


class SharedDecoder(DecoderPool):
    """One loaded model for many calls, in this process: a lane per model replica.

    ``workers`` threads each take the most urgent job; with a model loaded with as many
    CTranslate2 replicas (``num_workers``) they decode at the same time.
    """

    local_batching = True

    def __init__(self, model, options: TranscriberOptions | None = None, vocabulary: Vocabulary | None = None,
                 workers: int | None = None) -> None:
        # default: as many threads as the model has replicas (CTranslate2 inter_threads)
        count = max(1, workers or int(getattr(model.model, "num_workers", 1) or 1))
        super().__init__(options, count, name="whisper-decoder")
        self.decoders = [WhisperDecoder(model, self.options, vocabulary) for _ in range(count)]
        self.decoder = self.decoders[0]
        self._start()

    @classmethod
    def load(cls, model_options=None, options: TranscriberOptions | None = None) -> "SharedDecoder":
        from models import load_whisper

        return cls(load_whisper(model_options), options)

    @property
    def model(self):
        return self.decoder.model

    @property
    def digit_passes(self) -> int:
        """Finals decoded again for a phone number (stt/digits.py), all workers."""
        return sum(d.digit_passes for d in self.decoders)

    @property
    def digit_seconds(self) -> float:
        return sum(d.digit_seconds for d in self.decoders)

    def _batch_shape(self, job: DecodeJob) -> tuple[int, int]:
        return self.decoder.frames_for(len(job.audio)), len(self.decoder.prompt(job.hotwords, job.context))

    def _decode(self, lane: int, jobs: list[DecodeJob], final: bool) -> list[DecodeResult | None]:
        # partials: greedy, shorter encoder window
        return self.decoders[lane].decode(
            [j.audio for j in jobs], [j.hotwords for j in jobs], contexts=[j.context for j in jobs],
            beam_size=None if final else 1, bucket=None if final else self.options.partial_frame_bucket)


def load_decoder(spec: str | None = None, model_options=None,
                 options: TranscriberOptions | None = None) -> DecoderPool:
    """The decoder pool named by ``spec`` (`Settings.decoder`, HOTLINE_DECODER, --decoder)."""
    spec = (spec or "").strip()
    if spec in ("", "local", "threads", "in-process"):
        return SharedDecoder.load(model_options, options)
    where = spec.partition("?")[0]
    if where in ("ray", "auto") or where.startswith("ray://") or ":" in where:
        try:
            from stt.ray_decoder import RayDecoder
        except ImportError as exc:
            raise RuntimeError(f"decoder {spec!r} needs Ray Serve, the `scale` extra: "
                               f"pip install -e '.[scale]' ({exc})") from exc
        return RayDecoder.connect(spec, model_options, options)
    raise ValueError(f"unknown decoder {spec!r}: use 'local' or a Ray address (ray://HOST:PORT)")
