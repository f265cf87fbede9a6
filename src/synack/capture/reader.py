"""Streaming reader for pcap and pcapng capture files.

    with open_capture("trace.pcapng") as reader:
        for packet in reader:            # CapturedPacket(timestamp_ns, link_type, data, ...)
            ...
    reader.truncated                     # None, or Truncation(offset, message) for a damaged file

The format is detected from the magic number: pcap in either byte order with micro- or
nanosecond timestamps (and the old "modified" pcap), or pcapng. The file is read forwards in
1 MiB chunks and never held whole in memory, so pipes work and memory stays flat.

Fast API: `reader.iter_records()` yields plain tuples
`(timestamp_ns, link_type, data, original_length, interface)` — the CapturedPacket fields in order,
without building an object per packet (several times faster; for bulk readers such as the
observer and the benchmarks). Both iterations share one position in the file.

A damaged or cut file never raises while iterating: iteration stops after the last complete
packet and `truncated` names the byte offset of the record or block that could not be read, and
why. A file that is not a capture at all raises ParseError(field "magic") from `open_capture`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from itertools import starmap
from types import TracebackType
from typing import BinaryIO, Literal

from synack.capture import pcap, pcapng
from synack.capture.packet import CapturedPacket, InterfaceInfo, Record, Truncation
from synack.capture.share import ShareSkip
from synack.capture.stream import Stream
from synack.wire.errors import ParseError

# Well-known non-capture formats, for a helpful message.
_OTHER_MAGICS = {
    b"\x1f\x8b": "a gzip-compressed file (decompress it first)",
    b"\x28\xb5\x2f\xfd": "a zstd-compressed file (decompress it first)",
    b"\xfd7zXZ": "an xz-compressed file (decompress it first)",
    b"snoop\0\0\0": "a Solaris snoop capture",
}


class CaptureReader:
    """An iterator of CapturedPacket over a pcap or pcapng file (see the module docstring)."""

    def __init__(self, file: BinaryIO, *, owns_file: bool = False) -> None:
        self._file = file
        self._owns_file = owns_file
        self._pcap_header: pcap.PcapHeader | None = None
        self._pcapng_section: pcapng.Section | None = None  # where a pcapng file's packets start
        st = Stream(file, b"")
        try:
            head = st.more(28)
            self._stream = st = Stream(file, head)
            self._records = self._open(st, head)
        except BaseException:
            if owns_file:
                file.close()
            raise
        self._packets: Iterator[CapturedPacket] = starmap(CapturedPacket, self._records)

    def _open(self, st: Stream, head: bytes) -> Iterator[Record]:
        magic = head[:4]
        if pcap.is_pcap_magic(magic):
            self.format = "pcap"
            self.byte_order = "little" if pcap.magic_endian(magic) == "<" else "big"
            if len(head) < pcap.FILE_HEADER_LEN:
                st.stop(
                    0,
                    f"file ends at offset {len(head)} inside the pcap file header"
                    f" ({len(head)} of {pcap.FILE_HEADER_LEN} bytes)",
                )
                self.version = (0, 0)
                return iter(())
            header = pcap.parse_header(head)
            self._pcap_header = header
            self.version = header.version
            st.interfaces.append(header.interface())
            st.off = pcap.FILE_HEADER_LEN
            return pcap.iter_pcap(st, header)
        if magic == pcapng.MAGIC:
            self.format = "pcapng"
            self.version = (0, 0)
            self.byte_order = "little"
            if len(head) < 12:
                st.stop(
                    0,
                    f"file ends at offset {len(head)} inside the section header block"
                    f" ({len(head)} of 28 bytes)",
                )
                return iter(())
            endian = pcapng.byte_order(head[8:12])
            if endian is None:
                raise ParseError(
                    "pcapng",
                    8,
                    "byte_order_magic",
                    f"invalid byte-order magic 0x{head[8:12].hex()} in the section header block",
                )
            order: Literal["little", "big"] = "little" if endian == "<" else "big"
            self.byte_order = order
            length = int.from_bytes(head[4:8], order)
            if length < 28 or length & 3 or length > pcapng.MAX_BLOCK_LEN:
                raise ParseError(
                    "pcapng", 4, "block_length", f"impossible section header block length {length}"
                )
            if len(head) >= 16:
                self.version = (
                    int.from_bytes(head[12:14], order),
                    int.from_bytes(head[14:16], order),
                )
                if self.version[0] != 1:
                    raise ParseError(
                        "pcapng",
                        12,
                        "version",
                        f"unsupported pcapng version {self.version[0]}.{self.version[1]}",
                    )
            section = pcapng.prime(st, pcapng.open_section(head))
            self._pcapng_section = section
            return pcapng.iter_pcapng(st, section)
        if not head:
            raise ParseError("pcap", 0, "magic", "empty file: not a pcap or pcapng capture")
        what = next((v for k, v in _OTHER_MAGICS.items() if head.startswith(k)), None)
        if what is None:
            what = f"a file starting with 0x{head[:4].hex()}"
        raise ParseError("pcap", 0, "magic", f"not a pcap or pcapng capture: {what}")

    # Iteration -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[CapturedPacket]:
        return self._packets

    def __next__(self) -> CapturedPacket:
        return next(self._packets)

    def iter_records(self) -> Iterator[Record]:
        """Fast API: (timestamp_ns, link_type, data, original_length, interface) tuples."""
        return self._records

    def iter_records_skipping(self, skip: ShareSkip) -> Iterator[Record] | None:
        """`iter_records` passing over other shares' common frames (`share.ShareSkip`).

        Only a file not yet read from can skip this way, and only an Ethernet one if pcap (a
        pcapng file's interfaces may come later, each judged at its blocks): None for any other.
        """
        records = self._records
        if not (
            inspect.isgenerator(records)
            and inspect.getgeneratorstate(records) == inspect.GEN_CREATED
        ):
            return None
        header = self._pcap_header
        section = self._pcapng_section
        if header is not None and header.link_type == 1:
            self._records = pcap.iter_pcap(self._stream, header, skip)
        elif section is not None:
            self._records = pcapng.iter_pcapng(self._stream, section, skip)
        else:
            return None
        self._packets = starmap(CapturedPacket, self._records)
        return self._records

    # State -----------------------------------------------------------------------------------

    @property
    def truncated(self) -> Truncation | None:
        """Why reading stopped early (None while reading and for a complete file)."""
        return self._stream.truncated

    @property
    def packets_read(self) -> int:
        """Packets yielded so far (by either iteration)."""
        return self._stream.count_of(self._records)

    @property
    def interfaces(self) -> list[InterfaceInfo]:
        """Interfaces seen so far: the pcap header, or every pcapng IDB in file order."""
        return self._stream.interfaces

    @property
    def link_type(self) -> int | None:
        """The first interface's link type (None for a pcapng file without interfaces yet)."""
        interfaces = self._stream.interfaces
        return interfaces[0].link_type if interfaces else None

    @property
    def snaplen(self) -> int | None:
        interfaces = self._stream.interfaces
        return interfaces[0].snaplen if interfaces else None

    # Resources -------------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_file:
            self._file.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_capture(source: str | os.PathLike[str] | BinaryIO) -> CaptureReader:
    """Open a pcap or pcapng file (a path, or a binary file object the caller keeps owning)."""
    if isinstance(source, (str, os.PathLike)):
        return CaptureReader(open(source, "rb", buffering=0), owns_file=True)
    return CaptureReader(source)
