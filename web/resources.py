"""The server's process-wide objects (the ticket store, the pipeline, the API tokens), created
once and lazily: the model load takes seconds, and /healthz answers meanwhile."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from config import Settings
from web.auth import TokenStore

log = logging.getLogger("hotline.server")


class Resources:
    """The process-wide objects, created once and lazily (the model load takes seconds)."""

    def __init__(self, settings: Settings, *, pipeline: Any = None, store: Any = None,
                 pipeline_factory: Callable[[Settings], Any] | None = None) -> None:
        self.settings = settings
        self._pipeline = pipeline
        self._pipeline_factory = pipeline_factory
        self._pipeline_error: str | None = None
        self._store = store
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self.tokens = TokenStore.for_store(self.store)

    @property
    def store(self) -> Any:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from ticketing import TicketStore

                    self._store = TicketStore(self.settings.db_url())
        return self._store

    @property
    def pipeline_loaded(self) -> bool:
        return self._pipeline is not None

    @property
    def pipeline_error(self) -> str | None:
        return self._pipeline_error

    def pipeline(self) -> Any:
        if self._pipeline is None:
            with self._lock:
                if self._pipeline is None:
                    started = time.monotonic()
                    try:
                        if self._pipeline_factory is not None:
                            self._pipeline = self._pipeline_factory(self.settings)
                        else:
                            from pipeline import Pipeline

                            # one store (and engine) for the pipeline's writes and the API's reads
                            self._pipeline = Pipeline.load(self.settings, store=self.store)
                    except Exception as exc:
                        self._pipeline_error = f"{type(exc).__name__}: {exc}"
                        raise
                    self._pipeline_error = None
                    log.info("pipeline loaded in %.1f s", time.monotonic() - started)
        return self._pipeline

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = make()
            return self._cache[name]

    def categories(self) -> list[dict[str, Any]]:
        taxonomy = getattr(self.store, "taxonomy", None)
        if taxonomy is None:
            from ticketing.taxonomy_data import load_taxonomy

            taxonomy = load_taxonomy(self.settings.taxonomy_path)
        return list(taxonomy["categories"])
