"""The cell declarations and every backend that walks them, for the GRU, LSTM, LiGRU and SRU.

Independence: the float models are checked against implementations that do not read the
declaration (Flax's own GRU and LSTM cells, LiGRU and SRU written out from their equations
below), and the integer models against the NumPy reference's own int64 kernels.
"""

import dataclasses
import inspect
import json

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import data_dir
from flax import nnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxgru.cells import CELLS, Stack, get_cell
from jaxgru.cells.declaration import Cell, Op
from jaxgru.cells.genome import check_genomes
from jaxgru.model import counts as size
from jaxgru.model import reference
from jaxgru.model.calibrate import calibrate
from jaxgru.model.export import export_arrays
from jaxgru.model.floating import Classifier, ModelParams, float_logits, param_shapes
from jaxgru.model.integer import int_logits, quantize
from jaxgru.model.population import population_accuracy, population_logits
from jaxgru.model.qat import fake_quant_logits
from jaxgru.model.reference import Reference
from jaxgru.model.training import float_accuracy, train_float
from jaxgru.ops.kinds import ELEM_MAX_SHIFT, ELEM_MULT_BITS, GROUPS, KINDS, OperatorKind, missing_fields
from jaxgru.ops.primitives import acc_dtype, fixed_point, rounding_shift

NAMES = ("gru", "lstm", "ligru", "sru")
N_OPS = {"gru": 17, "lstm": 21, "ligru": 12, "sru": 19}


def test_declared_cells_and_their_genomes():
    assert set(CELLS) == set(NAMES)
    for name, n in N_OPS.items():
        cell = get_cell(name)
        assert cell.n_ops == n and len(set(cell.op_names)) == n
    assert get_cell("gru").op_names[:6] == ("xr", "hr", "xz", "hz", "xn", "hn")  # the paper's gene order
    assert get_cell("lstm").states == ("h", "c") and get_cell("sru").states == ("c",)
    assert get_cell("sru").sources == ("x",)  # no matrix product on the state
    assert get_cell("gru").input_ops == (0, 2, 4) and get_cell("lstm").input_ops == (0, 2, 4, 6)


def test_every_kind_is_described_in_full():
    """Each kind's one record holds every part a backend reads, consistent with its arity, and
    the NumPy reference has its own kernel for it."""
    for name, kind in KINDS.items():
        assert kind.name == name and missing_fields(kind) == [], name
        assert len(inspect.signature(kind.float_fn).parameters) == 1 + kind.arity, name
        assert len(inspect.signature(kind.evaluate).parameters) == 1 + kind.arity, name
        assert len(inspect.signature(kind.prepare).parameters) == 2, name
        params, macs, elementwise = kind.counts(7, 5)
        assert all(isinstance(v, int) and v >= 0 for v in (params, macs, elementwise)), name
        assert params == sum(int(np.prod(p.dims(7, 5))) for p in kind.owns), name  # counts what it owns
        assert kind.multiplies == () or (len(kind.multiplies) == 2 and set(kind.multiplies) <= {"self", 0, 1}), name
        assert (macs > 0) == (kind.multiplies != ()), name  # MACs exactly where the costs see a product
        assert kind.group in GROUPS, name
        assert all(p.quant in ("weight", "bias") and set(p.shape) <= {"I", "H"} for p in kind.owns), name
        assert (kind.table is None) or kind.owns == (), name
        assert name in reference.KERNELS, f"no reference kernel for {name}"
    broken = dataclasses.replace(KINDS["mul"], counts=None)
    assert missing_fields(broken) == ["counts"]


def _square_kind() -> OperatorKind:
    """A made-up kind, ``a * a``: the record a contributor would write."""
    def prepare(qz, owned):
        m, s = fixed_point(qz.in_scale[0] * qz.in_scale[0] / qz.scale, bits=ELEM_MULT_BITS, max_shift=ELEM_MAX_SHIFT)
        return {"mult": m, "shift": s}

    def evaluate(c, qa):
        d = (qa - c["in_zero"][0]).astype(acc_dtype(c["wide"]))
        return jnp.clip(c["zero"] + rounding_shift(d * d * c["mult"], c["shift"]), c["qmin"], c["qmax"]).astype(
            jnp.int32)

    return OperatorKind(name="square", arity=1, doc="a * a", owns=(), fused=False, float_fn=lambda w, a: a * a,
                        prepare=prepare, evaluate=evaluate, table=None, counts=lambda fan_in, h: (0, h, 0),
                        multiplies=(0, 0), group="products")


