"""TCP control bits and the `Flags [...]` text tcpdump prints for them."""

from __future__ import annotations

# TCP control bits (RFC 9293 §3.1; ECE/CWR RFC 3168), the values of synack.wire.tcp's, kept here
# so that reading captures does not load the segment codec. tcpdump 4.99 reads only the low
# eight bits, so the AE (ex-NS) bit is never shown.
_FIN, _SYN, _RST, _PSH, _ACK, _URG, _ECE, _CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

# The letters, in the order tcpdump prints them.
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
