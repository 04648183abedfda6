"""Decoding of vLLM's ``encoding_format="base64"`` vectors (pure, stdlib only).

vLLM packs each vector as raw ``embed_dtype`` values (default float32) in ``endianness`` byte
order (default ``native``: the server's, little-endian on every platform vLLM runs on), then
base64. ``fp8`` dtypes are not decoded (they stay strings).
"""

from __future__ import annotations

import base64
import struct
import sys
from array import array

__all__ = ["DECODABLE", "decode_vector"]

DECODABLE = ("float32", "float16", "bfloat16")


def decode_vector(text: str, dtype: str = "float32", endianness: str = "native") -> list[float]:
    """The floats of one base64-encoded vector.

    Args:
        text: the base64 string vLLM sent.
        dtype: its ``embed_dtype`` (``float32``, ``float16`` or ``bfloat16``).
        endianness: ``native`` (taken as little-endian), ``little`` or ``big``.

    Raises:
        ValueError: an undecodable dtype, or a payload whose length does not fit it.
    """
    raw = base64.b64decode(text, validate=True)
    big = endianness == "big"
    if dtype == "float32":
        values = array("f")
        values.frombytes(raw)
        if big != (sys.byteorder == "big"):
            values.byteswap()
        return values.tolist()
    if dtype == "float16":
        count, rest = divmod(len(raw), 2)
        if rest:
            raise ValueError("float16 payload has an odd number of bytes")
        return list(struct.unpack(f"{'>' if big else '<'}{count}e", raw))
    if dtype == "bfloat16":  # the high half of a float32
        halves = array("H")
        halves.frombytes(raw)
        if big != (sys.byteorder == "big"):
            halves.byteswap()
        widened = array("I", (h << 16 for h in halves))
        return array("f", widened.tobytes()).tolist()
    raise ValueError(f"cannot decode embed_dtype {dtype!r} (decodable: {', '.join(DECODABLE)})")
