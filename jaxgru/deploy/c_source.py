"""C99 source of one exported integer model: a header and a source file a microcontroller project
compiles as they are.

The emitter reads what the NumPy reference reads (an export of :func:`jaxgru.model.export.export_arrays`
and the cells' declarations) and walks the declaration: one call of a kernel per operator, in
declaration order, the kernels (``kernels.c``, one per operator kind) written after the reference's.
Everything the model needs is in the two files: weights at their width (:mod:`jaxgru.deploy.packing`),
biases, fixed-point multipliers and shifts, zero points, saturation bounds and lookup tables as
``const`` arrays and literals (so they go to flash); the state in a caller-owned struct; no
floating point on the integer path, no dynamic memory, no header beyond ``<stdint.h>``.

The generated API, for a model called ``NAME``::

    NAME_reset(&state);                 /* every state at real 0 (and a delta model's memories) */
    NAME_step(&state, x_codes);         /* one time step: NAME_INPUTS input codes */
    NAME_logits(&state, logits);        /* NAME_CLASSES integer logits of the last step */
    NAME_run(&state, x_codes, steps, logits);   /* reset, every step, logits */
    NAME_quantize(x, n, codes);         /* float input to codes, with JAXGRU_FLOAT_INPUT defined */

A sequence shorter than the model was trained on simply runs fewer steps (a padded step leaves
the state as it is, which is the same as not running it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources

import numpy as np

from jaxgru.cells import Stack
from jaxgru.cells.declaration import INPUT, Cell
from jaxgru.cells.genome import is_wide
from jaxgru.deploy.packing import group_field, group_rows, pack_codes, storage

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STORAGE_ENUM = {"bytes": "JX_BYTES", "halfwords": "JX_HALFWORDS", "packed": "JX_PACKED", "grouped": "JX_GROUPED"}
_STORAGE_TYPE = {"bytes": "int8_t", "halfwords": "int16_t", "packed": "uint8_t", "grouped": "uint8_t"}


def _kernels() -> str:
    return resources.files("jaxgru.deploy").joinpath("kernels.c").read_text()


def _numbers(values, per_line: int = 16) -> str:
    flat = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    return ",\n".join("    " + ", ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line))


def _float_literal(value) -> str:
    """A float32 as an exact C hexadecimal literal."""
    return float(np.float32(value)).hex() + "f"


class _Layer:
    """What the emitter needs of one layer: its cell, arrays (unprefixed), widths and C names."""

    def __init__(self, stack: Stack, arrays: dict, layer: int, n_in: int):
        self.cell: Cell = stack.cells[layer]
        prefix = stack.prefix(layer)
        self.a = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        self.index, self.n_in = layer, n_in
        self.hidden = len(self.a["b_" + self.cell.ops[self.cell.input_ops[0]].name])
        self.genome = np.asarray(arrays["genome"])[stack.span(layer)]
        self.c = f"l{layer}_"  # C names of its constants
        for op in self.cell.ops:
            if not _IDENT.fullmatch(op.name):
                raise ValueError(f"operator name {op.name!r} of {self.cell.name} is not a C identifier; rename it "
                                 "in the declaration to export C.")

    def per_op(self, field: str, k: int) -> int:
        return int(self.a[field][k])

    def fan_in(self, src: str) -> int:
        return self.n_in if src == INPUT else self.hidden


def _weights(name: str, codes: np.ndarray, bits: int, packed: bool, matrix: bool = False) -> str:
    """A ``const`` array of ``codes`` (C order) in its storage and the ``jx_weights`` naming it;
    ``matrix``: a dense linear operator's (output-major), grouped where its width allows."""
    kind, field = storage(bits, packed), group_field(bits, packed) if matrix else None
    if field is not None:
        kind, bits, data = "grouped", field, group_rows(codes, field)
    else:
        data = pack_codes(codes, bits) if kind == "packed" else np.asarray(codes).reshape(-1)
    return (f"static const {_STORAGE_TYPE[kind]} {name}_data[{data.size}] = {{\n{_numbers(data)}\n}};\n"
            f"static const jx_weights {name} = {{{name}_data, {_STORAGE_ENUM[kind]}, {bits}}};\n")


