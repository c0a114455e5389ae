"""NSGA-II against pymoo as an independent oracle, and on problems with known fronts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pymoo.indicators.hv import HV
from pymoo.operators.survival.rank_and_crowding.metrics import get_crowding_function
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from jaxgru.search import nsga2
from jaxgru.search.loop import CheckpointError, run_search
from jaxgru.search.nsga2 import NSGA2, crowding_distance
from jaxgru.search.pareto import hypervolume_2d, hypervolume_3d, non_dominated_rank

# Small integer objective values force ties and exact duplicates.
objective_sets = st.integers(3, 40).flatmap(
    lambda n: st.integers(2, 3).flatmap(lambda m: arrays(np.float32, (n, m), elements=st.integers(0, 5).map(float)))
)


# Every drawn set padded to this many points, so that each function compiles once, not per size.
PAD = 40
_rank, _crowding = jax.jit(non_dominated_rank), jax.jit(crowding_distance)
_hv2, _hv3 = jax.jit(hypervolume_2d), jax.jit(hypervolume_3d)


def _padded(f, value: float) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``f`` with rows of ``value`` appended up to :data:`PAD`, and the mask of its own rows."""
    pad = np.full((PAD - len(f), f.shape[1]), value, np.float32)
    return jnp.asarray(np.concatenate([f, pad])), jnp.asarray(np.arange(PAD) < len(f))


def _pymoo_ranks(f):
    rank = np.empty(len(f), int)
    for k, front in enumerate(NonDominatedSorting().do(f)):
        rank[front] = k
    return rank


@settings(max_examples=30, deadline=None)
@given(objective_sets)
def test_ranks_and_crowding_match_pymoo(f):
    # Padding points dominated by every drawn one form a last front of their own, which changes
    # neither the ranks nor the crowding of the drawn points.
    padded, _ = _padded(f, 1e6)
    rank = np.asarray(_rank(padded))
    crowd = np.asarray(_crowding(padded, jnp.asarray(rank)))[: len(f)]
    rank = rank[: len(f)]
    np.testing.assert_array_equal(rank, _pymoo_ranks(f))
    cd = get_crowding_function("cd")
    want = np.empty(len(f))
    for k in np.unique(rank):
        want[rank == k] = cd.do(f[rank == k])
    np.testing.assert_allclose(crowd, want, rtol=1e-5)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 40), st.just(2)), elements=st.floats(0, 1, width=32)))
def test_hypervolume_matches_pymoo(f):
    ref = np.array([1.1, 1.2], np.float32)
    padded, own = _padded(f, 0.0)  # points at 0 would dominate everything, were they not masked
    got = float(_hv2(padded, jnp.asarray(ref), own))
    assert got == pytest.approx(HV(ref_point=ref)(f.astype(np.float64)), abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 40), st.just(3)),
              elements=st.one_of(st.floats(0, 1.25, width=32), st.integers(0, 5).map(lambda v: v / 4))))
def test_hypervolume_3d_matches_pymoo(f):
    """Points beyond the reference, ties and duplicates (quarter steps) included."""
    ref = np.array([1.1, 1.2, 1.0], np.float32)
    padded, own = _padded(f, 0.0)  # points at 0 would dominate everything, were they not masked
    got = float(_hv3(padded, jnp.asarray(ref), own))
    inside = f[np.all(f < ref, axis=1)].astype(np.float64)
    want = HV(ref_point=ref.astype(np.float64))(inside) if len(inside) else 0.0
    assert got == pytest.approx(want, abs=1e-5)
    mask = np.arange(len(f)) % 2 == 0
    got_masked = float(_hv3(padded, jnp.asarray(ref), own & jnp.asarray(np.arange(PAD) % 2 == 0)))
    kept = f[mask & np.all(f < ref, axis=1)].astype(np.float64)
    assert got_masked == pytest.approx(HV(ref_point=ref.astype(np.float64))(kept) if len(kept) else 0.0, abs=1e-5)


