"""The export's constants against their derivation in NumPy from the float model, the ranges and
the genome alone (``jaxgru.model.reference_constants``): every quantizer, weight code, bias,
multiplier, shift, offset, table and threshold, every cell, stacks, widths 2..16."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from jaxgru.cells import Stack
from jaxgru.cells.genome import MAX_THRESHOLD
from jaxgru.model.calibrate import calibrate
from jaxgru.model.export import export_arrays
from jaxgru.model.floating import Classifier
from jaxgru.model.reference_constants import compare, derive


@pytest.mark.parametrize("stack", ["gru", "lstm", "ligru", "sru", "lstm+gru"])
def test_every_exported_constant_is_derived_again_in_numpy(stack, mnist_splits):
    """Four genomes per stack (narrow, wide, mixed, narrow), random input, head widths and thresholds:
    every integer equal; only float32 last-bit effects differ (table entries at a rounding tie,
    the input's reciprocal scale by one ulp), and those rarely."""
    s = Stack.of(stack)
    p = Classifier(s, 28, [9] * s.layers, 10, rngs=nnx.Rngs(5)).params()
    r = calibrate(p, mnist_splits.x_train[:300])
    rng = np.random.default_rng(len(stack))
    ties = entries = 0
    for i in range(4):
        lo, hi = [(2, 9), (9, 17), (2, 17)][i % 3]
        g = rng.integers(lo, hi, s.n_ops).astype(np.int32)
        t = rng.integers(0, MAX_THRESHOLD + 1, len(s.delta_sources)).astype(np.int32)
        ib, hb = (int(v) for v in rng.integers(2, 17, 2))
        derived, near_ties = derive(p, r, g, ib, hb, t)
        differences, n = compare(derived, near_ties, export_arrays(p, r, g, input_bits=ib, head_bits=hb,
                                                                      thresholds=t))
        assert differences == [], f"genome {g.tolist()} (input {ib}, head {hb} bits): {differences}"
        ties += n
        entries += sum(v.size for k, v in derived.items() if "lut_" in k)
    assert ties <= 0.002 * entries, f"{ties} float32 ties among {entries} table entries"


def test_a_wrong_constant_is_found(mnist_splits):
    """The comparison can fail: one bias, one multiplier and one table entry changed by one."""
    s = Stack.of("gru")
    p = Classifier(s, 28, 9, 10, rngs=nnx.Rngs(5)).params()
    r = calibrate(p, mnist_splits.x_train[:300])
    g = np.full(s.n_ops, 6, np.int32)
    derived, near_ties = derive(p, r, g)
    for name, index in (("b_hz", 3), ("mult", 7), ("lut_n", 20)):
        exported = export_arrays(p, r, g)
        exported[name] = np.array(exported[name]).copy()
        exported[name].reshape(-1)[index] += 2
        assert compare(derived, near_ties, exported)[0] == [name]
