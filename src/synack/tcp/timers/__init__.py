"""Timer arithmetic of the TCP core (retransmission timeout)."""