def _square_reference(a, k, name, srcs, qa):
    """Its NumPy reference kernel, written apart from the record."""
    d = qa - np.int64(a["zero"][srcs[0]])
    acc = d * d * np.int64(a["mult"][k]) + (np.int64(1) << (np.int64(a["shift"][k]) - 1))
    return np.clip(np.int64(a["zero"][k]) + (acc >> np.int64(a["shift"][k])), a["qmin"][k], a["qmax"][k])


def test_a_new_kind_is_one_record_and_one_reference_kernel(monkeypatch, mnist_splits):
    with pytest.raises(ValueError, match="unknown kind"):
        Cell("sq", ("h",), (Op("xh", "linear", ("x",)), Op("s", "square", ("xh",)), Op("h", "tanh", ("s",))), "h")
    monkeypatch.setitem(KINDS, "square", _square_kind())
    monkeypatch.setitem(reference.KERNELS, "square", _square_reference)
    sq = Cell("sq", ("h",), (
        Op("xh", "linear", ("x",)), Op("hh", "linear", ("h",)), Op("p", "add", ("xh", "hh")),
        Op("s", "square", ("p",)), Op("h", "tanh", ("s",))), "h")
    p = Classifier(sq, 28, 12, 10, rngs=nnx.Rngs(1)).params()
    x = mnist_splits.x_val[:12]
    r = calibrate(p, mnist_splits.x_train[:200])
    assert float(r.hi[sq.index("s")]) >= 0 and float(r.lo[sq.index("s")]) >= 0  # the float model ran a * a
    for g in np.random.default_rng(3).integers(2, 9, (3, sq.n_ops)).astype(np.int32):
        got = np.asarray(int_logits(quantize(p, r, g), jnp.asarray(x)))
        np.testing.assert_array_equal(got, Reference(export_arrays(p, r, g), cell=sq).logits(x))
    counts = size.op_counts(sq, 28, 12, 10)
    assert counts.macs[sq.index("s")] == 12
    monkeypatch.delitem(reference.KERNELS, "square")
    with pytest.raises(ValueError, match="no reference kernel for kind 'square'"):
        Reference(export_arrays(p, r, g), cell=sq)


def test_bad_declarations_are_refused():
    ok = (Op("xh", "linear", ("x",)), Op("h", "tanh", ("xh",)))
    Cell("fine", ("h",), ok, "h")
    with pytest.raises(ValueError, match="never assigned"):
        Cell("bad", ("h", "c"), ok, "h")
    with pytest.raises(ValueError, match="'q' is not defined"):
        Cell("bad", ("h",), (Op("xh", "linear", ("x",)), Op("h", "add", ("xh", "q"))), "h")
    with pytest.raises(ValueError, match="previous value"):
        Cell("bad", ("h",), ok + (Op("hh", "linear", ("h",)),), "h")
    with pytest.raises(ValueError, match="unknown kind"):
        Cell("bad", ("h",), (Op("xh", "linear", ("x",)), Op("h", "softplus", ("xh",))), "h")
    with pytest.raises(ValueError, match="only linear operators read the input"):
        Cell("bad", ("h",), (Op("xh", "linear", ("x",)), Op("h", "add", ("xh", "x"))), "h")


def test_unknown_cell_and_wrong_genome_length_say_what_fits():
    with pytest.raises(ValueError, match="unknown cell 'lsmt'.*gru.*lstm"):
        get_cell("lsmt")
    with pytest.raises(ValueError, match=r"shape \[21\] or \[P, 21\] for the lstm cell"):
        check_genomes(np.full(17, 8), get_cell("lstm"))
    with pytest.raises(ValueError, match="operator 'vfc' of sru"):
        check_genomes(np.array([8] * 4 + [17] + [8] * 14), get_cell("sru"))