def _requantized(ly: _Layer, k: int) -> str:
    """The trailing ``mult, shift, zero, qmin, qmax`` of a requantizing kernel call."""
    return ", ".join(str(ly.per_op(f, k)) for f in ("mult", "shift", "zero", "qmin", "qmax"))


def _saturated(ly: _Layer, k: int) -> str:
    return ", ".join(str(ly.per_op(f, k)) for f in ("shift", "zero", "qmin", "qmax"))


def _operand(ly: _Layer, name: str) -> str:
    return "x" if name == INPUT else f"l->v_{name}"


def _in_zero(ly: _Layer, k: int, i: int = 0) -> int:
    return ly.per_op("zero", ly.cell.operand_ops[k][i])


# One emitter per operator kind that runs inside the step: C statement of operator k.
def _emit_add(ly: _Layer, k: int) -> str:
    op, h = ly.cell.ops[k], ly.hidden
    a, b = (_operand(ly, n) for n in op.inputs)
    return (f"jx_add(l->v_{op.name}, {a}, {b}, {h}, {ly.per_op('offset', k)}, {ly.per_op('mult_a', k)}, "
            f"{ly.per_op('mult_b', k)}, {_saturated(ly, k)});")


def _emit_sub1(ly: _Layer, k: int) -> str:
    op = ly.cell.ops[k]
    return (f"jx_sub1(l->v_{op.name}, {_operand(ly, op.inputs[0])}, {ly.hidden}, {ly.per_op('offset', k)}, "
            f"{ly.per_op('mult_a', k)}, {_saturated(ly, k)});")


def _emit_mul(ly: _Layer, k: int) -> str:
    op = ly.cell.ops[k]
    a, b = (_operand(ly, n) for n in op.inputs)
    return (f"jx_mul(l->v_{op.name}, {a}, {b}, {ly.hidden}, {_in_zero(ly, k)}, {_in_zero(ly, k, 1)}, "
            f"{_requantized(ly, k)});")


def _emit_scale(ly: _Layer, k: int) -> str:
    op = ly.cell.ops[k]
    return (f"jx_scale(l->v_{op.name}, {_operand(ly, op.inputs[0])}, &{ly.c}v_{op.name}, {ly.hidden}, "
            f"{_in_zero(ly, k)}, {_requantized(ly, k)});")


def _emit_relu(ly: _Layer, k: int) -> str:
    op = ly.cell.ops[k]
    return (f"jx_relu(l->v_{op.name}, {_operand(ly, op.inputs[0])}, {ly.hidden}, {_in_zero(ly, k)}, "
            f"{_requantized(ly, k)});")


def _emit_table(ly: _Layer, k: int) -> str:
    op = ly.cell.ops[k]
    qmin_in = ly.per_op("qmin", ly.cell.operand_ops[k][0])
    return f"jx_table(l->v_{op.name}, {_operand(ly, op.inputs[0])}, {ly.hidden}, {ly.c}lut_{op.name}, {qmin_in});"


# kind -> (the C kernel's JX_USE_ switch, emitter of its call); linear operators are the step's own.
STEP_KERNELS: dict[str, tuple[str, Callable[[_Layer, int], str]]] = {
    "add": ("ADD", _emit_add), "sub1": ("SUB1", _emit_sub1), "mul": ("MUL", _emit_mul),
    "scale": ("SCALE", _emit_scale), "relu": ("RELU", _emit_relu),
    "sigmoid": ("TABLE", _emit_table), "tanh": ("TABLE", _emit_table),
}


