"""Capture file writers: pcap (PcapWriter), pcapng (PcapngWriter) and `open_writer` for a path.

    with open_writer("out.pcapng", LinkType.RAW) as capture:
        capture.write(timestamp_ns, ip_packet)

Files are little-endian; timestamps are integer nanoseconds since the epoch (stored as
microseconds unless `nanosecond=True`). Both open in tcpdump and Wireshark.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import BinaryIO

from synack.capture.pcap import PcapWriter
from synack.capture.pcapng import PcapngWriter

__all__ = ["CaptureFile", "PcapWriter", "PcapngWriter", "open_writer"]


class CaptureFile:
    """A capture file opened by `open_writer`: one interface, packets appended in order.

    Owns the file: `close()` (or leaving the `with` block) flushes and closes it.
    """

    def __init__(self, file: BinaryIO, writer: PcapWriter | PcapngWriter, interface: int = 0):
        self.file = file
        self.writer = writer
        self._interface = interface

    @property
    def format(self) -> str:
        return "pcap" if isinstance(self.writer, PcapWriter) else "pcapng"

    def write(self, timestamp_ns: int, data: bytes, original_length: int | None = None) -> None:
        if isinstance(self.writer, PcapWriter):
            self.writer.write(timestamp_ns, data, original_length)
        else:
            self.writer.write(self._interface, timestamp_ns, data, original_length)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_writer(
    path: str | os.PathLike[str],
    link_type: int,
    *,
    nanosecond: bool = False,
    name: str | None = None,
) -> CaptureFile:
    """Create a capture file: pcapng if the name ends in ".pcapng", pcap otherwise."""
    file = open(path, "wb")  # noqa: SIM115 - owned by the returned CaptureFile
    try:
        writer: PcapWriter | PcapngWriter
        if os.fspath(path).lower().endswith(".pcapng"):
            writer = PcapngWriter(file)
            interface = writer.add_interface(link_type, name=name, nanosecond=nanosecond)
            return CaptureFile(file, writer, interface)
        return CaptureFile(file, PcapWriter(file, link_type, nanosecond=nanosecond))
    except BaseException:
        file.close()
        raise