# --- the float models against implementations that do not read the declaration ------------

def _random_params(cell, n_in=5, hidden=6, classes=3, seed=0) -> ModelParams:
    rng = np.random.default_rng(seed)
    shapes = param_shapes(cell, n_in, hidden, classes)
    return ModelParams(arrays={k: rng.normal(0, 0.5, s).astype(np.float32) for k, s in shapes.items()},
                       stack=Stack.of(cell))


def _sig(v):
    return 1 / (1 + np.exp(-v))


def _by_equations(name: str, w: dict, x: np.ndarray) -> np.ndarray:
    """LiGRU and SRU written out from their papers' equations, in NumPy; returns the logits."""
    hidden = w["wd"].shape[0]
    h = np.zeros((x.shape[0], hidden))
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        xt = x[:, t]
        if name == "ligru":  # Ravanelli et al. 2018, eq. (7)-(9), without batch normalization
            gx, gh = xt @ w["wx"] + w["bx"], h @ w["wh"] + w["bh"]
            z = _sig(gx[:, :hidden] + gh[:, :hidden])
            cand = np.maximum(gx[:, hidden:] + gh[:, hidden:], 0)
            h = z * h + (1 - z) * cand
        else:  # SRU, Lei et al. 2018: f, r read c_{t-1} through v_f, v_r; x' = W_p x
            xt_, xf, xr, xp = np.split(xt @ w["wx"] + w["bx"], 4, axis=-1)
            f = _sig(xf + w["v_vfc"] * c)
            r = _sig(xr + w["v_vrc"] * c)
            c = f * c + (1 - f) * xt_
            h = r * np.tanh(c) + (1 - r) * xp
    return h @ w["wd"] + w["bd"]


def _flax_logits(name: str, w: dict, x: np.ndarray) -> np.ndarray:
    """Flax's GRUCell / LSTMCell loaded with the same weights (our extra biases moved where
    Flax has one: GRU b_hr, b_hz into b_ir, b_iz; LSTM b_x into b_h)."""
    hidden = w["wd"].shape[0]
    cols = lambda a, g: a[..., g * hidden : (g + 1) * hidden]  # noqa: E731
    if name == "gru":
        cell = fnn.GRUCell(features=hidden)
        p = {}
        for g, gate in enumerate("rzn"):
            p[f"i{gate}"] = {"kernel": cols(w["wx"], g), "bias": cols(w["bx"], g) + (cols(w["bh"], g) if g < 2 else 0)}
            p[f"h{gate}"] = {"kernel": cols(w["wh"], g)}
        p["hn"]["bias"] = cols(w["bh"], 2)
        carry = jnp.zeros((x.shape[0], hidden))
    else:
        cell = fnn.LSTMCell(features=hidden)
        p = {}
        for g, gate in enumerate("ifgo"):
            p[f"i{gate}"] = {"kernel": cols(w["wx"], g)}
            p[f"h{gate}"] = {"kernel": cols(w["wh"], g), "bias": cols(w["bx"], g) + cols(w["bh"], g)}
        carry = (jnp.zeros((x.shape[0], hidden)), jnp.zeros((x.shape[0], hidden)))
    for t in range(x.shape[1]):
        carry, out = cell.apply({"params": p}, carry, jnp.asarray(x[:, t]))
    return np.asarray(out) @ w["wd"] + w["bd"]


@pytest.mark.parametrize("name", NAMES)
def test_float_model_matches_an_independent_implementation(name):
    p = _random_params(get_cell(name), seed=NAMES.index(name))
    x = np.random.default_rng(9).normal(0, 1, (4, 7, 5)).astype(np.float32)
    w = {k: np.asarray(v, np.float64) for k, v in p.arrays.items()}
    want = _flax_logits(name, w, x) if name in ("gru", "lstm") else _by_equations(name, w, x.astype(np.float64))
    np.testing.assert_allclose(np.asarray(float_logits(p, jnp.asarray(x))), want, rtol=1e-4, atol=1e-4)


# --- every cell, trained briefly on MNIST rows ----------------------------------------------

