"""Bytes <-> immutable values: sequence arithmetic, checksums, TCP, IP and link layers. No state."""
