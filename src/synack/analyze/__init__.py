"""Observer: reconstructs every TCP connection in a capture and both endpoints' states.

    from synack.analyze import analyze_file, states_after_each

`analyze_file(path, on_record)` streams one `ConnectionRecord` per connection as it finishes
(`synack.analyze.parallel.analyze_parallel` gives the same records from several processes, each
taking a share of the flows);
`EndpointStates().after(timestamp_ns, link_type, data)` gives, record by record, the (sender,
receiver) RFC 9293 states after each packet (None when it is not TCP) — what
`synack trace --states` prints; `states_after_each(packets)` does the same over CapturedPackets.

What a record holds (`ConnectionRecord`): Zeek conn.log fields where the meaning is the same
(`ts`, `orig_h`, `orig_p`, `resp_h`, `resp_p`, `duration`, `orig_pkts`, `resp_pkts`, `orig_bytes`,
`resp_bytes`, `conn_state`, `history`), the payload bytes actually seen, how the handshake went
(`completed`, `completed_by_data`, `refused`, `unanswered` with `syn_retransmissions`, `aborted`,
`simultaneous_open`, `reset`, `incomplete`, `not_captured`) and how the connection closed
(`four_way`, `three_segment`, `simultaneous`, `reset_by_orig`/`reset_by_resp` with
`reset_state`, `half_closed`, `close_wait`, `open`, `none`), both endpoints' final RFC 9293
states, the handshake RTT (tshark's tcp.analysis.initial_rtt, when the record holds the whole
handshake) and Wireshark's analysis counts.

Deliberate differences from the tools it is checked against:

- Zeek validates checksums by default; synack does not (captures taken on a sending host carry
  offloaded, invalid checksums). `--verify-checksums` drops bad IPv4/TCP checksums as Zeek does.
- Zeek starts a new record when the responder answers an unanswered SYN with its own SYN; synack
  keeps one connection and reports a simultaneous open (RFC 9293 §3.5 figure 8).
- Application-layer scripts that make Zeek stop reading a connection (GridFTP data channels) are
  not modelled: synack reads every packet.
- `likely_server_ports` (which end of a connection seen without its SYN is the server) is a
  fixed list of the ports Zeek's default analyzers register.
- Content gaps ('G') follow Zeek's reassembler on sequence ranges only; its buffer limits
  (tcp_max_initial_window, above-hole limits) are not modelled, nor sequence wraps beyond 2 GB in
  one direction, nor IP fragments (skipped).
- Wireshark's per-stream analysis state survives Zeek's record boundaries for the 4096 most
  recently finished connections, older ones start afresh; window comparisons use the unscaled
  window field (the same answers while the scale factor is constant, i.e. after the handshake).
- A record reports a handshake RTT only when it saw its own SYN, SYN-ACK and completing ACK or
  data; tshark carries one stream's RTT across incarnations, measures past a SYN-ACK that
  `--verify-checksums` dropped, and up to the RST of a refused SYN.
- A SYN repeating the unanswered SYN of the 4-tuple's previous record (same ISN, a record split
  by Zeek's timeouts) counts in `syn_retransmissions`; a SYN reusing an ISN after a closed
  connection is a new attempt, where tshark calls it a retransmission.
- RFC states are inferred as if every captured segment reached its receiver (a capture point
  between the endpoints); a record's final states are those after its last packet (TIME-WAIT
  is reported as such: its 2 MSL expiry shows in no packet).
"""

from synack.analyze.engine import (
    CaptureStats,
    EndpointStates,
    analyze_file,
    analyze_records,
    states_after_each,
)
from synack.analyze.summary import ConnectionRecord

__all__ = [
    "CaptureStats",
    "ConnectionRecord",
    "EndpointStates",
    "analyze_file",
    "analyze_records",
    "states_after_each",
]
