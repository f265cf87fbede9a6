"""Analyse one capture in several processes, each taking the connections of its share of flows.

Every worker opens the file itself and reads every record (no packet bytes cross processes); it
applies the segments whose `flow_share` is its own and lets the others only move its clock, so
that Zeek's timers expire connections at the same packets as in one process. Records that are
not TCP are counted by one worker each (see `engine.run`); the parent adds the counts up.

Workers send, every `CHUNK` records, what happened in them: each connection created (with the
record number) and each connection finished (with its encoded record). The parent merges the
chunks back into the order one process would have finished the connections in, numbers them as
one process would (`C1`, `C2`... by creation), and hands them on: memory stays bounded by the
live connections and one chunk of events per worker.

One piece of state is shared across flows in a single process: the Wireshark analysis of the
most recently finished connections (`tracker.RECENT_STREAMS` of them, any flow). The parent
replays that cache for all flows; should a worker have continued a stream that the whole
capture would have evicted (a 4-tuple reused after thousands of other connections), the parent
stops the workers and analyses the rest in one process, skipping the records already written.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections import OrderedDict
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from typing import Any, Final, Generic, TypeVar

from synack.analyze.engine import CaptureStats, ProgressHook, analyze_file, run
from synack.analyze.summary import ConnectionRecord, make_record
from synack.analyze.tracker import RECENT_STREAMS, Connection, Key, Side, Tracker
from synack.capture.reader import open_capture
from synack.capture.share import ShareSkip
from synack.wire.errors import ParseError

T = TypeVar("T")

CHUNK = 0x10000  # records between two messages from a worker (a power of two)
_END: Final = 1 << 62  # record number of the connections still open at the end

# Event phases within one record, in the order one process produces them: the sweep of expired
# connections, the finishing of the connection the segment belongs to, a new connection.
_SWEEP: Final = 0
_SEGMENT: Final = 1
_NEW: Final = 2

# Messages from a worker.
_CHUNK_MSG: Final = 0
_DONE_MSG: Final = 1
_PARSE_ERROR_MSG: Final = 2
_OS_ERROR_MSG: Final = 3
_ERROR_MSG: Final = 4

# (record number, phase, connection id, key or recent-hit, encoded record or key)
Event = tuple[int, int, int, Any, Any]


class _Diverged(Exception):
    """A worker's view of the recently finished streams differs from the whole capture's."""


class _ShareTracker(Tracker):
    """A tracker that logs connection creations and finishes as events for the parent."""

    def __init__(self, share: int, shares: int, encode: Callable[[ConnectionRecord], Any]) -> None:
        super().__init__(self._log_finish)
        self.events: list[Event] = []
        self.share = share
        self.shares = shares
        self.encode = encode
        self.phase = _SEGMENT

    def _id(self, conn: Connection) -> int:
        # Unique across workers: the parent keeps one table of them.
        return conn.number * self.shares + self.share

    def _log_finish(self, conn: Connection) -> None:
        self.events.append((self.index, self.phase, self._id(conn), conn.orig.key,
                            self.encode(make_record(conn))))

    def sweep(self, now: float) -> None:
        self.phase = _SWEEP
        try:
            super().sweep(now)
        finally:
            self.phase = _SEGMENT

    def _new_connection(self, key: Key, now: float, version: int, seq: int, flags: int) -> Side:
        recent = self._ws_recent
        src, dst, sport, dport = key
        hit = 1 if key in recent else (2 if (dst, src, dport, sport) in recent else 0)
        side = super()._new_connection(key, now, version, seq, flags)
        self.events.append((self.index, _NEW, self._id(side.conn), hit, key))
        return side

    def finish_all(self) -> None:
        self.index = _END
        self.phase = _SWEEP
        super().finish_all()


def _work(
    path: str, share: int, shares: int, encode: Callable[[ConnectionRecord], Any],
    verify_checksums: bool, out: Pipe,
) -> None:
    """Worker process body: analyse this share of the flows, sending events every CHUNK records."""
    # Ctrl-C is the parent's to handle (it stops the workers); the objects inherited from it
    # stay out of this process's garbage collections (which would also copy their pages).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()
    try:
        tracker = _ShareTracker(share, shares, encode)
        events = tracker.events
        stats = CaptureStats()

        def flush(n: int) -> None:
            out.send((_CHUNK_MSG, n, events[:]))
            events.clear()

        gc.set_threshold(10_000, *gc.get_threshold()[1:])
        with open_capture(path) as reader:
            # A pcap or pcapng file's reader passes over the other shares' common frames itself.
            wanted = ShareSkip(shares, share)
            records = reader.iter_records_skipping(wanted)
            skip = wanted if records is not None else None
            if records is None:
                records = reader.iter_records()
            try:
                run(records, tracker, stats, verify_checksums=verify_checksums,
                    progress=flush, share=(share, shares), skip=skip, progress_every=CHUNK)
            finally:
                stats.truncated = reader.truncated
        tracker.finish_all()
        out.send((_DONE_MSG, stats, tracker.bad_checksums, events))
    except ParseError as exc:
        out.send((_PARSE_ERROR_MSG, exc.layer, exc.offset, exc.field, exc.message))
    except OSError as exc:
        out.send((_OS_ERROR_MSG, exc.errno, exc.strerror or str(exc)))
    except Exception as exc:  # reported by the parent
        out.send((_ERROR_MSG, f"{type(exc).__name__}: {exc}"))
    finally:
        out.close()


class _Merger(Generic[T]):
    """Puts the workers' events back into single-process order and numbers the connections."""

    def __init__(self, emit: Callable[[int, T], None]) -> None:
        self.emit = emit
        self.count = 0  # connections created so far (the next one is number count + 1)
        self.emitted = 0
        self.numbers: dict[int, int] = {}  # live connection id -> its number
        self.recent: OrderedDict[Key, None] = OrderedDict()

    def merge(self, batches: list[list[Event]]) -> None:
        events = [ev for batch in batches for ev in batch]
        if len(batches) > 1:
            # By record, then phase. (Record and phase are unique but for a sweep's finishes,
            # which the connection id keeps apart; those are put in order below.)
            events.sort()
        numbers = self.numbers
        apply = self._apply
        i, n = 0, len(events)
        while i < n:
            ev = events[i]
            if ev[1] == _SWEEP and i + 1 < n and events[i + 1][0] == ev[0]:
                # Connections finished by one sweep go out oldest first, whichever worker had
                # them (a single tracker sweeps its table in creation order).
                j = i + 1
                while j < n and events[j][0] == ev[0] and events[j][1] == _SWEEP:
                    j += 1
                for e in sorted(events[i:j], key=lambda e: numbers[e[2]]):
                    apply(e)
                i = j
                continue
            apply(ev)
            i += 1

    def _apply(self, ev: Event) -> None:
        _index, phase, cid, x, y = ev
        recent = self.recent
        if phase == _NEW:
            self.count += 1
            self.numbers[cid] = self.count
            if x:
                # The worker continued a recently finished stream: so must one process.
                src, dst, sport, dport = key = y
                if (x == 1 and key not in recent) or (
                    x == 2 and (dst, src, dport, sport) not in recent
                ):
                    raise _Diverged
                del recent[key if x == 1 else (dst, src, dport, sport)]
            # (A worker that found no stream: neither does one process, whose cache holds
            # every entry the worker's holds or newer ones.)
            return
        recent[x] = None
        if len(recent) > RECENT_STREAMS:
            recent.popitem(last=False)
        self.emitted += 1
        self.emit(self.numbers.pop(cid), y)


