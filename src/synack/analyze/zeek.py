"""Zeek's view of a TCP connection: endpoint states, `conn_state` and the `history` letters.

Zeek (zeek/zeek, src/packet_analysis/protocol/tcp, base/protocols/conn/main.zeek) keeps a coarse
state per endpoint (inactive, SYN sent, SYN-ACK sent, partial, established, closed, reset) and
summarises a connection in one code, `conn_state`, plus a string of letters, `history`, one per
kind of event and direction (upper case for the originator). The observer reproduces both so that
its records can be compared line for line with a Zeek conn.log.
"""

from __future__ import annotations

import re
from typing import Final

# Zeek's TCP endpoint states (TCP_ENDPOINT_*).
INACTIVE: Final = 0
SYN_SENT: Final = 1
SYN_ACK_SENT: Final = 2
PARTIAL: Final = 3
ESTABLISHED: Final = 4
CLOSED: Final = 5
RESET: Final = 6

STATE_NAMES: Final = (
    "INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED", "CLOSED", "RESET",
)

# History bits, one per letter and direction (the responder's bits are shifted by 16).
HIST_SYN: Final = 0x1
HIST_FIN: Final = 0x2
HIST_RST: Final = 0x4
HIST_FIN_RST: Final = 0x8
HIST_DATA: Final = 0x10
HIST_ACK: Final = 0x20
HIST_MULTI_FLAG: Final = 0x40

# Timers of Zeek's default configuration (init-bare.zeek), in seconds.
ATTEMPT_DELAY: Final = 5.0  # tcp_attempt_delay: a SYN unanswered this long ends the attempt
SYN_TIMEOUT: Final = 5.0  # tcp_SYN_timeout: first expiry check
SESSION_TIMER: Final = 6.0  # tcp_session_timer: later expiry checks
CONNECTION_LINGER: Final = 5.0  # tcp_connection_linger
CLOSE_DELAY: Final = 5.0  # tcp_close_delay: a closed connection is kept this long
RESET_DELAY: Final = 5.0  # tcp_reset_delay
PARTIAL_CLOSE_DELAY: Final = 3.0  # tcp_partial_close_delay
INACTIVITY_TIMEOUT: Final = 300.0  # tcp_inactivity_timeout
HANDSHAKE_INACTIVITY_TIMEOUT: Final = 60.0  # before the handshake completes
TOO_LARGE_SEQ_DELTA: Final = 1_048_576

# Ports Zeek considers likely servers (`likely_server_ports`, filled by the analyzers its default
# scripts load). A connection whose first packet is not a SYN is turned around when only the
# source port is in this set.
LIKELY_SERVER_PORTS: Final = frozenset({
    21, 22, 23, 25, 53, 80, 88, 110, 111, 135, 139, 143, 179, 389, 443, 445, 465, 502, 514, 587,
    631, 636, 989, 990, 992, 993, 995, 1080, 1194, 1433, 1521, 1723, 1812, 1813, 2049, 2083,
    2087, 2096, 2811, 3128, 3268, 3306, 3389, 4369, 5060, 5061, 5222, 5269, 5432, 5672, 5900,
    6379, 6666, 6667, 6668, 6669, 8000, 8080, 8081, 8443, 8888, 9200, 11211, 20000, 27017,
})

_RSTOS0: Final = re.compile(r"\^?S[^HAFGIQ]*R.*")


def conn_state(orig: int, resp: int, orig_size: int, resp_size: int, history: str) -> str:
    """Zeek's `conn_state` code from both endpoints' final states (base/protocols/conn)."""
    o_inactive = orig in (INACTIVE, PARTIAL)
    r_inactive = resp in (INACTIVE, PARTIAL)
    if resp == RESET:
        if orig in (SYN_SENT, SYN_ACK_SENT) or (
            orig == RESET and orig_size == 0 and resp_size == 0
        ):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if orig == RESET:
        if r_inactive:
            return "RSTOS0" if _RSTOS0.fullmatch(history) else "OTH"
        return "RSTO"
    if resp == CLOSED and orig == CLOSED:
        return "SF"
    if orig == CLOSED:
        return "SH" if r_inactive else "S2"
    if resp == CLOSED:
        return "SHR" if o_inactive else "S3"
    if orig == SYN_SENT and resp == INACTIVE:
        return "S0"
    if orig == ESTABLISHED and resp == ESTABLISHED:
        return "S1"
    return "OTH"


CONN_STATE_MEANING: Final = {
    "S0": "connection attempt seen, no reply",
    "S1": "established, not terminated",
    "SF": "normal establishment and termination",
    "REJ": "connection attempt rejected",
    "S2": "established, originator closed, no reply from responder",
    "S3": "established, responder closed, no reply from originator",
    "RSTO": "established, originator aborted (RST)",
    "RSTR": "responder sent a RST",
    "RSTOS0": "originator sent a SYN then a RST, no SYN-ACK seen",
    "RSTRH": "responder sent a SYN-ACK then a RST, no SYN seen from the originator",
    "SH": "originator sent a SYN then a FIN, no SYN-ACK seen (half open)",
    "SHR": "responder sent a SYN-ACK then a FIN, no SYN seen from the originator",
    "OTH": "no SYN seen, midstream traffic",
}
