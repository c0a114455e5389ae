"""NSGA-II as islands: each island is plain NSGA-II between migrations, a migration moves each
island's best to the next island's worst places, and a search of islands finds a known front,
checkpoints and resumes like one population."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgru.runs.config import Config
from jaxgru.search.islands import Islands, migrate
from jaxgru.search.loop import run_search
from jaxgru.search.nsga2 import NSGA2, State, crowding_distance
from jaxgru.search.pareto import non_dominated_rank


def _toy(g: np.ndarray) -> np.ndarray:
    """Two objectives with a known front: the sum of the genes against their count of zeros."""
    return np.stack([g.sum(1), (g == 0).sum(1)], 1).astype(np.float32)


def test_islands_between_migrations_are_independent_nsga2_searches():
    island = NSGA2(6, 5, 2, 0, 3)
    islands = Islands(island, 3, interval=100)  # no migration in these generations
    params = islands.default_params
    key = jax.random.key(0)
    state = islands.init(key, params)
    alone = [island.init(k, params) for k in jax.random.split(key, 3)]
    for g in range(4):
        k_ask, k_tell = jax.random.split(jax.random.fold_in(key, g))
        pop, state = islands.ask(k_ask, state, params)
        state, metrics = islands.tell(k_tell, pop, jnp.asarray(_toy(np.asarray(pop))), state, params)
        ask_keys, tell_keys = jax.random.split(k_ask, 3), jax.random.split(k_tell, 3)
        for i in range(3):
            mine, alone[i] = island.ask(ask_keys[i], alone[i], params)
            np.testing.assert_array_equal(np.asarray(pop)[6 * i:6 * (i + 1)], np.asarray(mine))
            alone[i], _ = island.tell(tell_keys[i], mine, jnp.asarray(_toy(np.asarray(mine))), alone[i], params)
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(state.islands.population[i]), np.asarray(alone[i].population))
    # the metrics are of all islands together
    everything = np.asarray(state.islands.fitness).reshape(18, 2)
    best = everything[np.asarray(non_dominated_rank(jnp.asarray(everything))) == 0].min(0)
    np.testing.assert_array_equal(np.asarray(metrics["best_fitness"]), best)


def test_migration_moves_each_islands_best_to_the_next_islands_worst():
    k, n, d = 3, 5, 2
    population = jnp.arange(k * n * d, dtype=jnp.int32).reshape(k, n, d)
    fitness = jnp.asarray(np.random.default_rng(0).integers(0, 6, (k, n, 2)), jnp.float32)

    def ranked(f):
        rank = non_dominated_rank(f)
        return rank, crowding_distance(f, rank)

    rank, crowd = jax.vmap(ranked)(fitness)
    s = State(population=population, fitness=fitness, violation=jnp.zeros((k, n)), rank=rank, crowding=crowd,
              generation_counter=jnp.full(k, 3, jnp.int32))
    moved = migrate(s, 2)
    for i in range(k):
        own, previous = np.asarray(population[i, :3]), np.asarray(population[i - 1, :2])
        before = {tuple(r) for r in own} | {tuple(r) for r in previous}
        after = np.asarray(moved.population[i])
        assert {tuple(r) for r in after} == before  # its own first three, and the previous island's best two
        # ranks and crowding recomputed, and the island sorted best first again
        np.testing.assert_array_equal(np.asarray(moved.rank[i]), np.asarray(non_dominated_rank(moved.fitness[i])))
        order = np.lexsort((-np.asarray(moved.crowding[i]), np.asarray(moved.rank[i])))
        np.testing.assert_array_equal(order, np.arange(n))
        for row, f in zip(after, np.asarray(moved.fitness[i])):  # each genome keeps its own objectives
            j, m = np.argwhere((np.asarray(population) == row).all(-1))[0]
            np.testing.assert_array_equal(f, np.asarray(fitness[j, m]))


def test_an_island_search_finds_the_front_and_resumes_like_one_population(tmp_path):
    islands = Islands(NSGA2(8, 6, 2, 0, 3), 4, interval=2, migrants=2)
    assert islands.population_size == 32
    evaluate = lambda g, _: (_toy(g), None)  # noqa: E731
    run = dict(generations=12, key=jax.random.key(1), progress=False)
    full = run_search(islands, islands.default_params, evaluate, **run)
    front = {tuple(f) for f in full.objectives[np.asarray(non_dominated_rank(jnp.asarray(full.objectives))) == 0]}
    assert front == {(0.0, 6.0), (1.0, 5.0), (2.0, 4.0), (3.0, 3.0), (4.0, 2.0), (5.0, 1.0), (6.0, 0.0)}

    class Interrupt(Exception):
        pass

    def flaky(g, generation):
        if generation == 5:
            raise Interrupt
        return evaluate(g, generation)

    with pytest.raises(Interrupt):
        run_search(islands, islands.default_params, flaky, checkpoint_dir=tmp_path, **run)
    resumed = run_search(islands, islands.default_params, evaluate, checkpoint_dir=tmp_path, resume=True, **run)
    np.testing.assert_array_equal(resumed.genomes, full.genomes)
    assert [h["hypervolume"] for h in resumed.history] == [h["hypervolume"] for h in full.history]


@pytest.mark.parametrize("settings, says", [
    (dict(islands=3), "split into 3 islands"),
    (dict(islands=4, population=8), "split into 4 islands"),
    (dict(islands=2, migrants=20), "`migrants` must be 1..19"),
    (dict(islands=2, migration_interval=0), "`migration_interval` must be >= 1"),
])
def test_bad_island_settings_are_refused(settings, says):
    with pytest.raises(ValueError, match=says):
        Config(**settings).check()


def test_seeds_must_fit_an_island():
    islands = Islands(NSGA2(4, 3, 2, 0, 3), 2)
    with pytest.raises(ValueError, match="at most 4"):
        islands.init(jax.random.key(0), islands.default_params, np.zeros((5, 3), np.int32))
