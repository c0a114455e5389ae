"""Plain NumPy integer GRU that runs an export of ``jaxgru.export``: the ground truth.

Written as a microcontroller port would be: 64-bit products for requantization, no JAX, no
floats after the input quantizer. It shares nothing with ``jaxgru.integer`` but the exported
arrays, so agreement between the two is a real check.
"""

from __future__ import annotations

import numpy as np

_I64 = np.int64


def _rshift_round(acc: np.ndarray, mult, shift) -> np.ndarray:
    """``floor((acc * mult + 2^(shift-1)) / 2^shift)`` in int64."""
    shift = _I64(shift)
    return (acc.astype(_I64) * _I64(mult) + (_I64(1) << (shift - 1))) >> shift


class ReferenceGRU:
    """Integer GRU from an export dict (or ``np.load`` of its ``.npz``)."""

    def __init__(self, arrays):
        a = {k: np.asarray(arrays[k]) for k in arrays}
        self.a = a
        self.hidden = a["wh"].shape[0]

    def _out(self, k: int, value: np.ndarray) -> np.ndarray:
        a = self.a
        return np.clip(_I64(a["zero"][k]) + value, a["qmin"][k], a["qmax"][k])

    def _linear(self, k: int, acc: np.ndarray) -> np.ndarray:
        return self._out(k, _rshift_round(acc, self.a["mult"][k], self.a["shift"][k]))

    def _add(self, k: int, qa: np.ndarray, qb) -> np.ndarray:
        a = self.a
        acc = _I64(a["offset"][k]) + _I64(a["mult_a"][k]) * qa + _I64(a["mult_b"][k]) * qb
        return self._out(k, _rshift_round(acc, 1, a["shift"][k]))

    def _mul(self, k: int, qa: np.ndarray, za, qb: np.ndarray, zb) -> np.ndarray:
        return self._linear(k, (qa - _I64(za)) * (qb - _I64(zb)))

    def _lut(self, k: int, src: int, q: np.ndarray) -> np.ndarray:
        return self.a[f"lut_{k}"][q - self.a["qmin"][src]].astype(_I64)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        a = self.a
        x = np.asarray(x, np.float32)
        codes = np.round(x * np.float32(a["x_inv_scale"])).astype(_I64) + _I64(a["x_zero"])
        return np.clip(codes, a["x_qmin"], a["x_qmax"])

    def cell(self, qx: np.ndarray, qh: np.ndarray) -> np.ndarray:
        """One step on codes ``qx: [B, I]``, ``qh: [B, H]``; returns the new ``qh``."""
        a, hsz, z = self.a, self.hidden, self.a["zero"]
        gx = qx @ a["wx"].astype(_I64) + a["bx"]
        gh = qh @ a["wh"].astype(_I64) + a["bh"]
        xr = self._linear(0, gx[:, :hsz])
        xz = self._linear(2, gx[:, hsz : 2 * hsz])
        xn = self._linear(4, gx[:, 2 * hsz :])
        hr = self._linear(1, gh[:, :hsz])
        hz = self._linear(3, gh[:, hsz : 2 * hsz])
        hn = self._linear(5, gh[:, 2 * hsz :])
        r = self._lut(7, 6, self._add(6, xr, hr))
        zg = self._lut(9, 8, self._add(8, xz, hz))
        rh = self._mul(10, r, z[7], hn, z[5])
        n = self._lut(12, 11, self._add(11, xn, rh))
        omz = self._add(13, zg, 0)
        a_ = self._mul(14, omz, z[13], n, z[12])
        b_ = self._mul(15, zg, z[9], qh, z[16])
        return self._add(16, a_, b_)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Integer logits ``int64[B, C]`` of float inputs ``x: [B, T, I]``."""
        a = self.a
        qx = self.quantize_input(x)
        qh = np.full((x.shape[0], self.hidden), a["zero"][16], _I64)
        for t in range(x.shape[1]):
            qh = self.cell(qx[:, t], qh)
        return qh @ a["wd"].astype(_I64) + a["bd"]
