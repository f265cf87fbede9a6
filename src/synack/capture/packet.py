"""Values produced by the capture readers: packets, interfaces and where a damaged file stops."""

from __future__ import annotations

from dataclasses import dataclass

from synack.wire.fastinit import fast_frozen_init

NANOS_PER_SECOND = 1_000_000_000


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class CapturedPacket:
    """One packet record of a capture file.

    `timestamp_ns` is integer nanoseconds since the Unix epoch (converted exactly from the file's
    resolution; resolutions finer than 1 ns are floored). `data` is the captured bytes starting at
    the link-layer header given by `link_type` (a LINKTYPE_* value); `original_length` is the
    length of the packet on the wire (>= len(data) when the capture was cut by a snapshot length).
    `interface` is the index into the reader's `interfaces` (always 0 for pcap).
    """

    timestamp_ns: int
    link_type: int
    data: bytes
    original_length: int
    interface: int = 0


@dataclass(frozen=True, slots=True)
class Truncation:
    """Where and why a damaged or cut capture file stopped being readable.

    `offset` is the byte offset, from the start of the file, of the header or record that is
    incomplete or impossible; every packet before it has been read.
    """

    offset: int
    message: str


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    """A capture interface: the pcap file header, or one pcapng Interface Description Block.

    `ts_units_per_second` is the timestamp resolution (10**6 for microseconds, 10**9 for
    nanoseconds, 2**n for pcapng binary resolutions); `ts_offset_seconds` is the pcapng if_tsoffset
    added to every timestamp. `fcs_length` is the number of frame-check-sequence bytes at the end of
    each frame when the file says so (pcap link-type FCS bits, pcapng if_fcslen), else None.
    """

    link_type: int
    snaplen: int
    name: str | None = None
    ts_units_per_second: int = 1_000_000
    ts_offset_seconds: int = 0
    fcs_length: int | None = None
    section: int = 0


# The fast reader API's record: (timestamp_ns, link_type, data, original_length, interface), the
# fields of CapturedPacket in order, as a plain tuple.
Record = tuple[int, int, bytes, int, int]
