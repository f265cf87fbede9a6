"""synack: a pure-Python TCP you can watch."""

__version__ = "0.1.0"
