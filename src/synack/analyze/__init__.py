"""Observer: reconstructs every TCP connection in a capture and both endpoints' states."""
