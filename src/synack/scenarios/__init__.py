"""The seed scenarios: handshakes, closes and resets reproduced on the simulated network."""