def test_three_objective_search_reports_its_hypervolume():
    """NSGA-II with M = 3 on a problem whose front is known: minimize (x0, x1, 6 - x0 - x1 + x2)."""
    strategy = NSGA2(population_size=24, num_dims=3, num_objectives=3, lower=0, upper=3)
    params = strategy.default_params.replace(hv_ref=jnp.full(3, 10.0))

    def evaluate(x, generation):
        f = np.stack([x[:, 0], x[:, 1], 6 - x[:, 0] - x[:, 1] + x[:, 2]], 1).astype(np.float32)
        return f, None

    result = run_search(strategy, params, evaluate, generations=15, key=jax.random.key(0), progress=False)
    front = result.state.population[np.asarray(result.state.rank) == 0]
    assert np.all(np.asarray(front)[:, 2] == 0)  # x2 > 0 is always dominated
    hv = [h["hypervolume"] for h in result.history]
    assert all(b >= a - 1e-4 for a, b in zip(hv, hv[1:])) and hv[-1] > 0


def test_n_stop_ranks_only_what_survival_needs():
    f = jnp.asarray(np.stack([np.arange(10.0), np.arange(10.0)], 1))  # a chain: ten fronts
    rank = np.asarray(non_dominated_rank(f, n_stop=3))
    np.testing.assert_array_equal(rank, [0, 1, 2] + [10] * 7)


def test_constrained_domination():
    f = jnp.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    violation = jnp.array([0.5, 0.0, 0.1])  # the best objectives are the most infeasible
    np.testing.assert_array_equal(np.asarray(non_dominated_rank(f, violation)), [2, 0, 1])


def _brute_force_front(problem, lower, upper, dims):
    grid = np.stack(np.meshgrid(*[np.arange(lower, upper + 1)] * dims, indexing="ij"), -1).reshape(-1, dims)
    f = problem(grid)
    dominated = np.array([np.any(np.all(f <= p, 1) & np.any(f < p, 1)) for p in f])
    return {tuple(v) for v in f[~dominated]}


def _toy_run(g, generation):
    return _toy(g), None


def _toy(g, generation=0):  # front: g0 free, every other gene 0 -> four points (k, 3 - k)
    g = g.astype(np.float32)
    return np.stack([g[:, 0], 3.0 - g[:, 0] + g[:, 1:].sum(1)], 1)


@pytest.mark.parametrize(
    "crossover, mutation",
    [(nsga2.uniform_crossover, nsga2.reset_mutation), (nsga2.two_point_crossover, nsga2.step_mutation),
     (nsga2.sbx_crossover, nsga2.polynomial_mutation)],
)
def test_search_finds_known_front(crossover, mutation):
    want = _brute_force_front(_toy, 0, 3, 6)
    assert len(want) == 4
    strategy = NSGA2(12, 6, 2, 0, 3, crossover=crossover, mutation=mutation)
    result = run_search(strategy, strategy.default_params, _toy_run, generations=40,
                        key=jax.random.key(1),
                        progress=False)
    state = result.state
    found = {tuple(v) for v in np.asarray(state.fitness)[np.asarray(state.rank) == 0]}
    assert found == want


def test_sbx_and_polynomial_mutation_on_integers():
    key = jax.random.key(0)
    a = jnp.array([0, 2, 6, 3, 3, 0, 6, 1], jnp.int32)
    b = jnp.array([6, 2, 0, 3, 5, 1, 6, 4], jnp.int32)
    cross = jax.jit(jax.vmap(lambda k, eta: nsga2.sbx_crossover(k, a, b, jnp.float32(1), jnp.float32(1), 0, 6, eta),
                             (0, None)))
    c1, c2 = (np.asarray(c) for c in cross(jax.random.split(key, 500), jnp.float32(15)))
    assert min(c1.min(), c2.min()) >= 0 and max(c1.max(), c2.max()) <= 6
    assert (c1[:, [1, 3, 6]] == np.asarray(a)[[1, 3, 6]]).all()  # equal parents, equal children
    assert (c1 != np.asarray(a)).any() and (c1 != np.asarray(b)).any()
    # the distribution index is a traced parameter: a smaller one moves genes further (MOHAQ's 3)
    keys = jax.random.split(key, 500)
    spread = {eta: np.abs(np.asarray(cross(keys, jnp.float32(eta))[0]) - np.asarray(a)).mean() for eta in (3, 15)}
    assert spread[3] > spread[15]
    x = jnp.array([0, 3, 6, 2, 5, 1], jnp.int32)
    mutate = jax.vmap(lambda k, r: nsga2.polynomial_mutation(k, x, r, 0, 6), (0, None))
    moved = np.asarray(mutate(jax.random.split(key, 2000), jnp.float32(1)))
    assert moved.min() == 0 and moved.max() == 6  # within the bounds, and reaching them
    assert 0.05 < (moved != np.asarray(x)).mean() < 0.95  # eta 20: small moves that rounding often undoes
    assert (np.asarray(mutate(jax.random.split(key, 50), jnp.float32(0))) == np.asarray(x)).all()
    far = jax.jit(jax.vmap(lambda k, eta: nsga2.polynomial_mutation(k, x, jnp.float32(1), 0, 6, eta), (0, None)))
    keys = jax.random.split(key, 2000)
    moves = {eta: np.abs(np.asarray(far(keys, jnp.float32(eta))) - np.asarray(x)).mean() for eta in (3, 20)}
    assert moves[3] > moves[20]


