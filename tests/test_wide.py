"""The wide datapath (widths up to 16 bits): exact against the int64 NumPy reference, at the
worst cases too, and identical to the int8 datapath wherever both apply."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgru.cells import CELLS, Stack, get_cell
from jaxgru.cells.genome import PLATFORM_WIDTHS, Widths
from jaxgru.model.calibrate import Ranges, calibrate
from jaxgru.model.export import export_arrays
from jaxgru.model.floating import ModelParams, param_shapes
from jaxgru.model.integer import int_logits, quantize
from jaxgru.model.population import population_accuracy, population_logits
from jaxgru.model.qat import fake_quant_logits
from jaxgru.model.reference import Reference
from jaxgru.ops.primitives import weight_limbs, wide_dot

NAMES = sorted(CELLS)


def _wide(fn, *args, **kw):
    with jax.enable_x64(True):
        return jax.tree.map(np.asarray, fn(*args, **kw))


# Weights go in as arguments, never as closure constants: XLA turns a division by a compile-time
# constant into a multiplication by its reciprocal, which moves 16-bit codes next to a rounding tie.
@jax.jit
def _int_logits(p, r, g, x, io):
    return int_logits(quantize(p, r, g, io[0], io[1], wide=True), x)


def _reference_logits(p, r, g, x, io=(8, 8)):
    """The int64 NumPy reference's logits of genome ``g`` at I/O widths ``io``."""
    return Reference(export_arrays(p, r, g, input_bits=io[0], head_bits=io[1])).logits(x)


@pytest.mark.parametrize("k", [1, 40, 256, 512, 1024])
def test_wide_dot_is_exact_at_the_extremes(k):
    """Largest-magnitude 16-bit codes, long accumulations: int32 would wrap, the limbs do not."""
    rng = np.random.default_rng(k)
    extremes = np.array([-32768, 32767, -32767, 0, 255, 256, -256, -1, 128, -129])
    a = np.stack([np.full(k, -32768), np.full(k, 32767), rng.choice(extremes, k), rng.integers(-32768, 32768, k)])
    w = np.stack([np.full(k, -32767), np.full(k, 32767), rng.choice(extremes[1:], k),
                  rng.integers(-32767, 32768, k)], 1)
    want = a.astype(np.int64) @ w.astype(np.int64)
    assert k < 4 or np.abs(want).max() > 2**31  # the case the wide datapath exists for

    def fn(a, w):
        return wide_dot(a, *weight_limbs(w))

    got = _wide(jax.jit(fn), jnp.asarray(a, jnp.int32), jnp.asarray(w, jnp.int32))
    np.testing.assert_array_equal(got, want)


