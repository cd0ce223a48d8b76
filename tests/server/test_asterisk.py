"""A real Asterisk (Debian sid's, in the chroot scripts/asterisk_chroot.sh builds) plays a dev
call into `Dial(WebSocket/...)` (chan_websocket -> /ws/call) and into `AudioSocket()` (TCP ->
`hotline serve --audiosocket`), both against a real `hotline serve` with the real model.
Both ways must give the call's finals and a final draft ticket stored in the database.

No SIP: a Local channel joins `Playback()` on one side to the dialplan under test on the other.
Asterisk runs as root inside the chroot, with its own config, run and log directories under the
chroot's /tmp, on 127.0.0.1 only (it opens no listening port: both ways are clients); it is
stopped and its directories removed at the end.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(os.environ.get("HOTLINE_ASTERISK_ROOT", "/var/cache/hotline/asterisk-sid"))
HOTLINE = [sys.executable, "-c", "import sys, cli; sys.exit(cli.main())"]
CALL = "dev-005"  # 36 s: Playback runs in real time
CALLER = "13900001111"  # the PBX's caller id for the websocket call (not the number said in the call)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_asterisk() -> None:
    if not (ROOT / "usr/sbin/asterisk").exists():
        pytest.skip(f"no Asterisk chroot at {ROOT}: scripts/asterisk_chroot.sh builds it (root, apt-get, "
                    "mmdebstrap, network to the Debian mirror); make test runs it where it can")
    if os.geteuid() != 0:
        pytest.skip("running Asterisk in its chroot needs root")


def pcm16(path: Path, rate: int) -> np.ndarray:
    from stt.audio import load_audio

    audio = load_audio(path, sample_rate=rate)
    assert audio.sample_rate == rate
    samples = audio.samples.mean(axis=0) if audio.samples.ndim == 2 else audio.samples
    return (np.clip(samples, -1, 1) * 32767).astype("<i2")


class Asterisk:
    """Asterisk in the chroot with a throwaway config; `cli()` runs `asterisk -rx`."""

    def __init__(self, ws_port: int, as_port: int, token: str) -> None:
        self.name = f"hotline-test-{uuid.uuid4().hex[:8]}"
        self.inside = Path("/tmp") / self.name  # path as Asterisk sees it
        self.dir = ROOT / self.inside.relative_to("/")
        self.ws_port, self.as_port, self.token = ws_port, as_port, token
        self.proc: subprocess.Popen | None = None
        self.mounted_proc = False

    def write_config(self, sounds: dict[str, np.ndarray]) -> None:
        etc = self.dir / "etc"
        for sub in ("etc", "run", "log", "spool", "lib", "cache", "sounds"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        d = self.inside
        (etc / "asterisk.conf").write_text(f"""[directories]
astetcdir => {d}/etc
astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules
astvarlibdir => {d}/lib
astdbdir => {d}/lib
astkeydir => {d}/lib
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {d}/spool
astrundir => {d}/run
astlogdir => {d}/log
astcachedir => {d}/cache
astsbindir => /usr/sbin
[options]
documentation_language = en_US
""")
        (etc / "modules.conf").write_text("""[modules]
autoload = no
load = res_timing_timerfd.so
load = res_sorcery_config.so
load = res_sorcery_memory.so
load = pbx_config.so
load = app_playback.so
load = app_dial.so
load = app_audiosocket.so
load = res_audiosocket.so
load = res_http_websocket.so
load = res_websocket_client.so
load = chan_websocket.so
load = format_wav.so
load = format_sln.so
load = codec_resample.so
load = codec_ulaw.so
load = codec_alaw.so
load = func_callerid.so
load = func_uri.so
load = func_uuid.so
load = bridge_simple.so
load = res_clioriginate.so
""")
        (etc / "logger.conf").write_text("[general]\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n")
        (etc / "websocket_client.conf").write_text(f"""[hotline]
type = websocket_client
connection_type = per_call_config
uri = ws://127.0.0.1:{self.ws_port}/ws/call
protocols = media
connection_timeout = 2000
reconnect_attempts = 2
""")
        (etc / "chan_websocket.conf").write_text("[global]\ncontrol_message_format = json\n")
        (etc / "extensions.conf").write_text(f"""[general]
[hotline-test]
exten => play16,1,Answer()
 same => n,Playback({d}/sounds/call16)
 same => n,Hangup()
exten => play8,1,Answer()
 same => n,Playback({d}/sounds/call8)
 same => n,Hangup()
exten => ws,1,Set(CALLERID(num)={CALLER})
 same => n,Set(__CALLER_NUMBER=${{CALLERID(num)}})
 same => n,Dial(WebSocket/hotline/c(slin16)v(token={self.token},caller=${{URIENCODE(${{CALLERID(num)}})}}))
 same => n,Hangup()
exten => as,1,Answer()
 same => n,AudioSocket(${{UUID()}},127.0.0.1:{self.as_port})
 same => n,Hangup()
