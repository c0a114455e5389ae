"""NSGA-II as an island model: K sub-populations that evolve apart and pass their best along a ring.

Each island is an :class:`~jaxgru.search.nsga2.NSGA2` state; the K of them are one state with a
leading island axis, and ``ask`` / ``tell`` are the island strategy's, vmapped over it, so the
population a generation asks for is ``[K * island_size, D]``, island by island. Scored sharded
over K devices (:func:`jaxgru.model.population.population_scores`), each device scores one island.
Every ``interval`` generations, inside the jitted ``tell``, island k's ``migrants`` best
survivors replace the worst of island k + 1 (a ring); the receiving island's ranks and crowding
are then recomputed. The metrics (front, hypervolume) are of all islands together.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array

from jaxgru.search.nsga2 import NSGA2, Params, State, crowding_distance, duplicate_mask
from jaxgru.search.pareto import hypervolume, non_dominated_rank


@struct.dataclass
class IslandState:
    """Every island's NSGA-II state, each leaf with a leading ``[K]`` axis."""

    islands: State
    generation_counter: Array  # int32: how many times tell ran


def _resorted(s: State) -> State:
    """One island's state with ranks and crowding recomputed and its specimens sorted best first
    (as NSGA-II's survival leaves them)."""
    rank = non_dominated_rank(s.fitness, s.violation)
    crowd = crowding_distance(s.fitness, rank)
    order = jnp.lexsort((-crowd, rank))
    return State(population=s.population[order], fitness=s.fitness[order], violation=s.violation[order],
                 rank=rank[order], crowding=crowd[order], generation_counter=s.generation_counter)


def migrate(s: State, migrants: int) -> State:
    """Ring migration over the leading island axis of ``s``: island k's first ``migrants``
    specimens (its best) replace island k + 1's last ones (its worst)."""
    def ring(a: Array) -> Array:
        incoming = jnp.roll(a[:, :migrants], 1, axis=0)  # island k receives island k - 1's best
        return a.at[:, -migrants:].set(incoming)

    moved = s.replace(population=ring(s.population), fitness=ring(s.fitness), violation=ring(s.violation))
    return jax.vmap(_resorted)(moved)


class Islands:
    """``islands`` copies of ``strategy`` (an :class:`NSGA2` of one island's size), evolved side
    by side with ring migration of ``migrants`` specimens every ``interval`` generations.

    Static settings, like NSGA-II's; it has NSGA-II's ``init / ask / tell`` and ``Params`` (one set,
    shared by the islands), so :func:`jaxgru.search.loop.run_search` drives it unchanged."""

    def __init__(self, strategy: NSGA2, islands: int, interval: int = 5, migrants: int = 2):
        if isinstance(islands, bool) or not isinstance(islands, int) or islands < 2:
            raise ValueError(f"islands must be an int >= 2 (1 is plain NSGA-II); got {islands!r}.")
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f"the migration interval must be an int >= 1 generations; got {interval!r}.")
        if not isinstance(migrants, int) or not 1 <= migrants < strategy.population_size:
            raise ValueError(f"migrants must be 1..{strategy.population_size - 1} (fewer than an island holds); "
                             f"got {migrants!r}.")
        if strategy.offspring != strategy.population_size:
            raise ValueError("each island makes as many offspring as it holds; use an NSGA2 without `offspring`.")
        self.strategy, self.islands, self.interval, self.migrants = strategy, islands, interval, migrants
        self.population_size = islands * strategy.population_size
        self.num_dims = strategy.num_dims
        self.num_objectives = strategy.num_objectives

    def _settings(self) -> tuple:
        return (self.strategy, self.islands, self.interval, self.migrants)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._settings() == self._settings()

    def __hash__(self) -> int:
        return hash((type(self), self._settings()))

    @property
    def default_params(self) -> Params:
        return self.strategy.default_params

    def _split(self, a: Array) -> Array:
        return a.reshape((self.islands, self.strategy.population_size) + a.shape[1:])

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Array, params: Params, seeds: Array | None = None) -> IslandState:
        """Each island's initial population, from its own key; ``seeds: int[S, D]`` (S at most an
        island's size) go into every island."""
        if seeds is not None and seeds.shape[0] > self.strategy.population_size:
            raise ValueError(f"every island starts from the seeds, so there can be at most "
                             f"{self.strategy.population_size} (an island's size); got {seeds.shape[0]}.")
        init = jax.vmap(lambda k: self.strategy.init(k, params, seeds))
        return IslandState(islands=init(jax.random.split(key, self.islands)), generation_counter=jnp.int32(0))

    @partial(jax.jit, static_argnames=("self",))
    def ask(self, key: Array, state: IslandState, params: Params) -> tuple[Array, IslandState]:
        """Every island's genomes ``int32[K * island_size, D]``, island by island."""
        ask = jax.vmap(lambda k, s: self.strategy.ask(k, s, params)[0])
        population = ask(jax.random.split(key, self.islands), state.islands)
        return population.reshape(self.population_size, self.num_dims), state

    @partial(jax.jit, static_argnames=("self",))
    def tell(self, key: Array, population: Array, fitness: Array, state: IslandState, params: Params,
             violation: Array | None = None) -> tuple[IslandState, dict]:
        """Each island's survival on its own slice of ``fitness: [K * island_size, M]``, then the
        ring migration when the generation is a multiple of the interval."""
        violation = jnp.zeros(self.population_size, jnp.float32) if violation is None else violation
        tell = jax.vmap(lambda k, x, f, s, v: self.strategy.tell(k, x, f, s, params, v)[0])
        islands = tell(jax.random.split(key, self.islands), self._split(population), self._split(fitness),
                       state.islands, self._split(violation))
        counter = state.generation_counter + 1
        islands = jax.lax.cond(counter % self.interval == 0, lambda s: migrate(s, self.migrants), lambda s: s,
                               islands)
        state = IslandState(islands=islands, generation_counter=counter)
        return state, self.metrics(state, params)

    def metrics(self, state: IslandState, params: Params) -> dict:
        """NSGA-II's metrics of every island's survivors together."""
        s = state.islands
        fitness = s.fitness.reshape(self.population_size, -1)
        violation = s.violation.reshape(-1)
        # A migrant lives in two islands until one drops it; count it once.
        unique = ~duplicate_mask(self.strategy._keys(s.population.reshape(self.population_size, -1)))
        front = (non_dominated_rank(fitness, violation) == 0) & (violation <= 0) & unique
        return {
            "generation_counter": state.generation_counter,
            "front_size": jnp.sum(front),
            "best_fitness": jnp.min(jnp.where(front[:, None], fitness, jnp.inf), axis=0),
            "hypervolume": hypervolume(fitness, params.hv_ref, front),
        }