def _random_model(cell, n_in, hidden, classes, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    shapes = param_shapes(cell, n_in, hidden, classes)
    return ModelParams(arrays={k: rng.normal(0, scale, s).astype(np.float32) for k, s in shapes.items()},
                       stack=Stack.of(cell))


@pytest.mark.parametrize("name", NAMES)
def test_16_bit_models_equal_the_reference(name):
    cell = get_cell(name)
    p = _random_model(cell, 5, 7, 3, seed=3)
    x = np.random.default_rng(4).normal(0, 1, (9, 6, 5)).astype(np.float32)
    r = calibrate(p, x)
    rng = np.random.default_rng(5)
    genomes = [np.full(cell.n_ops, 16, np.int32), rng.choice([4, 8, 16], cell.n_ops).astype(np.int32),
               rng.integers(2, 17, cell.n_ops).astype(np.int32)]
    for g, io in zip(genomes, [(16, 16), (8, 16), (12, 3)]):
        np.testing.assert_array_equal(_wide(_int_logits, p, r, g, x, io), _reference_logits(p, r, g, x, io))


def test_worst_case_hidden_256_all_16_bit():
    """Hidden 256 at 16 bits with every state saturated: accumulators far beyond int32."""
    cell = get_cell("gru")
    p = _random_model(cell, 40, 256, 10, seed=7, scale=1.0)
    rng = np.random.default_rng(8)
    x = rng.choice([-30.0, 30.0], (4, 12, 40)).astype(np.float32)  # saturates the input quantizer
    # Narrow ranges make every operator saturate at its code limits.
    r = Ranges(x_lo=np.float32(-1), x_hi=np.float32(1), lo=np.full(cell.n_ops, -0.5, np.float32),
               hi=np.full(cell.n_ops, 0.5, np.float32))
    g = np.full(cell.n_ops, 16, np.int32)
    ex = export_arrays(p, r, g, input_bits=16, head_bits=16)
    ref = Reference(ex)
    h = np.full((1, 256), ex["qmax"][cell.index("h")], np.int64)
    assert np.abs(h @ ex["w_hn"].astype(np.int64)).max() > 2**31  # an int32 accumulator would wrap
    got = _wide(_int_logits, p, r, g, x, (16, 16))
    np.testing.assert_array_equal(got, ref.logits(x))


@pytest.mark.parametrize("name", NAMES)
def test_wide_datapath_equals_narrow_one_up_to_8_bits(name):
    cell = get_cell(name)
    p = _random_model(cell, 5, 9, 3, seed=10)
    x = np.random.default_rng(11).normal(0, 1, (7, 5, 5)).astype(np.float32)
    r = calibrate(p, x)
    for g in np.random.default_rng(12).integers(2, 9, (4, cell.n_ops)).astype(np.int32):
        narrow = np.asarray(int_logits(quantize(p, r, g, 6, 7), jnp.asarray(x)))
        wide = _wide(_int_logits, p, r, g, x, (6, 7))
        np.testing.assert_array_equal(wide, narrow)


def test_population_with_a_platform_width_set(small_model, rng):
    """A Bitfusion population, shared input codes per width of {2, 4, 8, 16}, against each alone
    and against the reference; the same scores whichever datapath a narrow population takes."""
    p, r = small_model["params"], small_model["ranges"]
    widths = PLATFORM_WIDTHS["bitfusion"]
    genomes = widths.decode(rng.integers(0, 4, (9, 17)))  # > 4 specimens: shared input codes
    x, y = small_model["x_val"][:64], small_model["y_val"][:64]
    with jax.enable_x64(True):
        fn = jax.jit(population_logits, static_argnames=("block", "widths"))
        logits = np.asarray(fn(p, r, jnp.asarray(genomes), jnp.asarray(x), 8, 8, block=4, widths=widths.values))
    for g, got in zip(genomes[:3], logits[:3]):
        np.testing.assert_array_equal(got, _reference_logits(p, r, g, x))
    acc = population_accuracy(p, r, genomes, x, y, widths=widths)
    np.testing.assert_array_equal(acc, (logits.argmax(-1) == y).mean(1))
    narrow = genomes.clip(max=8)
    np.testing.assert_array_equal(population_accuracy(p, r, narrow, x, y, widths=widths),
                                  population_accuracy(p, r, narrow, x, y))
    with pytest.raises(ValueError, match="outside the width set"):
        population_accuracy(p, r, np.full((1, 17), 3, np.int32), x, y, widths=widths)


def test_16_bit_accuracy_and_exact_qat_forward(small_model):
    p, r = small_model["params"], small_model["ranges"]
    x, y = small_model["x_val"][:500], small_model["y_val"][:500]
    acc16, acc8 = population_accuracy(p, r, np.array([[16] * 17, [8] * 17], np.int32), x, y)
    assert abs(acc16 - small_model["float_acc"]) <= 0.01 and acc16 >= acc8 - 0.01
    g = jnp.asarray(np.array([16, 4, 8] * 5 + [16, 8], np.int32))
    with jax.enable_x64(True):
        q = quantize(p, r, g, 8, 8, wide=True)
        ints = np.asarray(int_logits(q, jnp.asarray(x[:50])), np.float64) * float(q.logit_scale)
        fake = np.asarray(fake_quant_logits(p, r, g, jnp.asarray(x[:50]), wide=True))
    np.testing.assert_allclose(fake, ints, rtol=1e-5, atol=1e-5 * np.abs(ints).max())


def test_width_sets():
    assert PLATFORM_WIDTHS["silago"].values == (4, 8, 16) and PLATFORM_WIDTHS["silago"].wide
    assert Widths.parse("2-8").values == tuple(range(2, 9)) and not Widths.parse("2-8").wide
    assert Widths.parse("16,4,8") == PLATFORM_WIDTHS["silago"] and str(Widths.parse("2-5")) == "2-5"
    assert Widths.parse("2-8,16").values == (*range(2, 9), 16) and str(Widths.parse("2-8,16")) == "2-8,16"
    w = Widths.parse("bitfusion")
    np.testing.assert_array_equal(w.decode(w.encode([2, 16, 4])), [2, 16, 4])
    for bad, msg in [("1-8", "2..16"), ("4,17", "2..16"), ("four", "cannot read"), ("", "cannot read")]:
        with pytest.raises(ValueError, match=msg):
            Widths.parse(bad)
    with pytest.raises(ValueError, match="not all in the set"):
        w.encode([3])
