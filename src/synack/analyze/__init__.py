"""Observer: reconstructs every TCP connection in a capture and both endpoints' states.

    from synack.analyze import analyze_file, states_after_each

`analyze_file(path, on_record)` streams one `ConnectionRecord` per connection as it finishes;
`EndpointStates().after(timestamp_ns, link_type, data)` gives, record by record, the (sender,
receiver) RFC 9293 states after each packet (None when it is not TCP) — what
`synack trace --states` prints; `states_after_each(packets)` does the same over CapturedPackets.
"""

from synack.analyze.engine import (
    CaptureStats,
    EndpointStates,
    analyze_file,
    analyze_records,
    states_after_each,
)
from synack.analyze.summary import ConnectionRecord

__all__ = [
    "CaptureStats",
    "ConnectionRecord",
    "EndpointStates",
    "analyze_file",
    "analyze_records",
    "states_after_each",
]
