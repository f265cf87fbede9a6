"""Drivers that move bytes and own the clock: the simulated network, TUN and asyncio."""
