"""The pieces every fault needs: a database of its own (SQLite file or a PostgreSQL database,
dropped afterwards), a TCP proxy in front of PostgreSQL that can be cut, and a real `hotline
serve` subprocess (start, SIGKILL, restart, RSS); the websocket client is faultkit.client.
Everything listens on 127.0.0.1 only."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[2]
HOTLINE = str(Path(sys.executable).parent / "hotline")
PG_ADMIN_URL = os.environ.get("HOTLINE_FAULTS_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
CALLS = ROOT / "tests" / "data" / "calls"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- databases ------------------------------------------------------------------------------------

class TcpProxy:
    """127.0.0.1:port -> target, in threads. `cut()` drops every connection and refuses new ones
    (the database is gone); `restore()` lets connections through again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = False
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, name="faults-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()  # the database is "gone": the connection is refused at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 0.5)
                if not self._up.is_set() or self._stop:
                    break
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            with self._lock:
                if (a, b) in self._pairs:
                    self._pairs.remove((a, b))

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            pairs = list(self._pairs)
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._listener.close()


@dataclass
class Backend:
    """One database for one bench run: `url` is what the server uses (through the proxy for PG)."""

    name: str
    url: str
    home: Path
    proxy: TcpProxy | None = None
    _pg_db: str | None = None

    @classmethod
    def sqlite(cls, home: Path) -> "Backend":
        return cls("sqlite", f"sqlite:///{home / 'faults.db'}", home)

    @classmethod
    def postgres(cls, home: Path, admin_url: str = PG_ADMIN_URL) -> "Backend":
        import sqlalchemy as sa

        name = f"hotline_faults_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        parsed = sa.engine.make_url(admin_url)
        proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
        url = parsed.set(host="127.0.0.1", port=proxy.port, database=name).render_as_string(hide_password=False)
        return cls("postgres", url, home, proxy, name)

    def close(self, admin_url: str = PG_ADMIN_URL) -> None:
        if self.proxy is not None:
            self.proxy.close()
        if self._pg_db:
            import sqlalchemy as sa

            admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self._pg_db}" WITH (FORCE)')
            admin.dispose()

    def store(self) -> Any:
        """A TicketStore on the same database (for the bench's checks), bypassing the proxy."""
        from ticketing import TicketStore

        url = self.url
        if self.proxy is not None:
            import sqlalchemy as sa

            admin = sa.engine.make_url(PG_ADMIN_URL)
            url = sa.engine.make_url(url).set(host=admin.host, port=admin.port or 5432).render_as_string(
                hide_password=False)
        return TicketStore(url)


# -- the server -----------------------------------------------------------------------------------

def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "HOTLINE_HOME": str(home), "PYTHONUNBUFFERED": "1", **(extra or {})}


def make_token(backend: Backend, name: str, role: str = "operator") -> str:
    out = subprocess.run([HOTLINE, "token", "create", "--name", name, "--role", role, "--db", backend.url],
                         env=_env(backend.home), capture_output=True, text=True, timeout=120)
    found = re.findall(r"[A-Za-z0-9_\-]{24,}", out.stdout)
    if out.returncode or not found:
        raise RuntimeError(f"hotline token create failed: {out.stdout} {out.stderr}")
    return found[-1]


TOKEN_ROLES = {"operator": "operator", "operator2": "operator", "fuzzer": "operator", "admin": "admin",
               "open311": "open311"}


def make_tokens(backend: Backend) -> dict[str, str]:
    """The tokens every fault uses, by name: two operators, a fuzzer, an admin and an Open311 api_key."""
    return {name: make_token(backend, f"faults-{name}", role) for name, role in TOKEN_ROLES.items()}


class Server:
    """`hotline serve` on a free loopback port, its log in home/server-N.log."""

    def __init__(self, backend: Backend, *, grace_s: float = 3.0, env: dict[str, str] | None = None) -> None:
        self.backend = backend
        self.grace_s = grace_s
        self.env = env or {}
        self._extra_env: dict[str, str] = {}
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.logs: list[Path] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/call?token={token}"

    def start(self, timeout: float = 240.0) -> "Server":
        self.starts += 1
        log_path = self.backend.home / f"server-{self.starts}.log"
        self.logs.append(log_path)
        log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [HOTLINE, "serve", "--port", str(self.port), "--db", self.backend.url, "--grace", str(self.grace_s),
             "--log-level", "info"], env=_env(self.backend.home, {**self.env, **self._extra_env}), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {log_path}")
            body = self.health()
            if body.get("model_loaded"):
                return self
            time.sleep(0.5)
        raise RuntimeError(f"server not ready after {timeout:.0f} s; see {log_path}")

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=5) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 503: degraded, still a JSON body
            try:
                return json.loads(exc.read())
            except ValueError:
                return {}
        except (OSError, ValueError):
            return {}

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mib(self) -> float:
        if not self.alive:
            return 0.0
        try:
            proc = psutil.Process(self.proc.pid)
            return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
        except psutil.NoSuchProcess:
            return 0.0

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, env: dict[str, str] | None = None) -> None:
        """Stop (gracefully), then start with `env` over the server's own settings."""
        self.stop()
        self._extra_env = env or {}
        self.start()

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def api(self, method: str, path: str, token: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")


# -- audio ------------------------------------------------------------------------------------------

def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def call_pcm(name: str = "dev-008.wav") -> bytes:
    """A labelled test call as 16 kHz mono PCM16."""
    from stt.audio import load_audio

    audio = load_audio(CALLS / name)
    mono = audio.samples.mean(axis=0) if audio.channels > 1 else audio.samples[0]
    return pcm16(mono)
