"""Observer: reconstructs every TCP connection in a capture and both endpoints' states.

    from synack.analyze import analyze_file, states_after_each

`analyze_file(path, on_record)` streams one `ConnectionRecord` per connection as it finishes;
`states_after_each(packets)` yields, for each CapturedPacket, the (sender, receiver) RFC 9293
states after it (None for packets that are not TCP) — what `synack trace --states` prints.
"""

from synack.analyze.engine import CaptureStats, analyze_file, analyze_records, states_after_each
from synack.analyze.summary import ConnectionRecord

__all__ = [
    "CaptureStats",
    "ConnectionRecord",
    "analyze_file",
    "analyze_records",
    "states_after_each",
]
