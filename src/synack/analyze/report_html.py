"""A self-contained HTML report: a summary table, a ladder diagram per connection and a
time-sequence graph for connections that carried data (inline SVG and CSS, no scripts)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from synack.analyze.engine import CaptureStats
from synack.analyze.flags import bit_names
from synack.analyze.output import tcp_flags_text
from synack.analyze.summary import ConnectionRecord
from synack.analyze.tracker import Connection, PacketRow

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2330}
h1{font-size:22px}h2{font-size:17px;margin-top:36px;border-bottom:1px solid #ccd}
table.sum{border-collapse:collapse;font-size:12px}
table.sum td,table.sum th{border:1px solid #ccd;padding:3px 6px;text-align:left}
table.sum th{background:#eef}
.kv{font-size:13px;margin:6px 0}.kv b{display:inline-block;min-width:150px}
svg{background:#fbfbfe;border:1px solid #dde;margin:8px 0}
svg text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px}
.o{stroke:#1f5fbf}.r{stroke:#b3471d}.flag{fill:#b00020}
"""

_ROW_H = 26
_LADDER_W = 760
_LEFT_X = 190
_RIGHT_X = 570
_TS_W, _TS_H, _TS_M = 720, 260, 50  # time-sequence graph: width, height, margin


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _state(s: object) -> str:
    value = getattr(s, "value", None)
    return str(value) if value is not None else "UNKNOWN"


