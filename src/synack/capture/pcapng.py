"""The pcapng format: streaming block parser and writer.

Format: draft-ietf-opsawg-pcapng. A file is a sequence of blocks `type, total length, body, total
length`, each a multiple of 4 bytes. A Section Header Block (SHB) starts each section and fixes its
byte order; Interface Description Blocks (IDB) number the section's interfaces from 0 with their
link type, snaplen and timestamp resolution (if_tsresol) and offset (if_tsoffset); packets come in
Enhanced (EPB), Simple (SPB) and the obsolete Packet Blocks (OPB). Other blocks are skipped.

Interfaces are numbered across the whole file in the order their IDBs appear (as Wireshark's
frame.interface_id), so a packet's `interface` indexes the reader's `interfaces` whatever section
it is in.

Given a `share.ShareSkip`, the reader passes over other shares' common Ethernet frames in EPBs and
SPBs without slicing or yielding them (see `iter_pcapng`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import BinaryIO

from synack.capture import share
from synack.capture.packet import NANOS_PER_SECOND, InterfaceInfo, Record
from synack.capture.share import ShareSkip
from synack.capture.stream import Stream

SHB = 0x0A0D0D0A
IDB = 0x00000001
OPB = 0x00000002  # obsolete Packet Block
SPB = 0x00000003
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAGIC = struct.pack("<I", SHB)  # the same in both byte orders

# Blocks longer than this are a damaged length field, not data (libpcap's MAX_BLOCK_SIZE bound).
MAX_BLOCK_LEN = 16 * 1024 * 1024

OPT_ENDOFOPT = 0
OPT_SHB_USERAPPL = 4
OPT_IF_NAME = 2
OPT_IF_TSRESOL = 9
OPT_IF_FCSLEN = 13
OPT_IF_TSOFFSET = 14

_BOMS = {struct.pack("<I", BYTE_ORDER_MAGIC): "<", struct.pack(">I", BYTE_ORDER_MAGIC): ">"}
_NAMES = {
    SHB: "section header",
    IDB: "interface description",
    OPB: "packet",
    SPB: "simple packet",
    EPB: "enhanced packet",
}


def byte_order(bom: bytes) -> str | None:
    """The struct byte-order prefix for a section's byte-order magic, or None if invalid."""
    return _BOMS.get(bom)


class _Corrupt(Exception):
    """An impossible block: stops reading at `offset` (internal to this module)."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


class _Section:
    """Per-section parse state: byte order and the fast timestamp table of its interfaces."""

    __slots__ = ("endian", "fast", "first", "number")

    def __init__(self, endian: str, first: int, number: int) -> None:
        self.endian = endian
        self.first = first  # global index of this section's interface 0
        self.number = number
        # Per interface: (link_type, ts multiplier, ts divisor, ts offset ns, global index)
        self.fast: list[tuple[int, int, int, int, int]] = []


Section = _Section  # for a reader to keep what `prime` returns


def _options(buf: bytes, start: int, stop: int, endian: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of each option in buf[start:stop]; a malformed option ends the list."""
    unpack = struct.Struct(endian + "HH").unpack_from
    while start + 4 <= stop:
        code, length = unpack(buf, start)
        if code == OPT_ENDOFOPT or start + 4 + length > stop:
            return
        yield code, buf[start + 4 : start + 4 + length]
        start += 4 + ((length + 3) & ~3)


def _interface(buf: bytes, off: int, length: int, sec: _Section) -> InterfaceInfo:
    e = sec.endian
    link_type, _reserved, snaplen = struct.unpack_from(e + "HHI", buf, off + 8)
    name = None
    units = 1_000_000
    offset_s = 0
    fcs = None
    for code, value in _options(buf, off + 16, off + length - 4, e):
        if code == OPT_IF_NAME:
            name = value.rstrip(b"\0").decode("utf-8", "replace")
        elif code == OPT_IF_TSRESOL and len(value) >= 1:
            # MSB clear: 10**-n seconds; MSB set: 2**-n seconds.
            units = 2 ** (value[0] & 0x7F) if value[0] & 0x80 else 10 ** value[0]
        elif code == OPT_IF_TSOFFSET and len(value) >= 8:
            offset_s = struct.unpack_from(e + "q", value)[0]
        elif code == OPT_IF_FCSLEN and len(value) >= 1:
            fcs = value[0]
    return InterfaceInfo(link_type, snaplen, name, units, offset_s, fcs, sec.number)


