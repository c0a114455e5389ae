"""Plain NumPy integer model that runs an export of ``jaxgru.model.export``: the ground truth.

Written as a microcontroller port would be: layer after layer, operators one by one in
declaration order, each linear operator its own matrix-vector product, 64-bit products for requantization, no JAX, no
floats after the input quantizer. Its kernels (:data:`KERNELS`, one per operator kind) share
nothing with ``jaxgru.model.integer``; only the cell's declaration and the exported arrays are common,
so agreement between the two is a real check of the integer arithmetic.

A delta model (an export with ``theta_<source>`` arrays) runs as a device would: each matmul keeps
its pre-activation memory ``M`` and adds only the columns of the units propagated this step
(``M += W[j] * (q_j - s_hat_j)``), never the dense product.
"""

from __future__ import annotations

import numpy as np

from jaxgru.cells import Stack
from jaxgru.cells.declaration import Cell

_I64 = np.int64


def _rshift_round(acc: np.ndarray, mult, shift) -> np.ndarray:
    """``floor((acc * mult + 2^(shift-1)) / 2^shift)`` in int64."""
    shift = _I64(shift)
    return (acc.astype(_I64) * _I64(mult) + (_I64(1) << (shift - 1))) >> shift


def _out(a, k: int, value: np.ndarray) -> np.ndarray:
    return np.clip(_I64(a["zero"][k]) + value, a["qmin"][k], a["qmax"][k])


def _linear(a, k, name, srcs, q, acc=None):
    """``acc``: a delta model's memory for this operator, in place of the dense product."""
    if acc is None:
        acc = q @ a[f"w_{name}"].astype(_I64) + a[f"b_{name}"]
    return _out(a, k, _rshift_round(acc, a["mult"][k], a["shift"][k]))


def _add(a, k, name, srcs, qa, qb):
    acc = _I64(a["offset"][k]) + _I64(a["mult_a"][k]) * qa + _I64(a["mult_b"][k]) * qb
    return _out(a, k, _rshift_round(acc, 1, a["shift"][k]))


def _sub1(a, k, name, srcs, qa):
    return _out(a, k, _rshift_round(_I64(a["offset"][k]) + _I64(a["mult_a"][k]) * qa, 1, a["shift"][k]))


def _mul(a, k, name, srcs, qa, qb):
    prod = (qa - _I64(a["zero"][srcs[0]])) * (qb - _I64(a["zero"][srcs[1]]))
    return _out(a, k, _rshift_round(prod, a["mult"][k], a["shift"][k]))


def _scale(a, k, name, srcs, qa):
    prod = (qa - _I64(a["zero"][srcs[0]])) * a[f"v_{name}"].astype(_I64)
    return _out(a, k, _rshift_round(prod, a["mult"][k], a["shift"][k]))


def _relu(a, k, name, srcs, qa):
    return _out(a, k, _rshift_round(np.maximum(qa - _I64(a["zero"][srcs[0]]), 0), a["mult"][k], a["shift"][k]))


def _lut(a, k, name, srcs, qa):
    return a[f"lut_{name}"][qa - a["qmin"][srcs[0]]].astype(_I64)


# kernel(arrays, k, op name, operand operator indices, *operand codes) -> codes of operator k
KERNELS = {"linear": _linear, "scale": _scale, "add": _add, "sub1": _sub1, "mul": _mul,
           "sigmoid": _lut, "tanh": _lut, "relu": _relu}