@pytest.mark.parametrize("eta", [3.0, 15.0])
def test_sbx_children_are_distributed_as_pymoos(eta):
    """Bounded SBX against pymoo's ``cross_sbx`` (every gene crossed, rounded as pymoo's rounding
    repair does): per gene, the children's distribution over the widths, 20,000 pairs each; the
    largest difference in any width's probability is below 0.02 (sampling alone: about 0.01)."""
    from pymoo.operators.crossover.sbx import cross_sbx

    a = np.array([0, 1, 2, 6, 5, 3], np.int32)
    b = np.array([6, 2, 4, 5, 6, 3], np.int32)
    n = 20000
    ours = jax.jit(jax.vmap(lambda k: nsga2.sbx_crossover(k, jnp.asarray(a), jnp.asarray(b), jnp.float32(1),
                                                          jnp.float32(1), 0, 6, jnp.float32(eta))))
    c1, _ = (np.asarray(c) for c in ours(jax.random.split(jax.random.key(1), n)))
    parents = np.stack([np.repeat(a[None], n, 0), np.repeat(b[None], n, 0)]).astype(np.float64)
    theirs = cross_sbx(parents, np.zeros(6), np.full(6, 6.0), np.full((n, 1), eta), np.full((n, 1), 1.0),
                       np.full((n, 1), 0.5), random_state=np.random.default_rng(1))
    p1 = np.round(theirs[0]).astype(np.int32)
    for gene in range(6):
        mine = np.bincount(c1[:, gene], minlength=7) / n
        pymoo = np.bincount(p1[:, gene], minlength=7) / n
        assert np.abs(mine - pymoo).max() < 0.02, (gene, mine.round(3), pymoo.round(3))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_dominance_tournament_decides_as_pymoos(seed):
    """pymoo's own ``binary_tournament`` (comparison by dominance and crowding) as the oracle, on
    random pairs of a population with infeasible members, ties in violation and distinct
    crowding (so that neither side tosses a coin)."""
    from types import SimpleNamespace

    from pymoo.algorithms.moo.nsga2 import binary_tournament as pymoo_tournament
    from pymoo.core.population import Population

    rng = np.random.default_rng(seed)
    n = 12
    f = rng.integers(0, 4, (n, 2)).astype(np.float32)  # small range: dominance and ties are common
    cv = np.where(rng.random(n) < 0.3, rng.integers(1, 3, n), 0).astype(np.float32)
    crowd = rng.permutation(n).astype(np.float32)
    pairs = rng.integers(0, n, (200, 2))
    pop = Population.new("F", f.astype(np.float64), "CV", cv[:, None].astype(np.float64), "rank", np.zeros(n),
                         "crowding", crowd.astype(np.float64))
    algorithm = SimpleNamespace(tournament_type="comp_by_dom_and_crowding", random_state=np.random.default_rng(0))
    want = pymoo_tournament(pop, pairs, algorithm)[:, 0]
    same_cv = cv[pairs[:, 0]] == cv[pairs[:, 1]]
    decided = ~(same_cv & (cv[pairs[:, 0]] > 0))  # pymoo tosses a coin between equal violations
    got = nsga2.dominance_winner(jnp.asarray(pairs[:, 0]), jnp.asarray(pairs[:, 1]), jnp.asarray(f),
                                 jnp.asarray(cv), jnp.asarray(crowd), jnp.zeros(200, bool))
    np.testing.assert_array_equal(np.asarray(got)[decided], want[decided])


