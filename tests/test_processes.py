"""Runs side by side on their own cores (jaxgru.runs.processes)."""

import os

import pytest

from jaxgru.runs.processes import available_cores, core_shares, run_pinned


def test_core_shares_split_round_robin_and_refuse_too_many_jobs():
    assert core_shares(2, [0, 1, 2, 3, 4]) == [[0, 2, 4], [1, 3]]
    assert core_shares(1, [3, 1]) == [[1, 3]]
    with pytest.raises(ValueError, match="jobs must be between 1 and the 2 CPU cores"):
        core_shares(3, [0, 1])
    with pytest.raises(ValueError, match="jobs"):
        core_shares(0, [0, 1])


def test_run_pinned_gives_every_result_and_pins_each_worker_to_its_share():
    if len(available_cores()) < 2:
        pytest.skip("needs two CPU cores")
    results = dict(run_pinned(pow, [(2, 3), (3, 2), (5, 0)], 2))
    assert results == {0: 8, 1: 9, 2: 1}
    shares = [set(s) for s in core_shares(2)]
    seen = [set(a) for _, a in run_pinned(os.sched_getaffinity, [(0,)] * 4, 2)]
    assert all(a in shares for a in seen)  # every task ran inside one worker's share, not on every core


def test_run_pinned_raises_a_task_error_here():
    if len(available_cores()) < 2:
        pytest.skip("needs two CPU cores")
    with pytest.raises(ValueError):
        list(run_pinned(int, [("1",), ("not a number",)], 2))


def test_compiled_code_is_released_past_its_budget():
    """XLA maps each executable into the process; past the budget the caches are cleared and
    the maps released (what keeps a long process under vm.max_map_count)."""
    import jax
    import jax.numpy as jnp

    from jaxgru.runs.processes import bound_compiled_code, mapped_regions

    if not mapped_regions():
        pytest.skip("no /proc/self/maps here")
    for i in range(20):
        jax.jit(lambda x, i=i: jnp.tanh(x @ x.T + i).sum(0))(jnp.ones((64, 64))).block_until_ready()
    before = mapped_regions()
    assert not bound_compiled_code(budget=before + 1000)  # under budget: nothing cleared
    assert bound_compiled_code(budget=0)
    assert mapped_regions() < before
