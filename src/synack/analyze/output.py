"""Writers for connection records: JSON lines, CSV, a rich table with outcomes, timelines."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from synack.analyze.flags import bit_names
from synack.analyze.summary import COUNTERS, RECORD_FIELDS, ConnectionRecord
from synack.analyze.tracker import PacketRow
from synack.wire.tcp import TcpFlags, flag_letters

FIELDS: tuple[str, ...] = RECORD_FIELDS

tcp_flags_text = flag_letters  # tcpdump's `Flags [...]` letters


def _opt(v: Any) -> str:
    """JSON for an optional or boolean field."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return f"{v:.6f}" if math.isfinite(v) else "null"
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)


def _json_bool(v: bool) -> str:
    return "true" if v is True else "false" if v is False else _opt(v)


def record_json(r: ConnectionRecord, timeline: list[dict[str, Any]] | None = None) -> str:
    """The record as one line of JSON, keys in field order (addresses, codes and states are plain
    ASCII, so they need no escaping; one f-string is several times faster than json.dumps)."""
    text = f'{{"uid":"{r.uid}",' + record_json_fields(r)
    if timeline is not None:
        text += ',"timeline":' + json.dumps(timeline, separators=(",", ":"))
    return text + "}"


def record_json_fields(r: ConnectionRecord) -> str:
    """The JSON members of every field after `uid` (what `record_json` puts between
    `"uid":"...",` and the closing brace)."""
    d, rtt = r.duration, r.handshake_rtt
    ob, rb, rby, rst = r.orig_bytes, r.resp_bytes, r.reset_by, r.reset_state
    # _opt's answers, without a call for the common values (`x - x == 0`: finite)
    duration = "null" if d is None else f"{d:.6f}" if d - d == 0 else "null"
    handshake_rtt = "null" if rtt is None else f"{rtt:.6f}" if rtt - rtt == 0 else "null"
    return (
        f'"ts":{r.ts:.6f},'
        f'"orig_h":"{r.orig_h}",'
        f'"orig_p":{r.orig_p},'
        f'"resp_h":"{r.resp_h}",'
        f'"resp_p":{r.resp_p},'
        f'"ip_version":{r.ip_version},'
        f'"duration":{duration},'
        f'"orig_pkts":{r.orig_pkts},'
        f'"resp_pkts":{r.resp_pkts},'
        f'"orig_bytes":{"null" if ob is None else ob},'
        f'"resp_bytes":{"null" if rb is None else rb},'
        f'"conn_state":"{r.conn_state}",'
        f'"history":"{r.history}",'
        f'"orig_payload_bytes":{r.orig_payload_bytes},'
        f'"resp_payload_bytes":{r.resp_payload_bytes},'
        f'"last_seen":{r.last_seen:.6f},'
        f'"direction_inferred":{_json_bool(r.direction_inferred)},'
        f'"start_missing":{_json_bool(r.start_missing)},'
        f'"handshake":"{r.handshake}",'
        f'"syn_retransmissions":{r.syn_retransmissions},'
        f'"handshake_rtt":{handshake_rtt},'
        f'"close":"{r.close}",'
        f'"reset_by":{"null" if rby is None else _opt(rby)},'
        f'"reset_state":{"null" if rst is None else _opt(rst)},'
        f'"orig_state":"{r.orig_state}",'
        f'"resp_state":"{r.resp_state}",'
        f'"retransmissions":{r.retransmissions},'
        f'"fast_retransmissions":{r.fast_retransmissions},'
        f'"spurious_retransmissions":{r.spurious_retransmissions},'
        f'"out_of_order":{r.out_of_order},'
        f'"duplicate_acks":{r.duplicate_acks},'
        f'"lost_segments":{r.lost_segments},'
        f'"acked_unseen":{r.acked_unseen},'
        f'"zero_windows":{r.zero_windows},'
        f'"zero_window_probes":{r.zero_window_probes},'
        f'"window_updates":{r.window_updates},'
        f'"keep_alives":{r.keep_alives},'
        f'"bad_checksums":{r.bad_checksums}'
    )


def timeline_dicts(rows: Iterable[PacketRow], start: float) -> list[dict[str, Any]]:
    """One dict per kept packet: time from the start, direction, flags, numbers, states after."""
    out = []
    for now, from_orig, flags, seq, ack, plen, win, bits, ost, rst in rows:
        out.append({
            "t": round(now - start, 6),
            "dir": ">" if from_orig else "<",
            "flags": tcp_flags_text(flags),
            "seq": seq,
            "ack": ack,
            "len": plen,
            "win": win,
            "analysis": bit_names(bits),
            "orig_state": ost.value if ost is not None else "UNKNOWN",
            "resp_state": rst.value if rst is not None else "UNKNOWN",
        })
    return out


class TextSink(Protocol):
    """Where text goes: a text file, or anything with its `write`."""

    def write(self, text: str, /) -> int: ...


class CsvOutput:
    def __init__(self, file: TextSink) -> None:
        self.writer = csv.writer(file, lineterminator="\n")
        self.writer.writerow(FIELDS)

    def write(self, rec: ConnectionRecord) -> None:
        self.writer.writerow(csv_cells(rec))

    def write_cells(self, cells: list[str]) -> None:
        """Write a row made by `csv_cells`."""
        self.writer.writerow(cells)