class Reference:
    """Integer model from an export dict (or ``np.load`` of its ``.npz``); its layers are the
    cells the export names, or ``cell`` (a declaration not registered in ``jaxgru.cells``, or a
    :class:`~jaxgru.cells.Stack` of them)."""

    def __init__(self, arrays, cell: Cell | Stack | None = None):
        self.a = {k: np.asarray(arrays[k]) for k in arrays}
        self.stack = Stack.of(cell if cell is not None else str(self.a["cell"]))
        missing = sorted({op.kind for c in self.stack.cells for op in c.ops} - set(KERNELS))
        if missing:
            raise ValueError(f"no reference kernel for kind {missing[0]!r}; add one to jaxgru.model.reference.KERNELS "
                             "(written apart from its record in jaxgru.ops.kinds).")
        # each layer's arrays under the cell's own names
        self.layers = [{k[len(p):]: v for k, v in self.a.items() if k.startswith(p)}
                       for p in map(self.stack.prefix, range(self.stack.layers))]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        a = self.a
        x = np.asarray(x, np.float32)
        codes = np.round(x * np.float32(a["x_inv_scale"])).astype(_I64) + _I64(a["x_zero"])
        return np.clip(codes, a["x_qmin"], a["x_qmax"])

    @staticmethod
    def step(cell: Cell, a: dict, qx: np.ndarray, carry: dict[str, np.ndarray],
             memory: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """One step of a layer of ``cell`` with arrays ``a`` on input codes ``qx: [B, I]`` and the
        carried codes (``{name: [B, H]}``); returns every name's codes after the step (a state's
        are its new ones). ``memory``: a delta layer's accumulator per linear operator."""
        values = {"x": qx, **carry}
        for k, op in enumerate(cell.ops):
            operands = [values[n] for n in op.inputs]
            extra = (memory[op.name],) if memory is not None and op.kind == "linear" else ()
            values[op.name] = KERNELS[op.kind](a, k, op.name, cell.operand_ops[k], *operands, *extra)
        return values

    def logits(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Integer logits ``int64[B, C]`` of float inputs ``x: [B, T, I]``: each layer over the
        whole sequence, its output codes the next layer's input. ``lengths: int[B]``: each
        sequence's valid steps; a step past its end leaves its carry unchanged."""
        return self.run(x, lengths)[0]

    @property
    def delta(self) -> bool:
        """Whether the export is a delta model (it holds thresholds)."""
        return any(k.startswith("theta_") for k in self.layers[0])

    def run(self, x: np.ndarray, lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`logits`, and for a delta model the units propagated per delta source
        (``Stack.delta_sources``), counted unit by unit over valid steps: ``int64[n_delta]``."""
        codes = self.quantize_input(x)
        batch, steps = x.shape[:2]
        valid_at = [np.ones(batch, bool) if lengths is None else t < np.asarray(lengths) for t in range(steps)]
        counts = []
        x_zero = self.a["x_zero"]  # the input's zero point, then each layer's output's
        for cell, a in zip(self.stack.cells, self.layers):
            hidden = len(a["b_" + cell.ops[cell.input_ops[0]].name])
            carry = {n: np.full((batch, hidden), a["zero"][k], _I64) for n, k in zip(cell.carry, cell.carry_ops)}
            deltas = _Deltas(cell, a, x_zero, batch, codes.shape[-1], hidden) if self.delta else None
            outputs = []
            for t in range(steps):
                valid = valid_at[t]
                memory = None if deltas is None else deltas.step({"x": codes[:, t], **carry}, valid)
                values = self.step(cell, a, codes[:, t], carry, memory)
                carry = {n: np.where(valid[:, None], values[n], carry[n]) for n in cell.carry}
                outputs.append(carry[cell.output])
            codes = np.stack(outputs, axis=1)
            x_zero = a["zero"][cell.index(cell.output)]
            if deltas is not None:
                counts += deltas.propagated
        logits = carry[cell.output] @ self.a["wd"].astype(_I64) + self.a["bd"]
        return logits, (np.array(counts, _I64) if self.delta else None)


class _Deltas:
    """A delta layer's state as a device keeps it: per source ``s_hat`` (codes last propagated,
    from the source's zero point), per linear operator its memory ``M`` (from ``W s_hat + b``),
    and the units propagated so far per source."""

    def __init__(self, cell: Cell, a: dict, x_zero, batch: int, fan_in: int, hidden: int):
        self.cell, self.a = cell, a
        self.s_hat, self.memory = {}, {}
        for src in cell.sources:
            zero = x_zero if src == "x" else a["zero"][cell.index(src)]
            self.s_hat[src] = np.full((batch, fan_in if src == "x" else hidden), zero, _I64)
            for k in cell.linear_groups[src]:
                name = cell.ops[k].name
                w = a[f"w_{name}"].astype(_I64)
                self.memory[name] = np.tile(_I64(zero) * w.sum(axis=0) + a[f"b_{name}"], (batch, 1))
        self.propagated = [0] * len(cell.sources)

    def step(self, sources: dict[str, np.ndarray], valid: np.ndarray) -> dict[str, np.ndarray]:
        """Propagates each source's units that moved by more than its threshold (only where
        ``valid``) into the memories, one column at a time (each column into the rows of the
        batch where its unit moved); returns the memories."""
        for i, src in enumerate(self.cell.sources):
            delta = sources[src] - self.s_hat[src]
            moved = (np.abs(delta) > self.a[f"theta_{src}"]) & valid[:, None]
            for j in np.flatnonzero(moved.any(axis=0)):
                rows = moved[:, j]
                for k in self.cell.linear_groups[src]:
                    name = self.cell.ops[k].name
                    self.memory[name][rows] += delta[rows, j, None] * self.a[f"w_{name}"][j].astype(_I64)
                self.s_hat[src][rows, j] = sources[src][rows, j]
            self.propagated[i] += int(moved.sum())
        return self.memory