def test_dominance_and_rank_tournaments_differ_where_they_should():
    """Two non-dominated parents of ranks 0 and 1: the rank tournament prefers the first, the
    dominance tournament the one with the larger crowding; the search runs with either."""
    f = jnp.array([[0.0, 3.0], [1.0, 1.0]])
    rank, crowd, vio = jnp.array([0, 1]), jnp.array([1.0, 5.0]), jnp.zeros(2)
    key = jax.random.key(0)
    by_rank = np.asarray(nsga2.binary_tournament(key, rank, crowd, 4000))
    by_dominance = np.asarray(nsga2.dominance_tournament(key, f, vio, crowd, 4000))
    assert abs(by_rank.mean() - 0.25) < 0.03 and abs(by_dominance.mean() - 0.75) < 0.03
    want = _brute_force_front(_toy, 0, 3, 6)
    strategy = NSGA2(12, 6, 2, 0, 3, selection="dominance")
    assert strategy != NSGA2(12, 6, 2, 0, 3)
    state = run_search(strategy, strategy.default_params, _toy_run, generations=40, key=jax.random.key(1),
                       progress=False).state
    assert {tuple(v) for v in np.asarray(state.fitness)[np.asarray(state.rank) == 0]} == want
    with pytest.raises(ValueError, match="selection must be one of"):
        NSGA2(8, 3, selection="random")


@pytest.mark.parametrize("size, n", [(10, 10), (10, 5), (8, 12)])
def test_permutation_pairing_lets_everyone_compete_equally_often(size, n):
    """Pairs from shuffles: each specimen meets others ``2n / size`` times (rounded), never itself;
    random pairs leave some specimens out and let others meet themselves."""
    for seed in range(20):
        pairs = np.asarray(nsga2.tournament_pairs(jax.random.key(seed), size, n, "permutation"))
        counts = np.bincount(pairs.ravel(), minlength=size)
        assert pairs.shape == (n, 2) and counts.sum() == 2 * n
        assert counts.min() >= (2 * n) // size and counts.max() <= -(-2 * n // size)
        assert np.all(pairs[:, 0] != pairs[:, 1])
    random = np.stack([np.asarray(nsga2.tournament_pairs(jax.random.key(s), 10, 10)) for s in range(20)])
    counts = np.stack([np.bincount(p.ravel(), minlength=10) for p in random])
    assert counts.min() == 0 and counts.max() > 2
    want = _brute_force_front(_toy, 0, 3, 6)
    strategy = NSGA2(12, 6, 2, 0, 3, selection="dominance", pairing="permutation", ties="random")
    assert strategy != NSGA2(12, 6, 2, 0, 3, selection="dominance")
    state = run_search(strategy, strategy.default_params, _toy_run, generations=40, key=jax.random.key(1),
                       progress=False).state
    assert {tuple(v) for v in np.asarray(state.fitness)[np.asarray(state.rank) == 0]} == want
    for bad in (dict(pairing="shuffle"), dict(ties="last")):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be one of"):
            NSGA2(8, 3, **bad)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_random_ties_change_only_which_of_equals_survive(seed):
    """Survival with ties broken at random keeps the same ranks and crowding as with ties to the
    first, only other specimens among equals; where the last front is all ties (one objective
    vector), the first-ties survival keeps the offspring and the random one a mix."""
    rng = np.random.default_rng(seed)
    first, rand = NSGA2(8, 6, 2, 0, 5), NSGA2(8, 6, 2, 0, 5, ties="random")
    params = first.default_params
    state = first.init(jax.random.key(seed), params)
    parents_fit = jnp.asarray(rng.integers(0, 3, (8, 2)).astype(np.float32))
    state, _ = first.tell(jax.random.key(0), state.population, parents_fit, state, params)
    children, _ = first.ask(jax.random.key(1), state, params)
    fit = jnp.asarray(rng.integers(0, 3, (8, 2)).astype(np.float32))
    a, _ = first.tell(jax.random.key(2), children, fit, state, params)
    b, _ = rand.tell(jax.random.key(seed), children, fit, state, params)
    key = lambda s: sorted(zip(np.asarray(s.rank).tolist(), np.asarray(s.crowding).tolist()))  # noqa: E731
    assert key(a) == key(b)
    flat = jnp.ones((8, 2), jnp.float32)  # every specimen ties: same objectives, crowding 0
    state_flat, _ = first.tell(jax.random.key(0), state.population, flat, first.init(jax.random.key(seed), params),
                               params)
    kept = [rand.tell(jax.random.key(k), children, flat, state_flat, params)[0].population for k in range(6)]
    kept_first = first.tell(jax.random.key(0), children, flat, state_flat, params)[0].population
    np.testing.assert_array_equal(np.asarray(kept_first), np.asarray(children))
    from_children = [len({tuple(r) for r in np.asarray(k)} & {tuple(r) for r in np.asarray(children)}) for k in kept]
    assert min(from_children) < 8


