"""NSGA-II (Deb et al. 2002) for integer genomes, in JAX, with evosax's interface.

The strategy is a class of static settings with ``init / ask / tell`` jitted with ``self``
static; ``State`` and ``Params`` are ``flax.struct`` dataclasses, PRNG keys are explicit, and
the variation operators are module-level pure functions vmapped over the population, so each
can be swapped like pymoo's sampling / crossover / mutation / survival. (evosax's own base
class assumes one scalar fitness per specimen, so it is followed, not subclassed.)

Every objective is **minimized** (as in evosax and pymoo): pass ``-accuracy`` or
``1 - accuracy``. Constraints follow Deb's constrained domination: a per-specimen violation
``>= 0``; feasible beats infeasible, smaller violation beats larger.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import Array

from jaxgru.search.pareto import hypervolume, non_dominated_rank

# ----------------------------------------------------------------------------- ranking


def crowding_distance(fitness: Array, rank: Array) -> Array:
    """Crowding distance of each specimen within its front, ``float32[N]``.

    Per objective, neighbours are taken in the order of a stable sort; the two extremes get
    ``inf``; gaps are normalized by the front's range of that objective (an objective constant
    over the front contributes 0); the sum is divided by ``M``; fronts of one or two get ``inf``.
    This is pymoo's ``calc_crowding_distance`` (the ``"cd"`` of ``RankAndCrowding``).
    """
    n, n_obj = fitness.shape
    idx = jnp.arange(n)
    front_size = jnp.bincount(rank, length=n + 1)[rank]
    total = jnp.zeros(n, jnp.float32)
    for m in range(n_obj):
        f = fitness[:, m]
        order = jnp.lexsort((idx, f, rank))  # by front, then value, then index (stable)
        fs, rs = f[order], rank[order]
        same_prev = jnp.concatenate([jnp.array([False]), rs[1:] == rs[:-1]])
        same_next = jnp.concatenate([rs[1:] == rs[:-1], jnp.array([False])])
        prev_f = jnp.concatenate([fs[:1], fs[:-1]])
        next_f = jnp.concatenate([fs[1:], fs[-1:]])
        lo = jax.ops.segment_min(f, rank, num_segments=n + 1)[rs]
        hi = jax.ops.segment_max(f, rank, num_segments=n + 1)[rs]
        norm = hi - lo
        gap_prev = jnp.where(same_prev, fs - prev_f, jnp.inf)
        gap_next = jnp.where(same_next, next_f - fs, jnp.inf)
        d = jnp.where(norm > 0, (gap_prev + gap_next) / jnp.where(norm > 0, norm, 1.0), 0.0)
        total = total.at[order].add(d)
    return jnp.where(front_size <= 2, jnp.inf, total / n_obj)


# ----------------------------------------------------------------------------- variation


# Every crossover takes ``(key, a, b, rate, swap, lower, upper, eta)`` and every mutation ``(key, x,
# rate, lower, upper, eta)``, so one can replace another; an operator ignores the arguments it has
# no use for (``eta``, the distribution index, is SBX's and polynomial mutation's).


def uniform_crossover(key: Array, a: Array, b: Array, rate: Array, swap: Array, lower: int = 0,
                      upper: int | Array = 0, eta: Array | float = 0.0) -> tuple[Array, Array]:
    """With probability ``rate``, swap each gene of the two parents with probability ``swap``."""
    del lower, upper, eta
    k_do, k_genes = jax.random.split(key)
    mask = jax.random.bernoulli(k_genes, swap, a.shape) & jax.random.bernoulli(k_do, rate)
    return jnp.where(mask, b, a), jnp.where(mask, a, b)


def two_point_crossover(key: Array, a: Array, b: Array, rate: Array, swap: Array, lower: int = 0,
                        upper: int | Array = 0, eta: Array | float = 0.0) -> tuple[Array, Array]:
    """With probability ``rate``, exchange the genes between two random cut points."""
    del swap, lower, upper, eta
    k_do, k_cut = jax.random.split(key)
    cuts = jnp.sort(jax.random.randint(k_cut, (2,), 0, a.shape[-1] + 1))
    pos = jnp.arange(a.shape[-1])
    mask = (pos >= cuts[0]) & (pos < cuts[1]) & jax.random.bernoulli(k_do, rate)
    return jnp.where(mask, b, a), jnp.where(mask, a, b)


def reset_mutation(key: Array, x: Array, rate: Array, lower: int, upper: int, eta: Array | float = 0.0) -> Array:
    """Each gene is redrawn uniformly from ``[lower, upper]`` with probability ``rate``."""
    del eta
    k_do, k_val = jax.random.split(key)
    new = jax.random.randint(k_val, x.shape, lower, upper + 1)
    return jnp.where(jax.random.bernoulli(k_do, rate, x.shape), new, x)


def step_mutation(key: Array, x: Array, rate: Array, lower: int, upper: int, eta: Array | float = 0.0) -> Array:
    """Each gene moves by +-1 (reflected at the bounds) with probability ``rate``."""
    del eta
    k_do, k_dir = jax.random.split(key)
    step = jnp.where(jax.random.bernoulli(k_dir, 0.5, x.shape), 1, -1)
    moved = x + step
    moved = jnp.where(moved > upper, x - 1, jnp.where(moved < lower, x + 1, moved))
    return jnp.where(jax.random.bernoulli(k_do, rate, x.shape), moved, x)


SBX_ETA, PM_ETA = 15.0, 20.0  # pymoo's defaults for SBX and polynomial mutation
CROSSOVER_RATE = 0.9  # probability that a pair of parents is recombined (pymoo's and Deb's)


def sbx_crossover(key: Array, a: Array, b: Array, rate: Array, swap: Array, lower: int, upper: int | Array,
                  eta: Array | float = SBX_ETA) -> tuple[Array, Array]:
    """Simulated binary crossover (Deb & Agrawal 1995) in its bounded form (Deb's NSGA-II code,
    pymoo's SBX), on integers with rounding: with probability ``rate``, each gene with probability
    ``swap`` where the parents differ becomes a pair of children spread around the parents with
    distribution index ``eta`` (small: far from them), each spread shrunk so that the child stays
    within ``[lower, upper]`` (one bound, or one per gene); the two children are exchanged with
    probability 1/2. Without the shrinking, children clipped to the bounds pile up on the extreme
    widths, which at eta 3 is most of them near either bound."""
    k_do, k_genes, k_u, k_x = jax.random.split(key, 4)
    af, bf = a.astype(jnp.float32), b.astype(jnp.float32)
    y1, y2 = jnp.minimum(af, bf), jnp.maximum(af, bf)
    gap = jnp.maximum(y2 - y1, 1.0)  # genes with equal parents are left alone below
    lo, hi = jnp.float32(lower), jnp.asarray(upper, jnp.float32)
    u = jax.random.uniform(k_u, a.shape)
    power = 1.0 / (eta + 1.0)

    def spread(beta: Array) -> Array:  # the spread factor, its tail cut where a child would leave
        alpha = 2.0 - beta ** -(eta + 1.0)
        return jnp.where(u <= 1.0 / alpha, (u * alpha) ** power, (1.0 / (2.0 - u * alpha)) ** power)

    low = 0.5 * (y1 + y2 - spread(1.0 + 2.0 * (y1 - lo) / gap) * gap)
    high = 0.5 * (y1 + y2 + spread(1.0 + 2.0 * (hi - y2) / gap) * gap)
    exchange = jax.random.bernoulli(k_x, 0.5, a.shape)
    c1, c2 = jnp.where(exchange, high, low), jnp.where(exchange, low, high)
    c1, c2 = (jnp.clip(jnp.round(c), lo, hi).astype(a.dtype) for c in (c1, c2))
    mask = jax.random.bernoulli(k_genes, swap, a.shape) & jax.random.bernoulli(k_do, rate) & (a != b)
    return jnp.where(mask, c1, a), jnp.where(mask, c2, b)


def polynomial_mutation(key: Array, x: Array, rate: Array, lower: int, upper: int, eta: Array | float = PM_ETA
                        ) -> Array:
    """Deb's bounded polynomial mutation on integers, as pymoo's PM with rounding: each gene with
    probability ``rate`` moves by ``delta_q (upper - lower)``, ``delta_q`` drawn with distribution
    index ``eta`` so that it never leaves the bounds; then rounded."""
    k_do, k_u = jax.random.split(key)
    u = jax.random.uniform(k_u, x.shape)
    xf, span = x.astype(jnp.float32), jnp.maximum(jnp.asarray(upper) - lower, 1).astype(jnp.float32)
    d1, d2 = (xf - lower) / span, (upper - xf) / span
    power = 1.0 / (eta + 1.0)
    left = (2 * u + (1 - 2 * u) * (1 - d1) ** (eta + 1)) ** power - 1
    right = 1 - (2 * (1 - u) + 2 * (u - 0.5) * (1 - d2) ** (eta + 1)) ** power
    moved = jnp.clip(jnp.round(xf + jnp.where(u < 0.5, left, right) * span), lower, upper).astype(x.dtype)
    return jnp.where(jax.random.bernoulli(k_do, rate, x.shape), moved, x)


# How NSGA-II makes an offspring that repeats a genome again (``duplicates``).
DUPLICATES = ("mutate", "remate")
# How NSGA-II's binary tournament compares two parents (``selection``): by non-domination rank,
# then crowding (Deb's crowded comparison), or by Pareto dominance between the two, then crowding
# (pymoo's ``binary_tournament``).
SELECTIONS = ("rank", "dominance")
# Who meets whom in the tournaments (``pairing``): pairs drawn at random with replacement, or the
# population shuffled and paired in order, as often as needed (Deb's code and pymoo: every parent
# competes equally often).
PAIRINGS = ("random", "permutation")
# Which of the last front's specimens with equal crowding survive (``ties``): the first (offspring
# before parents, then in order) or a random choice (pymoo's randomized sort).
TIES = ("first", "random")
# The operators a run can name (``crossover``, ``mutation``).
CROSSOVERS = {"uniform": uniform_crossover, "two_point": two_point_crossover, "sbx": sbx_crossover}
MUTATIONS = {"reset": reset_mutation, "step": step_mutation, "polynomial": polynomial_mutation}


def tournament_pairs(key: Array, size: int, n: int, pairing: str = "random") -> Array:
    """``int32[n, 2]``: the ``n`` pairs of specimens (of ``size``) that meet. ``"random"``: each drawn
    at random; ``"permutation"``: consecutive random permutations of ``0..size-1``, paired in order,
    so every specimen meets ``2n / size`` others (rounded up or down)."""
    if pairing == "random":
        return jax.random.randint(key, (n, 2), 0, size)
    rounds = -(-2 * n // size)
    perms = jax.vmap(lambda k: jax.random.permutation(k, size))(jax.random.split(key, rounds))
    return perms.reshape(-1)[: 2 * n].reshape(n, 2).astype(jnp.int32)


def binary_tournament(key: Array, rank: Array, crowding: Array, n: int, pairing: str = "random") -> Array:
    """``n`` winners of pairs (:func:`tournament_pairs`): lower rank wins, then larger crowding,
    then the first."""
    pairs = tournament_pairs(key, rank.shape[0], n, pairing)
    a, b = pairs[:, 0], pairs[:, 1]
    a_wins = (rank[a] < rank[b]) | ((rank[a] == rank[b]) & (crowding[a] >= crowding[b]))
    return jnp.where(a_wins, a, b)


def dominance_winner(a: Array, b: Array, fitness: Array, violation: Array, crowding: Array, coin: Array) -> Array:
    """The winner of each pair ``(a[i], b[i])`` of specimens of ``fitness: [P, M]`` (minimized), as
    pymoo's binary tournament decides it: the smaller constraint violation; between equal
    violations the one that Pareto-dominates the other; between mutually non-dominated ones the
    larger crowding, and ``a`` where ``coin`` is true if that is equal too."""
    fa, fb = fitness[a], fitness[b]
    a_dominates = jnp.all(fa <= fb, axis=1) & jnp.any(fa < fb, axis=1)
    b_dominates = jnp.all(fb <= fa, axis=1) & jnp.any(fb < fa, axis=1)
    by_crowding = jnp.where(crowding[a] == crowding[b], coin, crowding[a] > crowding[b])
    by_dominance = jnp.where(a_dominates, True, jnp.where(b_dominates, False, by_crowding))
    a_wins = jnp.where(violation[a] != violation[b], violation[a] < violation[b], by_dominance)
    return jnp.where(a_wins, a, b)


def dominance_tournament(key: Array, fitness: Array, violation: Array, crowding: Array, n: int,
                         pairing: str = "random") -> Array:
    """``n`` winners of pairs (:func:`tournament_pairs`) by :func:`dominance_winner` (a fair coin
    for ties). Unlike :func:`binary_tournament`, two parents of different ranks that do not
    dominate each other are compared by crowding alone."""
    k_pairs, k_coin = jax.random.split(key)
    pairs = tournament_pairs(k_pairs, fitness.shape[0], n, pairing)
    coin = jax.random.bernoulli(k_coin, 0.5, (n,))
    return dominance_winner(pairs[:, 0], pairs[:, 1], fitness, violation, crowding, coin)


def genome_keys(x: Array, lower: int, upper: int) -> Array:
    """Packs integer genomes ``[N, D]`` in ``[lower, upper]`` (``upper``: the largest bound of
    any gene) into ``int32[N, K]`` keys (base ``upper - lower + 1`` digits), so that comparing
    rows costs ``K`` instead of ``D`` words."""
    base = upper - lower + 1
    per_key = max(1, int(31 // np.log2(base))) if base > 1 else x.shape[-1]
    digits = x.astype(jnp.int32) - lower
    keys = []
    for start in range(0, x.shape[-1], per_key):
        chunk = digits[..., start : start + per_key]
        weights = jnp.asarray([base**i for i in range(chunk.shape[-1])], jnp.int32)
        keys.append(jnp.sum(chunk * weights, axis=-1))
    return jnp.stack(keys, axis=-1)


def duplicate_mask(x: Array, earlier: Array | None = None) -> Array:
    """``bool[N]``: row ``i`` of ``x`` equals an earlier row of ``x`` or any row of ``earlier``."""
    same = jnp.all(x[:, None, :] == x[None, :, :], axis=-1)
    dup = jnp.any(jnp.tril(same, k=-1), axis=1)
    if earlier is not None:
        dup = dup | jnp.any(jnp.all(x[:, None, :] == earlier[None, :, :], axis=-1), axis=1)
    return dup


# ----------------------------------------------------------------------------- strategy


@struct.dataclass
class Params:
    """Traced hyperparameters (change them without recompiling).

    crossover_rate: probability that a pair is recombined. gene_swap_rate: per-gene swap
    probability of uniform crossover. mutation_rate: per-gene mutation probability (default
    ``1 / D``). crossover_eta, mutation_eta: distribution indices of SBX and of polynomial mutation
    (default pymoo's, 15 and 20; MOHAQ's code uses 3 for both). hv_ref: reference point ``[M]`` of
    the hypervolume (exact for 2 or 3 objectives).
    """

    crossover_rate: Array
    gene_swap_rate: Array
    mutation_rate: Array
    crossover_eta: Array
    mutation_eta: Array
    hv_ref: Array


@struct.dataclass
class State:
    """Parents and their objectives; ``rank``/``crowding`` are of the current parents."""

    population: Array  # int32[P, D]
    fitness: Array  # float32[P, M]
    violation: Array  # float32[P]
    rank: Array  # int32[P]
    crowding: Array  # float32[P]
    generation_counter: Array  # int32: how many times tell ran


class NSGA2:
    """NSGA-II over integer genomes in ``[lower, upper]^num_dims``.

    Static settings: ``population_size`` (even, >= 4), ``num_dims``, ``num_objectives``,
    the bounds (``upper``: one for every gene, or a tuple of one per gene), and the
    ``crossover`` / ``mutation`` functions (module-level pure functions of
    this file or any with the same signatures). The first ``ask`` returns the random initial
    population; every later one returns ``offspring`` offspring (default ``population_size``;
    fewer makes a steadier search of more generations, as pymoo's ``n_offsprings``), none a copy
    of a parent or of another offspring where ``dedup_rounds`` rounds of making them again can
    avoid it (``duplicates``: ``"mutate"`` mutates a copy again at twice the rate, ``"remate"``
    makes it again from new parents, as pymoo does; a copy left after the rounds is replaced by
    a random genome). ``selection`` names the binary tournament that picks each parent
    (:data:`SELECTIONS`: :func:`binary_tournament` or :func:`dominance_tournament`), ``pairing``
    who meets whom in it (:data:`PAIRINGS`), and ``ties`` which of the last front's specimens of
    equal crowding survive (:data:`TIES`).
    """

    def __init__(
        self,
        population_size: int,
        num_dims: int,
        num_objectives: int = 2,
        lower: int = 2,
        upper: int | tuple[int, ...] = 8,
        crossover: Callable = uniform_crossover,
        mutation: Callable = reset_mutation,
        dedup_rounds: int = 4,
        offspring: int | None = None,
        duplicates: str = "mutate",
        selection: str = "rank",
        pairing: str = "random",
        ties: str = "first",
    ):
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 4:
            raise ValueError(f"population_size must be an int >= 4, got {population_size!r}.")
        if population_size % 2:
            raise ValueError(
                f"population_size must be even (offspring are made in pairs), got {population_size}; "
                f"use {population_size + 1}."
            )
        per_gene = not isinstance(upper, (int, np.integer))
        upper = tuple(int(u) for u in upper) if per_gene else int(upper)
        if per_gene and len(upper) != num_dims:
            raise ValueError(f"upper must be one bound or one per gene ({num_dims}); got {len(upper)} bounds.")
        if num_dims < 1 or num_objectives < 1 or lower > min(np.atleast_1d(upper)):
            raise ValueError(f"need num_dims >= 1, num_objectives >= 1, lower <= upper; got "
                             f"{num_dims}, {num_objectives}, [{lower}, {upper}].")
        self.population_size = population_size
        self.num_dims = num_dims
        self.num_objectives = num_objectives
        self.lower, self.upper = int(lower), upper
        self.crossover = crossover
        self.mutation = mutation
        if isinstance(dedup_rounds, bool) or not isinstance(dedup_rounds, int) or dedup_rounds < 0:
            raise ValueError(f"dedup_rounds must be an int >= 0, got {dedup_rounds!r}.")
        self.dedup_rounds = dedup_rounds
        offspring = population_size if offspring is None else offspring
        if isinstance(offspring, bool) or not isinstance(offspring, int) or not 2 <= offspring <= population_size \
                or offspring % 2:
            raise ValueError(f"offspring must be an even int in 2..{population_size} (the population size); "
                             f"got {offspring!r}.")
        self.offspring = offspring
        for name, value, choices in (("duplicates", duplicates, DUPLICATES), ("selection", selection, SELECTIONS),
                                     ("pairing", pairing, PAIRINGS), ("ties", ties, TIES)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
        self.duplicates, self.selection, self.pairing, self.ties = duplicates, selection, pairing, ties

    # ``self`` is a static argument of the jitted methods: two strategies with the same settings
    # compare equal, so a second search (a sweep, a seed) reuses the first one's compiled code.
    def _settings(self) -> tuple:
        return (self.population_size, self.num_dims, self.num_objectives, self.lower, self.upper, self.crossover,
                self.mutation, self.dedup_rounds, self.offspring, self.duplicates, self.selection,
                self.pairing, self.ties)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._settings() == self._settings()

    def __hash__(self) -> int:
        return hash((type(self), self._settings()))

    @property
    def default_params(self) -> Params:
        return Params(
            crossover_rate=jnp.float32(CROSSOVER_RATE),
            gene_swap_rate=jnp.float32(0.5),
            mutation_rate=jnp.float32(1.0 / self.num_dims),
            crossover_eta=jnp.float32(SBX_ETA),
            mutation_eta=jnp.float32(PM_ETA),
            hv_ref=jnp.ones(self.num_objectives, jnp.float32),
        )

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Array, params: Params, seeds: Array | None = None) -> State:
        """The initial population: ``seeds: int[K, D]`` (``K <= population_size``, e.g. known good
        genomes) first, the rest drawn at random and distinct from them."""
        p, m = self.population_size, self.num_objectives
        if seeds is None:
            population = self._fresh(key, jnp.zeros((0, self.num_dims), jnp.int32), p)
        else:
            seeds = jnp.clip(jnp.asarray(seeds, jnp.int32), self.lower, self._upper)
            population = jnp.concatenate([seeds, self._fresh(key, seeds, p - seeds.shape[0])])
        return State(
            population=population,
            fitness=jnp.full((p, m), jnp.inf, jnp.float32),
            violation=jnp.zeros(p, jnp.float32),
            rank=jnp.zeros(p, jnp.int32),
            crowding=jnp.zeros(p, jnp.float32),
            generation_counter=jnp.int32(0),
        )

    def ask(self, key: Array, state: State, params: Params) -> tuple[Array, State]:
        """The initial population before the first ``tell``, offspring after it (built only then).
        Traceable (``jit``, ``vmap``) when every generation has the same size (``offspring`` equal
        to the population); otherwise the generation counter decides on the host."""
        if self.offspring == self.population_size:
            return self._ask_traced(key, state, params)
        if int(state.generation_counter) == 0:
            return state.population, state
        return self._ask_offspring(key, state, params), state

    @partial(jax.jit, static_argnames=("self",))
    def _ask_traced(self, key: Array, state: State, params: Params) -> tuple[Array, State]:
        population = jax.lax.cond(state.generation_counter == 0, lambda: state.population,
                                  lambda: self._offspring(key, state, params))
        return population, state

    @partial(jax.jit, static_argnames=("self",))
    def _ask_offspring(self, key: Array, state: State, params: Params) -> Array:
        return self._offspring(key, state, params)

    @partial(jax.jit, static_argnames=("self",))
    def tell(
        self,
        key: Array,
        population: Array,
        fitness: Array,
        state: State,
        params: Params,
        violation: Array | None = None,
    ) -> tuple[State, dict]:
        """Elitist survival of parents + offspring; ``fitness: [N, M]`` (of the ``N`` genomes asked
        for) minimized. ``key`` breaks ties of crowding when ``ties`` is ``"random"``."""
        p = self.population_size
        violation = (jnp.zeros(population.shape[0], jnp.float32) if violation is None
                     else violation.astype(jnp.float32))
        # Offspring first: a parent that repeats an offspring is the duplicate that is dropped.
        # At generation 0 the "parents" are the unevaluated initial population itself.
        parents_fit = jnp.where(state.generation_counter == 0, jnp.inf, state.fitness)
        pool = jnp.concatenate([population, state.population])
        pool_fit = jnp.concatenate([fitness.astype(jnp.float32), parents_fit])
        pool_vio = jnp.concatenate([violation, state.violation])
        dup = duplicate_mask(self._keys(pool))
        rank = non_dominated_rank(jnp.where(dup[:, None], jnp.inf, pool_fit), pool_vio, n_stop=p)
        rank = jnp.where(dup, 2 * p, rank)  # duplicates survive last
        crowd = crowding_distance(pool_fit, rank)
        order = (jnp.arange(pool.shape[0]) if self.ties == "first"
                 else jax.random.permutation(key, pool.shape[0]))
        keep = jnp.lexsort((order, -crowd, rank))[:p]
        state = State(
            population=pool[keep],
            fitness=pool_fit[keep],
            violation=pool_vio[keep],
            rank=rank[keep],
            crowding=crowd[keep],
            generation_counter=state.generation_counter + 1,
        )
        return state, self.metrics(state, params)

    def metrics(self, state: State, params: Params) -> dict:
        feasible_front = (state.rank == 0) & (state.violation <= 0)
        out = {
            "generation_counter": state.generation_counter,
            "front_size": jnp.sum(feasible_front),
            "best_fitness": jnp.min(jnp.where(feasible_front[:, None], state.fitness, jnp.inf), axis=0),
        }
        out["hypervolume"] = hypervolume(state.fitness, params.hv_ref, feasible_front)
        return out

    # -- internals

    @property
    def _upper(self) -> int | Array:
        """The upper bound as an array operand: one int, or ``int32[num_dims]``."""
        return jnp.asarray(self.upper, jnp.int32) if isinstance(self.upper, tuple) else self.upper

    def _keys(self, x: Array) -> Array:
        return genome_keys(x, self.lower, int(np.max(self.upper)))

    def _fresh(self, key: Array, avoid: Array, n: int) -> Array:
        """``n`` random genomes, re-drawn where they repeat ``avoid`` or each other."""
        keys = jax.random.split(key, self.dedup_rounds + 1)
        x = jax.random.randint(keys[0], (n, self.num_dims), self.lower, self._upper + 1)
        for k in keys[1:]:
            redraw = jax.random.randint(k, x.shape, self.lower, self._upper + 1)
            x = jnp.where(duplicate_mask(self._keys(x), self._keys(avoid))[:, None], redraw, x)
        return x.astype(jnp.int32)

    def _offspring(self, key: Array, state: State, params: Params) -> Array:
        p = self.offspring
        k_sel, k_cx, k_mut, k_dedup = jax.random.split(key, 4)
        children = self._variation(k_sel, k_cx, k_mut, state, params)
        # Duplicates waste an evaluation: make them again ("mutate": mutate them harder; "remate":
        # from new parents, as pymoo does), and finally replace them at random.
        parent_keys = self._keys(state.population)
        k_r = k_dedup  # the final re-draw's key when there are no rounds (else the last round's)
        for k in jax.random.split(k_dedup, self.dedup_rounds):
            k_m, k_r = jax.random.split(k)
            dup = duplicate_mask(self._keys(children), parent_keys)
            if self.duplicates == "remate":
                again = self._variation(*jax.random.split(k_m, 3), state, params)
            else:
                again = self._mutate(k_m, children, jnp.float32(2.0 / self.num_dims), params)
            children = jnp.where(dup[:, None], again, children)
        dup = duplicate_mask(self._keys(children), parent_keys)
        children = jnp.where(dup[:, None], self._fresh(k_r, state.population, p), children)
        return children.astype(jnp.int32)

    def _variation(self, k_sel: Array, k_cx: Array, k_mut: Array, state: State, params: Params) -> Array:
        """``offspring`` children: tournament, crossover, mutation."""
        p = self.offspring
        if self.selection == "dominance":
            winners = dominance_tournament(k_sel, state.fitness, state.violation, state.crowding, p, self.pairing)
        else:
            winners = binary_tournament(k_sel, state.rank, state.crowding, p, self.pairing)
        parents = state.population[winners].reshape(p // 2, 2, self.num_dims)
        c1, c2 = jax.vmap(self.crossover, (0, 0, 0, None, None, None, None, None))(
            jax.random.split(k_cx, p // 2), parents[:, 0], parents[:, 1],
            params.crossover_rate, params.gene_swap_rate, self.lower, self._upper, params.crossover_eta,
        )
        children = jnp.clip(jnp.concatenate([c1, c2]), self.lower, self._upper)  # any crossover's, in bounds
        return self._mutate(k_mut, children, params.mutation_rate, params)

    def _mutate(self, key: Array, children: Array, rate: Array, params: Params) -> Array:
        """The mutation applied to each child, at ``rate`` per gene."""
        mutate = jax.vmap(self.mutation, (0, 0, None, None, None, None))
        return mutate(jax.random.split(key, children.shape[0]), children, rate, self.lower, self._upper,
                      params.mutation_eta)
