"""A recurrent cell as data: its states and its operators in evaluation order.

A :class:`Cell` is read like straight-line code. Each :class:`Op` assigns a name; an operand
names ``"x"`` (the step's input), an earlier operator of the same step, or a recurrent state,
whose value is the previous step's until an operator of that name assigns the new one (so in
the LSTM ``fc = f * c`` reads the old ``c`` and ``tc = tanh(c)``, after ``c = fc + ig``, the
new). Every backend walks this declaration with one function per operator kind (``KINDS``):
the float model, calibration, the integer model, the QAT twins, the NumPy reference, the
export and the cost counts. The genome is one bit width per operator, in declaration order.

Operator kinds (``jaxgru.ops.kinds``, one record each; every value is ``[..., H]``, ``I`` the
input width): ``linear`` (``W s + b`` on one source, ``x`` or a state; owns ``W [I or H, H]`` and
``b [H]``), ``scale`` (``v * a``, owns a per-unit vector ``v [H]``), ``add``, ``sub1`` (``1 - a``),
``mul`` (elementwise), ``sigmoid`` and ``tanh`` (lookup tables in integers) and ``relu``.

A linear operator's gene is the width of its weights and of its output, a ``scale`` operator's
that of its vector and its output; every other gene is the width of the operator's output code.
Linear operators read their source's value from the start of the step, so the ones that share a
source run as one stacked matmul; those on ``x`` depend on the input alone and are computed for
the whole sequence before the recurrence (and shared across a population, per width).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from jaxgru.ops.kinds import KINDS

INPUT = "x"


@dataclass(frozen=True)
class Op:
    """One operator: ``name = kind(*inputs)``."""

    name: str
    kind: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """A recurrent cell: ``states`` (names of the recurrent values, each assigned once by an
    operator of that name), ``ops`` in evaluation order, and ``output``, the operator whose
    last value the dense head reads. Hashable, so it can be a static argument of ``jax.jit``."""

    name: str
    states: tuple[str, ...]
    ops: tuple[Op, ...]
    output: str
    doc: str = ""

    def __post_init__(self):
        _validate(self)

    # --- the genome -------------------------------------------------------------------------
    @property
    def n_ops(self) -> int:
        return len(self.ops)

    @property
    def op_names(self) -> tuple[str, ...]:
        return tuple(op.name for op in self.ops)

    def index(self, name: str) -> int:
        """Position of the operator ``name`` (its gene)."""
        return self.op_names.index(name)

    # --- what backends derive from the declaration ------------------------------------------
    @cached_property
    def operand_ops(self) -> tuple[tuple[int, ...], ...]:
        """For each operator, the operator index whose code each operand is (``-1``: the input).
        A state read before its assignment is coded like the operator that assigns it."""
        out = []
        for k, op in enumerate(self.ops):
            out.append(tuple(self._resolve(name, k) for name in op.inputs))
        return tuple(out)

    def _resolve(self, name: str, k: int) -> int:
        for j in range(k - 1, -1, -1):
            if self.ops[j].name == name:
                return j
        if name in self.states:
            return self.index(name)
        return -1  # the input x

    @cached_property
    def state_ops(self) -> tuple[int, ...]:
        """Index of the operator that assigns each state (its codes are the state's codes)."""
        return tuple(self.index(s) for s in self.states)

    @cached_property
    def carry(self) -> tuple[str, ...]:
        """Values carried from step to step: the states, and the output if it is not one."""
        return self.states if self.output in self.states else self.states + (self.output,)

    @cached_property
    def carry_ops(self) -> tuple[int, ...]:
        return tuple(self.index(n) for n in self.carry)

    @cached_property
    def sources(self) -> tuple[str, ...]:
        """Sources of linear (fused) operators, ``x`` first, then states in declaration order."""
        srcs = {op.inputs[0] for op in self.ops if KINDS[op.kind].fused}
        return tuple(s for s in (INPUT,) + self.states if s in srcs)

    @cached_property
    def linear_groups(self) -> dict[str, tuple[int, ...]]:
        """Linear (fused) operators by source, in declaration order: one stacked matmul each."""
        return {s: tuple(k for k, op in enumerate(self.ops) if KINDS[op.kind].fused and op.inputs[0] == s)
                for s in self.sources}

    @property
    def input_ops(self) -> tuple[int, ...]:
        """Operators that depend on the input alone (the linear operators on ``x``)."""
        return self.linear_groups.get(INPUT, ())

    @cached_property
    def step_ops(self) -> tuple[int, ...]:
        """Operators evaluated one by one inside the step (all but the fused linear ones)."""
        return tuple(k for k, op in enumerate(self.ops) if not KINDS[op.kind].fused)

    def param_key(self, k: int, name: str) -> str:
        """The weight array holding parameter ``name`` of operator ``k``: a fused (linear)
        operator's is stacked with the others on its source (``w<source>``, ``b<source>``),
        any other's is its own (``v_<op>``)."""
        op = self.ops[k]
        return f"{name}{op.inputs[0]}" if KINDS[op.kind].fused else f"{name}_{op.name}"

    def ops_of_kind(self, *kinds: str) -> tuple[int, ...]:
        return tuple(k for k, op in enumerate(self.ops) if op.kind in kinds)

    def walk(self, values: dict, apply) -> dict:
        """Evaluates the step's non-linear operators in order: ``values`` holds the input-side
        names (the states' previous values and every linear operator's output);
        ``apply(k, op, *operands)`` gives operator ``k``'s value. Returns every name's final
        value (a state's is its new value)."""
        values = dict(values)
        for k in self.step_ops:
            op = self.ops[k]
            values[op.name] = apply(k, op, *(values[n] for n in op.inputs))
        return values

    def describe(self) -> str:
        """The declaration as numbered lines, e.g. ``0 xr = linear(x)``."""
        return "\n".join(f"{k:2d} {op.name} = {op.kind}({', '.join(op.inputs)})" for k, op in enumerate(self.ops))


def _validate(cell: Cell) -> None:
    """Refuses a declaration that no backend could run, naming the operator at fault."""
    def fail(msg: str):
        raise ValueError(f"cell {cell.name!r}: {msg}")

    names = [op.name for op in cell.ops]
    if len(set(names)) != len(names):
        fail(f"operator names must be unique, got {names}.")
    if INPUT in names or INPUT in cell.states:
        fail(f"{INPUT!r} is the input; no operator or state may be called so.")
    for s in cell.states:
        if s not in names:
            fail(f"state {s!r} is never assigned (no operator is called {s!r}).")
    if cell.output not in names:
        fail(f"output {cell.output!r} is not an operator.")
    if not any(op.kind in KINDS and KINDS[op.kind].fused and op.inputs == (INPUT,) for op in cell.ops):
        fail("no linear operator reads the input x.")
    defined: set[str] = {INPUT, *cell.states}
    assigned: set[str] = set()
    for k, op in enumerate(cell.ops):
        where = f"operator {k} ({op.name} = {op.kind}{op.inputs})"
        if op.kind not in KINDS:
            fail(f"{where}: unknown kind; use one of {tuple(KINDS)}.")
        kind = KINDS[op.kind]
        if len(op.inputs) != kind.arity:
            fail(f"{where}: {op.kind} takes {kind.arity} operand(s).")
        for name in op.inputs:
            if name not in defined:
                fail(f"{where}: {name!r} is not defined before it.")
        if kind.fused:
            src = op.inputs[0]
            if src != INPUT and src not in cell.states:
                fail(f"{where}: a linear operator reads the input or a state.")
            if src in assigned:
                fail(f"{where}: a linear operator reads its state's previous value; put it before {src!r} "
                     "is assigned.")
        elif INPUT in op.inputs:
            fail(f"{where}: only linear operators read the input.")
        defined.add(op.name)
        if op.name in cell.states:
            assigned.add(op.name)
