"""Every integer constant of an export, derived again in NumPy from the float weights, the
calibrated ranges and the genome, as ``docs/design.md`` defines them: the oracle of the export's
constants (the reference's kernels are checked by :mod:`jaxgru.model.reference`, its constants
here).

Nothing is shared with ``jaxgru.model.integer``, ``jaxgru.ops`` or ``jaxgru.model.export`` but
the declaration: quantizers, weight codes, biases with the input zero folded in, fixed-point
multipliers and shifts (the shift found exactly with ``frexp``, not from a float ``log2``), sums'
common shifts and offsets, tables, the head, delta thresholds. Reals are float32, as in the model;
float-to-code rounding is half to even.

:func:`derive` returns the arrays :func:`jaxgru.model.export.export_arrays` writes, under the same
names, so the two compare key by key. A table entry computed from a float32 sigmoid or tanh can
legitimately differ by one code where the real value lies within an ulp of a rounding boundary
(NumPy's and XLA's ``exp`` and ``tanh`` may differ in the last bit); :func:`compare` counts those
apart from real differences.
"""

from __future__ import annotations

import math

import numpy as np

from jaxgru.cells.declaration import INPUT

F32 = np.float32
EPS = F32(1e-8)
BIAS_LIMIT, WIDE_BIAS_LIMIT = 2**29, 2**46
MULT_BITS, MAX_SHIFT = 15, 46  # matmul requantization: |m| < 2^15, 1 <= s <= 46
ELEM_BITS, ELEM_MAX_SHIFT = 14, 31  # elementwise operators
THRESHOLD_STEPS = 32


def _code_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _affine(lo, hi, bits: int) -> tuple[np.float32, int]:
    """Scale and zero point covering ``[min(lo, 0), max(hi, 0)]``."""
    lo, hi = min(F32(lo), F32(0)), max(F32(hi), F32(0))
    qmin, qmax = _code_range(bits)
    scale = F32(max(F32(hi - lo), EPS) / F32(qmax - qmin))
    zero = int(np.clip(qmin - int(np.round(F32(lo / scale))), qmin, qmax))
    return scale, zero


def _weights(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.float32]:
    """Symmetric codes over ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` and their scale."""
    qmax = F32((1 << (bits - 1)) - 1)
    scale = F32(max(F32(np.abs(w).max()), EPS) / qmax)
    return np.clip(np.round(w.astype(F32) / scale), -qmax, qmax).astype(np.int64), scale


def _round_int(x, wide: bool) -> np.ndarray:
    limit = WIDE_BIAS_LIMIT if wide else BIAS_LIMIT
    return np.clip(np.round(np.asarray(x, F32)), -limit, limit).astype(np.int64)


def _fixed(factor, bits: int = MULT_BITS, max_shift: int = MAX_SHIFT, shift: int | None = None) -> tuple[int, int]:
    """``(m, s)`` with ``factor ~ m 2^-s``: ``2^(bits-1) <= |m| < 2^bits`` where the shift range
    allows (``1 <= s <= max_shift``), else ``|m|`` saturated at ``2^bits - 1``."""
    factor = F32(factor)
    if shift is None:
        mag = max(abs(float(factor)), 2.0**-60)  # a float32 value, so exact in float64
        _, exponent = math.frexp(mag)  # mag = mantissa 2^exponent, mantissa in [0.5, 1)
        shift = bits - exponent
        if math.ldexp(mag, shift) >= 2.0**bits - 0.5:
            shift -= 1  # rounding would carry into bit `bits`
        shift = int(np.clip(shift, 1, max_shift))
    limit = 2**bits - 1
    m = int(np.clip(np.round(math.ldexp(float(factor), shift)), -limit, limit))
    return m, shift


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (F32(1) / (F32(1) + np.exp(-x.astype(F32)))).astype(F32)


TABLES = {"sigmoid": _sigmoid, "tanh": lambda x: np.tanh(x.astype(F32)).astype(F32)}


