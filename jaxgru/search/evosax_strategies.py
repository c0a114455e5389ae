"""evosax's population-based algorithms (genetic algorithm, differential evolution, ...) as
integer, constrained, single-objective search strategies for :func:`jaxgru.search.loop.run_search`.

evosax evolves real vectors and minimizes one scalar fitness with no constraints, while jaxgru's
genomes are integers in ``[lower, upper]^D`` and its questions have constraints ("the smallest
genome within 1 point of 8 bits"). :class:`IntegerEvosax` bridges the two:

- **Integers.** The algorithm's real vectors are *repaired* into the box
  ``[lower - 0.5, upper + 0.5]`` (clipped just inside it) and each gene is rounded to the nearest
  integer, so every integer of ``[lower, upper]`` owns a cell of equal width. The algorithm is
  told the repaired real vectors, the genome evaluated is their rounding.
- **Constraints** (Deb's feasibility rule as one scalar): ``fitness = objective`` where the
  violation is 0, else ``infeasible_offset + violation``. With objectives in ``[0, 1]`` (jaxgru's
  normalized costs) and the default offset 1, every feasible genome beats every infeasible one,
  and of two infeasible ones the smaller violation wins.
- **The initial population** is random integers (``seeds`` first, as :class:`~jaxgru.search.nsga2.NSGA2`
  takes them); evosax's ``init`` is called with it and its fitness at the first ``tell``.

Only one objective column is optimized; the strategy keeps the best genome seen.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array


@struct.dataclass
class State:
    """``inner``: the evosax algorithm's state. ``position``: the real vectors last asked
    (``float32[P, D]``). ``best_*``: the best genome told so far by the scalar fitness, its
    objectives ``[M]`` and violation."""

    inner: Any
    position: Array
    best_genome: Array
    best_fitness: Array
    best_objectives: Array
    best_violation: Array
    generation_counter: Array


def feasibility_fitness(objective: Array, violation: Array, infeasible_offset: float) -> Array:
    """Deb's feasibility rule as one scalar to minimize: ``objective`` where feasible, else
    ``infeasible_offset + violation`` (worse than any feasible objective below the offset)."""
    return jnp.where(violation <= 0, objective, infeasible_offset + violation)


def to_genomes(position: Array, lower: int, upper: int) -> Array:
    """Nearest integer genomes ``int32[P, D]`` of real vectors, clipped into ``[lower, upper]``."""
    return jnp.clip(jnp.round(position), lower, upper).astype(jnp.int32)


def repair(position: Array, lower: int, upper: int) -> Array:
    """Real vectors clipped just inside ``[lower - 0.5, upper + 0.5]`` (so rounding stays in bounds)."""
    return jnp.clip(position, lower - 0.499, upper + 0.499)


class IntegerEvosax:
    """An evosax population-based algorithm (``algorithm_cls(population_size=P, solution=zeros(D))``,
    e.g. ``evosax.algorithms.SimpleGA`` or ``DifferentialEvolution``) over integer genomes in
    ``[lower, upper]^num_dims`` with a constraint, behind jaxgru's strategy interface.

    Static settings: the algorithm class and its keyword arguments, ``population_size``,
    ``num_dims``, ``num_objectives`` (only column ``objective`` is optimized, the first by
    default), the bounds and ``infeasible_offset``. ``params`` are the algorithm's own
    (``default_params``)."""

    def __init__(self, algorithm_cls, population_size: int, num_dims: int, num_objectives: int = 1,
                 lower: int = 2, upper: int = 8, infeasible_offset: float = 1.0, objective: int = 0,
                 **algorithm_kwargs):
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 4:
            raise ValueError(f"population_size must be an int >= 4, got {population_size!r}.")
        if not 0 <= objective < num_objectives:
            raise ValueError(f"objective must index one of the {num_objectives} objectives, got {objective}.")
        if num_dims < 1 or num_objectives < 1 or lower > upper:
            raise ValueError(f"need num_dims >= 1, num_objectives >= 1, lower <= upper; got "
                             f"{num_dims}, {num_objectives}, [{lower}, {upper}].")
        self.algorithm_cls, self.algorithm_kwargs = algorithm_cls, tuple(sorted(algorithm_kwargs.items()))
        self.algorithm = algorithm_cls(population_size=population_size, solution=jnp.zeros(num_dims),
                                       **algorithm_kwargs)
        self.population_size, self.num_dims, self.num_objectives = population_size, num_dims, num_objectives
        self.lower, self.upper = int(lower), int(upper)
        self.infeasible_offset = float(infeasible_offset)
        self.objective = int(objective)

    def _settings(self) -> tuple:
        return (self.algorithm_cls, self.algorithm_kwargs, self.population_size, self.num_dims,
                self.num_objectives, self.lower, self.upper, self.infeasible_offset, self.objective)

    def __eq__(self, other) -> bool:  # equal settings share compiled code (``self`` is static)
        return type(other) is type(self) and other._settings() == self._settings()

    def __hash__(self) -> int:
        return hash((type(self), self._settings()))

    @property
    def name(self) -> str:
        return self.algorithm_cls.__name__

    @property
    def default_params(self):
        return self.algorithm.default_params

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Array, params, seeds: Array | None = None) -> State:
        """Random integer genomes (``seeds: int[K, D]`` first) as the initial positions."""
        p, d = self.population_size, self.num_dims
        position = jax.random.randint(key, (p, d), self.lower, self.upper + 1).astype(jnp.float32)
        if seeds is not None:
            seeds = jnp.clip(jnp.asarray(seeds, jnp.float32), self.lower, self.upper)
            position = position.at[: seeds.shape[0]].set(seeds)
        # A state of the right structure; evosax's real init runs at the first tell.
        inner = self.algorithm.init(key, position, jnp.full(p, jnp.inf), params)
        return State(inner=inner, position=position, best_genome=to_genomes(position[0], self.lower, self.upper),
                     best_fitness=jnp.float32(jnp.inf), best_objectives=jnp.full(self.num_objectives, jnp.inf),
                     best_violation=jnp.float32(jnp.inf), generation_counter=jnp.int32(0))

    @partial(jax.jit, static_argnames=("self",))
    def ask(self, key: Array, state: State, params) -> tuple[Array, State]:
        """The initial genomes before the first ``tell``, the algorithm's (repaired, rounded) after."""
        def from_algorithm():
            x, _ = self.algorithm.ask(key, state.inner, params)
            return repair(x, self.lower, self.upper)

        position = jax.lax.cond(state.generation_counter == 0, lambda: state.position, from_algorithm)
        return to_genomes(position, self.lower, self.upper), state.replace(position=position)

    @partial(jax.jit, static_argnames=("self",))
    def tell(self, key: Array, population: Array, fitness: Array, state: State, params,
             violation: Array | None = None) -> tuple[State, dict]:
        """Tells the algorithm the scalar fitness of the positions last asked (``population``
        is their rounding); ``fitness: [P, M]``, only column ``objective`` counts."""
        del population  # the genomes are the rounding of state.position
        violation = jnp.zeros(self.population_size) if violation is None else violation.astype(jnp.float32)
        fitness = fitness.astype(jnp.float32)
        scalar = feasibility_fitness(fitness[:, self.objective], violation, self.infeasible_offset)
        first = lambda: self.algorithm.init(key, state.position, scalar, params)  # noqa: E731
        later = lambda: self.algorithm.tell(key, state.position, scalar, state.inner, params)[0]  # noqa: E731
        inner = jax.lax.cond(state.generation_counter == 0, first, later)
        i = jnp.argmin(scalar)
        better = scalar[i] < state.best_fitness
        state = state.replace(
            inner=inner,
            best_genome=jnp.where(better, to_genomes(state.position[i], self.lower, self.upper), state.best_genome),
            best_fitness=jnp.where(better, scalar[i], state.best_fitness),
            best_objectives=jnp.where(better, fitness[i], state.best_objectives),
            best_violation=jnp.where(better, violation[i], state.best_violation),
            generation_counter=state.generation_counter + 1,
        )
        feasible = state.best_violation <= 0
        metrics = {"generation_counter": state.generation_counter, "front_size": feasible.astype(jnp.int32),
                   "best_fitness": jnp.where(feasible, state.best_objectives, jnp.inf),
                   "hypervolume": jnp.float32(jnp.nan)}
        return state, metrics


# evosax algorithms a run can choose by name (``Config.strategy``), with the parameters jaxgru
# gives them: SimpleGA's crossover rate 0.5 (evosax's default), DifferentialEvolution's defaults.
ALGORITHMS: dict[str, tuple[str, dict]] = {
    "simple_ga": ("SimpleGA", {"crossover_rate": 0.5}),
    "differential_evolution": ("DifferentialEvolution", {}),
}


def evosax_strategy(name: str, population_size: int, num_dims: int, num_objectives: int, lower: int, upper: int,
                    objective: int) -> tuple[IntegerEvosax, Any]:
    """The :class:`IntegerEvosax` of the algorithm called ``name`` (a key of :data:`ALGORITHMS`)
    optimizing objective column ``objective``, and its parameters."""
    import evosax.algorithms

    try:
        cls_name, overrides = ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown evosax algorithm {name!r}; choose one of {sorted(ALGORITHMS)}.") from None
    strategy = IntegerEvosax(getattr(evosax.algorithms, cls_name), population_size, num_dims, num_objectives,
                             lower, upper, objective=objective)
    params = strategy.default_params
    return strategy, (params.replace(**overrides) if overrides else params)