""")
        for name, pcm in sounds.items():
            suffix = ".sln16" if name.endswith("16") else ".sln"
            pcm.tofile(self.dir / "sounds" / f"{name}{suffix}")
        for sub in ("etc", "run", "log", "spool", "lib", "cache", "sounds"):
            os.chmod(self.dir / sub, 0o755)

    def start(self) -> None:
        if not (ROOT / "proc/self").exists():
            subprocess.run(["mount", "-t", "proc", "proc", str(ROOT / "proc")], check=True)
            self.mounted_proc = True
        self.proc = subprocess.Popen(
            ["chroot", str(ROOT), "/usr/sbin/asterisk", "-C", f"{self.inside}/etc/asterisk.conf", "-f", "-n"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"asterisk exited: {self.log()[-2000:]}"
            if (self.dir / "run" / "asterisk.ctl").exists() and "fully booted" in self.cli("core waitfullybooted").lower():
                return
            time.sleep(0.2)
        raise AssertionError(f"asterisk did not boot: {self.log()[-2000:]}")

    def cli(self, command: str, timeout: float = 20) -> str:
        done = subprocess.run(["chroot", str(ROOT), "/usr/sbin/asterisk", "-C", f"{self.inside}/etc/asterisk.conf",
                               "-rx", command], capture_output=True, text=True, timeout=timeout)
        return done.stdout + done.stderr

    def log(self) -> str:
        path = self.dir / "log" / "messages.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(line for line in text.splitlines() if "Remote UNIX connection" not in line)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.cli("core stop now", timeout=10)
                self.proc.wait(timeout=15)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.mounted_proc:
            subprocess.run(["umount", str(ROOT / "proc")], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def hotline_serve(tmp_path_factory):
    """`hotline serve --audiosocket` as an integrator runs it: (http url, audiosocket port, token, db url)."""
    need_asterisk()
    home = tmp_path_factory.mktemp("asterisk-serve")
    db = f"sqlite:///{home / 'hotline.db'}"
    env = {**os.environ, "HOTLINE_HOME": str(home)}
    token = subprocess.run(HOTLINE + ["token", "create", "--name", "pbx", "--db", db], env=env, capture_output=True,
                           text=True, timeout=120, check=True).stdout.strip()
    port, as_port = free_port(), free_port()
    log = open(home / "serve.log", "w")
    proc = subprocess.Popen(HOTLINE + ["serve", "--port", str(port), "--db", db, "--audiosocket", str(as_port),
                                       "--log-level", "info"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, (home / "serve.log").read_text()
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
                if json.load(r).get("model_loaded"):
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "hotline serve did not load its model"
        time.sleep(0.5)
    yield {"url": url, "port": port, "as_port": as_port, "token": token, "db": db, "log": home / "serve.log"}
    proc.terminate()
    proc.wait(timeout=60)
    log.close()


def api(srv: dict, path: str):
    req = urllib.request.Request(srv["url"] + path, headers={"Authorization": f"Bearer {srv['token']}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def wait_for_final_ticket(srv: dict, call_id: str, timeout: float) -> dict:
    """The call's stored ticket once the server has ended the call (it stores the final draft first)."""
    from ticketing import TicketStore

    deadline = time.monotonic() + timeout
    while api(srv, f"/api/calls/{call_id}")["live"]:
        assert time.monotonic() < deadline, f"call {call_id} did not end: {open(srv['log']).read()[-3000:]}"
        time.sleep(1)
    store = TicketStore(srv["db"])
    try:
        ticket = store.get_by_call(call_id)
        assert ticket is not None, f"no ticket stored for {call_id}"
        return {**ticket, "segments": store.segments(call_id)}
    finally:
        store.close()


def test_asterisk_websocket_and_audiosocket_calls_become_tickets(hotline_serve, calls_dir):
    srv = hotline_serve
    ast = Asterisk(srv["port"], srv["as_port"], srv["token"])
    try:
        ast.write_config({"call16": pcm16(calls_dir / f"{CALL}.wav", 16000),
                          "call8": pcm16(calls_dir / f"{CALL}.8k.wav", 8000)})
        ast.start()
        for play, way in (("play16", "ws"), ("play8", "as")):
            out = ast.cli(f"channel originate Local/{play}@hotline-test extension {way}@hotline-test")
            assert not out.strip(), out  # originate prints nothing when it starts the call
        # the call ids are the PBX's (channel id, AudioSocket UUID): the server's live calls show them
        calls: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while len(calls) < 2 and time.monotonic() < deadline:
            calls = {c["owner"]: c["call_id"] for c in api(srv, "/api/calls")}
            time.sleep(0.5)
        assert set(calls) == {"pbx", "audiosocket"}, (calls, ast.log()[-3000:])
        ws_call, as_uuid = calls["pbx"], calls["audiosocket"]
        uuid.UUID(as_uuid)
        tickets = {way: wait_for_final_ticket(srv, cid, timeout=150) for way, cid in
                   (("websocket", ws_call), ("audiosocket", as_uuid))}
    finally:
        log = ast.log()
        ast.stop()
    for way, ticket in tickets.items():
        texts = [s["text"] for s in ticket["segments"]]
        print(way, ticket["call_id"], texts, {k: ticket.get(k) for k in ("category", "district", "road", "phone")})
        assert len(texts) >= 4, (way, texts, log[-2000:])
        transcript = "".join(texts)
        assert "曹杨路" in transcript or "井盖" in transcript, (way, transcript)
        draft = ticket["draft"]
        assert draft["timings"]["audio_s"] > 30, (way, draft["timings"])  # the whole call arrived
        assert ticket["category"], (way, "the nlp part filled the draft")
    ws_draft = tickets["websocket"]["draft"]
    assert ws_draft["caller"]["number"] == CALLER and ws_draft["caller"]["format"] == "slin16"
    assert tickets["audiosocket"]["draft"]["caller"]["uuid"] == as_uuid
