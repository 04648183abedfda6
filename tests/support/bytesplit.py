"""Cut a byte string at arbitrary points (for decoders that must not care how bytes arrive)."""

from __future__ import annotations


def split_at(body: bytes, cuts: list[int]) -> list[bytes]:
    """``body`` cut at each of ``cuts`` (taken modulo its length + 1); empty pieces dropped."""
    points = sorted({c % (len(body) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(body[last:p])
        last = p
    pieces.append(body[last:])
    return [p for p in pieces if p]