def ladder_svg(rec: ConnectionRecord, rows: Sequence[PacketRow]) -> str:
    """A sequence diagram: originator on the left, responder on the right, time downwards."""
    height = 70 + _ROW_H * len(rows) + 20
    out = [
        f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" width="{_LADDER_W}" '
        f'height="{height}" viewBox="0 0 {_LADDER_W} {height}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#444"/></marker></defs>',
        f'<text x="{_LEFT_X}" y="18" text-anchor="middle" font-weight="bold">'
        f'{_esc(rec.orig_h)}:{rec.orig_p}</text>',
        f'<text x="{_RIGHT_X}" y="18" text-anchor="middle" font-weight="bold">'
        f'{_esc(rec.resp_h)}:{rec.resp_p}</text>',
        f'<text x="{_LEFT_X}" y="34" text-anchor="middle">originator</text>',
        f'<text x="{_RIGHT_X}" y="34" text-anchor="middle">responder</text>',
        f'<line x1="{_LEFT_X}" y1="42" x2="{_LEFT_X}" y2="{height - 10}" stroke="#888"/>',
        f'<line x1="{_RIGHT_X}" y1="42" x2="{_RIGHT_X}" y2="{height - 10}" stroke="#888"/>',
    ]
    bases: dict[bool, int] = {}
    for i, (now, from_orig, flags, seq, ack, plen, win, bits, ost, rst) in enumerate(rows):
        y = 56 + _ROW_H * i
        if from_orig not in bases:
            bases[from_orig] = seq
        rseq = (seq - bases[from_orig]) & 0xFFFFFFFF
        other = bases.get(not from_orig)
        rack = (ack - other) & 0xFFFFFFFF if other is not None else ack
        x1, x2 = (_LEFT_X, _RIGHT_X) if from_orig else (_RIGHT_X, _LEFT_X)
        cls = "o" if from_orig else "r"
        label = f"{tcp_flags_text(flags)} seq={rseq}"
        if flags & 0x10:
            label += f" ack={rack}"
        if plen:
            label += f" len={plen}"
        label += f" win={win}"
        out.append(
            f'<line class="{cls}" x1="{x1}" y1="{y}" x2="{x2}" y2="{y + _ROW_H - 8}" '
            f'stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
        out.append(
            f'<text x="{(_LEFT_X + _RIGHT_X) // 2}" y="{y + 7}" text-anchor="middle" '
            f'fill="#222">{_esc(label)}</text>'
        )
        names = bit_names(bits)
        if names:
            out.append(
                f'<text class="flag" x="{(_LEFT_X + _RIGHT_X) // 2}" y="{y + 18}" '
                f'text-anchor="middle">[{_esc(", ".join(names))}]</text>'
            )
        out.append(
            f'<text x="{_LEFT_X - 8}" y="{y + _ROW_H - 8}" text-anchor="end">'
            f'{now - rec.ts:.6f} {_esc(_state(ost))}</text>'
        )
        out.append(
            f'<text x="{_RIGHT_X + 8}" y="{y + _ROW_H - 8}">{_esc(_state(rst))}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def time_sequence_svg(rec: ConnectionRecord, rows: Sequence[PacketRow]) -> str | None:
    """A Stevens-style time-sequence graph: data segments as vertical bars, ACKs as a step line,
    one panel per direction that carried data."""
    panels = []
    for from_orig in (True, False):
        data = [r for r in rows if r[1] == from_orig and r[5]]
        if not data:
            continue
        acks = [r for r in rows if r[1] != from_orig and r[2] & 0x10]
        base = next(r[3] for r in rows if r[1] == from_orig)
        t0 = rows[0][0]
        t1 = max(rows[-1][0], t0 + 1e-6)
        ends = [((r[3] - base) & 0xFFFFFFFF) + r[5] for r in data]
        top = max([*ends, 1])
        w, h, m = _TS_W, _TS_H, _TS_M

        def px(t: float, lo: float = t0, hi: float = t1) -> float:
            return _TS_M + (t - lo) / (hi - lo) * (_TS_W - 2 * _TS_M)

        def py(s: int, top: int = top) -> float:
            return _TS_H - _TS_M + 10 - min(max(s, 0), top) / top * (_TS_H - 2 * _TS_M)

        who = "originator → responder" if from_orig else "responder → originator"
        parts = [
            f'<svg class="tseq" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}">',
            f'<text x="{m}" y="18" font-weight="bold">time-sequence: {who}</text>',
            f'<line x1="{m}" y1="{h - m + 10}" x2="{w - m}" y2="{h - m + 10}" stroke="#888"/>',
            f'<line x1="{m}" y1="{m - 10}" x2="{m}" y2="{h - m + 10}" stroke="#888"/>',
            f'<text x="{w - m}" y="{h - 12}" text-anchor="end">{t1 - t0:.6f} s</text>',
            f'<text x="{m - 4}" y="{m - 12}" text-anchor="end">{top}</text>',
        ]
        for r in data:
            s0 = (r[3] - base) & 0xFFFFFFFF
            x = px(r[0])
            color = "#b00020" if r[7] else ("#1f5fbf" if from_orig else "#b3471d")
            parts.append(
                f'<line class="seg" x1="{x:.1f}" y1="{py(s0):.1f}" x2="{x:.1f}" '
                f'y2="{py(s0 + r[5]):.1f}" stroke="{color}" stroke-width="2"/>'
            )
        points = []
        for r in acks:
            a = (r[4] - base) & 0xFFFFFFFF
            if a > top * 2:
                continue
            points.append(f"{px(r[0]):.1f},{py(a):.1f}")
        if points:
            parts.append(
                f'<polyline class="acks" points="{" ".join(points)}" fill="none" '
                'stroke="#2a8a3a" stroke-width="1"/>'
            )
        parts.append("</svg>")
        panels.append("".join(parts))
    return "".join(panels) if panels else None


def render(
    title: str, conns: Sequence[tuple[ConnectionRecord, Connection]], stats: CaptureStats,
) -> str:
    out = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>synack analyze: {_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>synack analyze: {_esc(title)}</h1>",
        f'<p class="kv">{stats.packets} packets, {stats.tcp_packets} TCP, '
        f"{stats.connections} connections"
        + (f"; capture damaged: {_esc(stats.truncated.message)}" if stats.truncated else "")
        + "</p>",
        '<table class="sum"><tr><th>uid</th><th>originator → responder</th><th>handshake</th>'
        "<th>close</th><th>final states</th><th>conn_state</th><th>history</th></tr>",
    ]
    for rec, _conn in conns:
        out.append(
            f'<tr><td><a href="#{rec.uid}">{rec.uid}</a></td>'
            f"<td>{_esc(rec.orig_h)}:{rec.orig_p} → {_esc(rec.resp_h)}:{rec.resp_p}</td>"
            f"<td>{_esc(rec.handshake)}</td><td>{_esc(rec.close)}</td>"
            f"<td>{rec.orig_state} / {rec.resp_state}</td><td>{rec.conn_state}</td>"
            f"<td>{_esc(rec.history)}</td></tr>"
        )
    out.append("</table>")
    for rec, conn in conns:
        rows = conn.packets or []
        out.append(f'<section id="{rec.uid}"><h2>{rec.uid}: {_esc(rec.orig_h)}:{rec.orig_p} → '
                   f"{_esc(rec.resp_h)}:{rec.resp_p}</h2>")
        rtt = f"{rec.handshake_rtt * 1000:.3f} ms" if rec.handshake_rtt is not None else "-"
        for k, v in (
            ("handshake", f"{rec.handshake} (RTT {rtt})"),
            ("close", rec.close + (f" in {rec.reset_state}" if rec.reset_state else "")),
            ("final states", f"originator {rec.orig_state}, responder {rec.resp_state}"),
            ("zeek", f"{rec.conn_state} {rec.history}"),
            ("packets / bytes", f"{rec.orig_pkts}/{rec.resp_pkts} packets, "
                                f"{rec.orig_payload_bytes}/{rec.resp_payload_bytes} bytes"),
        ):
            out.append(f'<div class="kv"><b>{_esc(k)}</b>{_esc(v)}</div>')
        if rows:
            out.append(ladder_svg(rec, rows))
            tseq = time_sequence_svg(rec, rows)
            if tseq:
                out.append(tseq)
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(
    path: Path, title: str, conns: Sequence[tuple[ConnectionRecord, Connection]],
    stats: CaptureStats,
) -> None:
    path.write_text(render(title, conns, stats), encoding="utf-8")
