"""Quantization-aware training: the fake-quantized forward follows the integer model, vmapped
QAT equals per-specimen QAT, and QAT lifts low-bit specimens above PTQ."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgru.model.integer import int_logits, quantize
from jaxgru.model.population import population_accuracy
from jaxgru.model.qat import fake_quant, fake_quant_logits, memory_block, qat_population


def test_fake_quant_values_and_straight_through_gradient():
    scale, zero, qmin, qmax = jnp.float32(0.5), jnp.int32(-1), jnp.int32(-4), jnp.int32(3)
    x = jnp.array([-9.0, -1.4, -0.2, 0.26, 1.9, 9.0])
    # codes clip(round(x / 0.5) - 1, -4, 3) = [-4, -4, -1, 0, 3, 3]; back to reals: 0.5 * (code + 1)
    np.testing.assert_allclose(fake_quant(x, scale, zero, qmin, qmax), [-1.5, -1.5, 0.0, 0.5, 2.0, 2.0])
    grad = jax.grad(lambda v: fake_quant(v, scale, zero, qmin, qmax).sum())(x)
    np.testing.assert_array_equal(grad, [0, 1, 1, 1, 1, 0])  # zero only where the code saturates


def test_exact_fake_quant_forward_is_the_integer_model(small_model, rng):
    p, r = small_model["params"], small_model["ranges"]
    x = jnp.asarray(small_model["x_val"][:300])
    for g in [np.full(17, 2), np.full(17, 8)] + [rng.integers(2, 9, 17) for _ in range(4)]:
        g = jnp.asarray(g, jnp.int32)
        q = quantize(p, r, g, 6, 5)
        ints = np.asarray(int_logits(q, x), np.float64) * float(q.logit_scale)
        fake = np.asarray(fake_quant_logits(p, r, g, x, 6, 5))
        # Equal up to float32 summation order in the head.
        np.testing.assert_allclose(fake, ints, rtol=1e-5, atol=1e-5 * np.abs(ints).max())
    # ...and its gradient is the surrogate's: finite and nonzero.
    grads = jax.grad(lambda w: fake_quant_logits(w, r, jnp.full(17, 4, jnp.int32), x).sum())(p)
    assert all(bool(jnp.isfinite(leaf).all()) for leaf in jax.tree.leaves(grads))
    assert float(jnp.abs(grads["wh"]).max()) > 0


def test_float_surrogate_forward_nearly_follows_the_integer_model(small_model, rng):
    p, r = small_model["params"], small_model["ranges"]
    x = jnp.asarray(small_model["x_val"][:500])
    # Widths >= 3: at 2 bits a model is near chance and its near-tied logits make agreement noise.
    genomes = [np.full(17, 4), np.full(17, 8)] + [rng.integers(3, 9, 17) for _ in range(6)]
    agreement = []
    for g in genomes:
        g = jnp.asarray(g, jnp.int32)
        q = quantize(p, r, g)
        ints = np.asarray(int_logits(q, x)) * float(q.logit_scale)
        fake = np.asarray(fake_quant_logits(p, r, g, x, exact=False))
        # Codes differ only where the integer model's fixed-point rounding tips a value over a
        # rounding boundary, so nearly every prediction is the same.
        agreement.append(np.mean(ints.argmax(1) == fake.argmax(1)))
    assert min(agreement) >= 0.95 and np.mean(agreement) >= 0.98, agreement


def test_vmapped_qat_equals_per_specimen_qat(small_model):
    p, r = small_model["params"], small_model["ranges"]
    genomes = np.array([[3] * 17, [5] * 17, list(range(2, 9)) * 2 + [4, 4, 4]], np.int32)
    x, y = small_model["x_val"][:256], small_model["y_val"][:256]
    kw = dict(epochs=1, batch_size=64, learning_rate=1e-3, seed=3)
    together = qat_population(p, r, genomes, x, y, block=2, **kw)  # a block of 2, and a remainder of 1
    alone = [qat_population(p, r, g[None], x, y, **kw) for g in genomes]
    for k in ("wx", "wh", "wd", "bx", "bh", "bd"):
        a = np.asarray(together[k])
        assert a.shape[0] == 3
        np.testing.assert_allclose(a, np.concatenate([np.asarray(s[k]) for s in alone]), atol=1e-6)
    # Training moved the weights, and differently per genome.
    assert np.abs(np.asarray(together["wh"][0]) - np.asarray(p["wh"])).max() > 1e-4
    assert np.abs(np.asarray(together["wh"][0]) - np.asarray(together["wh"][1])).max() > 1e-4


def test_qat_beats_ptq_on_low_bit_specimens(small_model, mnist_splits):
    p, r = small_model["params"], small_model["ranges"]
    rng = np.random.default_rng(1)
    genomes = np.concatenate([np.full((1, 17), 3), np.full((1, 17), 4), rng.integers(3, 6, (4, 17))]).astype(np.int32)
    x, y = small_model["x_val"][:1000], small_model["y_val"][:1000]
    ptq = population_accuracy(p, r, genomes, x, y)
    tuned = qat_population(p, r, genomes, mnist_splits.x_train[20000:23000], mnist_splits.y_train[20000:23000],
                           epochs=1, batch_size=64, learning_rate=1e-3, seed=0)
    qat = population_accuracy(tuned, r, genomes, x, y)
    assert qat.mean() > ptq.mean() + 0.05, (ptq, qat)
    assert np.sum(qat > ptq) >= 4, (ptq, qat)


def test_per_specimen_weights_score_like_shared_weights(small_model):
    p, r = small_model["params"], small_model["ranges"]
    genomes = np.random.default_rng(2).integers(2, 9, (9, 17)).astype(np.int32)  # 9 > 7: shared path is taken
    x, y = small_model["x_val"][:300], small_model["y_val"][:300]
    stacked = jax.tree.map(lambda a: np.repeat(np.asarray(a)[None], len(genomes), 0), p)
    np.testing.assert_array_equal(population_accuracy(stacked, r, genomes, x, y),
                                  population_accuracy(p, r, genomes, x, y))
    with pytest.raises(ValueError, match="weights for 9 specimens but there are 3 genomes"):
        population_accuracy(stacked, r, genomes[:3], x, y)


def test_qat_refuses_bad_input(small_model):
    p, r = small_model["params"], small_model["ranges"]
    x, y = small_model["x_val"][:100], small_model["y_val"][:100]
    with pytest.raises(ValueError, match="N >= batch_size"):
        qat_population(p, r, np.full((2, 17), 4), x, y, batch_size=128)
    with pytest.raises(ValueError, match="population"):
        qat_population(p, r, np.full(17, 4), x, y, batch_size=32)
    with pytest.raises(ValueError):
        qat_population(p, r, np.full((2, 17), 17), x, y, batch_size=32)
    with pytest.raises(ValueError, match="block"):
        qat_population(p, r, np.full((2, 17), 4), x, y, batch_size=32, block=0)
    assert memory_block(40, 361, 128, op_units=128 * 17) < memory_block(40, 28, 128, op_units=128 * 17) <= 40
