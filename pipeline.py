"""The one path every front end drives: audio of a call in, transcript + draft ticket events out.

`Pipeline` holds what is loaded once per process (the shared Whisper decoder, the NLP
resources, the ticket store); `CallSession` is one call. The NLP extractor and the ticket
store are optional imports: without them the pipeline still produces transcripts and a draft
dict with the schema's keys.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import numpy as np

from config import Settings
from nlp.draft import SCHEMA_FIELDS
from stt.transcribe import DecoderPool, Segment, StreamingTranscriber, TranscriberOptions, load_decoder

log = logging.getLogger(__name__)

EventHandler = Callable[[dict], None]

# The draft's field names, one definition (nlp/draft.py: a dependency-free module of the schema).
DRAFT_KEYS = SCHEMA_FIELDS


def _load_nlp() -> tuple[Any, Any]:
    """(Extractor class, resources) or (None, None) while nlp.extract has not landed / fails to load."""
    try:
        from nlp.extract import Extractor, load_resources
    except ImportError as exc:
        log.info("nlp.extract not available (%s): transcript-only drafts", exc)
        return None, None
    return Extractor, load_resources()


def _open_store(settings: Settings) -> Any:
    try:
        from ticketing.store import TicketStore
    except ImportError as exc:
        log.info("ticketing.store not available (%s): drafts are not stored", exc)
        return None
    return TicketStore(settings.db_url())


def _deadlines(appeal_type: str | None, urgency: str | None, start: datetime) -> dict | None:
    """What the operator tells the caller: ticketing's time limits as if dispatched at call start."""
    try:
        from ticketing.sla import deadlines
    except ImportError:
        return None
    try:
        return deadlines(appeal_type, urgency, start)
    except ValueError as exc:  # a date the calendar cannot count: no deadline rather than no draft
        log.warning("no deadlines: %s", exc)
        return None


@dataclass
class CallResume:
    """A call taken over from a server that died (web/leases.py): what the store holds of it.

    The new session feeds `segments` (the stored finals, dicts as `TicketStore.segments` gives
    them) to the extractor, so its draft keeps them, and to the transcriber as context; new
    finals get ids after theirs, and the audio fed from now on starts at `audio_from` seconds
    (the end of the last stored final: the client re-sends from there). `interrupted`: no more
    audio will come (a survivor finishing an orphaned call), noted in the draft's timings."""

    segments: list[dict] = field(default_factory=list)
    started_at: datetime | None = None
    interrupted: bool = False

    @classmethod
    def from_stored(cls, stored: dict, *, started_at: datetime | None = None,
                    interrupted: bool = False) -> "CallResume":
        """From what the store holds of a call (`{"segments": [...], ...}`): its spoken finals."""
        return cls(segments=cls.spoken(stored.get("segments")), started_at=started_at, interrupted=interrupted)

    @staticmethod
    def spoken(segments: Iterable[dict] | None) -> list[dict]:
        """The stored finals a call continues from: those with text (an empty final holds nothing)."""
        return [s for s in segments or [] if s.get("text")]

    @property
    def audio_from(self) -> float:
        return max((float(s.get("end") or 0.0) for s in self.segments), default=0.0)

    def as_segments(self, channels: int) -> list[Segment]:
        out = []
        for s in self.spoken(self.segments):
            channel = 1 if channels == 2 and s.get("speaker") == "caller" else 0
            out.append(Segment(int(s["id"]), float(s["start"]), float(s["end"]), str(s["text"]), s.get("speaker"),
                               True, channel))
        return out


