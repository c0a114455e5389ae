"""How the C export stores a weight array of ``b``-bit codes.

Three storages (``STORAGES``): ``bytes`` (one ``int8`` per code), ``halfwords`` (one ``int16``
per code, for widths above 8) and ``packed``: every code's ``b``-bit two's complement field one
after the other, least significant bit first, the whole array one bit stream (code ``k`` occupies
bits ``k*b .. k*b + b - 1``; bit 0 is bit 0 of byte 0), padded with zero bits to a whole byte.
TensorFlow Lite's int4 packing (low nibble first) is the case ``b = 4`` of this order.
"""

from __future__ import annotations

import numpy as np

STORAGES = ("bytes", "halfwords", "packed")


def storage(bits: int, packed: bool) -> str:
    """The storage of ``bits``-wide codes: packed below 8 bits when ``packed``, else one byte up
    to 8 bits and a halfword above."""
    if bits > 8:
        return "halfwords"
    return "packed" if packed and bits < 8 else "bytes"


def stored_bytes(n_codes: int, bits: int, packed: bool) -> int:
    """Bytes that ``n_codes`` codes of ``bits`` bits take in their :func:`storage`."""
    kind = storage(bits, packed)
    if kind == "packed":
        return (n_codes * bits + 7) // 8
    return n_codes * (2 if kind == "halfwords" else 1)


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """``uint8[ceil(n * bits / 8)]``: the codes (any shape, read in C order, each within the signed
    ``bits``-bit range) as one packed bit stream."""
    codes = np.asarray(codes).reshape(-1).astype(np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise ValueError(f"codes outside the {bits}-bit range [{lo}, {hi}] cannot be packed at {bits} bits.")
    fields = codes & ((1 << bits) - 1)
    stream = ((fields[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(stream, bitorder="little")


def unpack_codes(stream: np.ndarray, bits: int, n: int) -> np.ndarray:
    """``int32[n]``: the first ``n`` codes of a packed stream (the inverse of :func:`pack_codes`)."""
    flat = np.unpackbits(np.asarray(stream, np.uint8), bitorder="little")[: n * bits].reshape(n, bits)
    fields = (flat.astype(np.int64) << np.arange(bits)).sum(axis=1)
    return (fields - ((fields >> (bits - 1)) << bits)).astype(np.int32)
