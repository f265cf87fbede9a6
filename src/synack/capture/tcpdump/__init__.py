"""Lines identical to what `TZ=UTC tcpdump -nn -r FILE` (tcpdump 4.99) prints for TCP packets.

The formatter walks the captured bytes the way tcpdump's printers do, including their behaviour
on short captures (`[|tcp]`), malformed headers (`[bad hdr length ...]`, `bad-len`, `[bad opt]`)
and what tcpdump shows without `-e`:

- links: Ethernet (802.1Q/802.1ad tags, 802.3 LLC/SNAP, PPPoE sessions, MPLS labels), Linux
  SLL and SLL2 (interface name and direction), BSD null/loopback, PPP, raw IPv4/IPv6;
- IPv4 (options, fragments, IP-in-IP, GRE) and IPv6 (hop-by-hop, destination options, routing
  incl. segment routing, fragment and AH headers);
- TCP: flags, relative sequence numbers, window, urgent pointer and every option tcpdump names
  (MSS, window scale, SACK, timestamps, MD5, TCP-AO, UTO, TFO, MPTCP, unknown kinds);
- after `length N`, the first line of SMTP, SSH, FTP, HTTP and RTSP payloads.

Not reproduced: other application decoders (DNS, BGP, SMB, NFS ...), tunnels carried over UDP
(VXLAN, Geneve; tcpdump prints their inner packet on a second line), 802.11/radiotap links and
IPv6 jumbograms. The text up to and including `length N` is what must match; tests compare it
packet by packet with the installed tcpdump.

It is stateful like tcpdump: sequence and acknowledgment numbers are printed relative to the
first numbers seen on a connection (see `_SeqTracker`), unless `absolute` (tcpdump `-S`) is set.
"""

from synack.capture.tcpdump.formatter import (
    TcpdumpFormatter,
    trace_capture,
    trace_records,
    write_trace,
)
from synack.capture.tcpdump.text import format_ipv6, format_timestamp

__all__ = [
    "TcpdumpFormatter",
    "format_ipv6",
    "format_timestamp",
    "trace_capture",
    "trace_records",
    "write_trace",
]
