"""Delta networks: the JAX model (dense on the codes last propagated) against the NumPy reference's
incremental memories, threshold 0 against the plain model, eliminated operations counted in the
scoring call against a unit-by-unit count, the memory bound, the costs and the run."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY, data_dir, run_dir_with
from flax import nnx

from jaxgru.cells import Stack
from jaxgru.cells.genome import MAX_THRESHOLD, check_thresholds
from jaxgru.model.calibrate import calibrate
from jaxgru.model.costs import cost_model, population_costs
from jaxgru.model.counts import eliminated_shares
from jaxgru.model.export import export_arrays
from jaxgru.model.floating import Classifier
from jaxgru.model.integer import int_logits, quantize
from jaxgru.model.population import population_scores
from jaxgru.model.reference import Reference
from jaxgru.ops.primitives import BIAS_LIMIT, WIDE_BIAS_LIMIT
from jaxgru.search.nsga2 import NSGA2

_counted = jax.jit(lambda q, x, lengths: int_logits(q, x, lengths, counted=True))
_plain = jax.jit(int_logits)


def _model(stack: str, hidden, mnist_splits, seed: int = 1):
    st = Stack.of(stack)
    hidden = [hidden] * st.layers if isinstance(hidden, int) else hidden
    p = Classifier(st, 28, hidden, 10, rngs=nnx.Rngs(seed)).params()
    return st, p, calibrate(p, mnist_splits.x_train[:300])


def _draw(st: Stack, rng, n: int = 1, widths=(2, 9)):
    g = rng.integers(*widths, (n, st.n_ops)).astype(np.int32)
    t = rng.integers(0, MAX_THRESHOLD + 1, (n, len(st.delta_sources))).astype(np.int32)
    return g, t


@pytest.mark.parametrize("stack", ["gru", "lstm", "ligru", "sru", "gru+sru"])
def test_delta_model_equals_the_incremental_reference(stack, mnist_splits):
    """Random genomes and thresholds on real sequences of several lengths: the same logits, and
    the same units propagated per source as the reference counts them one by one."""
    st, p, r = _model(stack, 12 if "+" not in stack else [12, 9], mnist_splits)
    x = mnist_splits.x_val[:10]
    lengths = np.array([28, 1, 5, 28, 17, 9, 28, 2, 20, 13], np.int32)
    rng = np.random.default_rng(7)
    for g, t in zip(*_draw(st, rng, 3)):
        got, propagated = _counted(quantize(p, r, g, thresholds=t), jnp.asarray(x), jnp.asarray(lengths))
        want, counted = Reference(export_arrays(p, r, g, thresholds=t)).run(x, lengths)
        np.testing.assert_array_equal(np.asarray(got), want)
        np.testing.assert_array_equal(np.asarray(propagated), counted)
        # at least one source skipped something, or the check would not exercise the deltas
        n_units = [28 if src == "x" and layer == 0 else 12 for layer, src in st.delta_sources]
        assert (counted < int(lengths.sum()) * np.asarray(n_units)).any()


@pytest.mark.parametrize("stack", ["gru", "lstm", "ligru", "sru", "lstm+gru"])
def test_threshold_zero_is_the_plain_model(stack, mnist_splits):
    st, p, r = _model(stack, 10, mnist_splits, seed=2)
    x = mnist_splits.x_val[:8]
    g = np.random.default_rng(1).integers(2, 9, st.n_ops).astype(np.int32)
    zero = np.zeros(len(st.delta_sources), np.int32)
    plain = np.asarray(_plain(quantize(p, r, g), jnp.asarray(x)))
    delta = np.asarray(_counted(quantize(p, r, g, thresholds=zero), jnp.asarray(x), None)[0])
    np.testing.assert_array_equal(delta, plain)
    np.testing.assert_array_equal(Reference(export_arrays(p, r, g, thresholds=zero)).logits(x), plain)


def test_a_constant_input_propagates_nothing_after_the_first_step(mnist_splits):
    st, p, r = _model("gru", 12, mnist_splits)
    row = mnist_splits.x_val[:4, 14:15]  # one row of each image, held for every step
    g, t = np.full(st.n_ops, 6, np.int32), np.zeros(2, np.int32)
    q = quantize(p, r, g, thresholds=t)
    one = np.asarray(_counted(q, jnp.asarray(row), None)[1])
    many = np.asarray(_counted(q, jnp.asarray(np.repeat(row, 28, axis=1)), None)[1])
    assert one[0] > 0 and many[0] == one[0]  # the input's units: step 0 only
    assert one[1] == 0  # the state starts at its zero point: nothing to propagate at step 0


def test_population_scores_equal_each_specimen_alone_and_the_reference_count(mnist_splits):
    st, p, r = _model("gru+ligru", [12, 10], mnist_splits)
    x, y = mnist_splits.x_val[:20], mnist_splits.y_val[:20]
    lengths = np.random.default_rng(1).integers(1, 29, 20).astype(np.int32)
    genomes, thresholds = _draw(st, np.random.default_rng(0), 5)
    # chunks of 7 leave padding rows in the last chunk: they must count nothing
    together = population_scores(p, r, genomes, x, y, thresholds=thresholds, lengths=lengths, batch_size=7)
    for i in range(5):
        alone = population_scores(p, r, genomes[i:i + 1], x, y, thresholds=thresholds[i:i + 1], lengths=lengths)
        assert alone.accuracy[0] == together.accuracy[i] and alone.eliminated[0] == together.eliminated[i]
        logits, counted = Reference(export_arrays(p, r, genomes[i], thresholds=thresholds[i])).run(x, lengths)
        assert together.accuracy[i] == np.mean(np.argmax(logits, -1) == y)
        total, per_op = eliminated_shares(st, 28, [12, 10], 10, counted[None], int(lengths.sum()), len(x))
        assert together.eliminated[i] == pytest.approx(total[0], abs=1e-12)
        np.testing.assert_allclose(together.eliminated_ops[i], per_op[0], atol=1e-12)
    # per operator: a linear operator's share is its source's; no other operator skips anything
    linear = [k for k, op in enumerate(st.ops) if op.kind == "linear"]
    assert (together.eliminated_ops[:, [k for k in range(st.n_ops) if k not in linear]] == 0).all()
    assert (together.eliminated > 0).all() and (together.eliminated < 1).all()


def test_eliminated_shares_by_hand():
    """GRU, I=2, H=3, C=4, one specimen: x propagated 3 of 4 unit-steps, h 0 of 6 over 2 steps."""
    total, per_op = eliminated_shares("gru", 2, 3, 4, np.array([[3, 0]]), steps=2, sequences=1)
    x_share, h_share = 1 - 3 / 4, 1.0
    skipped = 2 * (3 * 2 * 3 * x_share + 3 * 3 * 3 * h_share)  # steps * (3 gates * I*H * share + ...)
    macs = 2 * (3 * 2 * 3 + 3 * 3 * 3 + 3 * 3) + 3 * 4  # matmuls, the 3 elementwise products, the head
    assert total[0] == pytest.approx(skipped / macs)
    assert per_op[0, 0] == x_share and per_op[0, 1] == h_share and per_op[0, 6] == 0


def test_the_memory_never_wraps_at_the_widest_widths(mnist_splits):
    """Every value a memory takes is ``W s + b`` for some vector ``s`` of valid codes (each update
    moves one unit from one valid code to another), so it obeys the dense accumulator's bound:
    below 2^31 on the 8-bit datapath for fan-ins up to 2^16, below 2^63 on the 16-bit one. The
    worst case of the bound, and a 16-bit model with saturated states against the reference."""
    fan_in = 2**16
    assert fan_in * 127 * 128 + BIAS_LIMIT < 2**31
    assert fan_in * (2**15 - 1) * 2**15 + WIDE_BIAS_LIMIT < 2**63
    st, p, r = _model("gru", 64, mnist_splits, seed=3)
    p = p.replace(arrays={k: v * 4.0 for k, v in p.arrays.items()})  # large weights: saturated gates and state
    x = mnist_splits.x_val[:6]
    g, t = np.full(st.n_ops, 16, np.int32), np.array([1, 1], np.int32)
    with jax.enable_x64(True):
        q = jax.jit(quantize, static_argnames="wide")(p, r, g, 16, 16, wide=True, thresholds=t)
        got, propagated = _counted(q, jnp.asarray(x), None)
        got = np.asarray(got)
    want, counted = Reference(export_arrays(p, r, g, 16, 16, thresholds=t)).run(x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.asarray(propagated), counted)


def test_bad_thresholds_are_refused_in_one_line():
    st = Stack.of("gru")
    with pytest.raises(ValueError, match=r"must lie in 0..7 .*found -1 for 't_h'"):
        check_thresholds(np.array([0, -1]), st)
    with pytest.raises(ValueError, match=r"found 8 for 't_x'"):
        check_thresholds(np.array([8, 0]), st)
    with pytest.raises(ValueError, match=r"one per delta source: t_x, t_h"):
        check_thresholds(np.array([1, 2, 3]), st)
    with pytest.raises(TypeError, match="integers"):
        check_thresholds(np.array([0.5, 1.0]), st)


def test_skipped_operations_cost_nothing():
    """bitops and energy count the executed MACs only; memory does not change."""
    st = Stack.of("gru")
    model = cost_model(st, 28, 32, 10, 28)
    g = np.full((2, st.n_ops), 4, np.int32)
    eliminated = np.zeros((2, st.n_ops))
    eliminated[1, [k for k, op in enumerate(st.ops) if op.kind == "linear"]] = 1.0
    dense, sparse = (population_costs(model, g[:1], st, eliminated_ops=e[None]) for e in eliminated)
    head_and_products = (3 * 32 * 28 * 16) + 32 * 10 * 4 * 8  # 3 products of 4-bit codes per unit-step, the head
    assert sparse["bitops"][0] == pytest.approx(head_and_products)
    assert dense["bitops"][0] > sparse["bitops"][0] and sparse["memory"][0] == dense["memory"][0]
    assert sparse["silago_energy"][0] < dense["silago_energy"][0]
    # a speed-up: the executed MACs' mean rate times the work's reduction (here every matmul skipped)
    products, head = 3 * 32 * 28, 32 * 10  # 4 x 4-bit products run in SiLago's 4-bit mode (4x), the head 8-bit (2x)
    mean_rate = (products * 4 + head * 2) / (products + head)
    assert sparse["silago_speedup"][0] == pytest.approx(mean_rate * model.macs.sum() / (products + head))


def test_nsga2_keeps_each_gene_within_its_own_bound():
    strategy = NSGA2(8, 5, 2, 0, (6, 6, 6, 7, 1))
    params = strategy.default_params
    key = jax.random.key(0)
    state = strategy.init(key, params)
    upper = np.array([6, 6, 6, 7, 1])
    asked = []
    for g in range(10):
        k1, k2 = jax.random.split(jax.random.fold_in(key, g))
        x, state = strategy.ask(k1, state, params)
        x = np.asarray(x)
        assert (x >= 0).all() and (x <= upper).all()
        f = np.stack([x.sum(1), -x[:, 3]], 1).astype(np.float32)
        state, _ = strategy.tell(k2, x, f, state, params)
        asked.append(x)
    asked = np.concatenate(asked)
    assert 7 in asked[:, 3] and set(asked[:, 4]) == {0, 1}  # each gene's whole range is used


def test_a_delta_search_writes_thresholds_and_eliminated_operations(tiny_float_model, tmp_path):
    from jaxgru.runs.cli import main

    out = run_dir_with(tiny_float_model, tmp_path / "run")
    args = TINY + ["--data-dir", str(data_dir()), "--out", str(out), "--delta", "search",
                   "--objectives", "error,size,eliminated_ops"]
    assert main(args) == 0
    header = (out / "evaluated.csv").read_text().splitlines()[0].split(",")
    assert header[18:20] == ["t_x", "t_h"] and "eliminated_ops" in header
    front = json.loads((out / "front.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["delta"] == "search" and all(0 <= t <= MAX_THRESHOLD for f in front for t in f["thresholds"])
    # the front's eliminated shares are the ones the reference counts on the validation data
    from jaxgru.runs.cli import parse_args
    from jaxgru.runs.prepare import prepare

    prep = prepare(*parse_args(args + ["--resume"]))
    f = front[0]
    _, counted = Reference(export_arrays(prep.params, prep.ranges, np.array(f["bits"], np.int32),
                                         thresholds=np.array(f["thresholds"], np.int32))).run(prep.x_val)
    total, _ = eliminated_shares(prep.params.stack, 28, 16, 10, counted[None], prep.x_val.size // 28,
                                 len(prep.x_val))
    assert f["eliminated_ops"] == pytest.approx(total[0], abs=1e-9)
    # interrupted after generation 1 and resumed: the same genomes, scores and eliminated shares
    before = (out / "evaluated.csv").read_text(), (out / "front.json").read_text()
    shutil.rmtree(out / "checkpoints" / "2")
    for name in ("summary.json", "front.json", "evaluated.csv"):
        (out / name).unlink()
    assert main(args + ["--resume"]) == 0
    assert ((out / "evaluated.csv").read_text(), (out / "front.json").read_text()) == before


def test_tied_layers_share_thresholds_and_fixed_thresholds_fill_every_source():
    from types import SimpleNamespace

    from jaxgru.cells.genome import DEFAULT_WIDTHS
    from jaxgru.runs.config import Config
    from jaxgru.runs.prepare import Prepared

    def decode(cfg: Config, genes):
        prep = SimpleNamespace(cfg=cfg, params=SimpleNamespace(stack=cfg.resolved_stack()), widths=DEFAULT_WIDTHS)
        prep.genomes = lambda g: Prepared.genomes(prep, g)
        return Prepared.decode(prep, np.asarray(genes))

    tied = Config(layers=2, tie_layers=True, delta="search")
    assert tied.genome_length() == 17 and tied.threshold_genes() == 2
    genomes, t = decode(tied, [[0] * 17 + [3, 5]])
    assert genomes.shape == (1, 34) and (genomes == 2).all() and t.tolist() == [[3, 5, 3, 5]]
    genomes, t = decode(Config(cell="gru+sru", delta="fixed:4"), [[6] * 36])
    assert (genomes == 8).all() and t.tolist() == [[4, 4, 4]] and Config(delta="fixed:4").threshold_genes() == 0
    assert decode(Config(), [[1] * 17])[1] is None


def test_counting_needs_a_delta_model(mnist_splits):
    st, p, r = _model("gru", 8, mnist_splits)
    with pytest.raises(ValueError, match="needs a delta model"):
        int_logits(quantize(p, r, np.full(17, 4, np.int32)), jnp.asarray(mnist_splits.x_val[:2]), counted=True)


@pytest.mark.parametrize("argv, message", [
    (["--delta", "fixed:9"], "delta must be off, search or fixed:T with T in 0..7"),
    (["--objectives", "error,size,eliminated_ops"], "eliminated_ops needs delta networks: set --delta"),
    (["--delta", "search", "--strategy", "simple_ga", "--objectives", "error,size", "--max-error", "0.1"],
     "only NSGA-II takes"),
])
def test_bad_delta_settings_are_one_line(argv, message, tmp_path, capsys):
    from jaxgru.runs.cli import main

    try:
        code = main(TINY + ["--data-dir", str(data_dir()), "--out", str(tmp_path / "r")] + argv)
    except SystemExit as err:  # argparse's own refusal
        code = err.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
