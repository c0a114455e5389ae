"""The float classifier: a declared cell (``jaxgru.cells``) -> dense -> softmax, in Flax NNX.

The arithmetic lives in pure functions over :class:`CellParams` that walk the cell's
declaration, one function per operator kind (:data:`FLOAT_KERNELS`), so the float model,
calibration and the quantization-aware twin (``jaxgru.model.qat``) read the same weights and run the
same walk; they differ only in the ``hook`` applied to every operator's value.

Weights (``CellParams.arrays``; kernels are ``[in, out]``):
``w<s> [I or H, k*H]`` and ``b<s> [k*H]``: the stacked kernel and bias of the ``k`` linear
operators that read source ``s`` (``x`` or a state), in declaration order;
``v_<op> [H]``: the vector of a ``scale`` operator; ``wd [H, C]``, ``bd [C]``: the dense head.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx, struct
from jax import Array

from jaxgru.cells import get_cell
from jaxgru.cells.declaration import INPUT, Cell

Hook = Callable[[int, Array], Array]  # hook(operator index, value) -> value


@struct.dataclass
class CellParams:
    """Float weights of a classifier of ``cell`` (static); ``p["wx"]`` reads ``arrays``. Every
    leaf may carry a leading population axis ``[P]`` (one set of weights per specimen)."""

    arrays: dict[str, Array]
    cell: Cell = struct.field(pytree_node=False)

    def __getitem__(self, key: str) -> Array:
        return self.arrays[key]

    @property
    def hidden(self) -> int:
        return self.arrays["wd"].shape[-2]

    @property
    def n_in(self) -> int:
        return self.arrays["wx"].shape[-2]

    @property
    def stacked(self) -> bool:
        """Whether every leaf has a leading population axis."""
        return self.arrays["wd"].ndim == 3


def param_shapes(cell: Cell, n_in: int, hidden: int, n_classes: int) -> dict[str, tuple[int, ...]]:
    """The shape of every weight array of a classifier of ``cell``."""
    shapes = {}
    for src, group in cell.linear_groups.items():
        fan_in = n_in if src == INPUT else hidden
        shapes[f"w{src}"] = (fan_in, len(group) * hidden)
        shapes[f"b{src}"] = (len(group) * hidden,)
    for k in cell.ops_of_kind("scale"):
        shapes[f"v_{cell.ops[k].name}"] = (hidden,)
    shapes["wd"], shapes["bd"] = (hidden, n_classes), (n_classes,)
    return shapes


def check_params(p: CellParams) -> CellParams:
    """Refuses weights whose names or shapes do not fit ``p.cell``, naming the cell."""
    want = param_shapes(p.cell, p.n_in, p.hidden, p["wd"].shape[-1])
    got = {k: tuple(v.shape[1:] if p.stacked else v.shape) for k, v in p.arrays.items()}
    if got != want:
        raise ValueError(f"weights do not fit the {p.cell.name} cell: expected {want}, got {got}.")
    return p


def _linear(w: dict, src: str, value: Array, cell: Cell) -> dict[str, Array]:
    """The linear operators on ``src`` as one stacked matmul: ``{op name: [..., H]}``."""
    group = cell.linear_groups[src]
    parts = jnp.split(value @ w[f"w{src}"] + w[f"b{src}"], len(group), axis=-1)
    return {cell.ops[k].name: v for k, v in zip(group, parts)}


# One function per operator kind: ``kernel(w, op, *operands)``; ``linear`` is the fused group,
# ``linear(w, src, value, cell)``.
FLOAT_KERNELS: dict[str, Callable] = {
    "linear": _linear,
    "scale": lambda w, op, a: w[f"v_{op.name}"] * a,
    "add": lambda w, op, a, b: a + b,
    "sub1": lambda w, op, a: 1.0 - a,
    "mul": lambda w, op, a, b: a * b,
    "sigmoid": lambda w, op, a: jax.nn.sigmoid(a),
    "tanh": lambda w, op, a: jnp.tanh(a),
    "relu": lambda w, op, a: jax.nn.relu(a),
}


def input_linears(cell: Cell, w: dict, x: Array) -> dict[str, Array]:
    """Outputs of the linear operators on the input, ``x: [..., I]`` -> ``{name: [..., H]}``."""
    return FLOAT_KERNELS["linear"](w, INPUT, x, cell)


def float_step(
    cell: Cell, w: dict, pre: dict[str, Array], carry: tuple[Array, ...], hook: Hook | None = None
) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """One float step. ``pre``: the input's linear operators (:func:`input_linears`);
    ``carry``: the values of ``cell.carry``, each ``[..., H]``. ``hook(k, v)`` is applied to
    every operator's value before anything reads it (calibration observes, QAT fake-quantizes).

    Returns the new carry and every operator's output in declaration order."""
    hook = hook or (lambda k, v: v)
    values = dict(zip(cell.carry, carry))
    lin = dict(pre)
    for src in (s for s in cell.sources if s != INPUT):  # the input's group is in `pre`
        lin.update(FLOAT_KERNELS["linear"](w, src, values[src], cell))
    for k in cell.ops_of_kind("linear"):
        values[cell.ops[k].name] = hook(k, lin[cell.ops[k].name])
    values = cell.walk(values, lambda k, op, *a: hook(k, FLOAT_KERNELS[op.kind](w, op, *a)))
    return tuple(values[n] for n in cell.carry), tuple(values[op.name] for op in cell.ops)


