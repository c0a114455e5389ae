"""Operator kinds: everything jaxgru knows about one kind of operator, one record per kind.

A cell (:mod:`jaxgru.cells`) is a list of operators, each of a kind named in :data:`KINDS`.
Every backend reads the kind's :class:`OperatorKind` record, and nothing else, about it:

| field          | what it says                                          | read by                          |
| -------------- | ----------------------------------------------------- | -------------------------------- |
| ``arity``      | number of operands                                    | the declaration check            |
| ``owns``       | the parameters it owns (:class:`Param`)               | float model, QAT, export, counts |
| ``fused``      | a source's operators of the kind run stacked          | every walker                     |
| ``float_fn``   | its float value, ``float_fn(owned, *operands)``       | float model, calibration, QAT    |
| ``prepare``    | its integer constants, ``prepare(quantizers, owned)`` | integer model                    |
| ``evaluate``   | its output codes, ``evaluate(constants, *codes)``     | integer model, exact QAT, export |
| ``table``      | the function a lookup table tabulates, or ``None``    | export                           |
| ``counts``     | ``(parameters, MACs, elementwise)``, ``counts(n, H)`` | sizes, costs                     |
| ``multiplies`` | which two widths its multiplications take             | hardware costs                   |
| ``group``      | its gene group in the reduced genome                  | reduced genome                   |

A fused kind's parameters are stacked along the output axis. ``multiplies`` is ``("self", 0)``
for its own weights by operand 0's codes, ``(0, 1)`` for its two operands, ``()`` for none;
``counts(n, H)`` takes the operand's fan-in ``n``.

Every value is ``[..., H]``. The NumPy reference (:mod:`jaxgru.model.reference`) keeps its own
kernel per kind on purpose: it shares nothing with these records but the declaration, so its
agreement with the integer model checks the arithmetic. Adding a kind is one record here and one
reference kernel there (``docs/design.md``, "Adding an operator kind").

Integer constants. ``prepare`` sees the operator's :class:`Quantizers` (its width, its output's
scale and zero point, each operand's) and its float parameters; it returns per-operator fields
(any of ``mult``, ``shift``, ``mult_a``, ``mult_b``, ``offset``) and its parameters' integer
codes by name. ``evaluate`` gets those back in a dict with the quantizers' ``zero``, ``qmin``,
``qmax``, ``scale``, ``in_zero``, ``in_scale`` (tuples, per operand) and ``wide``; for a fused
group, every per-operator value is a per-unit vector ``[k*H]`` and the parameters are stacked.
Elementwise operators rescale with 14-bit multipliers and shifts <= 31
(:data:`ELEM_MULT_BITS`): products of two codes (``|code - zero| <= 255``) then stay inside
int32 through :func:`~jaxgru.ops.primitives.rounding_shift`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array

from jaxgru.ops.primitives import (
    BIAS_LIMIT,
    WIDE_BIAS_LIMIT,
    acc_dtype,
    fixed_point,
    int_dot,
    quantize_to_range,
    quantize_weights,
    requantize,
    requantize_wide,
    round_int,
    rounding_shift,
    wide_dot,
)

ELEM_MULT_BITS, ELEM_MAX_SHIFT = 14, 31
_ELEM = {"bits": ELEM_MULT_BITS, "max_shift": ELEM_MAX_SHIFT}
GROUPS = ("linears", "sums", "tables", "products")


@dataclass(frozen=True)
class Param:
    """A parameter an operator owns: ``name``; ``shape`` in the operator's fan-in ``"I"`` and the
    hidden width ``"H"``; ``quant``: ``"weight"`` (symmetric at the operator's width) or
    ``"bias"`` (int32 in units of the accumulator: the weight's scale times the operand's)."""

    name: str
    shape: tuple[str, ...]
    quant: str

    def dims(self, fan_in: int, hidden: int) -> tuple[int, ...]:
        return tuple({"I": fan_in, "H": hidden}[d] for d in self.shape)


@struct.dataclass
class Quantizers:
    """The quantizers around one operator: its width ``bits``, its output's ``scale`` and
    ``zero``, each operand's ``in_scale`` and ``in_zero``; ``wide`` (static): the datapath."""

    bits: Array
    scale: Array
    zero: Array
    in_scale: tuple[Array, ...]
    in_zero: tuple[Array, ...]
    wide: bool = struct.field(pytree_node=False, default=False)


@dataclass(frozen=True)
class OperatorKind:
    """One operator kind; see the module docstring for what each field means and who reads it."""

    name: str
    arity: int
    doc: str
    owns: tuple[Param, ...]
    fused: bool
    float_fn: Callable
    prepare: Callable
    evaluate: Callable
    table: Callable | None
    counts: Callable[[int, int], tuple[int, int, int]]
    multiplies: tuple
    group: str


def missing_fields(kind: OperatorKind) -> list[str]:
    """Fields of ``kind`` left unset (``None`` where a value is required): ``table`` may be
    ``None`` (not a lookup table) and ``owns``/``multiplies`` empty; nothing else may."""
    optional = {"table"}
    return [f.name for f in fields(kind) if f.name not in optional and getattr(kind, f.name) is None]


# --- integer helpers shared by the records ---------------------------------------------------

def _acc(c: dict, v: Array) -> Array:
    """An operand in the accumulator type (elementwise products of 16-bit codes need int64)."""
    return v.astype(acc_dtype(c["wide"]))


def _saturate(c: dict, value: Array) -> Array:
    return jnp.clip(c["zero"] + value, c["qmin"], c["qmax"]).astype(jnp.int32)


def _rescale(qz: Quantizers, factor: Array) -> dict:
    m, s = fixed_point(factor, **_ELEM)
    return {"mult": m, "shift": s}


# --- linear: W s + b on a source (x or a state) ----------------------------------------------

def _prep_linear(qz: Quantizers, owned: dict) -> dict:
    codes, w_scale = quantize_weights(owned["w"], qz.bits)
    acc_scale = w_scale * qz.in_scale[0]  # real value of one accumulator unit
    bias = round_int(owned["b"] / acc_scale, qz.wide)
    bias = bias - qz.in_zero[0].astype(bias.dtype) * codes.astype(bias.dtype).sum(axis=0)  # fold the input zero
    mult, shift = fixed_point(acc_scale / qz.scale)
    return {"w": codes, "b": bias, "mult": mult, "shift": shift}


def _eval_linear(c: dict, s: Array) -> Array:
    if c["wide"]:
        acc, rq = wide_dot(s, c["w_limbs"], c["w_c"]), requantize_wide
    else:
        acc, rq = int_dot(s, c["w"]), requantize
    acc = acc + c["b"]
    return jnp.clip(c["zero"] + rq(acc, c["mult"], c["shift"]), c["qmin"], c["qmax"]).astype(jnp.int32)


# --- scale: v * a, v a per-unit vector -------------------------------------------------------

def _prep_scale(qz: Quantizers, owned: dict) -> dict:
    codes, v_scale = quantize_weights(owned["v"], qz.bits)
    m, s = fixed_point(qz.in_scale[0] * v_scale / qz.scale, **_ELEM)
    return {"v": codes, "mult": m, "shift": s}


def _eval_scale(c: dict, qa: Array) -> Array:
    acc = _acc(c, qa - c["in_zero"][0]) * _acc(c, c["v"]) * c["mult"]
    return _saturate(c, rounding_shift(acc, c["shift"]))


# --- sums: a + b and 1 - a -------------------------------------------------------------------

def _prep_add(qz: Quantizers, owned: dict) -> dict:
    ratio_a, ratio_b = qz.in_scale[0] / qz.scale, qz.in_scale[1] / qz.scale
    _, s = fixed_point(jnp.maximum(ratio_a, ratio_b), **_ELEM)  # one shift for both terms
    ma, _ = fixed_point(ratio_a, s, bits=ELEM_MULT_BITS)
    mb, _ = fixed_point(ratio_b, s, bits=ELEM_MULT_BITS)
    dt = acc_dtype(qz.wide)
    offset = -(ma.astype(dt) * qz.in_zero[0] + mb.astype(dt) * qz.in_zero[1])
    return {"mult_a": ma, "mult_b": mb, "offset": offset, "shift": s, "mult": 1}


def _eval_add(c: dict, qa: Array, qb: Array) -> Array:
    acc = c["offset"] + _acc(c, c["mult_a"]) * qa + _acc(c, c["mult_b"]) * qb
    return _saturate(c, rounding_shift(acc, c["shift"]))


def _prep_sub1(qz: Quantizers, owned: dict) -> dict:  # 1 - a: a sum of the constant 1 and -a
    m, s = fixed_point(qz.in_scale[0] / qz.scale, **_ELEM)
    one = round_int(jnp.ldexp(1.0 / qz.scale, s), qz.wide)
    limit = WIDE_BIAS_LIMIT if qz.wide else BIAS_LIMIT
    return {"mult_a": -m, "offset": jnp.clip(one + m.astype(one.dtype) * qz.in_zero[0], -limit, limit), "shift": s,
            "mult": 1}


def _eval_sub1(c: dict, qa: Array) -> Array:  # the constant 1 lives in the offset
    return _saturate(c, rounding_shift(c["offset"] + _acc(c, c["mult_a"]) * qa, c["shift"]))


# --- products, ReLU and tables ---------------------------------------------------------------

def _prep_mul(qz: Quantizers, owned: dict) -> dict:
    return _rescale(qz, qz.in_scale[0] * qz.in_scale[1] / qz.scale)


def _eval_mul(c: dict, qa: Array, qb: Array) -> Array:
    acc = _acc(c, qa - c["in_zero"][0]) * _acc(c, qb - c["in_zero"][1]) * c["mult"]
    return _saturate(c, rounding_shift(acc, c["shift"]))


def _prep_relu(qz: Quantizers, owned: dict) -> dict:  # the operand's scale to the output's
    return _rescale(qz, qz.in_scale[0] / qz.scale)


def _eval_relu(c: dict, qa: Array) -> Array:
    acc = _acc(c, jnp.maximum(qa - c["in_zero"][0], 0)) * c["mult"]
    return _saturate(c, rounding_shift(acc, c["shift"]))


def _prep_table(qz: Quantizers, owned: dict) -> dict:  # a table is defined by the quantizers alone
    return {}


def _table_kind(name: str, fn: Callable) -> OperatorKind:
    """A lookup table of ``fn``: the output code of ``fn(S_in * (code - Z_in))``. The export
    tabulates it over every input code; the integer model evaluates the same computation per
    element (a gather inside XLA's fused elementwise loop does not vectorize: it made the whole
    GRU cell 3x slower on the CPU)."""
    def evaluate(c: dict, qa: Array) -> Array:
        real = fn(c["in_scale"][0] * (qa - c["in_zero"][0]).astype(jnp.float32))
        return quantize_to_range(real, c["scale"], c["zero"], c["qmin"], c["qmax"])

    return OperatorKind(
        name=name, arity=1, doc=f"{name}(a), a lookup table of 2^b entries in integers", owns=(), fused=False,
        float_fn=lambda w, a: fn(a), prepare=_prep_table, evaluate=evaluate, table=fn,
        counts=lambda fan_in, h: (0, 0, h), multiplies=(), group="tables")


def _elementwise(name, arity, doc, float_fn, prepare, evaluate, counts, multiplies, group, owns=()) -> OperatorKind:
    return OperatorKind(name=name, arity=arity, doc=doc, owns=owns, fused=False, float_fn=float_fn, prepare=prepare,
                        evaluate=evaluate, table=None, counts=counts, multiplies=multiplies, group=group)


KINDS: dict[str, OperatorKind] = {
    "linear": OperatorKind(
        name="linear", arity=1, doc="W s + b on one source (the input x or a state)",
        owns=(Param("w", ("I", "H"), "weight"), Param("b", ("H",), "bias")), fused=True,
        float_fn=lambda w, s: s @ w["w"] + w["b"], prepare=_prep_linear, evaluate=_eval_linear, table=None,
        counts=lambda fan_in, h: (fan_in * h + h, fan_in * h, 0), multiplies=("self", 0), group="linears"),
    "scale": _elementwise(
        "scale", 1, "v * a, v a per-unit weight vector [H]", lambda w, a: w["v"] * a, _prep_scale, _eval_scale,
        lambda fan_in, h: (h, h, 0), ("self", 0), "products", owns=(Param("v", ("H",), "weight"),)),
    "add": _elementwise("add", 2, "a + b", lambda w, a, b: a + b, _prep_add, _eval_add,
                        lambda fan_in, h: (0, 0, h), (), "sums"),
    "sub1": _elementwise("sub1", 1, "1 - a", lambda w, a: 1.0 - a, _prep_sub1, _eval_sub1,
                         lambda fan_in, h: (0, 0, h), (), "sums"),
    "mul": _elementwise("mul", 2, "a * b (elementwise)", lambda w, a, b: a * b, _prep_mul, _eval_mul,
                        lambda fan_in, h: (0, h, 0), (0, 1), "products"),
    "sigmoid": _table_kind("sigmoid", jax.nn.sigmoid),
    "tanh": _table_kind("tanh", jnp.tanh),
    "relu": _elementwise("relu", 1, "max(a, 0)", lambda w, a: jax.nn.relu(a), _prep_relu, _eval_relu,
                         lambda fan_in, h: (0, 0, h), (), "sums"),
}


def get_kind(name: str) -> OperatorKind:
    """The record of kind ``name``; ``ValueError`` naming the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown operator kind {name!r}; use one of {tuple(KINDS)}.") from None
