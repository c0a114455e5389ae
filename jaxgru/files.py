"""Atomic file output (every result file is written to a temporary name, then renamed), and
digests of saved state: what a run reads back is checked to be what it wrote."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from jaxgru.distributed import is_main

DIGEST = "sha256"  # the key under which a saved tree carries the digest of the rest of it


class DamagedStateError(RuntimeError):
    """Saved state whose contents are not what was written (damaged, truncated or edited)."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to a temporary file beside ``path``, then renames it; in a distributed run
    only the main process writes (:func:`jaxgru.distributed.is_main`)."""
    path = Path(path)
    if not is_main():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def write_csv(path: str | os.PathLike, header: list[str], rows: Iterable[Iterable[Any]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_bytes(path, buf.getvalue().encode())


def save_figure(fig, path: str | os.PathLike, dpi: int = 130) -> Path:
    """Writes a Matplotlib figure; a PNG as a 256-colour palette image (plots have few colours,
    and a third of the bytes keeps committed results light)."""
    buf = io.BytesIO()
    fmt = Path(path).suffix.lstrip(".") or "png"
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, palette_png(buf.getvalue()) if fmt == "png" else buf.getvalue())


def palette_png(data: bytes) -> bytes:
    """A PNG re-encoded with at most 256 colours (no dithering) and zlib's best compression."""
    from PIL import Image

    out = io.BytesIO()
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, "PNG",
                                                                                               optimize=True)
    return out.getvalue()


def _leaves(tree: Any, prefix: str = "") -> Iterable[tuple[str, np.ndarray]]:
    """``(path, array)`` of every leaf of nested dicts (keys as strings, sorted) or of one array."""
    if isinstance(tree, dict):
        for key in sorted(tree, key=str):
            if not (prefix == "" and key == DIGEST):
                yield from _leaves(tree[key], f"{prefix}/{key}")
    else:
        yield prefix, np.asarray(tree)


def tree_digest(tree: Any) -> np.ndarray:
    """SHA-256 of the arrays of nested dicts as ``uint8[32]``: every leaf's path, dtype, shape and
    bytes, in sorted key order, the top-level :data:`DIGEST` entry left out. It digests the
    arrays, not the files that hold them, so a tree restored by any container digests the same."""
    h = hashlib.sha256()
    for path, a in _leaves(tree):
        a = np.ascontiguousarray(a)
        h.update(f"{path}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return np.frombuffer(h.digest(), np.uint8).copy()


def with_digest(tree: dict) -> dict:
    """``tree`` (nested dicts of arrays) with its :func:`tree_digest` under :data:`DIGEST`."""
    return {**tree, DIGEST: tree_digest(tree)}


def check_digest(tree: dict, what: str, remedy: str) -> dict:
    """``tree`` without its digest, after checking it; :class:`DamagedStateError` naming ``what``
    (the file) and the ``remedy`` when the digest is missing or does not match."""
    if DIGEST not in tree:
        raise DamagedStateError(f"{what} carries no digest, so it cannot be checked; {remedy}.")
    saved = np.asarray(tree[DIGEST], np.uint8).reshape(-1)
    if not np.array_equal(saved, tree_digest(tree)):
        raise DamagedStateError(f"{what} is damaged: its contents do not match the digest written with them; "
                                f"{remedy}.")
    return {k: v for k, v in tree.items() if k != DIGEST}