def _receive(pipe: Pipe, share: int, proc: multiprocessing.process.BaseProcess) -> Any:
    try:
        msg = pipe.recv()
    except EOFError:
        proc.join(1.0)
        raise RuntimeError(
            f"analysis worker {share} ended unexpectedly (exit code {proc.exitcode})"
        ) from None
    kind = msg[0]
    if kind == _PARSE_ERROR_MSG:
        raise ParseError(msg[1], msg[2], msg[3], msg[4])
    if kind == _OS_ERROR_MSG:
        raise OSError(msg[1], msg[2])
    if kind == _ERROR_MSG:
        raise RuntimeError(f"analysis worker {share} failed: {msg[1]}")
    return msg


def analyze_parallel(
    path: str | os.PathLike[str], jobs: int, encode: Callable[[ConnectionRecord], T],
    emit: Callable[[int, T], None], *, verify_checksums: bool = False,
    progress: ProgressHook | None = None,
) -> CaptureStats:
    """Analyze a capture in `jobs` worker processes (fork): the same records as `analyze_file`.

    `encode(record)` runs in the worker that finished the connection (format output there);
    `emit(number, encoded)` runs in this process, once per connection, in the order
    `analyze_file` calls `on_record`, where `number` is the connection's number (uid `C<number>`;
    `record.uid` as seen by `encode` is the worker's own numbering, to be ignored).
    """
    if jobs < 2:
        raise ValueError("analyze_parallel needs at least 2 jobs")
    with open_capture(path):
        pass  # a file that is not a capture fails here, as in one process
    ctx = multiprocessing.get_context("fork")
    pipes: list[Pipe] = []
    procs: list[multiprocessing.process.BaseProcess] = []
    merger: _Merger[T] = _Merger(emit)
    msgs: list[Any] = []
    done = False
    try:
        for k in range(jobs):
            recv_end, send_end = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_work, args=(os.fspath(path), k, jobs, encode, verify_checksums, send_end),
                daemon=True,
            )
            proc.start()
            send_end.close()
            pipes.append(recv_end)
            procs.append(proc)
        while True:
            msgs = [_receive(p, k, procs[k]) for k, p in enumerate(pipes)]
            kinds = {m[0] for m in msgs}
            if kinds == {_CHUNK_MSG}:
                merger.merge([m[2] for m in msgs])
                if progress is not None:
                    progress(msgs[0][1])
                continue
            if kinds != {_DONE_MSG}:
                raise RuntimeError("analysis workers out of step")
            merger.merge([m[3] for m in msgs])
            done = True
            break
    except _Diverged:
        _stop(procs, kill=True)
        return _finish_in_one_process(path, merger.emitted, encode, emit, verify_checksums)
    finally:
        _stop(procs, kill=not done)
        for p in pipes:
            p.close()
    return _merge_stats([m[1] for m in msgs], sum(m[2] for m in msgs), merger.emitted)


