"""Frame decoders for the call sockets: what a PBX sends -> little-endian PCM16 bytes.

G.711 (ITU-T) mu-law and A-law, by 256-entry tables (the same values as Python's former
audioop.ulaw2lin / alaw2lin).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype("<i2")


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype("<i2")


ULAW = _ulaw_table()
ALAW = _alaw_table()


def decode_ulaw(data: bytes) -> bytes:
    return ULAW[np.frombuffer(data, dtype=np.uint8)].tobytes()


def decode_alaw(data: bytes) -> bytes:
    return ALAW[np.frombuffer(data, dtype=np.uint8)].tobytes()


def _pcm16(data: bytes) -> bytes:
    return data


DECODERS: dict[str, Callable[[bytes], bytes]] = {"pcm16": _pcm16, "ulaw": decode_ulaw, "alaw": decode_alaw}


def decoder(encoding: str) -> Callable[[bytes], bytes]:
    """bytes of `encoding` -> PCM16 bytes; KeyError for an unknown encoding."""
    return DECODERS[encoding]
