"""What researchers use today: a PyTorch recurrent cell with per-operator fake quantization.

The same declared cell (``jaxgru.cells``), operators and bit widths as jaxgru, each output
quantized and dequantized in float (weights too), one specimen at a time, as a pymoo + PyTorch
pipeline scores a population. It walks the declaration with PyTorch kernels, one per operator
kind. A baseline for speed only: fake quantization in float is not bit-exact to an integer model.
"""

from __future__ import annotations

import numpy as np
import torch

from jaxgru.cells.declaration import INPUT


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
    """cell(H) -> dense with fake-quantized operators; weights as jaxgru's ``ModelParams``."""

    def __init__(self, params, ranges, bits, input_bits: int = 8, head_bits: int = 8):
        t = lambda a: torch.from_numpy(np.asarray(a, np.float32))  # noqa: E731
        (cell,) = params.stack.cells  # one layer
        self.cell = cell
        (self.hidden,) = params.hidden
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


def _affine_population(lo: float, hi: float, bits: np.ndarray) -> tuple[torch.Tensor, ...]:
    """:func:`_affine` for every specimen's width of one operator, as ``[P, 1, 1]`` tensors."""
    qs = [_affine(lo, hi, int(b)) for b in bits]
    return tuple(torch.tensor([q[i] for q in qs], dtype=torch.float32).view(-1, 1, 1) for i in range(4))


def _fq_population(x: torch.Tensor, q) -> torch.Tensor:
    scale, zero, qmin, qmax = q
    return (torch.clamp(torch.round(x / scale) + zero, qmin, qmax) - zero) * scale


def _fq_weight_population(w: torch.Tensor, bits: np.ndarray) -> torch.Tensor:
    """``[P, *w.shape]``: ``w`` fake-quantized at each specimen's width."""
    qmax = torch.tensor(2.0 ** (np.asarray(bits) - 1) - 1, dtype=torch.float32).view(-1, *([1] * w.ndim))
    scale = w.abs().max() / qmax
    return torch.clamp(torch.round(w[None] / scale), -qmax, qmax) * scale


class FakeQuantPopulation:
    """The whole population batched, as a PyTorch user who cared would write it: every tensor
    carries a leading specimen axis ``P``, each specimen its own widths (per-specimen scales,
    zero points and clamps as ``[P, 1, 1]`` tensors), matmuls batched (``einsum`` on the shared
    input, ``bmm`` on the recurrent state). The same fake quantization as :class:`FakeQuantCell`."""

    def __init__(self, params, ranges, genomes, input_bits: int = 8, head_bits: int = 8):
        t = lambda a: torch.from_numpy(np.asarray(a, np.float32))  # noqa: E731
        genomes = np.asarray(genomes)
        (cell,) = params.stack.cells  # one layer
        self.cell = cell
        (self.hidden,) = params.hidden
        lo, hi = np.asarray(ranges.lo), np.asarray(ranges.hi)
        self.q = [_affine_population(float(lo[k]), float(hi[k]), genomes[:, k]) for k in range(cell.n_ops)]
        self.qx = _affine(float(ranges.x_lo), float(ranges.x_hi), input_bits)
        self.w = {}
        for src, group in cell.linear_groups.items():
            w = t(params[f"w{src}"])
            cols = [slice(g * self.hidden, (g + 1) * self.hidden) for g in range(len(group))]
            self.w[f"w{src}"] = torch.cat([_fq_weight_population(w[:, s], genomes[:, k]) for s, k in zip(cols, group)],
                                          -1)  # [P, K, len(group) * H]
            self.w[f"b{src}"] = t(params[f"b{src}"])
        for k in cell.ops_of_kind("scale"):
            name = f"v_{cell.ops[k].name}"
            self.w[name] = _fq_weight_population(t(params[name]), genomes[:, k])[:, None, :]  # [P, 1, H]
        self.wd, self.bd = _fq_weight(t(params["wd"]), head_bits), t(params["bd"])
        self.population = len(genomes)

    def logits(self, x: torch.Tensor, fn=None) -> torch.Tensor:
        """``[P, B, C]``; ``fn``: :func:`population_logits` or a compiled version of it."""
        with torch.inference_mode():
            return (fn or population_logits)(self.cell, self.hidden, self.q, self.qx, self.w, self.wd, self.bd, x)


def population_logits(cell, hidden: int, q, qx, w, wd, bd, x: torch.Tensor) -> torch.Tensor:
    """The batched forward pass of :class:`FakeQuantPopulation`, a pure function of its tensors
    (so that one ``torch.compile`` serves every block of specimens)."""
    x = _fq(x, qx)  # the input quantizer is the same for every specimen
    zeros = torch.zeros(q[0][0].shape[0], x.shape[0], hidden)
    values = {n: _fq_population(zeros, q[k]) for n, k in zip(cell.carry, cell.carry_ops)}
    for t in range(x.shape[1]):
        for src, group in cell.linear_groups.items():
            if src == INPUT:
                y = torch.einsum("bi,pin->pbn", x[:, t], w[f"w{src}"])
            else:
                y = torch.bmm(values[src], w[f"w{src}"])
            parts = (y + w[f"b{src}"]).chunk(len(group), -1)
            values.update({cell.ops[k].name: _fq_population(v, q[k]) for k, v in zip(group, parts)})
        for k in cell.step_ops:
            op = cell.ops[k]
            values[op.name] = _fq_population(KERNELS[op.kind](w, op, *(values[n] for n in op.inputs)), q[k])
    return values[cell.output] @ wd + bd