@pytest.mark.parametrize("duplicates", ["mutate", "remate"])
def test_offspring_are_in_bounds_and_new(duplicates):
    # 16 genomes of 17 genes, and 8 of 3 genes in 0..2 (27 genomes: copies are common)
    for strategy, (lo, hi) in ((NSGA2(16, 17, duplicates=duplicates), (2, 8)),
                               (NSGA2(8, 3, 2, 0, 2, crossover=nsga2.sbx_crossover, duplicates=duplicates), (0, 2))):
        params = strategy.default_params
        state = strategy.init(jax.random.key(0), params)
        pop, state = strategy.ask(jax.random.key(1), state, params)
        f = np.asarray(pop, np.float32)[:, :2]
        state, _ = strategy.tell(jax.random.key(2), pop, jnp.asarray(f), state, params)
        children, _ = strategy.ask(jax.random.key(3), state, params)
        children = np.asarray(children)
        assert children.dtype == np.int32 and children.min() >= lo and children.max() <= hi
        rows = {tuple(r) for r in children}
        assert len(rows) == strategy.population_size and not rows & {tuple(r) for r in np.asarray(state.population)}
    with pytest.raises(ValueError, match="duplicates must be one of"):
        NSGA2(8, 3, duplicates="keep")


def test_survival_is_elitist():
    """A parent front that the offspring cannot beat survives whole."""
    strategy = NSGA2(4, 3, 2, 0, 9)
    params = strategy.default_params
    state = strategy.init(jax.random.key(0), params)
    pop, state = strategy.ask(jax.random.key(1), state, params)
    good = jnp.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    state, _ = strategy.tell(jax.random.key(2), pop, good, state, params)
    children, state = strategy.ask(jax.random.key(3), state, params)
    state, metrics = strategy.tell(jax.random.key(4), children, good + 1.0, state, params)
    np.testing.assert_array_equal(np.sort(np.asarray(state.population), 0), np.sort(np.asarray(pop), 0))
    assert int(metrics["front_size"]) == 4


@pytest.mark.parametrize("size, match", [(3, ">= 4"), (7, "even"), (2.5, ">= 4")])
def test_bad_population_size(size, match):
    with pytest.raises(ValueError, match=match):
        NSGA2(size, 17)


def test_dedup_rounds_zero_works_and_negative_is_refused():
    strategy = NSGA2(8, 5, 2, 0, 3, dedup_rounds=0)
    params = strategy.default_params
    state = strategy.init(jax.random.key(0), params)
    pop, state = strategy.ask(jax.random.key(1), state, params)
    state, _ = strategy.tell(jax.random.key(2), pop, _toy(pop), state, params)
    children, _ = strategy.ask(jax.random.key(3), state, params)
    assert children.shape == (8, 5) and int(children.min()) >= 0 and int(children.max()) <= 3
    with pytest.raises(ValueError, match="dedup_rounds"):
        NSGA2(8, 5, dedup_rounds=-1)


def test_bad_generations():
    strategy = NSGA2(4, 3)
    with pytest.raises(ValueError, match="generations"):
        run_search(strategy, strategy.default_params, _toy_run, generations=0,
                   key=jax.random.key(0))


