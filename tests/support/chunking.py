"""Splitting a byte stream into chunks, for tests that a parser's result does not depend on them."""

from __future__ import annotations


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """*data* cut at each offset in *cuts* (offsets past the end cut at the end)."""
    points = sorted({min(c, len(data)) for c in cuts})
    chunks, start = [], 0
    for point in points:
        chunks.append(data[start:point])
        start = point
    chunks.append(data[start:])
    return chunks
