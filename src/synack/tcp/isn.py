"""Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, secret).

M is a 4-microsecond clock (RFC 9293 §3.4.1) derived from `now`; F is a keyed BLAKE2s hash, so ISNs
of different connections are unrelated and unpredictable without the secret.
"""

from __future__ import annotations

import hashlib

from synack.wire.seq import SEQ_MASK


class IsnGenerator:
    """Computes ISNs (and the per-connection timestamp offset Linux derives the same way)."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: bytes) -> None:
        # blake2s keys are at most 32 bytes: derive one of exactly that size from any secret.
        key = hashlib.blake2s(secret, digest_size=32).digest()
        # The keyed state after the key block; each hash starts from a copy of it.
        self._keyed = hashlib.blake2s(key=key, digest_size=4)

    def _hash(
        self, tag: bytes, local: bytes, local_port: int, remote: bytes, remote_port: int
    ) -> int:
        h = self._keyed.copy()
        h.update(
            tag + local + local_port.to_bytes(2, "big") + remote + remote_port.to_bytes(2, "big")
        )
        return int.from_bytes(h.digest(), "big")

    def isn(
        self, local: bytes, local_port: int, remote: bytes, remote_port: int, now: float
    ) -> int:
        """RFC 6528 §3: the ISN for this 4-tuple (packed addresses) at time `now` (seconds)."""
        clock = int(now * 250_000)  # one tick every 4 µs
        return (clock + self._hash(b"isn", local, local_port, remote, remote_port)) & SEQ_MASK

    def isn_and_ts_offset(
        self, local: bytes, local_port: int, remote: bytes, remote_port: int, now: float
    ) -> tuple[int, int]:
        """`isn(...)` and `ts_offset(...)` of one 4-tuple, together (the tuple encoded once)."""
        four = local + local_port.to_bytes(2, "big") + remote + remote_port.to_bytes(2, "big")
        h = self._keyed.copy()
        h.update(b"isn" + four)
        t = self._keyed.copy()
        t.update(b"ts" + four)
        clock = int(now * 250_000)  # one tick every 4 µs
        return (clock + int.from_bytes(h.digest(), "big")) & SEQ_MASK, int.from_bytes(
            t.digest(), "big"
        )

    def ts_offset(self, local: bytes, local_port: int, remote: bytes, remote_port: int) -> int:
        """RFC 7323 §7.1: a per-connection random offset for TSval (as Linux's tsoffset)."""
        return self._hash(b"ts", local, local_port, remote, remote_port)