def test_resume_equals_uninterrupted(tmp_path):
    strategy = NSGA2(8, 6, 2, 0, 3)
    evaluate = lambda g, _: (_toy(g), None)  # noqa: E731
    full = run_search(strategy, strategy.default_params, evaluate, generations=6, key=jax.random.key(3), progress=False)

    class Interrupt(Exception):
        pass

    calls = {"n": 0}

    def flaky(g, generation):
        calls["n"] += 1
        if calls["n"] == 4:  # dies inside generation 3, after 0..2 were checkpointed
            raise Interrupt
        return evaluate(g, generation)

    with pytest.raises(Interrupt):
        run_search(strategy, strategy.default_params, flaky, generations=6, key=jax.random.key(3),
                   checkpoint_dir=tmp_path,
                   progress=False)
    with pytest.raises(FileExistsError, match="resume=True"):
        run_search(strategy, strategy.default_params, evaluate, generations=6, key=jax.random.key(3),
                   checkpoint_dir=tmp_path,
                   progress=False)
    resumed = run_search(strategy, strategy.default_params, evaluate, generations=6, key=jax.random.key(3),
                         checkpoint_dir=tmp_path, resume=True, progress=False)
    np.testing.assert_array_equal(resumed.genomes, full.genomes)
    np.testing.assert_array_equal(resumed.generation, full.generation)
    np.testing.assert_array_equal(np.asarray(resumed.state.population), np.asarray(full.state.population))
    assert [h["hypervolume"] for h in resumed.history] == [h["hypervolume"] for h in full.history]


def test_unreadable_checkpoint(tmp_path):
    strategy = NSGA2(4, 3, 2, 0, 3)
    evaluate = lambda g, _: (_toy(g), None)  # noqa: E731
    run_search(strategy, strategy.default_params, evaluate, generations=1, key=jax.random.key(0),
               checkpoint_dir=tmp_path,
               progress=False)
    for f in [*(tmp_path / "0").rglob("*"), *(tmp_path / "1").rglob("*")]:  # every kept generation
        if f.is_file():
            f.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read the search checkpoint"), pytest.warns(UserWarning):
        run_search(strategy, strategy.default_params, evaluate, generations=2, key=jax.random.key(0),
                   checkpoint_dir=tmp_path,
                   resume=True, progress=False)


def test_seeded_initial_population():
    strategy = NSGA2(10, 17, 2, 2, 8)
    params = strategy.default_params
    seeds = np.repeat(np.arange(2, 9, dtype=np.int32)[:, None], 17, 1)
    state = strategy.init(jax.random.key(0), params, seeds)
    pop, _ = strategy.ask(jax.random.key(1), state, params)
    pop = np.asarray(pop)
    np.testing.assert_array_equal(pop[:7], seeds)
    assert len({tuple(r) for r in pop}) == 10 and pop.min() >= 2 and pop.max() <= 8
    from jaxgru.search.loop import run_search

    with pytest.raises(ValueError, match=r"seeds must be \[K, 17\] with K <= 10"):
        run_search(strategy, params, lambda g, _: (np.zeros((len(g), 2)), None), generations=1, key=jax.random.key(0),
                   seeds=np.zeros((11, 17)), progress=False)


def test_fewer_offspring_than_parents_make_more_smaller_generations(tmp_path):
    """``offspring`` 4 of a population of 8: the first generation is the 8 initial genomes, each
    later one 4 offspring; survival keeps 8; the search resumes like the others."""
    strategy = NSGA2(8, 6, 2, 0, 3, offspring=4)
    evaluate = lambda g, _: (_toy(g), None)  # noqa: E731
    full = run_search(strategy, strategy.default_params, evaluate, generations=6, key=jax.random.key(5), progress=False)
    assert np.bincount(full.generation).tolist() == [8] + [4] * 6
    assert np.asarray(full.state.population).shape == (8, 6)
    assert [h["evaluations"] for h in full.history] == [8 + 4 * g for g in range(7)]
    kept = {tuple(r) for r in np.asarray(full.state.population)}  # survivors are among the evaluated genomes
    assert kept <= {tuple(r) for r in full.genomes}

    def flaky(g, generation):
        if generation == 4:
            raise KeyboardInterrupt
        return evaluate(g, generation)

    with pytest.raises(KeyboardInterrupt):
        run_search(strategy, strategy.default_params, flaky, generations=6, key=jax.random.key(5),
                   checkpoint_dir=tmp_path, progress=False)
    resumed = run_search(strategy, strategy.default_params, evaluate, generations=6, key=jax.random.key(5),
                         checkpoint_dir=tmp_path, resume=True, progress=False)
    np.testing.assert_array_equal(resumed.genomes, full.genomes)
    for bad in (3, 10, 0):
        with pytest.raises(ValueError, match="offspring must be an even int in 2..8"):
            NSGA2(8, 6, offspring=bad)