@dataclass
class Pipeline:
    settings: Settings
    decoder: DecoderPool
    extractor_cls: Any = None
    nlp_resources: Any = None
    store: Any = None
    calls: dict[str, "CallSession"] = field(default_factory=dict)
    _writer: Any = field(default=None, repr=False)

    @property
    def writer(self) -> Any:
        """The store behind ticketing.writer.StoreWriter: a call's writes wait out a database outage."""
        if self._writer is None and self.store is not None:
            try:
                from ticketing.writer import StoreWriter
            except ImportError:
                return self.store
            self._writer = StoreWriter(self.store)
        return self._writer

    @classmethod
    def load(cls, settings: Settings | None = None, *, store: Any = "auto", nlp: bool = True,
             decoder: DecoderPool | str | None = None, options: TranscriberOptions | None = None) -> "Pipeline":
        """Load the model (once), NLP resources and the ticket store.

        store: "auto" opens `TicketStore(settings.db_url())` if ticketing is importable; None
        disables storing; or pass a store object. decoder: share an already loaded pool, or name one
        (`load_decoder`: "local", "ray://HOST:PORT"); default `settings.decoder` (HOTLINE_DECODER).
        """
        from models import ModelOptions

        settings = settings or Settings()
        if decoder is None or isinstance(decoder, str):   # a spec: "local", "ray://HOST:PORT" (stt/decoder.py)
            decoder = load_decoder(decoder or settings.decoder, ModelOptions.from_settings(settings), options)
        extractor_cls, resources = _load_nlp() if nlp else (None, None)
        if store == "auto":
            store = _open_store(settings)
        return cls(settings, decoder, extractor_cls, resources, store)

    def open_call(self, call_id: str | None = None, sample_rate: int = 16000, channels: int = 1,
                  hotwords: Iterable[str] = (), on_event: EventHandler | None = None,
                  options: TranscriberOptions | None = None, meta: dict | None = None,
                  adapt_hotwords: bool = True, resume: CallResume | None = None) -> "CallSession":
        """adapt_hotwords: feed the place names the extractor finds back to the transcriber as
        hotwords for the call's later utterances (live calls). Recordings decoded as fast as
        possible pass False: their utterances are all queued before the first is decoded, so
        the hotwords would depend only on thread timing, and the same file must always give the
        same transcript. resume: a call another server started (CallResume)."""
        call_id = call_id or f"call-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        session = CallSession(self, call_id, sample_rate, channels, tuple(hotwords), on_event, options, meta or {},
                              adapt_hotwords, resume)
        self.calls[call_id] = session
        return session

    def close(self) -> None:
        self.decoder.close()
        if self._writer is not None and not self._writer.flush(timeout=10):
            log.error("closing with %d store writes still queued (database unavailable)", self._writer.pending)
        if self.store is not None and hasattr(self.store, "close"):
            self.store.close()


