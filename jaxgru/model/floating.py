"""The float classifier: a stack of declared cells (``jaxgru.cells``) -> dense -> softmax, in Flax NNX.

The arithmetic lives in pure functions over :class:`ModelParams` that walk each layer's cell
declaration, with each operator kind's ``float_fn`` (``jaxgru.ops.kinds``), so the float model,
calibration and the quantization-aware twin (``jaxgru.model.qat``) read the same weights and run the
same walk; they differ only in the ``hook`` applied to every operator's value.

Weights (``ModelParams.arrays``; kernels are ``[in, out]``), per layer, named with the layer's
prefix (``Stack.prefix``: none for one layer, ``l0.``, ``l1.``, ... for several):
``w<s> [I or H, k*H]`` and ``b<s> [k*H]``: the stacked kernel and bias of the ``k`` linear
operators that read source ``s`` (``x`` or a state), in declaration order, ``I`` being the
model's input width for layer 0 and the layer below's hidden width above it;
``v_<op> [H]``: the vector of a ``scale`` operator; then the dense head ``wd [H_last, C]``, ``bd [C]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx, struct
from jax import Array

from jaxgru.cells import Stack
from jaxgru.cells.declaration import INPUT, Cell
from jaxgru.model.lengths import hold
from jaxgru.ops.kinds import KINDS

Hook = Callable[[int, Array], Array]  # hook(operator index, value) -> value
HEAD = ("wd", "bd")


@struct.dataclass
class ModelParams:
    """Float weights of a classifier of ``stack`` (static); ``p["wd"]`` reads ``arrays``. Every
    leaf may carry a leading population axis ``[P]`` (one set of weights per specimen)."""

    arrays: dict[str, Array]
    stack: Stack = struct.field(pytree_node=False)

    def __getitem__(self, key: str) -> Array:
        return self.arrays[key]

    def layer(self, layer: int) -> dict[str, Array]:
        """Layer ``layer``'s own arrays under the cell's names (``wx``, ``bx``, ...)."""
        return layer_arrays(self.stack, self.arrays, layer)

    @property
    def hidden(self) -> tuple[int, ...]:
        """Each layer's hidden width."""
        return tuple(layer_hidden(c, self.layer(i)) for i, c in enumerate(self.stack.cells))

    @property
    def n_in(self) -> int:
        return self.arrays[self.stack.prefix(0) + "wx"].shape[-2]

    @property
    def n_classes(self) -> int:
        return self.arrays["bd"].shape[-1]

    @property
    def per_specimen(self) -> bool:
        """Whether every leaf has a leading population axis."""
        return self.arrays["wd"].ndim == 3


def layer_arrays(stack: Stack, arrays: dict, layer: int) -> dict:
    """Layer ``layer``'s entries of a model's ``arrays`` (named with its prefix), under the cell's own names."""
    pre = stack.prefix(layer)
    return {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre) and k not in HEAD}


def layer_hidden(cell: Cell, w: dict) -> int:
    """A layer's hidden width, read off its input linears' stacked bias ``bx [k*H]``."""
    return w[f"b{INPUT}"].shape[-1] // len(cell.input_ops)


def param_shapes(stack: Stack | Cell | str, n_in: int, hidden: int | Sequence[int], n_classes: int
                 ) -> dict[str, tuple[int, ...]]:
    """The shape of every weight array of a classifier of ``stack``: each operator's parameters
    (its kind's ``owns``; a linear group's stacked along the output axis, named with its layer's
    prefix) and the head's."""
    stack = Stack.of(stack)
    hidden = stack.hidden(hidden)
    shapes: dict[str, tuple[int, ...]] = {}
    for layer, cell in enumerate(stack.cells):
        fan_in = n_in if layer == 0 else hidden[layer - 1]
        for k, op in enumerate(cell.ops):
            for prm in KINDS[op.kind].owns:
                dims = prm.dims(fan_in if op.inputs[0] == INPUT else hidden[layer], hidden[layer])
                key = stack.prefix(layer) + cell.param_key(k, prm.name)
                if key in shapes:  # a fused group: stacked along the last axis
                    dims = shapes[key][:-1] + (shapes[key][-1] + dims[-1],)
                shapes[key] = dims
    shapes["wd"], shapes["bd"] = (hidden[-1], n_classes), (n_classes,)
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


def check_params(p: ModelParams) -> ModelParams:
    """Refuses weights whose names or shapes do not fit ``p.stack``, naming it."""
    try:
        want = param_shapes(p.stack, p.n_in, p.hidden, p.n_classes)
    except (KeyError, ValueError, ZeroDivisionError):
        want = None
    got = {k: tuple(v.shape[1:] if p.per_specimen else v.shape) for k, v in p.arrays.items()}
    if got != want:
        raise ValueError(f"weights do not fit a {p.stack.name} classifier: expected {want}, got {got}.")
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