def derive(params, ranges, genome, input_bits: int = 8, head_bits: int = 8, thresholds=None
           ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The export's arrays of one genome, derived from ``params`` (a
    :class:`~jaxgru.model.floating.ModelParams`) and ``ranges`` alone; and per table, which of
    its entries lie within 4 float32 ulps of a rounding boundary (``bool``, by the table's name)."""
    stack = params.stack
    genome = np.asarray(genome, np.int64)
    wide = bool(max(genome.max(), input_bits, head_bits) > 8)
    lo, hi = np.asarray(ranges.lo, F32), np.asarray(ranges.hi, F32)
    x_scale, x_zero = _affine(ranges.x_lo, ranges.x_hi, input_bits)
    x_qmin, x_qmax = _code_range(input_bits)
    out: dict[str, np.ndarray] = {"x_inv_scale": F32(1) / x_scale, "x_zero": x_zero, "x_qmin": x_qmin,
                                  "x_qmax": x_qmax, "x_scale": x_scale}
    t_at, near_ties = 0, {}
    for layer, cell in enumerate(stack.cells):
        pre, span = stack.prefix(layer), stack.span(layer)
        w = {k: np.asarray(v) for k, v in params.layer(layer).items()}
        bits = genome[span]
        q = [_affine(lo[span][k], hi[span][k], int(b)) for k, b in enumerate(bits)]
        scale, zero = [s for s, _ in q], [z for _, z in q]
        qmin, qmax = zip(*(_code_range(int(b)) for b in bits))
        hidden = w[f"b{INPUT}"].shape[-1] // len(cell.input_ops)
        fields = {"mult": [0] * cell.n_ops, "shift": [1] * cell.n_ops, "mult_a": [0] * cell.n_ops,
                  "mult_b": [0] * cell.n_ops, "offset": [0] * cell.n_ops}

        coded = [(scale[j], zero[j], qmin[j]) for j in range(cell.n_ops)]
        x_coded = (x_scale, x_zero, x_qmin)
        for k, op in enumerate(cell.ops):
            def operand(k: int, i: int, cell=cell, coded=coded, x_coded=x_coded) -> tuple[np.float32, int, int]:
                s = cell.operand_ops[k][i]
                return x_coded if s < 0 else coded[s]

            b, name = int(bits[k]), op.name
            if op.kind == "linear":
                src = op.inputs[0]
                g = cell.linear_groups[src].index(k)
                codes, w_scale = _weights(w[f"w{src}"][:, g * hidden:(g + 1) * hidden], b)
                in_scale, in_zero, _ = operand(k, 0)
                acc_scale = F32(w_scale * in_scale)
                bias = _round_int(w[f"b{src}"][g * hidden:(g + 1) * hidden].astype(F32) / acc_scale, wide)
                out[f"{pre}w_{name}"], out[f"{pre}b_{name}"] = codes, bias - in_zero * codes.sum(axis=0)
                fields["mult"][k], fields["shift"][k] = _fixed(F32(acc_scale / scale[k]))
            elif op.kind == "scale":
                codes, v_scale = _weights(w[f"v_{name}"], b)
                out[f"{pre}v_{name}"] = codes
                fields["mult"][k], fields["shift"][k] = _fixed(F32(F32(operand(k, 0)[0] * v_scale) / scale[k]),
                                                               ELEM_BITS, ELEM_MAX_SHIFT)
            elif op.kind == "add":
                (sa, za, _), (sb, zb, _) = operand(k, 0), operand(k, 1)
                ra, rb = F32(sa / scale[k]), F32(sb / scale[k])
                _, s = _fixed(max(ra, rb), ELEM_BITS, ELEM_MAX_SHIFT)
                ma, mb = _fixed(ra, ELEM_BITS, shift=s)[0], _fixed(rb, ELEM_BITS, shift=s)[0]
                fields["mult_a"][k], fields["mult_b"][k], fields["shift"][k] = ma, mb, s
                fields["offset"][k], fields["mult"][k] = -(ma * za + mb * zb), 1
            elif op.kind == "sub1":
                sa, za, _ = operand(k, 0)
                m, s = _fixed(F32(sa / scale[k]), ELEM_BITS, ELEM_MAX_SHIFT)
                one = int(_round_int(math.ldexp(float(F32(F32(1) / scale[k])), s), wide))
                limit = WIDE_BIAS_LIMIT if wide else BIAS_LIMIT
                fields["mult_a"][k], fields["shift"][k], fields["mult"][k] = -m, s, 1
                fields["offset"][k] = int(np.clip(one + m * za, -limit, limit))
            elif op.kind == "mul":
                (sa, _, _), (sb, _, _) = operand(k, 0), operand(k, 1)
                fields["mult"][k], fields["shift"][k] = _fixed(F32(F32(sa * sb) / scale[k]), ELEM_BITS, ELEM_MAX_SHIFT)
            elif op.kind == "relu":
                fields["mult"][k], fields["shift"][k] = _fixed(F32(operand(k, 0)[0] / scale[k]), ELEM_BITS,
                                                               ELEM_MAX_SHIFT)
            elif op.kind in TABLES:
                sa, za, qa = operand(k, 0)
                codes_in = np.arange(qa, qa + (1 << int(bits[cell.operand_ops[k][0]])), dtype=np.int64)
                scaled = (TABLES[op.kind](F32(sa) * (codes_in - za).astype(F32)) / scale[k]).astype(F32)
                out[f"{pre}lut_{name}"] = np.clip(np.round(scaled).astype(np.int64) + zero[k], qmin[k], qmax[k])
                near_ties[f"{pre}lut_{name}"] = (np.abs(np.abs(scaled - np.floor(scaled)) - F32(0.5))
                                                 <= 4 * np.spacing(np.abs(scaled) + F32(1)))
            else:
                raise ValueError(f"no derivation of the constants of kind {op.kind!r} in {__name__}.")
        out.update({pre + f: np.array(v, np.int64) for f, v in fields.items()})
        out.update({f"{pre}zero": np.array(zero), f"{pre}qmin": np.array(qmin), f"{pre}qmax": np.array(qmax),
                    f"{pre}scale": np.array(scale, F32)})
        if thresholds is not None:
            for src in cell.sources:
                lo_c, hi_c = (x_qmin, x_qmax) if src == INPUT else (qmin[cell.index(src)], qmax[cell.index(src)])
                out[f"{pre}theta_{src}"] = np.int64(int(thresholds[t_at]) * (hi_c - lo_c + 1) // THRESHOLD_STEPS)
                t_at += 1
        k_out = cell.index(cell.output)  # the next layer's input quantizer
        x_scale, x_zero, x_qmin, x_qmax = scale[k_out], zero[k_out], qmin[k_out], qmax[k_out]
    wd, d_scale = _weights(np.asarray(params.arrays["wd"]), head_bits)
    bd = _round_int(np.asarray(params.arrays["bd"], F32) / F32(d_scale * x_scale), wide)
    out["wd"], out["bd"] = wd, bd - x_zero * wd.sum(axis=0)
    out["logit_scale"] = F32(d_scale * x_scale)
    return out, near_ties


METADATA = ("cell", "genome", "thresholds", "input_bits", "head_bits")  # the export's own record of its inputs


def compare(derived: dict, near_ties: dict, exported: dict) -> tuple[list[str], int]:
    """``(differences, ties)``: the arrays whose values differ (every exported array but the
    :data:`METADATA` must be derived), and the number of values one step apart for a float32
    reason: table entries one code apart whose real value lies within 4 ulps of a rounding
    boundary (NumPy's and XLA's float32 ``exp``/``tanh`` may differ in the last bit), and float
    scales one ulp apart (XLA's CPU float32 division is not always correctly rounded)."""
    differences = sorted(set(exported) - set(derived) - set(METADATA))
    ties = 0
    for name, want in derived.items():
        got = np.asarray(exported[name])
        if np.asarray(want).dtype.kind == "f":
            want, got = np.asarray(want, F32), got.astype(F32)
            ulps = np.abs(want.view(np.int32).astype(np.int64) - got.view(np.int32).astype(np.int64))
            if ulps.max(initial=0) > 1:
                differences.append(name)
            ties += int(np.count_nonzero(ulps))
            continue
        diff = np.asarray(want, np.int64) - got.astype(np.int64)
        explained = near_ties.get(name, np.zeros(diff.shape, bool)) & (np.abs(diff) == 1)
        if (diff[~explained] != 0).any():
            differences.append(name)
        ties += int(np.count_nonzero(diff[explained]))
    return differences, ties