def _add_interface(st: Stream, sec: _Section, info: InterfaceInfo) -> None:
    # ts_ns = ticks * 10**9 / units exactly, floored when the resolution is finer than 1 ns.
    g = math.gcd(NANOS_PER_SECOND, info.ts_units_per_second)
    sec.fast.append(
        (
            info.link_type,
            NANOS_PER_SECOND // g,
            info.ts_units_per_second // g,
            info.ts_offset_seconds * NANOS_PER_SECOND,
            len(st.interfaces),
        )
    )
    st.interfaces.append(info)


def _block_length(buf: bytes, off: int, sec: _Section, base: int) -> tuple[int, int, str]:
    """(type, total length, byte order) of the block at `off` (12 bytes available), validated."""
    e = sec.endian
    btype, length = struct.unpack_from(e + "II", buf, off)
    if btype == SHB:
        bom = buf[off + 8 : off + 12]
        found = _BOMS.get(bom)
        if found is None:
            raise _Corrupt(
                base + off,
                f"section header at offset {base + off} has an invalid"
                f" byte-order magic 0x{bom.hex()}",
            )
        e = found
        length = struct.unpack_from(e + "I", buf, off + 4)[0]
    if length < 12 or length & 3 or length > MAX_BLOCK_LEN:
        name = _NAMES.get(btype, f"type 0x{btype:08x}")
        raise _Corrupt(
            base + off, f"{name} block at offset {base + off} has an impossible length {length}"
        )
    return btype, length, e


def _block(
    st: Stream, sec: _Section, buf: bytes, off: int, btype: int, length: int, endian: str, base: int
) -> Record | _Section | None:
    """Process one complete block: a packet record, a new section, or None (consumed/skipped)."""
    at = base + off
    e = endian
    if struct.unpack_from(e + "I", buf, off + length - 4)[0] != length:
        raise _Corrupt(at, f"block at offset {at}: trailing length does not match {length}")
    name = _NAMES.get(btype, "")
    if btype == SHB:
        if length < 28:
            raise _Corrupt(at, f"section header at offset {at} is too short ({length} bytes)")
        major, minor = struct.unpack_from(e + "HH", buf, off + 12)
        if major != 1:
            raise _Corrupt(
                at, f"section header at offset {at}: unsupported version {major}.{minor}"
            )
        return _Section(e, len(st.interfaces), sec.number + 1)
    if btype == IDB:
        if length < 20:
            raise _Corrupt(at, f"{name} block at offset {at} is too short ({length} bytes)")
        _add_interface(st, sec, _interface(buf, off, length, sec))
        return None
    if btype in (EPB, OPB):
        if length < 32:
            raise _Corrupt(at, f"{name} block at offset {at} is too short ({length} bytes)")
        if btype == EPB:
            ifid, high, low, cap, orig = struct.unpack_from(e + "IIIII", buf, off + 8)
        else:
            ifid, _drops, high, low, cap, orig = struct.unpack_from(e + "HHIIII", buf, off + 8)
        if cap > length - 32:
            raise _Corrupt(
                at,
                f"{name} block at offset {at}: captured length {cap} exceeds"
                f" the block ({length} bytes)",
            )
        if ifid >= len(sec.fast):
            raise _Corrupt(
                at,
                f"{name} block at offset {at}: interface {ifid} not described"
                f" (section has {len(sec.fast)})",
            )
        lt, mul, div, ts_off, index = sec.fast[ifid]
        ts = ((high << 32) | low) * mul // div + ts_off
        return (ts, lt, buf[off + 28 : off + 28 + cap], orig, index)
    if btype == SPB:
        # No timestamp; interface 0; captured length = min(original, snaplen) (pcapng §4.4).
        if length < 16:
            raise _Corrupt(at, f"{name} block at offset {at} is too short ({length} bytes)")
        if not sec.fast:
            raise _Corrupt(at, f"{name} block at offset {at}: no interface described")
        orig = struct.unpack_from(e + "I", buf, off + 8)[0]
        snaplen = st.interfaces[sec.first].snaplen
        cap = min(orig, length - 16)
        if snaplen:
            cap = min(cap, snaplen)
        lt, _mul, _div, _ts_off, index = sec.fast[0]
        return (0, lt, buf[off + 12 : off + 12 + cap], orig, index)
    return None  # statistics, name resolution, secrets, custom and unknown blocks


