"""How the C export stores a weight array of ``b``-bit codes.

Four storages (``STORAGES``): ``bytes`` (one ``int8`` per code), ``halfwords`` (one ``int16``
per code, for widths above 8), ``packed``: every code's ``b``-bit two's complement field one
after the other, least significant bit first, the whole array one bit stream (code ``k`` occupies
bits ``k*b .. k*b + b - 1``; bit 0 is bit 0 of byte 0), padded with zero bits to a whole byte
(TensorFlow Lite's int4 packing, low nibble first, is the case ``b = 4`` of this order), and
``grouped``, a matrix's rows in groups of ``G = 16 / f`` for fields of ``f = 8, 4`` or ``2`` bits
(:func:`group_rows`), the layout a dense matmul reads fastest on a core with SMLAD.
"""

from __future__ import annotations

import numpy as np

STORAGES = ("bytes", "halfwords", "packed", "grouped")
GROUP_FIELDS = (8, 4, 2)  # field widths of the grouped storage: a whole number of fields per halfword


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


def _in_range(codes: np.ndarray, bits: int, how: str) -> np.ndarray:
    """``codes`` as int64, refused in one line where one leaves the signed ``bits``-bit range."""
    codes = np.asarray(codes).astype(np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise ValueError(f"codes outside the {bits}-bit range [{lo}, {hi}] cannot be {how} at {bits} bits.")
    return codes


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """``uint8[ceil(n * bits / 8)]``: the codes (any shape, read in C order, each within the signed
    ``bits``-bit range) as one packed bit stream."""
    codes = _in_range(np.asarray(codes).reshape(-1), bits, "packed")
    fields = codes & ((1 << bits) - 1)
    stream = ((fields[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(stream, bitorder="little")


def unpack_codes(stream: np.ndarray, bits: int, n: int) -> np.ndarray:
    """``int32[n]``: the first ``n`` codes of a packed stream (the inverse of :func:`pack_codes`)."""
    flat = np.unpackbits(np.asarray(stream, np.uint8), bitorder="little")[: n * bits].reshape(n, bits)
    fields = (flat.astype(np.int64) << np.arange(bits)).sum(axis=1)
    return (fields - ((fields >> (bits - 1)) << bits)).astype(np.int32)


def group_field(bits: int, packed: bool) -> int | None:
    """The field width a dense matrix of ``bits``-wide codes is grouped at (:func:`group_rows`):
    8 where its codes are stored one per byte, ``bits`` where they are packed at 4 or 2 bits;
    ``None`` where it keeps its :func:`storage` (16-bit codes; packed 3, 5, 6 and 7 bits)."""
    kind = storage(bits, packed)
    if kind == "bytes":
        return 8
    return bits if kind == "packed" and bits in GROUP_FIELDS else None


def group_rows(codes: np.ndarray, field: int) -> np.ndarray:
    """``uint8[ceil(rows * cols * field / 8)]``: a ``[rows, cols]`` matrix of codes (each within the
    signed ``field``-bit range) in the grouped storage.

    Rows go in groups of ``G = 16 / field``: group ``g``'s ``2 * cols`` bytes hold one little-endian
    halfword per column ``j``, whose bits ``r*field .. r*field + field - 1`` hold row ``g*G + r``'s
    code, offset by ``2^(field-1)`` (so unsigned) for ``r < G - 1`` and in two's complement for the
    top row. A halfword read as a signed 16-bit number is then ``sum_r code_r * 2^(r*field)`` plus
    a constant, so one SMLAD multiplies all ``G`` rows by two inputs at once and masks of the low
    fields separate them (``kernels.c``). The rows after the last whole group follow as a packed
    stream of ``field``-bit codes (one ``int8`` each at 8 bits), row after row.
    """
    codes = _in_range(codes, field, "grouped")
    rows, cols = codes.shape
    per = 16 // field
    whole = rows // per * per
    fields = codes[:whole].reshape(-1, per, cols)  # a view of our own copy (_in_range)
    fields[:, :-1] += 1 << (field - 1)  # offset: unsigned fields
    fields[:, -1] &= (1 << field) - 1  # the top row's field: two's complement
    halfwords = (fields << (field * np.arange(per))[None, :, None]).sum(axis=1).astype("<u2")
    rest = codes[whole:]
    tail = rest.astype(np.int8).view(np.uint8).reshape(-1) if field == 8 else pack_codes(rest, field)
    return np.concatenate([halfwords.reshape(-1).view(np.uint8), tail])


def ungroup_rows(data: np.ndarray, field: int, rows: int, cols: int) -> np.ndarray:
    """``int32[rows, cols]``: the matrix :func:`group_rows` stored (its inverse)."""
    data = np.asarray(data, np.uint8)
    per = 16 // field
    whole = rows // per * per
    size = whole // per * cols * 2  # the groups' bytes
    halfwords = np.frombuffer(data[:size].tobytes(), "<u2").astype(np.int64).reshape(-1, 1, cols)
    fields = (halfwords >> (field * np.arange(per))[None, :, None]) & ((1 << field) - 1)
    fields[:, :-1] -= 1 << (field - 1)
    fields[:, -1] -= (fields[:, -1] >> (field - 1)) << field
    rest = data[size:]
    n = (rows - whole) * cols
    tail = rest[:n].view(np.int8).astype(np.int32) if field == 8 else unpack_codes(rest, field, n)
    return np.concatenate([fields.reshape(whole, cols), tail.reshape(rows - whole, cols)]).astype(np.int32)
