"""The batched PyTorch peer of the population benchmark scores what the per-specimen one does."""

import sys

import numpy as np
import pytest
from conftest import REPO

torch = pytest.importorskip("torch")  # the bench extra
sys.path.insert(0, str(REPO / "benchmarks"))
from population_eval import _setup  # noqa: E402
from torch_fakequant import FakeQuantCell, FakeQuantPopulation  # noqa: E402


@pytest.mark.parametrize("cell", ["gru", "lstm", "ligru", "sru"])
def test_batched_population_equals_one_specimen_at_a_time(cell):
    params, ranges, genomes, x = _setup(cell, 16, 5, 12)
    xt = torch.from_numpy(x)
    batched = FakeQuantPopulation(params, ranges, genomes).logits(xt).numpy()
    one = np.stack([FakeQuantCell(params, ranges, g).logits(xt).numpy() for g in genomes])
    assert batched.shape == (5, 12, 10)
    np.testing.assert_allclose(batched, one, rtol=0, atol=1e-5)
    assert len({g.tobytes() for g in genomes}) > 1 and np.ptp(one, axis=0).max() > 0  # specimens differ
