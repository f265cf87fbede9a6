"""The classic pcap format: file header, streaming record parser and writer.

Format: draft-ietf-opsawg-pcap. A 24-byte file header (magic, version 2.4, snaplen, link type)
then records of a 16-byte header (seconds, micro- or nanoseconds, captured length, original
length) and the captured bytes. The magic's byte order is the file's byte order; 0xa1b2c3d4 means
microsecond and 0xa1b23c4d nanosecond timestamps. The "modified" format of old Linux patches
(magic 0xa1b2cd34) adds 8 bytes (ifindex, protocol, packet type) to each record header.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from synack.capture import share
from synack.capture.packet import NANOS_PER_SECOND, InterfaceInfo, Record
from synack.capture.share import ShareSkip
from synack.capture.stream import Stream
from synack.wire.errors import ParseError

MAGIC_MICRO = 0xA1B2C3D4
MAGIC_NANO = 0xA1B23C4D
MAGIC_MODIFIED = 0xA1B2CD34  # Kuznetzov's patched libpcap: 24-byte record headers, microseconds
FILE_HEADER_LEN = 24

# Largest captured length accepted whatever the header's snaplen says (Wireshark's
# WTAP_MAX_PACKET_SIZE_STANDARD, libpcap's MAXIMUM_SNAPLEN); a larger snaplen raises the bound up to
# SNAPLEN_CEILING. A record beyond the bound is a damaged file, not a packet.
MAX_CAPLEN = 262_144
SNAPLEN_CEILING = 1 << 26

# Link-type field layout (draft-ietf-opsawg-pcap §4): FCS len (4 bits) | R | P | reserved | type.
LINKTYPE_MASK = 0x0000FFFF
FCS_PRESENT = 0x04000000

_MAGICS: dict[bytes, tuple[str, bool, bool]] = {}  # magic bytes -> (endian, nanosecond, modified)
for _magic, _nano, _modified in (
    (MAGIC_MICRO, False, False),
    (MAGIC_NANO, True, False),
    (MAGIC_MODIFIED, False, True),
):
    _MAGICS[struct.pack("<I", _magic)] = ("<", _nano, _modified)
    _MAGICS[struct.pack(">I", _magic)] = (">", _nano, _modified)


def is_pcap_magic(first4: bytes) -> bool:
    return first4 in _MAGICS


def magic_endian(first4: bytes) -> str:
    """The struct byte-order prefix ("<" or ">") a pcap magic announces."""
    return _MAGICS[first4][0]


@dataclass(frozen=True, slots=True)
class PcapHeader:
    endian: str  # "<" or ">"
    nanosecond: bool
    modified: bool
    version: tuple[int, int]
    snaplen: int
    link_type: int
    fcs_length: int | None

    @property
    def caplen_limit(self) -> int:
        return max(MAX_CAPLEN, min(self.snaplen, SNAPLEN_CEILING))

    def interface(self) -> InterfaceInfo:
        return InterfaceInfo(
            link_type=self.link_type,
            snaplen=self.snaplen,
            ts_units_per_second=NANOS_PER_SECOND if self.nanosecond else 1_000_000,
            fcs_length=self.fcs_length,
        )


def parse_header(head: bytes) -> PcapHeader:
    """Decode the 24-byte file header (`head` starts with a known magic and has 24 bytes)."""
    endian, nanosecond, modified = _MAGICS[head[:4]]
    major, minor, _zone, _sigfigs, snaplen, field = struct.unpack_from(endian + "HHiIII", head, 4)
    if major != 2:
        raise ParseError("pcap", 4, "version", f"unsupported pcap version {major}.{minor}")
    fcs_length = ((field >> 28) & 0xF) * 2 if field & FCS_PRESENT else None
    return PcapHeader(
        endian=endian,
        nanosecond=nanosecond,
        modified=modified,
        version=(major, minor),
        snaplen=snaplen,
        link_type=field & LINKTYPE_MASK,
        fcs_length=fcs_length,
    )


def iter_pcap(st: Stream, hdr: PcapHeader, skip: ShareSkip | None = None) -> Iterator[Record]:
    """Yield the records that follow the file header, streaming from `st` (its `off` is after it).

    Stops at the end of the file; a cut or impossible record sets `st.truncated`. With `skip`,
    other shares' common Ethernet frames before `skip.until_ns` are passed over unread (see
    `share.ShareSkip`): one struct call per record reads its header and the flow hash's bytes.
    """
    unpack = struct.Struct(hdr.endian + "IIII").unpack_from
    hsize = 24 if hdr.modified else 16
    frac_mul = 1 if hdr.nanosecond else 1000
    limit = hdr.caplen_limit
    lt = hdr.link_type
    buf, off, base = st.buf, st.off, st.base
    more = st.more
    n = 0  # packets yielded; read live through Stream.count_of(generator)
    if skip is not None:
        # The record header and an IPv4 frame's prefix in one call, in the file's byte order:
        # the EtherType and the ports then read byte-swapped in a little-endian file.
        little = hdr.endian == "<"
        head_v4 = struct.Struct(
            hdr.endian + "IIII" + ("8x" if hdr.modified else "") + "12xHB14xB3xBHH"
        ).unpack_from
        v6_prefix = share.V6_PREFIX.unpack_from
        et_v4 = 0x0008 if little else share.ETHERTYPE_IPV4
        et_v6 = 0xDD86 if little else share.ETHERTYPE_IPV6
        table = share.share_table(skip.shares)
        table_v4 = share.swapped_share_table(skip.shares) if little else table
        shift_v4 = 8 if little else 0  # the address bytes' place in the (swapped) hash
        mine = skip.mine
        v4_need = share.V4_NEED
        v6_need = share.V6_NEED
        # Timestamps are compared with `until` relative to its second, so that the products
        # stay small integers: (sec - until_sec) * 10**9 + frac * frac_mul < until_rel.
        until = skip.until_ns
        until_sec = until // 1_000_000_000
        until_rel = until - until_sec * 1_000_000_000
    try:
        while True:
            end = len(buf)
            data = off + hsize  # where the record's bytes start (its header is before them)
            if skip is None:
                # Hot loop: one unpack, one slice, one tuple per packet.
                while data <= end:
                    sec, frac, incl, orig = unpack(buf, data - hsize)
                    nxt = data + incl
                    if nxt > end or incl > limit:
                        break
                    n += 1
                    yield (sec * 1_000_000_000 + frac * frac_mul, lt, buf[data:nxt], orig, 0)
                    data = nxt + hsize
            else:
                stop = end - v4_need  # a record whose bytes start here has an IPv4 prefix
                while data <= end:
                    if data <= stop:
                        sec, frac, incl, orig, et, vihl, a, b, p, q = head_v4(buf, data - hsize)
                    else:
                        sec, frac, incl, orig = unpack(buf, data - hsize)
                        et = 0
                    nxt = data + incl
                    if nxt > end or incl > limit:
                        break
                    n += 1
                    owner = -1
                    if et == et_v4:
                        if vihl == 0x45 and incl >= v4_need:
                            owner = table_v4[p ^ q ^ ((a ^ b) << shift_v4)]
                    elif et == et_v6 and incl >= v6_need:
                        _et, nh, a, b, p, q = v6_prefix(buf, data)
                        if nh == 6:
                            owner = table[p ^ q ^ a ^ b]
                    if (
                        owner != mine and owner >= 0
                        and (sec - until_sec) * 1_000_000_000 + frac * frac_mul < until_rel
                    ):
                        data = nxt + hsize
                        continue
                    skip.number = n
                    skip.owner = owner
                    yield (sec * 1_000_000_000 + frac * frac_mul, lt, buf[data:nxt], orig, 0)
                    if skip.until_ns != until:
                        until = skip.until_ns
                        until_sec = until // 1_000_000_000
                        until_rel = until - until_sec * 1_000_000_000
                    data = nxt + hsize
            off = data - hsize
            if data <= end:
                incl = unpack(buf, off)[2]
                if incl > limit:
                    st.stop(
                        base + off,
                        f"packet record at offset {base + off}: captured length {incl} is"
                        f" impossible (snaplen {hdr.snaplen}, maximum {limit})",
                    )
                    return
                need = data + incl - end
            else:
                need = data - end
            chunk = more(need)
            if not chunk:
                if off < end:
                    have = end - off
                    if have < hsize:
                        what = f"the packet record header ({have} of {hsize} bytes)"
                    else:
                        what = f"packet data ({have - hsize} of {incl} captured bytes)"
                    st.stop(base + off, f"file ends at offset {base + end} inside {what}")
                return
            buf = buf[off:] + chunk if off < end else chunk
            base += off
            off = 0
    finally:
        st.packets_read = n
        if skip is not None:
            skip.number = n


class PcapWriter:
    """Writes a little-endian pcap file: header at once, then one record per `write`.

    `file` is a binary file the caller owns (opened "wb"); nothing is closed here.
    """

    def __init__(
        self,
        file: BinaryIO,
        link_type: int,
        *,
        nanosecond: bool = False,
        snaplen: int = MAX_CAPLEN,
    ) -> None:
        if not 0 <= link_type <= LINKTYPE_MASK:
            raise ValueError(f"link type {link_type} out of range")
        if not 0 < snaplen < 2**32:
            raise ValueError(f"snaplen {snaplen} out of range")
        self.file = file
        self.link_type = link_type
        self.nanosecond = nanosecond
        self.snaplen = snaplen
        self._divisor = 1 if nanosecond else 1000
        self._pack = struct.Struct("<IIII").pack
        magic = MAGIC_NANO if nanosecond else MAGIC_MICRO
        file.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, link_type))

    def write(self, timestamp_ns: int, data: bytes, original_length: int | None = None) -> None:
        """Append one packet; bytes beyond the snaplen are cut (original_length keeps the size)."""
        sec, frac = divmod(timestamp_ns, NANOS_PER_SECOND)
        if not 0 <= sec < 2**32:
            raise ValueError(f"timestamp {timestamp_ns} ns does not fit a pcap record")
        size = len(data)
        orig = size if original_length is None else original_length
        if size > self.snaplen:
            data = data[: self.snaplen]
            size = self.snaplen
        if not size <= orig < 2**32:
            raise ValueError(f"original length {orig} smaller than the {size} captured bytes")
        self.file.write(self._pack(sec, frac // self._divisor, size, orig))
        self.file.write(data)

    def flush(self) -> None:
        self.file.flush()
