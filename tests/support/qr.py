"""Read back a QR code printed in a terminal (segno's compact mode) with a real decoder.

Each character holds two modules, top and bottom: ``█`` both light, `` `` both dark,
``▀`` light over dark, ``▄`` dark over light. The modules are drawn into a grey image
(4 pixels per module, white margin) and decoded with zxing-cpp.
"""

from __future__ import annotations

import zxingcpp

_HALVES = {"█": (1, 1), " ": (0, 0), "▀": (1, 0), "▄": (0, 1)}
_SCALE = 4


class _Image:
    """A greyscale image for zxing-cpp through the array interface (no numpy needed)."""

    def __init__(self, rows: list[list[int]]) -> None:
        height, width = len(rows) * _SCALE, len(rows[0]) * _SCALE
        pixels = bytearray()
        for row in rows:
            line = bytes(255 if light else 0 for light in row for _ in range(_SCALE))
            pixels += line * _SCALE
        self.__array_interface__ = {
            "shape": (height, width),
            "typestr": "|u1",
            "data": bytes(pixels),
            "version": 3,
        }


def decode_terminal_qr(text: str) -> list[str]:
    """The texts of the QR codes found in ``text`` (only the QR block's lines are used)."""
    lines = [line for line in text.splitlines() if line and set(line) <= set(_HALVES)]
    if not lines:
        return []
    width = max(len(line) for line in lines)
    rows: list[list[int]] = []
    for line in lines:
        top, bottom = [], []
        for char in line.ljust(width, "█"):
            upper, lower = _HALVES[char]
            top.append(upper)
            bottom.append(lower)
        rows += [top, bottom]
    margin = [[1] * (width + 8) for _ in range(4)]
    framed = margin + [[1] * 4 + row + [1] * 4 for row in rows] + margin
    return [found.text for found in zxingcpp.read_barcodes(_Image(framed))]
