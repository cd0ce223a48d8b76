"""The first message of a call socket, in each dialect the server speaks (docs/server.md,
docs/integration/asterisk.md), parsed into one `CallHello`.

- ours: `{"type":"hello", "sample_rate", "channels", "call_id"?, "hotwords"?, ...}`
- Asterisk chan_websocket: `{"event":"MEDIA_START", "format":"slin16", "channel_id", ...}`
  (or its plain-text form `MEDIA_START connection_id:... format:slin16 ...`)

Everything after the hello (frames, hang-up) is handled the same way for every dialect by
web/ws_call.py and web/live_call.py; what differs is carried by the CallHello's fields.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from web.calls import CallOptions

CALL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

# chan_websocket's media formats (Asterisk format names) -> (sample rate, frame encoding)
ASTERISK_FORMATS: dict[str, tuple[int, str]] = {
    "slin": (8000, "pcm16"), "slin12": (12000, "pcm16"), "slin16": (16000, "pcm16"),
    "slin24": (24000, "pcm16"), "slin32": (32000, "pcm16"), "slin44": (44100, "pcm16"),
    "slin48": (48000, "pcm16"), "ulaw": (8000, "ulaw"), "alaw": (8000, "alaw"),
}
# channel variables worth keeping with the call (the caller's number first)
CALLER_VARIABLES = {
    "CALLERID(num)": "number", "CALLERID_NUM": "number", "CALLER_NUMBER": "number",
    "CALLERID(name)": "name", "CALLERID_NAME": "name", "CALLER_NAME": "name",
    "CALLER": "number", "EXTEN": "exten", "DNID": "dialed",
}
_SECRET_RE = re.compile(r"((?:token|password|secret|api_key)=)[^,&)\s]+", re.I)


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra: dict[str, Any] = {}  # more fields of the error message (e.g. retry_after_s)


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


@dataclass
class CallHello:
    """What a socket's first message says about its call."""

    sample_rate: int
    channels: int = 1
    call_id: str | None = None
    language: str | None = None
    hotwords: list[str] = field(default_factory=list)
    resume_from: int | None = None
    encoding: str = "pcm16"  # what the binary frames carry: pcm16 | ulaw | alaw
    source: str = "client"  # client (our protocol) | asterisk-websocket | audiosocket
    caller: dict[str, Any] = field(default_factory=dict)  # PBX channel data, kept in the draft

    @property
    def from_pbx(self) -> bool:
        """A PBX neither reads our messages nor says `end`: the socket closing is the hang-up."""
        return self.source != "client"


def parse_hello(hello: dict[str, Any], opts: "CallOptions") -> CallHello:
    """Our own hello message (already JSON-decoded, `type` == "hello")."""
    call_id = hello.get("call_id")
    if call_id is not None and (not isinstance(call_id, str) or not CALL_ID_RE.match(call_id)):
        raise ProtocolError("bad_hello", "call_id must be 1-64 characters of letters, digits, . _ : -")
    rate = hello.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or not opts.min_sample_rate <= rate <= opts.max_sample_rate:
        raise ProtocolError("bad_hello", f"sample_rate must be an integer from {opts.min_sample_rate} to {opts.max_sample_rate}")
    channels = hello.get("channels", 1)
    if channels not in (1, 2) or isinstance(channels, bool):
        raise ProtocolError("bad_hello", "channels must be 1 (mono) or 2 (operator left, caller right)")
    language = hello.get("language")
    if language is not None and (not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}", language)):
        raise ProtocolError("bad_hello", "language must be a language code such as zh")
    hotwords = hello.get("hotwords") or []
    if not isinstance(hotwords, list) or not all(isinstance(w, str) and 0 < len(w) <= 32 for w in hotwords):
        raise ProtocolError("bad_hello", "hotwords must be a list of short strings")
    if len(hotwords) > opts.max_hotwords:
        raise ProtocolError("bad_hello", f"at most {opts.max_hotwords} hotwords")
    resume_from = hello.get("resume_from")
    if resume_from is not None and (not isinstance(resume_from, int) or isinstance(resume_from, bool)):
        raise ProtocolError("bad_hello", "resume_from must be the id of the last final segment received")
    return CallHello(call_id=call_id, sample_rate=rate, channels=channels, language=language,
                     hotwords=hotwords, resume_from=resume_from)


# -- Asterisk chan_websocket ------------------------------------------------------------------------

def asterisk_event(text: str) -> dict[str, Any] | None:
    """A chan_websocket control event as a dict, JSON or plain-text form; None if it is not one."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            return None
        return obj if isinstance(obj, dict) and isinstance(obj.get("event"), str) else None
    name, _, rest = stripped.partition(" ")
    if not re.fullmatch(r"[A-Z][A-Z_]+", name):
        return None
    event: dict[str, Any] = {"event": name}
    for part in rest.split():
        key, sep, value = part.partition(":")
        if sep:
            event[key] = value
    return event


def _safe_call_id(value: Any) -> str | None:
    """A PBX id usable as our call_id (Asterisk channel ids are like 1733325972.12)."""
    if not isinstance(value, str) or not value:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9._:-]", "-", value)[:64].lstrip("._:-")
    return cleaned if cleaned and CALL_ID_RE.match(cleaned) else None


def redact(value: str) -> str:
    """Tokens never reach the draft (a dial string such as v(token=...) is a channel variable)."""
    return _SECRET_RE.sub(r"\1***", value)


def caller_info(variables: Any, **known: Any) -> dict[str, Any]:
    """The caller number/name and the channel's identity from PBX channel variables
    (`__CALLER_NUMBER` as inherited by the dialled channel counts as CALLER_NUMBER)."""
    info: dict[str, Any] = {k: redact(v) for k, v in known.items() if isinstance(v, str) and v}
    if isinstance(variables, dict):
        for key, value in variables.items():
            if not isinstance(value, (str, int)) or value == "":
                continue
            plain = str(key).lstrip("_")
            name = CALLER_VARIABLES.get(plain) or CALLER_VARIABLES.get(plain.upper())
            if name and name not in info:
                info[name] = redact(str(value))[:128]
        kept = {str(k)[:64]: redact(str(v))[:256] for k, v in list(variables.items())[:50]
                if isinstance(v, (str, int, float)) and str(k).lower() not in ("token", "password", "api_key")}
        if kept:
            info["variables"] = kept
    return info


def parse_media_start(event: dict[str, Any], opts: "CallOptions") -> CallHello:
    """chan_websocket's MEDIA_START: the format fixes rate and encoding; the channel id is the call."""
    fmt = str(event.get("format") or "").lower()
    if fmt not in ASTERISK_FORMATS:
        raise ProtocolError("bad_hello", f"MEDIA_START format {fmt or '(none)'!r} is not one of "
                                         f"{', '.join(ASTERISK_FORMATS)}; set c(slin16) in Dial(WebSocket/...)")
    rate, encoding = ASTERISK_FORMATS[fmt]
    if not opts.min_sample_rate <= rate <= opts.max_sample_rate:
        raise ProtocolError("bad_hello", f"format {fmt} ({rate} Hz) is outside {opts.min_sample_rate}-{opts.max_sample_rate} Hz")
    call_id = _safe_call_id(event.get("channel_id")) or _safe_call_id(event.get("connection_id"))
    caller = caller_info(event.get("channel_variables"), channel=event.get("channel"),
                         channel_id=event.get("channel_id"), connection_id=event.get("connection_id"),
                         format=fmt)
    return CallHello(sample_rate=rate, channels=1, call_id=call_id, encoding=encoding,
                     source="asterisk-websocket", caller=caller)
