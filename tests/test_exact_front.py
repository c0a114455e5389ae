"""The reduced genome space: enumeration, its exact front, and NSGA-II measured against it."""

import itertools

import numpy as np
import pytest

from jaxgru.cells import CELLS, get_cell
from jaxgru.cells.genome import Widths
from jaxgru.model.counts import model_size
from jaxgru.model.population import population_accuracy
from jaxgru.search.gene_groups import GROUPS, enumerate_space, expand, op_groups
from jaxgru.search.nsga2 import NSGA2
from jaxgru.search.pareto import archive_hypervolume, dominated_by, pareto_front
from jaxgru.studies import exact_front
from jaxgru.studies.common import resumable_runs, search_trajectory


@pytest.mark.parametrize("name", sorted(CELLS))
def test_groups_partition_every_cell(name):
    cell = get_cell(name)
    groups = op_groups(cell)
    assert set(groups) <= set(GROUPS)
    members = sorted(i for ix in groups.values() for i in ix)
    assert members == list(range(cell.n_ops))  # every operator in exactly one group
    g = np.arange(len(groups))[None] + 2
    full = expand(g, cell)[0]
    for k, ix in enumerate(groups.values()):
        assert (full[list(ix)] == k + 2).all()


def test_gru_groups():
    groups = {k: [get_cell("gru").op_names[i] for i in ix] for k, ix in op_groups(get_cell("gru")).items()}
    assert groups == {"input linears": ["xr", "xz", "xn"], "recurrent linears": ["hr", "hz", "hn"],
                      "sums": ["rp", "zp", "np", "omz", "h"], "tables": ["r", "z", "n"], "products": ["rh", "a", "b"]}


def test_enumeration_covers_the_space_exactly_once():
    space = enumerate_space(tuple(range(2, 9)), 5)
    assert space.shape == (7**5, 5) == (16807, 5)
    assert len(np.unique(space, axis=0)) == len(space)
    assert {tuple(r) for r in space} == set(itertools.product(range(2, 9), repeat=5))


@pytest.fixture(scope="module")
def reduced(small_model, tmp_path_factory):
    """The whole space of widths {2, 3, 4} per group (3^5 genomes), scored on 64 sequences."""
    p, r = small_model["params"], small_model["ranges"]
    x, y = small_model["x_val"][:64], small_model["y_val"][:64]
    cell, widths = p.stack, Widths((2, 3, 4))

    def score(genomes):
        return population_accuracy(p, r, genomes, x, y, widths=widths)

    def size_ratio(genomes):
        return 1.0 - model_size(genomes, cell, p.n_in, p.hidden, 10)[1]

    path = tmp_path_factory.mktemp("space") / "space.npz"
    space = exact_front.SpaceScores(path, widths.values, 5)
    calls = {"n": 0}

    def dies_after_two_chunks(g):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return score(g)

    with pytest.raises(KeyboardInterrupt):
        space.fill(dies_after_two_chunks, cell, chunk=100, progress=False)
    resumed = exact_front.SpaceScores(path, widths.values, 5)
    assert np.isnan(resumed.accuracy).sum() == 243 - 200  # the two saved chunks are kept
    resumed.fill(score, cell, chunk=100, progress=False)
    full = expand(resumed.groups, cell)
    f = np.stack([1.0 - resumed.accuracy, size_ratio(full)], 1)
    return dict(space=resumed, f=f, full=full, score=score, size_ratio=size_ratio, cell=cell, widths=widths)


def test_resumed_enumeration_equals_scoring_every_genome(reduced):
    np.testing.assert_array_equal(reduced["space"].accuracy, reduced["score"](reduced["full"]))


def test_exact_front_is_non_dominated_and_covers_the_space(reduced):
    f = reduced["f"]
    front = pareto_front(f)
    assert not dominated_by(f[front], f).any()  # nothing in the space beats a front point
    dominated_or_equal = dominated_by(f, f[front]) | (f[:, None] == f[front][None]).all(-1).any(1)
    assert dominated_or_equal.all()  # and every genome is dominated by or equal to one
    assert len(front) >= 2 and (np.diff(f[front, 1]) > 0).all()


def test_every_genome_nsga2_finds_lies_on_or_behind_the_exact_front(reduced):
    """NSGA-II scores its genomes independently (not through the table)."""
    cell, widths = reduced["cell"], reduced["widths"]
    f = reduced["f"].astype(np.float32).astype(np.float64)  # as the search holds objectives
    front = f[pareto_front(f)]
    strategy = NSGA2(8, 5, 2, 0, len(widths) - 1)

    def evaluate(genes):
        genomes = expand(widths.decode(genes), cell)
        return np.stack([1.0 - reduced["score"](genomes), reduced["size_ratio"](genomes)], 1)

    found, genes = search_trajectory(strategy, evaluate, 6, seed=0, checkpoint_dir=None)
    assert len(found) == 8 * 7
    on_or_behind = dominated_by(found, front) | (found[:, None] == front[None]).all(-1).any(1)
    assert on_or_behind.all()
    np.testing.assert_array_equal(found, f[reduced["space"].index(genes)])  # the table agrees


def test_archive_hypervolume_grows_with_evaluations():
    f = np.array([[0.5, 0.5], [0.2, 0.9], [0.6, 0.6], [0.1, 0.1]])
    hv = archive_hypervolume(f, [1, 2, 3, 4])
    np.testing.assert_allclose(hv, [0.25, 0.25 + 0.3 * 0.1, 0.25 + 0.03, 0.81], rtol=1e-6)


def test_resumable_runs_runs_only_what_is_missing(tmp_path):
    calls = []

    def run_one(name, seed):
        calls.append((name, seed))
        return {"value": 10 * seed}

    path = tmp_path / "runs.json"
    first = resumable_runs(path, ["a"], [0, 1], run_one)
    again = resumable_runs(path, ["a", "b"], [0, 1], run_one)
    assert calls == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]  # the finished pairs are not run again
    assert first == {"a|0": {"value": 0}, "a|1": {"value": 10}}
    assert again["b|1"] == {"value": 10} and len(again) == 4