# A section interface as the skipping reader sees it: (link type, high and low 32 bits of the
# least tick count whose timestamp is not before the deadline, ts multiplier, ts divisor, ts
# offset ns, global index).
_SkipInterface = tuple[int, int, int, int, int, int, int]


def _skip_interfaces(sec: _Section, until_ns: int) -> list[_SkipInterface]:
    """The section's interfaces with the deadline `until_ns` in each one's timestamp units.

    A timestamp ticks * mul // div + ts_off is before `until_ns` exactly when ticks is below
    ceil((until_ns - ts_off) * div / mul): a block is judged by its two tick words as they are.
    """
    out = []
    for lt, mul, div, ts_off, index in sec.fast:
        ticks = -((ts_off - until_ns) * div // mul)
        out.append((lt, ticks >> 32, ticks & 0xFFFFFFFF, mul, div, ts_off, index))
    return out


def open_section(head: bytes) -> _Section:
    """The first section of a file starting with `head` (12+ bytes, byte order already checked)."""
    return _Section(_BOMS[head[8:12]], 0, -1)  # numbered 0 once its SHB is processed


def prime(st: Stream, sec: _Section) -> _Section:
    """Consume the leading SHB and IDBs already in the buffer so interfaces are known early.

    Stops quietly at the first packet, incomplete or damaged block; iteration resumes there.
    """
    buf, off = st.buf, st.off
    while len(buf) - off >= 12:
        try:
            btype, length, e = _block_length(buf, off, sec, st.base)
            if btype not in (SHB, IDB) or off + length > len(buf):
                break
            if btype == SHB and off != 0:
                break
            result = _block(st, sec, buf, off, btype, length, e, st.base)
        except _Corrupt:
            break
        if isinstance(result, _Section):
            sec = result
        off += length
    st.off = off
    return sec


def iter_pcapng(st: Stream, sec: _Section, skip: ShareSkip | None = None) -> Iterator[Record]:
    """Yield every packet from `st.off` on; damage or a cut file sets `st.truncated`.

    With `skip`, other shares' common Ethernet frames before `skip.until_ns` are passed over
    unread (see `share.ShareSkip`): one struct call reads an EPB's header and the flow hash's
    bytes (and the previous block's trailing length), and its timestamp is compared in the
    interface's ticks (`_skip_interfaces`). An SPB (timestamp 0) is passed over likewise; other
    records are judged once the careful step has read them. Blocks are checked, and the file
    read, exactly as without `skip`, so the records, their numbers and `st.truncated` agree.
    """
    buf, off, base = st.buf, st.off, st.base
    more = st.more
    n = 0  # packets yielded (with `skip`: passed); read live through Stream.count_of(generator)
    if skip is not None:
        mine = skip.mine
        shares = skip.shares
        table = share.share_table(shares)
        swapped = share.swapped_share_table(shares)
        v4_need = share.V4_NEED
        v6_need = share.V6_NEED
        v6_prefix = share.V6_PREFIX.unpack_from
        epb_need = 28 + v4_need  # an EPB's header and an IPv4 frame's prefix
        until = skip.until_ns
    try:
        while True:  # once per section byte order
            e = sec.endian
            epb = struct.Struct(e + "IIIIIII").unpack_from
            u32 = struct.Struct(e + "I").unpack_from
            fast = sec.fast
            if skip is not None:
                # The block header and an IPv4 frame's prefix in one call (`next_v4`: preceded by
                # the previous block's trailing length), in the section's byte order: the
                # EtherType and the ports then read byte-swapped when little-endian.
                little = e == "<"
                epb_v4 = struct.Struct(e + "IIIIIII" + "12xHB14xB3xBHH").unpack_from
                next_v4 = struct.Struct(e + "IIIIIIII" + "12xHB14xB3xBHH").unpack_from
                et_v4 = 0x0008 if little else share.ETHERTYPE_IPV4
                et_v6 = 0xDD86 if little else share.ETHERTYPE_IPV6
                table_v4 = swapped if little else table
                shift_v4 = 8 if little else 0  # the address bytes' place in the (swapped) hash
                ifs = _skip_interfaces(sec, until)
            new_section = None
            while new_section is None:
                end = len(buf)
                if skip is None:
                    # Hot loop: well-formed EPBs of described interfaces.
                    while off + 28 <= end:
                        btype, length, ifid, high, low, cap, orig = epb(buf, off)
                        nxt = off + length
                        if (
                            btype != EPB
                            or nxt > end
                            or cap > length - 32
                            or length & 3
                            or u32(buf, nxt - 4)[0] != length
                        ):
                            break
                        try:
                            lt, mul, div, ts_off, index = fast[ifid]
                        except IndexError:
                            break
                        n += 1
                        ts = ((high << 32) | low) * mul // div + ts_off
                        yield (ts, lt, buf[off + 28 : off + 28 + cap], orig, index)
                        off = nxt
                else:
                    # The same checks, passing over other shares' frames before the deadline. A
                    # block's trailing length is read with the next block's header and frame
                    # prefix, so a block is taken here only when those bytes are in the buffer;
                    # the careful step takes the last one or two.
                    stop = end - epb_need
                    if off <= stop:
                        btype, length, ifid, high, low, cap, orig, et, vihl, a, b, p, q = (
                            epb_v4(buf, off))
                        while True:
                            nxt = off + length
                            if btype != EPB or nxt > stop or cap > length - 32 or length & 3:
                                if (
                                    btype == SPB and until > 0 and fast and fast[0][0] == 1
                                    and 16 <= length <= MAX_BLOCK_LEN and not length & 3
                                    and nxt <= stop and u32(buf, nxt - 4)[0] == length
                                ):
                                    # (ifid is the SPB's original length.) Its timestamp is 0
                                    # and its captured length as `_block` finds it (§4.4).
                                    cap = min(ifid, length - 16)
                                    snaplen = st.interfaces[sec.first].snaplen
                                    if snaplen and snaplen < cap:
                                        cap = snaplen
                                    prefix = buf[off + 12 : off + 12 + min(cap, v6_need)]
                                    owner = share.frame_share(1, prefix, shares)
                                    if owner != mine and owner >= 0:
                                        n += 1
                                        off = nxt
                                        (
                                            btype, length, ifid, high, low, cap, orig,
                                            et, vihl, a, b, p, q,
                                        ) = epb_v4(buf, off)
                                        continue
                                break
                            try:
                                lt, th, tl, mul, div, ts_off, index = ifs[ifid]
                            except IndexError:
                                break
                            owner = -1
                            if lt == 1:
                                if et == et_v4:
                                    if vihl == 0x45 and cap >= v4_need:
                                        owner = table_v4[p ^ q ^ ((a ^ b) << shift_v4)]
                                elif et == et_v6 and cap >= v6_need:
                                    _et, nh, a, b, p, q = v6_prefix(buf, off + 28)
                                    if nh == 6:
                                        owner = table[p ^ q ^ a ^ b]
                                if (
                                    owner != mine and owner >= 0
                                    and (high < th or (high == th and low < tl))
                                ):
                                    (
                                        trailer, btype, length, ifid, high, low, cap, orig,
                                        et, vihl, a, b, p, q,
                                    ) = next_v4(buf, nxt - 4)
                                    if trailer != nxt - off:
                                        break
                                    n += 1
                                    off = nxt
                                    continue
                            record = (
                                ((high << 32) | low) * mul // div + ts_off, lt,
                                buf[off + 28 : off + 28 + cap], orig, index,
                            )
                            (
                                trailer, btype, length, ifid, high, low, cap, orig,
                                et, vihl, a, b, p, q,
                            ) = next_v4(buf, nxt - 4)
                            if trailer != nxt - off:
                                break
                            n += 1
                            skip.number = n
                            skip.owner = owner
                            yield record
                            if skip.until_ns != until:
                                until = skip.until_ns
                                ifs = _skip_interfaces(sec, until)
                            off = nxt
                # Careful step: one block of any kind, or find out how many bytes are missing.
                avail = end - off
                need = 12 - avail
                try:
                    if avail >= 12:
                        btype, length, be = _block_length(buf, off, sec, base)
                        need = length - avail
                        if need <= 0:
                            result = _block(st, sec, buf, off, btype, length, be, base)
                            off += length
                            if isinstance(result, _Section):
                                new_section = sec = result
                            elif result is not None:
                                n += 1
                                if skip is None:
                                    yield result
                                else:
                                    owner = share.frame_share(result[1], result[2], shares)
                                    if owner != mine and owner >= 0 and result[0] < until:
                                        continue
                                    skip.number = n
                                    skip.owner = owner
                                    yield result
                                    if skip.until_ns != until:
                                        until = skip.until_ns
                                        ifs = _skip_interfaces(sec, until)
                            elif skip is not None and len(ifs) != len(fast):
                                ifs = _skip_interfaces(sec, until)  # a new interface
                            continue
                except _Corrupt as exc:
                    st.stop(exc.offset, exc.message)
                    return
                chunk = more(need)
                if not chunk:
                    if avail > 0:
                        if avail < 12:
                            what = f"a block header ({avail} of 12 bytes)"
                        else:
                            name = _NAMES.get(btype, f"type 0x{btype:08x}")
                            what = f"the {name} block ({avail} of {length} bytes)"
                        st.stop(base + off, f"file ends at offset {base + end} inside {what}")
                    return
                buf = buf[off:] + chunk if off < end else chunk
                base += off
                off = 0
    finally:
        st.packets_read = n
        if skip is not None:
            skip.number = n


class PcapngWriter:
    """Writes a little-endian pcapng file: one section, interfaces added as needed, EPB packets.

    `file` is a binary file the caller owns (opened "wb"); nothing is closed here.
    """

    def __init__(self, file: BinaryIO, *, application: str | None = "synack") -> None:
        self.file = file
        self._resolutions: list[int] = []  # divisor from ns to the interface's units
        self._snaplens: list[int] = []
        options = _option(OPT_SHB_USERAPPL, application.encode()) if application else b""
        if options:
            options += _option(OPT_ENDOFOPT, b"")
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + options
        file.write(_block_bytes(SHB, body))

    def add_interface(
        self,
        link_type: int,
        name: str | None = None,
        nanosecond: bool = False,
        snaplen: int = 262_144,
    ) -> int:
        """Describe an interface (IDB); returns the index to pass to `write`."""
        if not 0 <= link_type <= 0xFFFF:
            raise ValueError(f"link type {link_type} out of range")
        if not 0 <= snaplen < 2**32:
            raise ValueError(f"snaplen {snaplen} out of range")
        options = b""
        if name is not None:
            options += _option(OPT_IF_NAME, name.encode())
        if nanosecond:
            options += _option(OPT_IF_TSRESOL, bytes([9]))
        if options:
            options += _option(OPT_ENDOFOPT, b"")
        self.file.write(_block_bytes(IDB, struct.pack("<HHI", link_type, 0, snaplen) + options))
        self._resolutions.append(1 if nanosecond else 1000)
        self._snaplens.append(snaplen)
        return len(self._resolutions) - 1

    def write(
        self, interface: int, timestamp_ns: int, data: bytes, original_length: int | None = None
    ) -> None:
        """Append one EPB; bytes beyond the interface's snaplen are cut."""
        if not 0 <= interface < len(self._resolutions):
            raise ValueError(f"interface {interface} was not added")
        if timestamp_ns < 0:
            raise ValueError(f"timestamp {timestamp_ns} ns is before the epoch")
        ticks = timestamp_ns // self._resolutions[interface]
        if ticks >= 2**64:
            raise ValueError(f"timestamp {timestamp_ns} ns does not fit a pcapng block")
        size = len(data)
        orig = size if original_length is None else original_length
        snaplen = self._snaplens[interface]
        if snaplen and size > snaplen:
            data = data[:snaplen]
            size = snaplen
        if not size <= orig < 2**32:
            raise ValueError(f"original length {orig} smaller than the {size} captured bytes")
        pad = -size & 3
        total = 32 + size + pad
        self.file.write(
            struct.pack(
                "<IIIIIII", EPB, total, interface, ticks >> 32, ticks & 0xFFFFFFFF, size, orig
            )
        )
        self.file.write(data)
        self.file.write(b"\0" * pad + struct.pack("<I", total))

    def flush(self) -> None:
        self.file.flush()


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) & 3)


def _block_bytes(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) & 3)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)
