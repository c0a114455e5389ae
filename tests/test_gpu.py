"""On a GPU, the integer dots must stay exact (no TF32). Skipped where JAX sees no GPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgru.cells import Stack
from jaxgru.ops.primitives import int_dot

gpu = [d for d in jax.devices() if d.platform == "gpu"]
pytestmark = pytest.mark.skipif(not gpu, reason="no GPU visible to JAX")


def test_int8_dot_is_exact_on_gpu():
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (512, 768)).astype(np.int8)
    b = rng.integers(-128, 128, (768, 384)).astype(np.int8)
    got = jax.jit(int_dot)(jax.device_put(jnp.asarray(a), gpu[0]), jax.device_put(jnp.asarray(b), gpu[0]))
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), a.astype(np.int64) @ b.astype(np.int64))


def test_population_matches_reference_on_gpu():
    """The whole integer model on the GPU against the NumPy reference."""
    from jaxgru.model.calibrate import calibrate
    from jaxgru.model.export import export_arrays
    from jaxgru.model.floating import ModelParams
    from jaxgru.model.population import population_logits
    from jaxgru.model.reference import Reference

    rng = np.random.default_rng(1)
    h, i, c = 64, 28, 10
    p = ModelParams(stack=Stack.of("gru"), arrays=dict(
        wx=rng.normal(0, 0.3, (i, 3 * h)).astype(np.float32), bx=rng.normal(0, 0.1, 3 * h).astype(np.float32),
        wh=rng.normal(0, 0.12, (h, 3 * h)).astype(np.float32), bh=rng.normal(0, 0.1, 3 * h).astype(np.float32),
        wd=rng.normal(0, 0.3, (h, c)).astype(np.float32), bd=np.zeros(c, np.float32),
    ))
    x = rng.random((32, 28, i), dtype=np.float32)
    r = calibrate(p, x)
    genomes = rng.integers(2, 9, (12, 17)).astype(np.int32)
    logits = np.asarray(jax.jit(population_logits)(p, r, jnp.asarray(genomes), jnp.asarray(x), 8, 8))
    for g, got in zip(genomes, logits):
        np.testing.assert_array_equal(got, Reference(export_arrays(p, r, g)).logits(x))
