"""The one error raised for malformed bytes anywhere in the wire and capture layers."""

from __future__ import annotations


class ParseError(ValueError):
    """Bytes that do not decode: names the layer, the byte offset and the field.

    `offset` counts from the start of the buffer handed to the parser that failed (for capture
    files, from the start of the file).
    """

    def __init__(self, layer: str, offset: int, field: str, message: str) -> None:
        self.layer = layer
        self.offset = offset
        self.field = field
        self.message = message
        super().__init__(f"{layer}: {field} at offset {offset}: {message}")
