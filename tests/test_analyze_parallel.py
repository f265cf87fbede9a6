"""`synack analyze --jobs N`: the same output, statistics and exit status as one process."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from synack.analyze import parallel
from synack.analyze.tracker import RECENT_STREAMS
from synack.capture.share import flow_share
from synack.capture.writer import open_writer
from synack.cli.analyze import EXIT_OK, EXIT_TRUNCATED, command

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synth

TRACES = Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek" / "traces"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, list(args))
    return result.exit_code, result.stdout, result.stderr


def same_with_jobs(path: Path, *options: str) -> tuple[int, str, str]:
    """Run with one and with two processes; both runs must print exactly the same."""
    one = run(str(path), *options, "--jobs", "1")
    two = run(str(path), *options, "--jobs", "2")
    assert two == one
    return one


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "synthetic.pcap"
    synth.generate(path, packets=20_000, seed=7)
    return path


@pytest.mark.parametrize("path", sorted(TRACES.iterdir()), ids=lambda p: p.name)
def test_shared_captures_json_and_csv(path: Path) -> None:
    code, _out, _ = same_with_jobs(path, "--json")
    assert code in (EXIT_OK, EXIT_TRUNCATED)
    same_with_jobs(path, "--csv")


def test_synthetic_capture_json(synthetic: Path) -> None:
    code, out, _err = same_with_jobs(synthetic, "--json")
    assert code == EXIT_OK
    lines = out.splitlines()
    assert len(lines) > 1000
    assert lines[0].startswith('{"uid":"C')
    # Numbered by creation, as one process numbers them: every number once.
    uids = sorted(int(line[9:line.index('"', 9)]) for line in lines)
    assert uids == list(range(1, len(lines) + 1))


def test_synthetic_capture_csv_and_table(synthetic: Path) -> None:
    _code, out, _ = same_with_jobs(synthetic, "--csv")
    rows = out.splitlines()
    assert rows[0].startswith("uid,ts,") and len(rows) > 1000
    _code, out, _ = same_with_jobs(synthetic, "--limit", "20")
    assert f"TCP connections ({len(rows) - 1})" in out and "Handshakes:" in out


def test_synthetic_capture_verifying_checksums(synthetic: Path) -> None:
    code, out, _err = same_with_jobs(synthetic, "--json", "--verify-checksums")
    assert code == EXIT_OK and out.count("\n") > 1000


def test_three_jobs_many_chunks(synthetic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = run(str(synthetic), "--json", "--jobs", "1")
    # Workers report every 1024 records: sweeps, creations and finishes across many merges.
    monkeypatch.setattr(parallel, "CHUNK", 1024)
    assert run(str(synthetic), "--json", "--jobs", "3") == one
    assert run(str(synthetic), "--json", "--jobs", "2") == one


def test_truncated_capture_same_message_status_records(synthetic: Path, tmp_path: Path) -> None:
    data = synthetic.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3 + 11])
    code, out, err = same_with_jobs(cut, "--json")
    assert code == EXIT_TRUNCATED
    assert out.count("\n") > 700
    # The damage is reported once, with its offset.
    assert err.count("damaged or cut") == 1 and "before offset" in err


def test_non_tcp_and_malformed_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcap"
    udp = bytes.fromhex("450000210000400040110000c0000201c0000202") + bytes.fromhex(
        "0035003500090000") + b"x"
    with open_writer(path, 101) as out:
        for i in range(40):
            out.write(i * 1_000_000, _tcp(i % 7, 40000 + i % 5, 80, 0x02, 1000 * i)[14:])
            out.write(i * 1_000_000 + 1, udp)
            out.write(i * 1_000_000 + 2, b"\x45garbage")
    code, _out_text, err = same_with_jobs(path, "--json")
    assert code == EXIT_OK
    assert "skipped packets: 40 non-TCP, 40 malformed" in err


def test_ethernet_non_tcp_and_cut_frames_counted_once(tmp_path: Path) -> None:
    """Frames with TCP's shape but not TCP (UDP, cut headers) belong to the share their bytes
    hash to: each is counted by exactly one worker."""
    path = tmp_path / "eth-mixed.pcap"
    with open_writer(path, 1) as out:
        for i in range(60):
            t = i * 1_000_000
            tcp = _tcp(i % 9, 40000 + i, 80, 0x02, 1000 * i)
            out.write(t, tcp)
            udp = bytearray(tcp)
            udp[23] = 17  # the IPv4 protocol: UDP
            out.write(t + 1, bytes(udp))
            out.write(t + 2, tcp[:40])  # cut inside the TCP header
    code, _out, err = same_with_jobs(path, "--json")
    assert code == EXIT_OK
    assert "skipped packets: 60 non-TCP, 60 malformed" in err


def test_flow_share_same_for_both_directions() -> None:
    a4, b4 = bytes((10, 0, 0, 1)), bytes((192, 0, 2, 7))
    a6, b6 = bytes(range(16)), bytes(range(100, 116))
    seen = set()
    for src, dst in ((a4, b4), (a6, b6)):
        for sport in range(30000, 30400):
            for shares in (2, 3, 4):
                fwd = flow_share(src, dst, sport, 443, shares)
                assert fwd == flow_share(dst, src, 443, sport, shares)
                assert 0 <= fwd < shares
                if shares == 2:
                    seen.add(fwd)
    assert seen == {0, 1}  # both workers get flows


def test_flow_share_spreads_ports_evenly() -> None:
    src, dst = bytes((10, 0, 0, 1)), bytes((192, 0, 2, 7))
    counts = [0, 0]
    for sport in range(32768, 32768 + 4000):
        counts[flow_share(src, dst, sport, 80, 2)] += 1
    assert min(counts) > 1600


def _tcp(client: int, sport: int, dport: int, flags: int, seq: int, ack: int = 0) -> bytes:
    """Ethernet + IPv4 + TCP (no options, no payload) from 10.0.<client> to 192.0.2.1."""
    src = bytes((10, 0, client >> 8, client & 0xFF))
    dst = bytes((192, 0, 2, 1))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack("!HHIIHHHH", sport, dport, seq, ack, 0x5000 | flags, 65535, 0, 0)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def _reversed(frame: bytes) -> bytes:
    """The same header with addresses and ports swapped."""
    ip = frame[14:34]
    tcp = frame[34:]
    ip = ip[:12] + ip[16:20] + ip[12:16]
    tcp = tcp[2:4] + tcp[0:2] + tcp[4:]
    return frame[:14] + ip + tcp


def test_stream_reused_after_eviction_falls_back_to_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 4-tuple reused after more than RECENT_STREAMS other connections finished: one process
    has forgotten its Wireshark stream, a worker that saw only its share has not."""
    path = tmp_path / "reuse.pcap"
    t = 1_000_000_000
    frames: list[tuple[int, bytes]] = []
    syn = _tcp(0, 40000, 80, 0x02, 100)
    frames += [(t, syn), (t + 1000, _reversed(_tcp(0, 40000, 80, 0x12, 900, 101)))]
    frames.append((t + 2000, _tcp(0, 40000, 80, 0x04, 101)))
    for i in range(RECENT_STREAMS + 1500):
        t += 100_000
        frames.append((t, _tcp(1 + i // 50000, 10000 + i % 50000, 80, 0x02, 7 * i)))
        frames.append((t + 50_000, _reversed(_tcp(1 + i // 50000, 10000 + i % 50000, 80, 0x14,
                                                   0, 7 * i + 1))))
    t += 30_000_000_000
    frames.append((t, _tcp(0, 40000, 80, 0x02, 5000)))
    frames.append((t + 1000, _reversed(_tcp(0, 40000, 80, 0x12, 7000, 5001))))
    frames.append((t + 2000, _tcp(0, 40000, 80, 0x10, 5001, 7001)))
    with open_writer(path, 1) as out:
        for ts, frame in frames:
            out.write(ts, frame)
    calls: list[int] = []
    original = parallel._finish_in_one_process

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "_finish_in_one_process", spy)
    code, out, _ = same_with_jobs(path, "--json")
    assert code == EXIT_OK
    assert calls == [1]
    assert out.count("\n") == RECENT_STREAMS + 1502
