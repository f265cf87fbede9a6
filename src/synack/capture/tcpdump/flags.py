"""TCP control bits and the `Flags [...]` text tcpdump prints for them."""

from __future__ import annotations

from synack.wire.tcp import ACK as _ACK
from synack.wire.tcp import CWR as _CWR
from synack.wire.tcp import ECE as _ECE
from synack.wire.tcp import FIN as _FIN
from synack.wire.tcp import PSH as _PSH
from synack.wire.tcp import RST as _RST
from synack.wire.tcp import SYN as _SYN
from synack.wire.tcp import URG as _URG

# TCP control bits in the order tcpdump prints them (RFC 9293 §3.1; ECE/CWR RFC 3168).
# tcpdump 4.99 reads only the low eight bits, so the AE (ex-NS) bit is never shown.


_FLAG_LETTERS = (
    (_FIN, "F"),
    (_SYN, "S"),
    (_RST, "R"),
    (_PSH, "P"),
    (_ACK, "."),
    (_URG, "U"),
    (_ECE, "E"),
    (_CWR, "W"),
)

_FLAGS_TEXT = tuple(
    "Flags [" + ("".join(letter for bit, letter in _FLAG_LETTERS if value & bit) or "none") + "]"
    for value in range(256)
)
