"""What researchers use today: a PyTorch GRU with per-operator fake quantization.

The same 17 operators and bit widths as jaxgru, each output quantized and dequantized in float
(weights too), one specimen at a time, as a pymoo + PyTorch pipeline scores a population. It
is a baseline for speed only: fake quantization in float is not bit-exact to an integer model.
"""

from __future__ import annotations

import numpy as np
import torch


def _affine(lo: float, hi: float, bits: int) -> tuple[float, int, int, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    scale = max(hi - lo, 1e-8) / (qmax - qmin)
    zero = int(np.clip(qmin - round(lo / scale), qmin, qmax))
    return scale, zero, qmin, qmax


def _fq(x: torch.Tensor, q) -> torch.Tensor:
    scale, zero, qmin, qmax = q
    return (torch.clamp(torch.round(x / scale) + zero, qmin, qmax) - zero) * scale


def _fq_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    qmax = 2 ** (bits - 1) - 1
    scale = float(w.abs().max()) / qmax
    return torch.clamp(torch.round(w / scale), -qmax, qmax) * scale


class FakeQuantGRU:
    """GRU(H) -> dense with fake-quantized operators; weights as jaxgru's ``GRUParams``."""

    def __init__(self, params, ranges, bits, input_bits: int = 8, head_bits: int = 8):
        t = lambda a: torch.from_numpy(np.asarray(a, np.float32))  # noqa: E731
        hidden = np.asarray(params.wh).shape[0]
        lo, hi = np.asarray(ranges.lo), np.asarray(ranges.hi)
        self.q = [_affine(float(lo[k]), float(hi[k]), int(bits[k])) for k in range(17)]
        self.qx = _affine(float(ranges.x_lo), float(ranges.x_hi), input_bits)
        wx, wh = t(params.wx), t(params.wh)
        gx = [slice(g * hidden, (g + 1) * hidden) for g in range(3)]
        self.wx = torch.cat([_fq_weight(wx[:, s], int(bits[k])) for s, k in zip(gx, (0, 2, 4))], 1)
        self.wh = torch.cat([_fq_weight(wh[:, s], int(bits[k])) for s, k in zip(gx, (1, 3, 5))], 1)
        self.bx, self.bh = t(params.bx), t(params.bh)
        self.wd, self.bd = _fq_weight(t(params.wd), head_bits), t(params.bd)
        self.hidden = hidden

    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        q, fq = self.q, _fq
        x = fq(x, self.qx)
        h = fq(torch.zeros(x.shape[0], self.hidden), q[16])
        for t in range(x.shape[1]):
            xr, xz, xn = (x[:, t] @ self.wx + self.bx).chunk(3, -1)
            hr, hz, hn = (h @ self.wh + self.bh).chunk(3, -1)
            xr, hr, xz, hz, xn, hn = (fq(v, q[k]) for v, k in ((xr, 0), (hr, 1), (xz, 2), (hz, 3), (xn, 4), (hn, 5)))
            r = fq(torch.sigmoid(fq(xr + hr, q[6])), q[7])
            z = fq(torch.sigmoid(fq(xz + hz, q[8])), q[9])
            n = fq(torch.tanh(fq(xn + fq(r * hn, q[10]), q[11])), q[12])
            omz = fq(1.0 - z, q[13])
            h = fq(fq(omz * n, q[14]) + fq(z * h, q[15]), q[16])
        return h @ self.wd + self.bd
