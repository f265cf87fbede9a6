"""The sans-I/O TCP core: connection state machine, timers, buffers, RTO, congestion, ISNs.

- `connection.Connection`: one TCB (RFC 9293 §3.3.1). User calls take the time `now` (seconds):
  `connect(now)`, `listen()`, `send(data, now) -> int`, `receive(max_bytes=-1, now=None) -> bytes`,
  `shutdown(now)`, `close(now)`, `abort(now)`; the network feeds `segment_arrived(seg, now)`; the
  clock calls `handle_timer(now)` at `next_deadline()`. Output is pulled: `segments_to_send()`,
  `next_event()`. State and failure: `state`, `error`, `on_transition(conn, old, new, cause)`.
- `events`: StateChanged, Connected, DataReceived, EndOfStream, SendSpaceAvailable,
  ConnectionFailed, ConnectionClosed.
- `config.TcpConfig`: every tunable, Linux's defaults.
- `buffers`, `congestion` (NewReno), `timers.rto` (RFC 6298), `isn` (RFC 6528): the parts.

`synack.host.Host` puts connections on IP packets (demultiplexing, listeners, TIME-WAIT records).
"""
