"""Any strategy with init / ask / tell drives run_search: evosax's algorithms through
IntegerEvosax, and NSGA-II reusing compiled code across searches."""

import jax
import numpy as np
import pytest
from evosax.algorithms import DifferentialEvolution, SimpleGA

from jaxgru.search.evosax_strategies import IntegerEvosax, feasibility_fitness, to_genomes
from jaxgru.search.loop import run_search
from jaxgru.search.nsga2 import NSGA2

TARGET = np.array([1, 5, 3, 0, 6, 2])
OPTIMUM = np.array([3, 5, 3, 0, 6, 2])  # the target, but gene 0 must be >= 3


def _toy(genomes, generation=0):
    """One objective in [0, 1] (distance to TARGET) and a violation (gene 0 below 3)."""
    g = np.asarray(genomes)
    objective = np.abs(g - TARGET).sum(1, keepdims=True) / (6.0 * g.shape[1])
    return objective, np.maximum(3 - g[:, 0], 0).astype(np.float32)


@pytest.mark.parametrize("algorithm", [SimpleGA, DifferentialEvolution])
def test_evosax_strategy_finds_the_constrained_optimum(algorithm):
    strategy = IntegerEvosax(algorithm, population_size=32, num_dims=6, lower=0, upper=6)
    params = strategy.default_params
    if algorithm is SimpleGA:
        params = params.replace(crossover_rate=0.5)
    result = run_search(strategy, params, _toy, generations=60, key=jax.random.key(0), progress=False)
    assert result.genomes.min() >= 0 and result.genomes.max() <= 6 and result.genomes.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(result.state.best_genome), OPTIMUM)
    assert float(result.state.best_violation) == 0
    assert result.history[-1]["best_obj0"] == pytest.approx(2 / 36)


def test_feasibility_rule_and_rounding():
    fit = np.asarray(feasibility_fitness(np.array([0.9, 0.1, 0.1]), np.array([0.0, 0.5, 0.2]), 1.0))
    np.testing.assert_allclose(fit, [0.9, 1.5, 1.2])  # feasible first, then smaller violation
    g = np.asarray(to_genomes(np.array([[-0.49, 0.5, 1.5, 6.49, 9.0]]), 0, 6))
    assert g.tolist() == [[0, 0, 2, 6, 6]]  # round half to even, then into bounds


def test_evosax_run_resumes_where_it_stopped(tmp_path):
    strategy = IntegerEvosax(DifferentialEvolution, population_size=8, num_dims=6, lower=0, upper=6)
    full = run_search(strategy, strategy.default_params, _toy, generations=5, key=jax.random.key(2), progress=False)
    calls = {"n": 0}

    def dies_in_generation_3(g, generation):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return _toy(g)

    with pytest.raises(KeyboardInterrupt):
        run_search(strategy, strategy.default_params, dies_in_generation_3, generations=5, key=jax.random.key(2),
                   checkpoint_dir=tmp_path, progress=False)
    resumed = run_search(strategy, strategy.default_params, _toy, generations=5, key=jax.random.key(2),
                         checkpoint_dir=tmp_path,
                         resume=True, progress=False)
    np.testing.assert_array_equal(resumed.genomes, full.genomes)
    np.testing.assert_array_equal(np.asarray(resumed.state.best_genome), np.asarray(full.state.best_genome))


def test_an_object_without_the_interface_is_refused():
    class NotAStrategy:
        population_size, num_dims = 4, 3

        def ask(self, key, state, params):
            return None

    with pytest.raises(TypeError, match="init / ask / tell.*lacks init, tell"):
        run_search(NotAStrategy(), None, _toy, generations=1, key=jax.random.key(0), progress=False)


def test_a_second_search_with_the_same_settings_compiles_nothing():
    evaluate = lambda g, _: (_toy(g)[0].repeat(2, 1) * [1, -1], None)  # noqa: E731
    first = NSGA2(8, 6, 2, 0, 6)
    run_search(first, first.default_params, evaluate, generations=2, key=jax.random.key(0), progress=False)
    compiled = (NSGA2.init._cache_size(), NSGA2._ask_traced._cache_size(), NSGA2.tell._cache_size())
    second = NSGA2(8, 6, 2, 0, 6)
    assert second == first and hash(second) == hash(first) and second is not first
    run_search(second, second.default_params, evaluate, generations=2, key=jax.random.key(1), progress=False)
    assert (NSGA2.init._cache_size(), NSGA2._ask_traced._cache_size(), NSGA2.tell._cache_size()) == compiled
    assert NSGA2(8, 6, 2, 0, 5) != first  # other settings are another strategy


def test_pymoo_oracle_and_jaxgru_runs_count_evaluations_alike():
    """experiments/pymoo_compare.py: both searches score exactly the budget, genes in bounds."""


    from jaxgru.studies import pymoo_compare as pc
    seen = []

    def objectives(genes):
        seen.append(np.asarray(genes))
        g = np.asarray(genes, np.float64)
        return np.stack([g.sum(1), (6 - g).sum(1) + g[:, 0]], 1) / 36

    f = pc.run_pymoo(objectives, 6, 6, population=8, evaluations=40, seed=0)
    assert f.shape == (40, 2)
    genes = np.concatenate(seen)
    assert genes.min() >= 0 and genes.max() <= 6 and np.issubdtype(genes.dtype, np.integer)
    for name in ("sbx+polynomial eta 3, 10 offspring", "uniform+reset, 10 offspring", "islands 2, every 5"):
        seen.clear()
        g = pc.run_jaxgru(objectives, 6, 6, population=12, evaluations=40, seed=0,
                          variant=pc.VARIANTS[name])
        assert g.shape == (40, 2), name
        genes = np.concatenate(seen)
        assert len(genes) >= 40 and genes.min() >= 0 and genes.max() <= 6, name


def test_a_run_chooses_its_strategy_by_setting():
    """``Config.strategy``: NSGA-II by default; an evosax algorithm minimizes the one cost under
    the error bound, and without one cost and a bound it is refused in one line."""
    from jaxgru.runs.config import TEXTBOOK_SEARCH, Config
    from jaxgru.runs.searching import make_strategy

    strategy, params = make_strategy(Config(), num_dims=17, num_objectives=2, upper=6)
    assert isinstance(strategy, NSGA2) and strategy.selection == "dominance"
    assert (float(params.crossover_eta), float(params.mutation_eta), float(params.crossover_rate)) == (3, 3, 1)
    strategy, params = make_strategy(Config(**TEXTBOOK_SEARCH), num_dims=17, num_objectives=2, upper=6)
    assert strategy.selection == "rank" and float(params.crossover_eta) == 15
    assert float(params.crossover_rate) == pytest.approx(0.9)
    for bad, says in ((Config(crossover_rate=1.5), "`crossover_rate` is a probability"),
                      (Config(mutation_eta=-1), "distribution indices >= 0")):
        with pytest.raises(ValueError, match=says):
            bad.check()
    cfg = Config(strategy="simple_ga", max_error=0.05)
    cfg.check()
    strategy, params = make_strategy(cfg, num_dims=17, num_objectives=2, upper=6)
    assert isinstance(strategy, IntegerEvosax) and strategy.name == "SimpleGA" and strategy.objective == 1
    assert float(params.crossover_rate) == 0.5
    for bad in (Config(strategy="simple_ga"), Config(strategy="differential_evolution", max_error=0.05,
                                                     objectives="error,size,bitops")):
        with pytest.raises(ValueError, match="answers a single-objective question"):
            bad.check()
