"""What researchers use today: a PyTorch recurrent cell with per-operator fake quantization.

The same declared cell (``jaxgru.cells``), operators and bit widths as jaxgru, each output
quantized and dequantized in float (weights too), one specimen at a time, as a pymoo + PyTorch
pipeline scores a population. It walks the declaration with PyTorch kernels, one per operator
kind. A baseline for speed only: fake quantization in float is not bit-exact to an integer model.
"""

from __future__ import annotations

import numpy as np
import torch

from jaxgru.cell import INPUT


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


KERNELS = {
    "scale": lambda w, op, a: w[f"v_{op.name}"] * a,
    "add": lambda w, op, a, b: a + b,
    "sub1": lambda w, op, a: 1.0 - a,
    "mul": lambda w, op, a, b: a * b,
    "sigmoid": lambda w, op, a: torch.sigmoid(a),
    "tanh": lambda w, op, a: torch.tanh(a),
    "relu": lambda w, op, a: torch.relu(a),
}


class FakeQuantCell:
    """cell(H) -> dense with fake-quantized operators; weights as jaxgru's ``CellParams``."""

    def __init__(self, params, ranges, bits, input_bits: int = 8, head_bits: int = 8):
        t = lambda a: torch.from_numpy(np.asarray(a, np.float32))  # noqa: E731
        cell = self.cell = params.cell
        self.hidden = params.hidden
        lo, hi = np.asarray(ranges.lo), np.asarray(ranges.hi)
        self.q = [_affine(float(lo[k]), float(hi[k]), int(bits[k])) for k in range(cell.n_ops)]
        self.qx = _affine(float(ranges.x_lo), float(ranges.x_hi), input_bits)
        self.w = {}
        for src, group in cell.linear_groups.items():
            w = t(params[f"w{src}"])
            cols = [slice(g * self.hidden, (g + 1) * self.hidden) for g in range(len(group))]
            self.w[f"w{src}"] = torch.cat([_fq_weight(w[:, s], int(bits[k])) for s, k in zip(cols, group)], 1)
            self.w[f"b{src}"] = t(params[f"b{src}"])
        for k in cell.ops_of_kind("scale"):
            self.w[f"v_{cell.ops[k].name}"] = _fq_weight(t(params[f"v_{cell.ops[k].name}"]), int(bits[k]))
        self.wd, self.bd = _fq_weight(t(params["wd"]), head_bits), t(params["bd"])

    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        cell, q, w = self.cell, self.q, self.w
        x = _fq(x, self.qx)
        values = {n: _fq(torch.zeros(x.shape[0], self.hidden), q[k]) for n, k in zip(cell.carry, cell.carry_ops)}
        for t in range(x.shape[1]):
            src_values = {INPUT: x[:, t], **values}
            for src, group in cell.linear_groups.items():
                parts = (src_values[src] @ w[f"w{src}"] + w[f"b{src}"]).chunk(len(group), -1)
                values.update({cell.ops[k].name: _fq(v, q[k]) for k, v in zip(group, parts)})
            for k in cell.step_ops:
                op = cell.ops[k]
                values[op.name] = _fq(KERNELS[op.kind](w, op, *(values[n] for n in op.inputs)), q[k])
        return values[cell.output] @ self.wd + self.bd
