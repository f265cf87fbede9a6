"""The sans-I/O TCP core: connection state machine, timers, buffers, RTO, congestion, ISNs."""