@pytest.fixture(scope="module")
def cell_models(mnist_splits):
    s = mnist_splits
    out = {}
    for name in NAMES:
        # The SRU (no matrix product on the state) learns MNIST rows slowly: a larger step.
        p = train_float(s.x_train[:12000], s.y_train[:12000], cell=name, hidden=32, classes=10, epochs=3,
                        learning_rate=1e-2 if name == "sru" else 2e-3, seed=1).params()
        out[name] = (p, calibrate(p, s.x_train[:1000]))
    return out


genome_st = st.lists(st.integers(2, 8), min_size=21, max_size=21)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(genome=genome_st, io=st.sampled_from([(8, 8), (3, 5), (7, 3), (5, 7)]))
def test_jax_integer_model_equals_numpy_reference(cell_models, mnist_splits, name, genome, io):
    """Bit-identical logits for random genomes on real MNIST sequences, odd I/O widths included."""
    p, r = cell_models[name]
    g = np.array(genome[: p.stack.n_ops], np.int32)
    x = mnist_splits.x_val[:24]
    q = jax.jit(quantize)(p, r, jnp.asarray(g), io[0], io[1])
    want = Reference(export_arrays(p, r, g, input_bits=io[0], head_bits=io[1])).logits(x)
    np.testing.assert_array_equal(np.asarray(jax.jit(int_logits)(q, jnp.asarray(x))), want)


@pytest.mark.parametrize("name", NAMES)
def test_integer_model_equals_reference_at_odd_shapes(name):
    """Input 5 features, hidden 7, 3 classes, random weights: no shape is a power of two."""
    cell = get_cell(name)
    p = _random_params(cell, n_in=5, hidden=7, classes=3, seed=11)
    x = np.random.default_rng(12).normal(0, 1, (9, 6, 5)).astype(np.float32)
    r = calibrate(p, x)
    for g in np.random.default_rng(13).integers(2, 9, (6, cell.n_ops)).astype(np.int32):
        got = np.asarray(int_logits(quantize(p, r, g, 3, 5), jnp.asarray(x)))
        np.testing.assert_array_equal(got, Reference(export_arrays(p, r, g, input_bits=3, head_bits=5)).logits(x))


@pytest.mark.parametrize("name", NAMES)
def test_8bit_ptq_close_to_float(cell_models, mnist_splits, name):
    p, r = cell_models[name]
    x, y = mnist_splits.x_val[:1000], mnist_splits.y_val[:1000]
    acc_float = float_accuracy(p, x, y)
    (acc8,) = population_accuracy(p, r, np.full((1, p.stack.n_ops), 8, np.int32), x, y)
    assert acc_float > 0.5, f"the {name} fixture did not train ({acc_float})"
    assert abs(acc8 - acc_float) <= 0.015, (acc8, acc_float)


@pytest.mark.parametrize("name", NAMES)
def test_population_at_once_equals_each_alone(cell_models, mnist_splits, name):
    p, r = cell_models[name]
    x = mnist_splits.x_val[:32]
    genomes = np.random.default_rng(3).integers(2, 9, (10, p.stack.n_ops)).astype(np.int32)  # > 7: shared inputs
    together = np.asarray(jax.jit(population_logits, static_argnames="block")(
        p, r, jnp.asarray(genomes), jnp.asarray(x), 8, 8, block=4))
    for g, got in zip(genomes, together):
        np.testing.assert_array_equal(got, np.asarray(int_logits(quantize(p, r, g), jnp.asarray(x))))


@pytest.mark.parametrize("name", NAMES)
def test_exact_qat_forward_is_the_integer_model(cell_models, mnist_splits, name):
    p, r = cell_models[name]
    x = jnp.asarray(mnist_splits.x_val[:200])
    for g in np.random.default_rng(4).integers(2, 9, (3, p.stack.n_ops)).astype(np.int32):
        q = quantize(p, r, g, 6, 5)
        ints = np.asarray(int_logits(q, x), np.float64) * float(q.logit_scale)
        fake = np.asarray(fake_quant_logits(p, r, jnp.asarray(g), x, 6, 5))
        np.testing.assert_allclose(fake, ints, rtol=1e-5, atol=1e-5 * np.abs(ints).max())
    grads = jax.grad(lambda w: fake_quant_logits(w, r, jnp.full(p.stack.n_ops, 4, jnp.int32), x).sum())(p)
    assert all(bool(jnp.isfinite(leaf).all()) for leaf in jax.tree.leaves(grads))
    assert float(jnp.abs(grads["wx"]).max()) > 0


