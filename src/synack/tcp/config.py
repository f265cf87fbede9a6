"""Tunables of the TCP core, with Linux's defaults where the RFC leaves room."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(slots=True)
class TcpConfig:
    """TCP settings; one instance is shared by every connection of a host, unless a connection
    is given its own (`Host.connect` / `Host.listen` with `config=`, as socket options do).

    Times are in seconds, sizes in bytes.
    """

    # RFC 9293 §3.7.1: the MSS we announce (1460 = Ethernet MTU 1500 - 40); 536 assumed when absent.
    mss: int = 1460
    default_peer_mss_ipv4: int = 536
    default_peer_mss_ipv6: int = 1220
    # RFC 7323 window scaling (Linux: 7 for the default tcp_rmem maximum); None disables the option.
    window_scale: int | None = 7
    sack: bool = True  # RFC 2018 SACK-permitted on SYN / SYN-ACK, SACK blocks on out-of-order data
    timestamps: bool = True  # RFC 7323 timestamps (Linux: 1 ms clock)
    # Receive window space; the initial window is this rounded down to a multiple of the MSS
    # (65536 -> 64240 in a SYN, 65160 in a SYN-ACK with timestamps, as Linux).
    rcv_buf: int = 65536
    snd_buf: int = 131072
    initial_cwnd_segments: int = 10  # RFC 6928
    # RFC 9293 §3.7.4 (RFC 896) Nagle algorithm, unless a connection sets TCP_NODELAY: a segment
    # shorter than the MSS that would not carry a FIN waits for an ACK. "minshall": while an
    # earlier short segment is unacknowledged (Linux tcp_nagle_check); "rfc896": while any data
    # is (FreeBSD tcp_output); None: never (every connection as if TCP_NODELAY were set).
    nagle: Literal["minshall", "rfc896"] | None = "minshall"
    nodelay: bool = False  # TCP_NODELAY on the connections made with these settings
    # RFC 9293 §3.8.4 keep-alives: off unless asked for (SO_KEEPALIVE, MUST-25); Linux's
    # tcp_keepalive_time (at least two hours, MUST-28), _intvl and _probes (TCP_KEEPIDLE,
    # TCP_KEEPINTVL, TCP_KEEPCNT).
    keepalive: bool = False
    keepalive_idle: float = 7200.0
    keepalive_interval: float = 75.0
    keepalive_probes: int = 9
    # RFC 6298 retransmission timeout.
    rto_initial: float = 1.0
    rto_min: float = 0.2  # Linux TCP_RTO_MIN
    rto_max: float = 120.0  # Linux TCP_RTO_MAX
    syn_retries: int = 6  # Linux tcp_syn_retries: SYN retransmissions before TimeoutError
    synack_retries: int = 5  # Linux tcp_synack_retries
    data_retries: int = 15  # Linux tcp_retries2
    # Give up an unfinished handshake after this long (FreeBSD TCP_KEEPINIT); None: retries only.
    syn_timeout: float | None = None
    # SYN retransmissions after this many carry only the MSS option (FreeBSD rexmit_drop_options
    # drops them at the third); None keeps the options.
    syn_drop_options_after: int | None = None
    # RFC 9293 §3.3.2: MSL; TIME-WAIT lasts 2 * MSL.
    msl: float = 120.0
    fin_wait_2_timeout: float = 60.0  # Linux tcp_fin_timeout for orphaned connections
    delayed_ack: float = 0.04  # Linux TCP_DELACK_MIN; 0 acknowledges every segment at once
    quick_acks: int = 16  # Linux TCP_MAX_QUICKACKS: first segments acknowledged at once
    persist_min: float = 0.2  # first zero-window probe interval (then RTO backoff)
    # RFC 5961: §3 exact-match RST (in-window RST -> challenge ACK), §4 SYN -> challenge ACK,
    # §5 ACK range check. False gives the RFC 793 behaviour.
    rfc5961_rst: bool = True
    rfc5961_syn: bool = True
    rfc5961_ack: bool = True
    challenge_ack_limit: int = 1000  # per second per host (Linux tcp_challenge_ack_limit)
    rfc1337: bool = False  # ignore RST in TIME-WAIT (RFC 1337 "F1", FreeBSD); Linux accepts it
    # Linux / FreeBSD: a SYN above RCV.NXT reopens a connection in TIME-WAIT; False: RFC 9293 /
    # RFC 5961 handling (challenge ACK, or RST with RFC 793 rules).
    time_wait_accepts_syn: bool = True
    drop_synfin: bool = False  # drop SYN+FIN segments in LISTEN (FreeBSD net.inet.tcp.drop_synfin)
    rst_on_unread_close: bool = True  # Linux: close() with unread data sends RST (RFC 2525 §2.17)
    # RFC 3168 ECN, numbered as Linux tcp_ecn / FreeBSD ecn.enable: 0 off, 1 request it on
    # connect() and accept it, 2 accept it when a peer requests it (but never request it).
    ecn: int = 2
    # Retransmitted SYNs still requesting ECN (FreeBSD ecn.maxretries; Linux: 0, only the first).
    ecn_syn_retries: int = 0
    # TCP_NOOPT: SYN / SYN-ACK carry no option at all (not even MSS), so none is negotiated.
    no_options: bool = False
    # RFC 7323 §3.2: once timestamps are negotiated, drop non-RST segments without them (FreeBSD
    # tolerate_missing_ts=0); False accepts them, as Linux.
    drop_missing_timestamps: bool = False
    # RFC 7323 §5 PAWS: a segment whose TSval is older than TS.Recent is dropped and answered with
    # an ACK (Linux and FreeBSD); False accepts it (sequence checks only).
    paws: bool = True

    @property
    def time_wait(self) -> float:
        """RFC 9293 §3.3.2: the TIME-WAIT duration, 2 * MSL."""
        return 2.0 * self.msl