def _merge_stats(shares: list[CaptureStats], bad_tcp: int, connections: int) -> CaptureStats:
    """One capture's statistics from those of its shares (each counted its own records)."""
    first = min((s for s in shares if s.first_record), key=lambda s: s.first_record, default=None)
    last = max((s for s in shares if s.last_record), key=lambda s: s.last_record, default=None)
    return CaptureStats(
        packets=shares[0].packets,
        tcp_packets=sum(s.tcp_packets for s in shares),
        non_tcp=sum(s.non_tcp for s in shares),
        malformed=sum(s.malformed for s in shares),
        bad_checksums=sum(s.bad_checksums for s in shares) + bad_tcp,
        connections=connections,
        first_time=first.first_time if first else None,
        last_time=last.last_time if last else None,
        truncated=shares[0].truncated,
        first_record=first.first_record if first else 0,
        last_record=last.last_record if last else 0,
    )


def _stop(procs: list[multiprocessing.process.BaseProcess], *, kill: bool) -> None:
    for proc in procs:
        if kill and proc.is_alive():
            proc.terminate()
        proc.join()


def _finish_in_one_process(
    path: str | os.PathLike[str], skip: int, encode: Callable[[ConnectionRecord], T],
    emit: Callable[[int, T], None], verify_checksums: bool,
) -> CaptureStats:
    """Analyse the whole capture again in this process, emitting the records after `skip`."""
    seen = 0

    def on_record(rec: ConnectionRecord, conn: Connection) -> None:
        nonlocal seen
        seen += 1
        if seen > skip:
            emit(conn.number, encode(rec))

    return analyze_file(path, on_record, verify_checksums=verify_checksums)
