"""Stacks of recurrent layers: every backend against the NumPy reference, layer by layer, with
and without per-sequence lengths; populations, the QAT twin, sizes and costs, gene groups and
tied genomes; and the settings that describe a stack."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgru.cells import Stack, get_cell
from jaxgru.model.calibrate import calibrate
from jaxgru.model.costs import cost_model, population_costs
from jaxgru.model.counts import model_size, op_counts
from jaxgru.model.export import export_arrays
from jaxgru.model.floating import ModelParams, check_params, float_logits, param_shapes
from jaxgru.model.integer import int_logits, quantize
from jaxgru.model.population import population_accuracy
from jaxgru.model.qat import fake_quant_logits, qat_population
from jaxgru.model.reference import Reference
from jaxgru.model.training import train_float
from jaxgru.runs.config import Config
from jaxgru.search.gene_groups import expand, op_groups

# Two- and three-layer stacks, mixed cells and odd, mixed widths.
STACKS = {"gru+gru": (9, 6), "gru+sru+lstm": (7, 5, 6), "ligru+gru": (6, 7)}


def _random_params(stack: Stack, hidden, n_in=28, classes=10, seed=0) -> ModelParams:
    rng = np.random.default_rng(seed)
    shapes = param_shapes(stack, n_in, hidden, classes)
    return ModelParams(arrays={k: rng.normal(0, 0.4, s).astype(np.float32) for k, s in shapes.items()}, stack=stack)


@pytest.fixture(scope="module")
def stacks(mnist_splits):
    """Each stack with random weights, calibrated on 200 real MNIST rows sequences."""
    out = {}
    for i, (name, hidden) in enumerate(STACKS.items()):
        p = _random_params(Stack.of(name), hidden, seed=i)
        out[name] = (p, calibrate(p, mnist_splits.x_train[:200]))
    return out


def _lengths(n: int, steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, steps + 1, n).astype(np.int32)


def test_a_stack_is_its_layers_in_order():
    s = Stack.of("gru", 2)
    assert s.name == "gru+gru" and s.n_ops == 34 and s.span(1) == slice(17, 34)
    assert s.op_names[17] == "l1.xr" and s.ops[17].inputs == ("l0.h",)  # layer 1 reads layer 0's output
    assert s.operand_ops[17] == (s.output_op(0),) and s.output == 33
    assert Stack.of("gru").op_names == get_cell("gru").op_names  # one layer keeps the cell's names
    assert Stack.of("gru+sru").cells == (get_cell("gru"), get_cell("sru"))
    with pytest.raises(ValueError, match="2 hidden width.*3 layer"):
        Stack.of("gru", 3).hidden((8, 8))
    with pytest.raises(ValueError, match="has 2 layers but 3"):
        Stack.of("gru+sru", 3)


@pytest.mark.parametrize("name", list(STACKS))
def test_jax_integer_stack_equals_numpy_reference(stacks, mnist_splits, name):
    """Bit-identical logits on real sequences, random genomes and I/O widths, with and without lengths."""
    p, r = stacks[name]
    x = mnist_splits.x_val[:24]
    lengths = _lengths(len(x), x.shape[1])
    quantize_jit, logits_jit = jax.jit(quantize), jax.jit(int_logits)
    rng = np.random.default_rng(5)
    for g, io in zip(rng.integers(2, 9, (3, p.stack.n_ops)).astype(np.int32), [(8, 8), (5, 7), (3, 6)]):
        q = quantize_jit(p, r, jnp.asarray(g), *io)
        ref = Reference(export_arrays(p, r, g, input_bits=io[0], head_bits=io[1]))
        np.testing.assert_array_equal(np.asarray(logits_jit(q, jnp.asarray(x))), ref.logits(x))
        np.testing.assert_array_equal(np.asarray(logits_jit(q, jnp.asarray(x), jnp.asarray(lengths))),
                                      ref.logits(x, lengths))


def test_wide_widths_in_a_stack_equal_the_reference(stacks, mnist_splits):
    p, r = stacks["gru+gru"]
    x = mnist_splits.x_val[:12]
    g = np.random.default_rng(9).integers(2, 17, p.stack.n_ops).astype(np.int32)
    g[[5, 20]] = 16  # at least one wide gene in each layer
    with jax.enable_x64(True):
        got = np.asarray(int_logits(quantize(p, r, jnp.asarray(g), wide=True), jnp.asarray(x)))
    np.testing.assert_array_equal(got, Reference(export_arrays(p, r, g)).logits(x))


def test_padding_after_a_sequence_end_changes_nothing(stacks, mnist_splits):
    """Junk after each sequence's end: the float, integer, reference and QAT logits are those of
    the sequence padded with zeros, and a population scores it alike."""
    p, r = stacks["ligru+gru"]
    x = mnist_splits.x_val[:20].copy()
    lengths = _lengths(len(x), x.shape[1], seed=1)
    junk = x.copy()
    pad = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    x[pad] = 0.0
    junk[pad] = np.random.default_rng(2).normal(0, 5, junk[pad].shape)
    lj = jnp.asarray(lengths)
    np.testing.assert_array_equal(np.asarray(float_logits(p, jnp.asarray(x), lj)),
                                  np.asarray(float_logits(p, jnp.asarray(junk), lj)))
    g = np.random.default_rng(3).integers(2, 9, p.stack.n_ops).astype(np.int32)
    q = quantize(p, r, jnp.asarray(g))
    a, b = (np.asarray(int_logits(q, jnp.asarray(v), lj)) for v in (x, junk))
    np.testing.assert_array_equal(a, b)
    ref = Reference(export_arrays(p, r, g))
    np.testing.assert_array_equal(ref.logits(junk, lengths), a)
    fake = jax.jit(fake_quant_logits)
    fa, fb = (np.asarray(fake(p, r, jnp.asarray(g), jnp.asarray(v), lengths=lj)) for v in (x, junk))
    np.testing.assert_array_equal(fa, fb)
    y = np.arange(len(x)) % 10
    genomes = np.stack([g, np.full_like(g, 6)])
    np.testing.assert_array_equal(population_accuracy(p, r, genomes, x, y, lengths=lengths),
                                  population_accuracy(p, r, genomes, junk, y, lengths=lengths))
    # calibration does not see the padding either
    ca, cb = calibrate(p, x, lengths=lengths), calibrate(p, junk, lengths=lengths)
    np.testing.assert_array_equal(np.asarray(ca.hi), np.asarray(cb.hi))
    np.testing.assert_array_equal(np.asarray(ca.x_lo), np.asarray(cb.x_lo))


def test_stack_population_equals_each_alone(stacks, mnist_splits, name="ligru+gru"):
    """Scored together (P = 9: the first layer's input projections shared per width) or one by
    one, with lengths; and the counts are the reference's."""
    p, r = stacks[name]
    x, y = mnist_splits.x_val[:60], mnist_splits.y_val[:60]
    lengths = _lengths(len(x), x.shape[1], seed=4)
    genomes = np.random.default_rng(6).integers(2, 9, (9, p.stack.n_ops)).astype(np.int32)
    together = population_accuracy(p, r, genomes, x, y, batch_size=25, lengths=lengths)
    alone = np.concatenate([population_accuracy(p, r, g[None], x, y, lengths=lengths) for g in genomes[:3]])
    np.testing.assert_array_equal(together[:3], alone)
    counts = [(Reference(export_arrays(p, r, g)).logits(x, lengths).argmax(1) == y).sum() for g in genomes[:2]]
    np.testing.assert_array_equal(together[:2] * len(x), counts)


def test_exact_qat_twin_of_a_stack_is_its_integer_model(stacks, mnist_splits):
    p, r = stacks["ligru+gru"]
    x = jnp.asarray(mnist_splits.x_val[:40])
    lengths = jnp.asarray(_lengths(40, 28, seed=7))
    fake_jit, quantize_jit, int_jit = jax.jit(fake_quant_logits), jax.jit(quantize), jax.jit(int_logits)
    for g in np.random.default_rng(8).integers(2, 9, (2, p.stack.n_ops)).astype(np.int32):
        q = quantize_jit(p, r, jnp.asarray(g), 6, 5)
        for lj in (None, lengths):
            ints = np.asarray(int_jit(q, x, lj), np.float64) * float(q.logit_scale)
            fake = np.asarray(fake_jit(p, r, jnp.asarray(g), x, 6, 5, lengths=lj))
            np.testing.assert_allclose(fake, ints, rtol=1e-5, atol=1e-5 * np.abs(ints).max())
    grads = jax.grad(lambda w: fake_quant_logits(w, r, jnp.full(p.stack.n_ops, 4, jnp.int32), x).sum())(p)
    assert all(float(jnp.abs(grads[k]).max()) > 0 for k in ("l0.wx", "l0.wh", "l1.wx", "l1.wh"))  # both layers learn


def test_qat_of_a_stack_runs_per_specimen(stacks, mnist_splits):
    p, r = stacks["gru+gru"]
    x, y = mnist_splits.x_train[:64], mnist_splits.y_train[:64]
    genomes = np.stack([np.full(p.stack.n_ops, 4), np.full(p.stack.n_ops, 8)]).astype(np.int32)
    out = qat_population(p, r, genomes, x, y, epochs=1, batch_size=32, learning_rate=1e-3,
                         lengths=_lengths(64, 28))
    assert out.per_specimen and set(out.arrays) == set(p.arrays)
    assert not np.array_equal(np.asarray(out["l1.wh"][0]), np.asarray(p["l1.wh"]))  # the top layer moved too


def test_sizes_and_costs_of_a_stack_follow_its_layers():
    stack, hidden = Stack.of("gru+sru"), (16, 8)
    counts = op_counts(stack, 28, hidden, 10)
    shapes = param_shapes(stack, 28, hidden, 10)
    n_params = sum(int(np.prod(s)) for k, s in shapes.items() if k not in ("wd", "bd"))
    assert counts.params.sum() == n_params  # every weight owned by exactly one operator
    assert counts.head_params == 8 * 10 + 10
    assert counts.macs[stack.index("l1.xt")] == 16 * 8  # layer 1's input is layer 0's 16 units
    g = np.full(stack.n_ops, 8, np.int32)
    size, _ = model_size(g, stack, 28, hidden, 10)
    assert size == 8 * (n_params + counts.head_params)
    model = cost_model(stack, 28, hidden, 10, steps=28)
    g2 = g.copy()
    g2[stack.output_op(0)] = 4  # layer 0's h: read by its own recurrent linears and z * h, and by layer 1's input
    c8, c4 = (population_costs(model, v[None], stack, ("bitops",))["bitops"][0] for v in (g, g2))
    readers = [stack.index(n) for n in ("l0.hr", "l0.hz", "l0.hn", "l0.b", "l1.xt", "l1.xf", "l1.xr", "l1.xp")]
    assert c8 - c4 == pytest.approx(sum(counts.macs[k] for k in readers) * 28 * 8 * (8 - 4))


def test_gene_groups_and_tied_genomes_per_layer():
    stack = Stack.of("gru", 2)
    groups = op_groups(stack)
    assert list(groups)[:2] == ["l0.input linears", "l0.recurrent linears"] and len(groups) == 10
    assert groups["l1.input linears"] == (17, 19, 21)  # layer 1's x is layer 0's output: still its input
    full = expand(np.arange(10)[None] + 2, stack)
    assert full.shape == (1, 34) and full[0, 17] == 7
    tied = np.arange(17, dtype=np.int32) % 7 + 2
    np.testing.assert_array_equal(stack.untie(tied)[17:], tied)
    with pytest.raises(ValueError, match="same cell in every layer"):
        Stack.of("gru+sru").untie(tied)


def test_stack_settings_say_what_is_wrong():
    assert Config(layers=2, hidden="32,16").resolved_hidden() == (32, 16)
    assert Config(layers=3, hidden=8).resolved_hidden() == (8, 8, 8)
    assert Config(cell="gru+sru").resolved_stack().name == "gru+sru"
    assert str(Config(layers=2, tie_layers=True).default_out()) == "results/mnist_row_2xgru_tied"
    assert Config(layers=2, tie_layers=True).genome_length() == 17
    for cfg, match in [(Config(layers=3, hidden="32,16"), "lists 2 widths for 3 layers"),
                       (Config(layers=0), "`layers` must be >= 1"),
                       (Config(cell="gru+sru", layers=3), "names 2 layers but `layers` is 3"),
                       (Config(cell="gru+sru", tie_layers=True), "same cell in every layer")]:
        with pytest.raises(ValueError, match=match):
            cfg.check()


def test_weights_that_do_not_fit_the_stack_are_refused():
    p = _random_params(Stack.of("gru", 2), (8, 6))
    bad = ModelParams(arrays=p.arrays, stack=Stack.of("gru", 3))
    with pytest.raises(ValueError, match="do not fit a gru\\+gru\\+gru classifier"):
        check_params(bad)


def test_a_stack_trains(mnist_splits):
    s = mnist_splits
    model = train_float(s.x_train[:2000], s.y_train[:2000], cell=Stack.of("gru", 2), hidden=(24, 16), classes=10,
                        epochs=1, batch_size=64, learning_rate=5e-3)
    p = model.params()
    assert p.hidden == (24, 16) and p["l1.wx"].shape == (24, 48)
    logits = np.asarray(float_logits(p, jnp.asarray(s.x_val[:500])))
    assert np.mean(logits.argmax(1) == s.y_val[:500]) > 0.3  # learned something in one short epoch
