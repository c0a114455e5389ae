"""The float classifier: a declared cell (``jaxgru.cells``) -> dense -> softmax, in Flax NNX.

The arithmetic lives in pure functions over :class:`CellParams` that walk the cell's
declaration, with each operator kind's ``float_fn`` (``jaxgru.ops.kinds``), so the float model,
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
from jaxgru.ops.kinds import KINDS

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
    """The shape of every weight array of a classifier of ``cell``: each operator's parameters
    (its kind's ``owns``; a linear group's stacked along the output axis) and the head's."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k, op in enumerate(cell.ops):
        for prm in KINDS[op.kind].owns:
            dims = prm.dims(n_in if op.inputs[0] == INPUT else hidden, hidden)
            key = cell.param_key(k, prm.name)
            if key in shapes:  # a fused group: stacked along the last axis
                dims = shapes[key][:-1] + (shapes[key][-1] + dims[-1],)
            shapes[key] = dims
    shapes["wd"], shapes["bd"] = (hidden, n_classes), (n_classes,)
    return shapes


def owned(cell: Cell, w: dict, k: int, hidden: int) -> dict[str, Array]:
    """Operator ``k``'s own parameters by name, cut out of a fused group's stacked arrays."""
    op, out = cell.ops[k], {}
    for prm in KINDS[op.kind].owns:
        a = w[cell.param_key(k, prm.name)]
        if KINDS[op.kind].fused:
            g = cell.linear_groups[op.inputs[0]].index(k)
            a = a[..., g * hidden : (g + 1) * hidden]
        out[prm.name] = a
    return out


def group_params(cell: Cell, w: dict, src: str) -> dict[str, Array]:
    """The stacked parameters of the fused group on ``src``, by parameter name."""
    k = cell.linear_groups[src][0]
    return {prm.name: w[cell.param_key(k, prm.name)] for prm in KINDS[cell.ops[k].kind].owns}


def check_params(p: CellParams) -> CellParams:
    """Refuses weights whose names or shapes do not fit ``p.cell``, naming the cell."""
    want = param_shapes(p.cell, p.n_in, p.hidden, p["wd"].shape[-1])
    got = {k: tuple(v.shape[1:] if p.stacked else v.shape) for k, v in p.arrays.items()}
    if got != want:
        raise ValueError(f"weights do not fit the {p.cell.name} cell: expected {want}, got {got}.")
    return p


def _fused(cell: Cell, w: dict, src: str, value: Array) -> dict[str, Array]:
    """The fused (linear) operators on ``src`` as one stacked computation: ``{op name: [..., H]}``."""
    group = cell.linear_groups[src]
    kind = KINDS[cell.ops[group[0]].kind]
    parts = jnp.split(kind.float_fn(group_params(cell, w, src), value), len(group), axis=-1)
    return {cell.ops[k].name: v for k, v in zip(group, parts)}


def input_linears(cell: Cell, w: dict, x: Array) -> dict[str, Array]:
    """Outputs of the linear operators on the input, ``x: [..., I]`` -> ``{name: [..., H]}``."""
    return _fused(cell, w, INPUT, x)


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
        lin.update(_fused(cell, w, src, values[src]))
    hidden = next(iter(lin.values())).shape[-1]
    for group in cell.linear_groups.values():
        for k in group:
            values[cell.ops[k].name] = hook(k, lin[cell.ops[k].name])
    values = cell.walk(values, lambda k, op, *a: hook(k, KINDS[op.kind].float_fn(owned(cell, w, k, hidden), *a)))
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
        for key, shape in self._own_shapes(n_in, hidden).items():
            setattr(self, key, nnx.Param(0.1 * jax.random.normal(rngs.params(), shape)))
        self.head = nnx.Linear(hidden, n_classes, rngs=rngs)

    def _own_shapes(self, n_in: int, hidden: int) -> dict[str, tuple[int, ...]]:
        """Parameters of the operators that are not fused (``scale``'s vectors), N(0, 0.1)."""
        fused = {f"{name}{src}" for src in self.cell.sources for name in ("w", "b")}
        shapes = param_shapes(self.cell, n_in, hidden, 1)
        return {k: s for k, s in shapes.items() if k not in fused and k not in ("wd", "bd")}

    def params(self) -> CellParams:
        arrays = {}
        for src in self.cell.sources:
            layer = getattr(self, f"proj_{src}")
            arrays[f"w{src}"], arrays[f"b{src}"] = layer.kernel[...], layer.bias[...]
        for key in self._own_shapes(self.proj_x.in_features, self.head.in_features):
            arrays[key] = getattr(self, key)[...]
        arrays["wd"], arrays["bd"] = self.head.kernel[...], self.head.bias[...]
        return CellParams(arrays=arrays, cell=self.cell)

    def __call__(self, x: Array) -> Array:
        return float_logits(self.params(), x)