def test_a_new_cell_is_one_declaration(mnist_splits):
    """A made-up cell using every operator kind runs through the float model, calibration, the
    integer model and the reference with no other code."""
    toy = Cell("toy", ("h",), (
        Op("xa", "linear", ("x",)), Op("ha", "linear", ("h",)), Op("xb", "linear", ("x",)),
        Op("s", "add", ("xa", "ha")), Op("g", "sigmoid", ("s",)), Op("u", "relu", ("xb",)),
        Op("vh", "scale", ("h",)), Op("t", "tanh", ("vh",)), Op("og", "sub1", ("g",)),
        Op("a", "mul", ("og", "u")), Op("b", "mul", ("g", "t")), Op("h", "add", ("a", "b")),
    ), "h")
    assert {op.kind for op in toy.ops} == set(KINDS)
    model_ = Classifier(toy, 28, 16, 10, rngs=nnx.Rngs(0))
    p = model_.params()
    x = mnist_splits.x_val[:16]
    r = calibrate(p, mnist_splits.x_train[:200])
    for g in np.random.default_rng(5).integers(2, 9, (4, toy.n_ops)).astype(np.int32):
        got = np.asarray(int_logits(quantize(p, r, g), jnp.asarray(x)))
        np.testing.assert_array_equal(got, Reference(export_arrays(p, r, g), cell=toy).logits(x))


def test_sizes_and_counts_from_the_declaration():
    gru, sru, lstm = get_cell("gru"), get_cell("sru"), get_cell("lstm")
    c = size.op_counts(sru, n_in=3, hidden=4, n_classes=2)
    # four input projections (3*4 + 4 each), two per-unit vectors (4 each), nothing else
    assert c.params.tolist() == [16] * 4 + [4, 0, 0, 4] + [0] * 11 and c.head_params == 10
    assert c.macs[sru.index("fc")] == 4 and c.macs[sru.index("xt")] == 12
    assert size.op_counts(gru, 28, 128, 10).params.sum() + 1290 == 61962  # torch.nn.GRU(28, 128) + Linear(128, 10)
    assert size.op_counts(lstm, 28, 128, 10).params.sum() == 4 * (28 * 128 + 128 * 128 + 2 * 128)  # torch.nn.LSTM
    bits, fitness = size.model_size(np.full(19, 8), sru, 3, 4, 2)
    assert bits == 8 * (4 * 16 + 8 + 10) and fitness == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["lstm"])  # the others' runs: test_delta (GRU), test_own_data (stacks)
def test_run_with_another_cell_writes_every_output(tmp_path, name):
    from jaxgru.runs import cli as run
    out = tmp_path / name
    args = ["--task", "mnist_row", "--cell", name, "--hidden", "8", "--population", "4", "--generations", "1",
            "--epochs", "1", "--train-size", "1000", "--calib-size", "200", "--val-size", "100", "--test-size", "100",
            "--mode", "ptq", "--quiet", "--data-dir", str(data_dir()), "--out", str(out)]
    assert run.main(args) == 0
    for f in ("config.json", "front.json", "baseline.json", "evaluated.csv", "history.csv", "pareto.png",
              "history.png", "summary.json"):
        assert (out / f).is_file(), f
    n = N_OPS[name]
    assert json.loads((out / "config.json").read_text())["cell"] == name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cell"] == name
    assert all(len(b["bits"]) == n for b in json.loads((out / "baseline.json").read_text()))
    header = (out / "evaluated.csv").read_text().splitlines()[0].split(",")
    assert header[1:1 + n] == [f"b{k}_{op}" for k, op in enumerate(get_cell(name).op_names)]
    # the float model of another cell in the same folder is refused, naming both
    assert run.main(args[:3] + ["gru"] + args[4:]) == 2