class CallSession:
    """One call: feed audio, receive partial/final/draft events; `end()` returns the final draft."""

    def __init__(self, pipeline: Pipeline, call_id: str, sample_rate: int, channels: int,
                 hotwords: tuple[str, ...], on_event: EventHandler | None,
                 options: TranscriberOptions | None, meta: dict, adapt_hotwords: bool = True,
                 resume: CallResume | None = None) -> None:
        self.pipeline = pipeline
        self.call_id = call_id
        self.on_event = on_event
        self.meta = meta
        self.resume = resume
        self.started_at = (resume.started_at if resume and resume.started_at else None) or datetime.now(timezone.utc)
        self._base_hotwords = hotwords
        self._lock = threading.RLock()
        self.nlp_seconds = 0.0
        self.extractor = None
        if pipeline.extractor_cls is not None:
            try:
                self.extractor = pipeline.extractor_cls(pipeline.nlp_resources, call_id=call_id)
            except TypeError:  # the contract only promises Extractor(resources)
                self.extractor = pipeline.extractor_cls(pipeline.nlp_resources)
        self._draft: dict | None = None
        self.final_draft: dict | None = None
        self.adapt_hotwords = adapt_hotwords
        prior = resume.as_segments(channels) if resume else []
        self.transcriber = StreamingTranscriber(
            pipeline.decoder, sample_rate=sample_rate, channels=channels, hotwords=hotwords,
            on_segment=self._on_segment, call_id=call_id, options=options,
            prior=prior, time_offset=resume.audio_from if resume else 0.0,
        )
        if prior:
            self._replay(prior)

    def _replay(self, prior: list[Segment]) -> None:
        """A taken-over call: the stored finals go through the extractor again (not stored, not
        emitted: the store has them and the server re-sends what the client lacks)."""
        with self._lock:
            if self.extractor is None:
                self._draft = self._complete(None)
                return
            t0 = time.perf_counter()
            draft = None
            try:
                for seg in prior:
                    draft = self.extractor.update(seg)
            except Exception:
                log.exception("extractor.update failed replaying call %s", self.call_id)
            self.nlp_seconds += time.perf_counter() - t0
            self._draft = self._complete(draft)

    @property
    def draft(self) -> dict | None:
        """The latest (non-final) draft."""
        return self._draft

    # -- audio in ----------------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> None:
        self.transcriber.feed(samples)

    def feed_pcm16(self, data: bytes) -> None:
        self.transcriber.feed_pcm16(data)

    @property
    def segments(self) -> list[Segment]:
        return self.transcriber.segments

    # -- events (decoder thread) ---------------------------------------------------------------
    def _emit(self, event: dict) -> None:
        if self.on_event:
            try:
                self.on_event(event)
            except Exception:
                log.exception("on_event failed for call %s", self.call_id)

    def _on_segment(self, seg: Segment) -> None:
        event = {"type": "final" if seg.final else "partial", "id": seg.id, "start": round(seg.start, 2),
                 "end": round(seg.end, 2), "text": seg.text, "speaker": seg.speaker}
        if not seg.final or not seg.text:
            self._emit(event)
            return
        # stored before the client hears of it: a final the client holds survives a crash (SIGKILL)
        store = self.pipeline.writer
        if store is not None:
            try:
                store.add_segment(self.call_id, seg.to_dict())
            except Exception:
                log.exception("store.add_segment failed for call %s", self.call_id)
        if self.extractor is None:
            self._emit(event)
            return
        updated = False
        try:
            updated = self._update_draft(seg)
        finally:
            self._emit(event)
        if updated:
            self._emit({"type": "draft", "final": False, "ticket": self._draft})

    def _update_draft(self, seg: Segment) -> bool:
        """The extractor's draft after this final, stored (the final is sent after it)."""
        t0 = time.perf_counter()
        with self._lock:
            try:
                draft = self.extractor.update(seg)
                hot = list(self.extractor.hotwords())
            except Exception:
                log.exception("extractor.update failed for call %s", self.call_id)
                return False
            finally:
                self.nlp_seconds += time.perf_counter() - t0
            if self.adapt_hotwords:
                self.transcriber.set_hotwords(list(self._base_hotwords) + [w for w in hot if w not in self._base_hotwords])
            self._draft = self._complete(draft)
        self._store_draft(self._draft)
        return True

    # -- draft -------------------------------------------------------------------------------
    def _complete(self, draft: Any) -> dict:
        """A dict with every schema key, this call's id and segments."""
        d = draft.to_dict() if hasattr(draft, "to_dict") else dict(draft or {})
        for key in DRAFT_KEYS:
            d.setdefault(key, None)
        d["call_id"] = self.call_id
        if self.meta.get("caller"):  # what the PBX said about the call (caller number, channel)
            d.setdefault("caller", self.meta["caller"])
        segs = [s.to_dict() for s in self.transcriber.segments]
        if not d.get("segments"):
            d["segments"] = segs
        if not d.get("transcript"):
            d["transcript"] = "\n".join(s["text"] for s in segs)
        if not d.get("deadlines") and d.get("appeal_type"):
            d["deadlines"] = _deadlines(d.get("appeal_type"), d.get("urgency"), self.started_at)
        return d

    def _call_info(self) -> dict:
        """The `call` row of the store: meta (e.g. {"audio": path}) + what the session knows."""
        return {"started_at": self.started_at, "channels": self.transcriber.channels,
                "sample_rate": self.transcriber.sample_rate, **self.meta}

    def _store_draft(self, draft: dict) -> None:
        store = self.pipeline.writer
        if store is None:
            return
        try:
            store.upsert_draft(draft, call=self._call_info())
        except Exception:
            log.exception("store.upsert_draft failed for call %s", self.call_id)

    def end(self, timeout: float | None = None) -> dict:
        """Hang-up: decode what is left (ahead of other calls), finalize and return the draft dict."""
        hangup = time.monotonic()
        self.transcriber.end()
        if not self.transcriber.wait(timeout):
            log.warning("call %s: finals still pending after %.1f s", self.call_id, timeout or 0)
        draft: Any = None
        with self._lock:
            if self.extractor is not None:
                t0 = time.perf_counter()
                try:
                    draft = self.extractor.finalize()
                except Exception:
                    log.exception("extractor.finalize failed for call %s", self.call_id)
                self.nlp_seconds += time.perf_counter() - t0
            d = self._complete(draft)
        d["timings"] = {
            "audio_s": round(self.transcriber.audio_seconds, 3),
            "asr_s": round(self.transcriber.asr_seconds, 3),
            "nlp_s": round(self.nlp_seconds, 3),
            "ready_after_hangup_s": round(time.monotonic() - hangup, 3),
        }
        if self.resume is not None:  # finished on another server than the one it started on
            d["timings"]["taken_over"] = True
            if self.resume.interrupted:
                d["timings"]["interrupted"] = True
        self.final_draft = d
        self._emit({"type": "draft", "final": True, "ticket": d})
        self._store_draft(d)
        store = self.pipeline.writer
        if store is not None and hasattr(self.pipeline.store, "end_call"):
            try:
                store.end_call(self.call_id, {**self._call_info(), "ended_at": datetime.now(timezone.utc),
                                              "duration": d["timings"]["audio_s"], "timings": d["timings"]})
            except Exception:
                log.exception("store.end_call failed for call %s", self.call_id)
        self.pipeline.calls.pop(self.call_id, None)
        return d