def float_logits(p: CellParams, x: Array) -> Array:
    """Float logits ``[B, C]`` of a batch of sequences ``x: [B, T, I]``."""
    cell, w = p.cell, p.arrays
    carry0 = tuple(jnp.zeros(x.shape[:1] + (p.hidden,), x.dtype) for _ in cell.carry)

    def step(carry, x_t):
        return float_step(cell, w, input_linears(cell, w, x_t), carry)[0], None

    carry, _ = jax.lax.scan(step, carry0, jnp.swapaxes(x, 0, 1))
    return carry[cell.carry.index(cell.output)] @ w["wd"] + w["bd"]


class CellClassifier(nnx.Module):
    """``cell``(hidden) -> dense(classes); softmax is left to the loss. Input kernels use Flax's
    default initializer, recurrent kernels an orthogonal one, ``scale`` vectors N(0, 0.1)."""

    def __init__(self, cell: Cell | str, n_in: int, hidden: int, n_classes: int, *, rngs: nnx.Rngs):
        self.cell = get_cell(cell)
        for src, group in self.cell.linear_groups.items():
            if src == INPUT:
                layer = nnx.Linear(n_in, len(group) * hidden, rngs=rngs)
            else:
                layer = nnx.Linear(hidden, len(group) * hidden, kernel_init=nnx.initializers.orthogonal(), rngs=rngs)
            setattr(self, f"proj_{src}", layer)
        for name in self._vector_names():
            setattr(self, f"v_{name}", nnx.Param(0.1 * jax.random.normal(rngs.params(), (hidden,))))
        self.head = nnx.Linear(hidden, n_classes, rngs=rngs)

    def _vector_names(self) -> tuple[str, ...]:
        return tuple(self.cell.ops[k].name for k in self.cell.ops_of_kind("scale"))

    def params(self) -> CellParams:
        arrays = {}
        for src in self.cell.sources:
            layer = getattr(self, f"proj_{src}")
            arrays[f"w{src}"], arrays[f"b{src}"] = layer.kernel[...], layer.bias[...]
        for name in self._vector_names():
            arrays[f"v_{name}"] = getattr(self, f"v_{name}")[...]
        arrays["wd"], arrays["bd"] = self.head.kernel[...], self.head.bias[...]
        return CellParams(arrays=arrays, cell=self.cell)

    def __call__(self, x: Array) -> Array:
        return float_logits(self.params(), x)
