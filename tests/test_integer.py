"""The JAX integer model against the plain NumPy reference, and its accuracy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxgru.model.export import export_arrays, export_npz
from jaxgru.model.integer import int_logits, quantize
from jaxgru.model.population import population_accuracy, population_logits
from jaxgru.model.reference import Reference

_quantize = jax.jit(quantize)
_logits = jax.jit(int_logits)

genome_st = st.lists(st.integers(2, 8), min_size=17, max_size=17).map(lambda g: np.array(g, np.int32))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(genome=genome_st, io=st.sampled_from([(8, 8), (4, 6), (2, 3)]))
def test_jax_equals_numpy_reference(small_model, genome, io):
    """Bit-identical logits and hidden codes for random genomes on real MNIST sequences."""
    p, r = small_model["params"], small_model["ranges"]
    x = small_model["x_val"][:48]
    q = _quantize(p, r, jnp.asarray(genome), io[0], io[1])
    ref = Reference(export_arrays(p, r, genome, input_bits=io[0], head_bits=io[1]))
    np.testing.assert_array_equal(np.asarray(_logits(q, jnp.asarray(x))), ref.logits(x))


@pytest.mark.parametrize("block", [None, 4])  # 4: blocks of 4 then a remainder of 2 (and 7 widths shared)
def test_population_logits_match_reference_per_specimen(small_model, rng, block):
    p, r = small_model["params"], small_model["ranges"]
    x = small_model["x_val"][:32]
    genomes = rng.integers(2, 9, size=(10, 17)).astype(np.int32)
    fn = jax.jit(population_logits, static_argnames="block")
    logits = np.asarray(fn(p, r, jnp.asarray(genomes), jnp.asarray(x), 8, 8, block=block))
    for g, got in zip(genomes, logits):
        np.testing.assert_array_equal(got, Reference(export_arrays(p, r, g)).logits(x))


def test_exported_npz_runs_in_reference(small_model, tmp_path):
    p, r = small_model["params"], small_model["ranges"]
    genome = np.array([8, 4, 6, 3, 5, 7, 8, 2, 6, 4, 5, 8, 3, 7, 6, 5, 4], np.int32)
    path = export_npz(tmp_path / "model.npz", p, r, genome)
    with np.load(path) as f:
        ref = Reference(f)
        assert f["lut_r"].shape == (2 ** genome[6],)  # one entry per input code (r's input is rp, operator 6)
        assert all(f[f"w_{n}"].dtype == np.int8 for n in ("xr", "hr", "xz", "hz", "xn", "hn"))
        assert f["wd"].dtype == np.int8
        assert np.abs(f["w_hr"]).max() <= 2 ** (genome[1] - 1) - 1  # hr's weights at 4 bits
    x = small_model["x_val"][:16]
    np.testing.assert_array_equal(ref.logits(x), np.asarray(_logits(_quantize(p, r, genome), jnp.asarray(x))))


def test_weights_dequantize_close_to_float(small_model):
    p, r = small_model["params"], small_model["ranges"]
    ex = export_arrays(p, r, np.full(17, 8, np.int32))
    (hidden,) = p.hidden
    w_scale = np.abs(np.asarray(p["wh"][:, :hidden])).max() / 127
    err = np.abs(ex["w_hr"] * w_scale - np.asarray(p["wh"][:, :hidden]))
    assert err.max() <= w_scale / 2 + 1e-6


def test_homogeneous_8bit_close_to_float_and_2bit_worse(small_model):
    p, r = small_model["params"], small_model["ranges"]
    genomes = np.stack([np.full(17, b, np.int32) for b in (8, 4, 2)])
    acc8, acc4, acc2 = population_accuracy(p, r, genomes, small_model["x_val"], small_model["y_val"])
    assert small_model["float_acc"] > 0.7, "the fixture model did not train"
    assert abs(acc8 - small_model["float_acc"]) <= 0.015
    assert acc2 < acc8 - 0.2


def test_population_equals_each_alone(small_model, rng):
    p, r = small_model["params"], small_model["ranges"]
    x, y = small_model["x_val"][:300], small_model["y_val"][:300]
    genomes = rng.integers(2, 9, size=(7, 17)).astype(np.int32)
    together = population_accuracy(p, r, genomes, x, y, batch_size=64)  # 300 is not a multiple: padding
    alone = np.concatenate([population_accuracy(p, r, g[None], x, y, batch_size=300) for g in genomes])
    np.testing.assert_array_equal(together, alone)
    counts = np.array([(Reference(export_arrays(p, r, g)).logits(x).argmax(1) == y).sum() for g in genomes[:2]])
    np.testing.assert_array_equal(together[:2] * len(x), counts)


def test_large_population_in_bounded_chunks(small_model, rng):
    """P = 1024 scored in one call; the automatic chunk keeps activations within the budget."""
    from jaxgru.model.population import auto_batch_size

    p, r = small_model["params"], small_model["ranges"]
    genomes = rng.integers(2, 9, size=(1024, 17)).astype(np.int32)
    budget = 64 * 2**20
    bs = auto_batch_size(1024, p.hidden[0], 40, 17, budget)
    assert 1 <= bs < 40  # the whole population side by side: the data must be cut
    assert auto_batch_size(8, p.hidden[0], 40, 17, budget) == 40  # one block of 8 (the default): it need not
    x, y = small_model["x_val"][:40], small_model["y_val"][:40]
    acc = population_accuracy(p, r, genomes, x, y, memory_budget=budget, block=None)
    assert acc.shape == (1024,) and np.all((acc >= 0) & (acc <= 1))
    np.testing.assert_array_equal(acc, population_accuracy(p, r, genomes, x, y, memory_budget=budget))
    np.testing.assert_array_equal(acc[:3], population_accuracy(p, r, genomes[:3], x, y))


@pytest.mark.parametrize(
    "genome, exc, match",
    [
        (np.full(17, 17, np.int32), ValueError, "2..16"),
        (np.full(17, 1, np.int32), ValueError, "2..16"),
        (np.full(16, 8, np.int32), ValueError, r"shape \[17\]"),
        (np.full(17, 8.0), TypeError, "integer"),
        (np.full((2, 3, 17), 8), ValueError, "shape"),
    ],
)
def test_bad_genomes_are_refused(small_model, genome, exc, match):
    p, r = small_model["params"], small_model["ranges"]
    with pytest.raises(exc, match=match):
        population_accuracy(p, r, genome, small_model["x_val"][:4], small_model["y_val"][:4])
    with pytest.raises(exc, match=match):
        export_arrays(p, r, genome)


def test_bad_io_bits_and_data_are_refused(small_model):
    p, r = small_model["params"], small_model["ranges"]
    g = np.full((1, 17), 8, np.int32)
    with pytest.raises(ValueError, match="input_bits"):
        population_accuracy(p, r, g, small_model["x_val"][:4], small_model["y_val"][:4], input_bits=17)
    with pytest.raises(ValueError, match="features"):
        population_accuracy(p, r, g, np.zeros((4, 28, 5)), np.zeros(4))
    with pytest.raises(ValueError, match="block"):
        population_accuracy(p, r, g, small_model["x_val"][:4], small_model["y_val"][:4], block=0)
