"""The packetdrill-dialect conformance runner."""