def _constants(ly: _Layer, packed: bool, delta: bool) -> str:
    """Every constant array of a layer: weights (dense: output-major, grouped where the width
    allows; delta: input-major), biases, vectors, tables."""
    out = []
    for k, op in enumerate(ly.cell.ops):
        bits = int(ly.genome[k])
        if op.kind == "linear":  # dense: output-major, a row per output unit; delta: a column per input unit
            w = np.asarray(ly.a[f"w_{op.name}"]) if delta else np.asarray(ly.a[f"w_{op.name}"]).T
            out.append(_weights(f"{ly.c}w_{op.name}", w, bits, packed, matrix=not delta))
            bias = _numbers(ly.a[f"b_{op.name}"])
            out.append(f"static const JX_ACC {ly.c}b_{op.name}[{ly.hidden}] = {{\n{bias}\n}};\n")
        elif op.kind == "scale":
            out.append(_weights(f"{ly.c}v_{op.name}", ly.a[f"v_{op.name}"], bits, packed))
        elif op.kind in ("sigmoid", "tanh"):
            table = ly.a[f"lut_{op.name}"]
            out.append(f"static const JX_CODE {ly.c}lut_{op.name}[{table.size}] = {{\n{_numbers(table)}\n}};\n")
    return "\n".join(out)


def _step(ly: _Layer, name: str, delta: bool) -> str:
    """The static step function of one layer: linear operators first (they read the input and the
    states as they were before the step), then the others in declaration order."""
    cell, h = ly.cell, ly.hidden
    lines = []
    for i, src in enumerate(cell.sources):
        ops = [cell.ops[k].name for k in cell.linear_groups[src]]
        if delta:
            memories = ", ".join(f"l->m_{n}" for n in ops)
            weights = ", ".join(f"&{ly.c}w_{n}" for n in ops)
            lines += ["{",
                      f"    JX_ACC *const memory[] = {{{memories}}};",
                      f"    static const jx_weights *const w[] = {{{weights}}};",
                      f"    propagated[{i}] += jx_delta(l->last_{src}, {_operand(ly, src)}, {ly.fan_in(src)}, "
                      f"{int(ly.a[f'theta_{src}'])}, {len(ops)}, memory, w, {h});",
                      "}"]
            lines += [f"jx_requantize(l->v_{n}, l->m_{n}, {h}, {_requantized(ly, cell.index(n))});" for n in ops]
        else:
            lines += [f"jx_linear(l->v_{n}, {_operand(ly, src)}, {ly.fan_in(src)}, {h}, &{ly.c}w_{n}, {ly.c}b_{n}, "
                      f"{_requantized(ly, cell.index(n))});" for n in ops]
    for k in cell.step_ops:
        lines.append(STEP_KERNELS[cell.ops[k].kind][1](ly, k))
    counts = ", uint32_t *propagated" if delta else ""
    body = "\n".join("    " + line for line in lines)
    return f"static void {ly.c}step({name}_layer{ly.index} *l, const JX_CODE *x{counts})\n{{\n{body}\n}}\n"


def _reset(ly: _Layer, x_zero: int, delta: bool, state: str) -> list[str]:
    cell = ly.cell
    lines = [f"jx_fill({state}.v_{n}, {ly.hidden}, {ly.per_op('zero', k)});"
             for n, k in zip(cell.carry, cell.carry_ops)]
    if delta:
        for src in cell.sources:
            zero = x_zero if src == INPUT else ly.per_op("zero", cell.index(src))
            lines.append(f"jx_fill({state}.last_{src}, {ly.fan_in(src)}, {zero});")
            lines += [f"jx_delta_reset({state}.m_{cell.ops[k].name}, &{ly.c}w_{cell.ops[k].name}, "
                      f"{ly.c}b_{cell.ops[k].name}, {ly.fan_in(src)}, {ly.hidden}, {zero});"
                      for k in cell.linear_groups[src]]
    return lines