def float_layer(
    cell: Cell, w: dict, xs: Array, *, lengths: Array | None = None, hook: Hook | None = None,
    outputs: bool = False,
) -> tuple[tuple[Array, ...], Array | None]:
    """One layer over a sequence ``xs: [T, B, I]``: its last carry (the values of
    ``cell.carry``, each ``[B, H]``) and, with ``outputs`` (static), its output at every step
    ``[T, B, H]`` (the next layer's input). ``lengths: int[B]`` (optional): steps at or past a
    sequence's end leave its carry unchanged. ``hook`` as in :func:`float_step`."""
    hidden = layer_hidden(cell, w)
    carry0 = tuple(jnp.zeros(xs.shape[1:2] + (hidden,), xs.dtype) for _ in cell.carry)
    out = cell.carry.index(cell.output)

    def step(carry, inputs):
        x_t, t = inputs
        new = float_step(cell, w, input_linears(cell, w, x_t), carry, hook)[0]
        new = hold(None if lengths is None else t < lengths, new, carry)
        return new, new[out] if outputs else None

    return jax.lax.scan(step, carry0, (xs, jnp.arange(xs.shape[0])))


def float_logits(p: ModelParams, x: Array, lengths: Array | None = None) -> Array:
    """Float logits ``[B, C]`` of a batch of sequences ``x: [B, T, I]`` (``lengths: int[B]``:
    each sequence's valid steps; the head reads its last one)."""
    xs = jnp.swapaxes(x, 0, 1)
    for layer, cell in enumerate(p.stack.cells):
        last = layer == p.stack.layers - 1
        carry, xs = float_layer(cell, p.layer(layer), xs, lengths=lengths, outputs=not last)
    return carry[cell.carry.index(cell.output)] @ p["wd"] + p["bd"]


class RecurrentLayer(nnx.Module):
    """One layer's weights: a ``nnx.Linear`` per linear group (input kernels with Flax's default
    initializer, recurrent ones orthogonal) and ``scale`` vectors drawn from N(0, 0.1)."""

    def __init__(self, cell: Cell, n_in: int, hidden: int, *, rngs: nnx.Rngs):
        self.cell = cell
        for src, group in cell.linear_groups.items():
            if src == INPUT:
                layer = nnx.Linear(n_in, len(group) * hidden, rngs=rngs)
            else:
                layer = nnx.Linear(hidden, len(group) * hidden, kernel_init=nnx.initializers.orthogonal(), rngs=rngs)
            setattr(self, f"proj_{src}", layer)
        own = {k: s for k, s in param_shapes(cell, n_in, hidden, 1).items() if k.startswith("v_")}
        for key, shape in own.items():
            setattr(self, key, nnx.Param(0.1 * jax.random.normal(rngs.params(), shape)))
        self._own = tuple(own)

    def arrays(self) -> dict[str, Array]:
        out = {}
        for src in self.cell.sources:
            proj = getattr(self, f"proj_{src}")
            out[f"w{src}"], out[f"b{src}"] = proj.kernel[...], proj.bias[...]
        for key in self._own:
            out[key] = getattr(self, key)[...]
        return out


class Classifier(nnx.Module):
    """A stack of recurrent layers (``stack``: a :class:`Stack`, a cell or its name) of widths
    ``hidden`` (one for all or one per layer) -> dense(classes); softmax is left to the loss."""

    def __init__(self, stack: Stack | Cell | str, n_in: int, hidden: int | Sequence[int], n_classes: int, *,
                 rngs: nnx.Rngs):
        self.stack = Stack.of(stack)
        hidden = self.stack.hidden(hidden)
        for layer, cell in enumerate(self.stack.cells):
            setattr(self, f"layer{layer}", RecurrentLayer(cell, n_in if layer == 0 else hidden[layer - 1],
                                                          hidden[layer], rngs=rngs))
        self.head = nnx.Linear(hidden[-1], n_classes, rngs=rngs)

    def params(self) -> ModelParams:
        arrays = {}
        for layer in range(self.stack.layers):
            pre = self.stack.prefix(layer)
            arrays.update({pre + k: v for k, v in getattr(self, f"layer{layer}").arrays().items()})
        arrays["wd"], arrays["bd"] = self.head.kernel[...], self.head.bias[...]
        return ModelParams(arrays=arrays, stack=self.stack)

    def __call__(self, x: Array, lengths: Array | None = None) -> Array:
        return float_logits(self.params(), x, lengths)