def csv_cells(rec: ConnectionRecord) -> list[str]:
    """The record's CSV cells, in field order ("-" for a missing value, T/F for booleans)."""
    row = []
    for name in FIELDS:
        v = getattr(rec, name)
        if v is None:
            row.append("-")
        elif isinstance(v, float):
            row.append(f"{v:.6f}")
        elif isinstance(v, bool):
            row.append("T" if v else "F")
        else:
            row.append(str(v))
    return row


def _fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _anomalies(rec: ConnectionRecord) -> str:
    short = {
        "retransmissions": "rexmit", "fast_retransmissions": "fast-rexmit",
        "spurious_retransmissions": "spurious", "out_of_order": "ooo",
        "duplicate_acks": "dup-ack", "lost_segments": "lost", "acked_unseen": "acked-unseen",
        "zero_windows": "zero-win", "zero_window_probes": "zwp",
        "window_updates": "win-upd", "keep_alives": "keep-alive",
    }
    parts = [f"{short[name]} {getattr(rec, name)}" for name, _ in COUNTERS if getattr(rec, name)]
    return ", ".join(parts)


class TableOutput:
    """Collects rows for a rich table (up to `limit`) and tallies outcomes of every connection."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self.rows: list[ConnectionRecord] = []
        self.total = 0
        self.handshakes: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.states: Counter[str] = Counter()
        self.anomalies: Counter[str] = Counter()

    def write(self, rec: ConnectionRecord) -> None:
        self.total += 1
        if len(self.rows) < self.limit:
            self.rows.append(rec)
        self.handshakes[rec.handshake] += 1
        self.closes[rec.close] += 1
        self.states[rec.conn_state] += 1
        for name, _ in COUNTERS:
            self.anomalies[name] += getattr(rec, name)

    def render(self, console: Console) -> None:
        table = Table(title=f"TCP connections ({self.total})", show_lines=False, expand=False)
        for col, just in (
            ("uid", "left"), ("originator → responder", "left"), ("start (UTC)", "left"),
            ("dur s", "right"), ("pkts o/r", "right"), ("bytes o/r", "right"),
            ("handshake", "left"), ("rtt ms", "right"), ("close", "left"),
            ("final states o / r", "left"), ("zeek", "left"), ("history", "left"),
            ("anomalies", "left"),
        ):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in sorted(self.rows, key=lambda rec: rec.ts):
            dur = f"{r.duration:.3f}" if r.duration is not None else "-"
            rtt = f"{r.handshake_rtt * 1000:.2f}" if r.handshake_rtt is not None else "-"
            close = r.close + (f" ({r.reset_state})" if r.reset_state else "")
            table.add_row(
                r.uid,
                escape(f"{_host(r.orig_h, r.orig_p)} → {_host(r.resp_h, r.resp_p)}")
                + (" *" if r.direction_inferred else ""),
                _fmt_time(r.ts),
                dur,
                f"{r.orig_pkts}/{r.resp_pkts}",
                f"{r.orig_payload_bytes}/{r.resp_payload_bytes}",
                r.handshake + (f" +{r.syn_retransmissions} SYN" if r.syn_retransmissions else ""),
                rtt,
                close,
                f"{r.orig_state} / {r.resp_state}",
                r.conn_state,
                r.history,
                _anomalies(r),
            )
        console.print(table)
        if self.total > len(self.rows):
            console.print(f"... {self.total - len(self.rows)} more connections not shown "
                          "(use --json or --csv for all)")
        if any(r.direction_inferred for r in self.rows):
            console.print("* start not captured or direction inferred from the port numbers")
        self.render_summary(console)

    def render_summary(self, console: Console) -> None:
        def line(title: str, counts: Counter[str]) -> None:
            parts = ", ".join(f"{k} {v}" for k, v in counts.most_common())
            console.print(f"[bold]{title}:[/bold] {parts or '-'}")

        line("Handshakes", self.handshakes)
        line("Closes", self.closes)
        line("Zeek conn_state", self.states)
        line("Analysis flags", Counter({k: v for k, v in self.anomalies.items() if v}))


def _host(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def timeline_lines(rec: ConnectionRecord, rows: Iterable[PacketRow]) -> list[str]:
    """One line per kept packet: time, direction, flags, relative seq/ack, states after it.

    A segment without ACK shows no acknowledgment number (its field means nothing, RFC 9293
    §3.1), as tcpdump leaves it out; the column stays, blank.
    """
    lines = [f"{rec.uid} {_host(rec.orig_h, rec.orig_p)} → {_host(rec.resp_h, rec.resp_p)}"]
    rows = list(rows)
    bases: dict[bool, int] = {}
    for row, d in zip(rows, timeline_dicts(rows, rec.ts), strict=True):
        from_orig = d["dir"] == ">"
        if from_orig not in bases:
            bases[from_orig] = d["seq"]
        rseq = (d["seq"] - bases[from_orig]) & 0xFFFFFFFF
        if row[2] & TcpFlags.ACK:
            other = bases.get(not from_orig)
            rack = (d["ack"] - other) & 0xFFFFFFFF if other is not None else d["ack"]
            ack = f"ack {rack:<10} "
        else:
            ack = " " * _ACK_WIDTH
        flags = ",".join(d["analysis"])
        lines.append(
            f"  {d['t']:10.6f} {'o>r' if from_orig else 'o<r'} {d['flags']:<4} seq {rseq:<10} "
            f"{ack}len {d['len']:<5} {d['orig_state']:>12} | {d['resp_state']:<12}"
            + (f" [{flags}]" if flags else "")
        )
    return lines


_ACK_WIDTH = len("ack 4294967295 ")