def c_sources(arrays, name: str = "jaxgru_model", packed: bool = True, cell=None) -> dict[str, str]:
    """``{"<name>.h": header, "<name>.c": source}`` of the model in ``arrays`` (an export dict or
    ``np.load`` of its ``.npz``; ``cell``: the stack when its cells are not registered).

    ``packed``: weights below 8 bits packed into a bit stream (:mod:`jaxgru.deploy.packing`);
    otherwise one code per byte. Every symbol starts with ``name`` (a C identifier).
    """
    a = {k: np.asarray(arrays[k]) for k in arrays}
    if not _IDENT.fullmatch(name):
        raise ValueError(f"the C model name {name!r} is not a C identifier (letters, digits, '_').")
    stack = Stack.of(cell if cell is not None else str(a["cell"]))
    missing = sorted({op.kind for c in stack.cells for op in c.ops} - set(STEP_KERNELS) - {"linear"})
    if missing:
        raise ValueError(f"no C kernel for kind {missing[0]!r}; add one to jaxgru.deploy.c_source.STEP_KERNELS "
                         "and jaxgru/deploy/kernels.c.")
    genome = a["genome"]
    wide = is_wide(np.concatenate([genome, [a["input_bits"], a["head_bits"]]]))
    delta = "thresholds" in a
    n_inputs = a[stack.prefix(0) + "w_" + stack.cells[0].ops[stack.cells[0].input_ops[0]].name].shape[0]
    layers, n_in = [], n_inputs
    for layer in range(stack.layers):
        layers.append(_Layer(stack, a, layer, n_in))
        n_in = layers[-1].hidden
    n_classes = a["bd"].size
    up = name.upper()
    code_t, acc_t = ("int16_t", "int64_t") if wide else ("int8_t", "int32_t")

    # --- header ------------------------------------------------------------------------------
    structs = []
    for ly in layers:
        members = [f"    {name}_code v_{op.name}[{ly.hidden}];" for op in ly.cell.ops]
        if delta:
            members += [f"    {name}_code last_{src}[{ly.fan_in(src)}];" for src in ly.cell.sources]
            members += [f"    {name}_acc m_{ly.cell.ops[k].name}[{ly.hidden}];"
                        for src in ly.cell.sources for k in ly.cell.linear_groups[src]]
        structs.append(f"/* layer {ly.index} ({ly.cell.name}): every operator's codes of the current step"
                       + (", the codes last propagated per source and each matmul's memory" if delta else "")
                       + " */\ntypedef struct {\n" + "\n".join(members) + f"\n}} {name}_layer{ly.index};\n")
    state_members = [f"    {name}_layer{ly.index} l{ly.index};" for ly in layers]
    n_delta = len(stack.delta_sources)
    if delta:
        state_members.append(f"    uint32_t propagated[{n_delta}]; /* units propagated per delta source since reset */")
    thresholds = f" thresholds {a['thresholds'].tolist()}" if delta else ""
    header = f"""/* {name}: jaxgru integer model, {stack.name}, genome {genome.tolist()}{thresholds}.
 * Generated by jaxgru.deploy; C99, <stdint.h> only. One logit unit is worth {float(a['logit_scale']):.9g}. */
#ifndef {up}_H
#define {up}_H

#include <stdint.h>

#define {up}_INPUTS {n_inputs}
#define {up}_CLASSES {n_classes}
#define {up}_LAYERS {stack.layers}
#define {up}_DELTA_SOURCES {n_delta if delta else 0}

typedef {code_t} {name}_code; /* activation codes */
typedef {acc_t} {name}_acc;  /* accumulators and logits */

{chr(10).join(structs)}
typedef struct {{
{chr(10).join(state_members)}
}} {name}_state;

/* Sets every state to real 0 (and a delta model's memories to their start). */
void {name}_reset({name}_state *state);
/* One time step on {up}_INPUTS input codes. */
void {name}_step({name}_state *state, const {name}_code *x);
/* The {up}_CLASSES integer logits of the current state. */
void {name}_logits(const {name}_state *state, {name}_acc *logits);
/* Reset, `steps` steps on x[t * {up}_INPUTS + i], then the logits. */
void {name}_run({name}_state *state, const {name}_code *x, int32_t steps, {name}_acc *logits);

#ifdef JAXGRU_FLOAT_INPUT
/* n float inputs to codes, exactly as jaxgru quantizes them (float32, round half to even). */
void {name}_quantize(const float *x, int32_t n, {name}_code *codes);
#endif

#endif
"""

    # --- source ------------------------------------------------------------------------------
    used = {"DENSE"} if not delta else {"DELTA"}
    used |= {STEP_KERNELS[op.kind][0] for c in stack.cells for op in c.ops if op.kind in STEP_KERNELS}
    used |= set() if wide else {"NARROW"}  # int8 codes: the DSP path applies
    switches = "\n".join(f"#define JX_{u}" if u == "NARROW" else f"#define JX_USE_{u}" for u in sorted(used))
    out_ly = layers[-1]
    head_bits = int(a["head_bits"])
    parts = [
        f'#include "{name}.h"\n',
        f"#define JX_CODE {name}_code\n#define JX_ACC {name}_acc\n#define JX_ELEM {acc_t}\n{switches}\n"
        f"#define JX_MAX_IN {max(ly.fan_in(src) for ly in layers for src in ly.cell.sources)} /* widest fan-in */\n",
        _kernels(),
        *(_constants(ly, packed, delta) for ly in layers),
        _weights("head_w", np.asarray(a["wd"]).T, head_bits, packed),
        f"static const JX_ACC head_b[{n_classes}] = {{\n{_numbers(a['bd'])}\n}};\n",
        *(_step(ly, name, delta) for ly in layers),
    ]
    reset = []
    x_zero = int(a["x_zero"])
    for ly in layers:
        reset += _reset(ly, x_zero, delta, f"state->l{ly.index}")
        x_zero = ly.per_op("zero", ly.cell.index(ly.cell.output))
    if delta:
        reset += [f"state->propagated[{i}] = 0;" for i in range(n_delta)]
    step_calls, x_expr, first = [], "x", 0
    for ly in layers:
        counts = f", state->propagated + {first}" if delta else ""
        step_calls.append(f"{ly.c}step(&state->l{ly.index}, {x_expr}{counts});")
        x_expr, first = f"state->l{ly.index}.v_{ly.cell.output}", first + len(ly.cell.sources)
    indent = "\n    "
    head_in = f"state->l{out_ly.index}.v_{out_ly.cell.output}"
    lo, hi = int(a["x_qmin"]), int(a["x_qmax"])
    parts.append(f"""void {name}_reset({name}_state *state)
{{
    {indent.join(reset)}
}}

void {name}_step({name}_state *state, const {name}_code *x)
{{
    {indent.join(step_calls)}
}}

void {name}_logits(const {name}_state *state, {name}_acc *logits)
{{
    int32_t c;
    for (c = 0; c < {n_classes}; ++c)
        logits[c] = head_b[c] + jx_dot(&head_w, (uint32_t)c * {out_ly.hidden}u, {out_ly.hidden}, {head_in});
}}

void {name}_run({name}_state *state, const {name}_code *x, int32_t steps, {name}_acc *logits)
{{
    int32_t t;
    {name}_reset(state);
    for (t = 0; t < steps; ++t)
        {name}_step(state, x + t * {n_inputs});
    {name}_logits(state, logits);
}}

#ifdef JAXGRU_FLOAT_INPUT
/* Round half to even of a float32 within +-2^20 (exact: v - trunc(v) is representable). */
static int32_t jx_round_even(float v)
{{
    int32_t i = (int32_t)v;
    float frac = v - (float)i;
    if (frac > 0.5f || (frac == 0.5f && (i & 1)))
        ++i;
    else if (frac < -0.5f || (frac == -0.5f && (i & 1)))
        --i;
    return i;
}}

void {name}_quantize(const float *x, int32_t n, {name}_code *codes)
{{
    int32_t i;
    for (i = 0; i < n; ++i) {{
        float v = x[i] * {_float_literal(a['x_inv_scale'])};
        int32_t q;
        v = v > 1048576.0f ? 1048576.0f : (v < -1048576.0f ? -1048576.0f : v);
        q = jx_round_even(v) + ({int(a['x_zero'])});
        codes[i] = ({name}_code)(q < {lo} ? {lo} : (q > {hi} ? {hi} : q));
    }}
}}
#endif
""")
    return {f"{name}.h": header, f"{name}.c": "\n".join(parts)}
