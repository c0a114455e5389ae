"""What a run reads back is what it wrote: every kind of saved state carries a digest of its
arrays and is refused, in one line naming the file, when it is damaged on disk; a damaged
search checkpoint falls back to the generation before it."""

import io
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxgru.cells import Stack, get_cell
from jaxgru.files import DIGEST, DamagedStateError, check_digest, tree_digest, with_digest
from jaxgru.model.calibrate import calibrate
from jaxgru.model.floating import ModelParams, param_shapes
from jaxgru.model.training import train_float
from jaxgru.runs.float_model import read_float_model, write_float_model
from jaxgru.search.beacons import Beacons
from jaxgru.search.loop import CheckpointError, run_search
from jaxgru.search.nsga2 import NSGA2


def _damage(folder, fraction=0.5):
    """Overwrites bytes in the middle of the largest file under ``folder`` (a disk error)."""
    target = max((f for f in folder.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)
    data = bytearray(target.read_bytes())
    at = int(len(data) * fraction)
    data[at : at + 16] = bytes(255 - b for b in data[at : at + 16])
    target.write_bytes(bytes(data))


def _params(seed=0, hidden=5):
    rng = np.random.default_rng(seed)
    cell = get_cell("gru")
    arrays = {k: rng.normal(0, 0.3, s).astype(np.float32) for k, s in param_shapes(cell, 3, hidden, 2).items()}
    return ModelParams(arrays=arrays, stack=Stack.of(cell))


def test_digest_is_of_the_arrays_not_their_container():
    a = {"b": {"y": np.arange(6, dtype=np.int32).reshape(2, 3)}, "a": np.float32(1.5)}
    same = {"a": np.array(1.5, np.float32), "b": {"y": np.arange(6, dtype=np.int32).reshape(2, 3)}}
    assert np.array_equal(tree_digest(a), tree_digest(same))
    for changed in ({**a, "a": np.float32(1.25)}, {**a, "a": np.float64(1.5)},
                    {**a, "b": {"y": np.arange(6, dtype=np.int32).reshape(3, 2)}},
                    {**a, "b": {"z": np.arange(6, dtype=np.int32).reshape(2, 3)}}):
        assert not np.array_equal(tree_digest(a), tree_digest(changed))
    assert check_digest(with_digest(a), "x", "y").keys() == a.keys()
    with pytest.raises(DamagedStateError, match=r"^the thing is damaged: .*; restore it\.$"):
        check_digest({**with_digest(a), "a": np.float32(2.0)}, "the thing", "restore it")
    with pytest.raises(DamagedStateError, match="carries no digest"):
        check_digest(a, "the thing", "restore it")


def test_float_model_read_back_is_checked(tmp_path):
    p = _params()
    ranges = calibrate(p, np.random.default_rng(1).random((8, 4, 3), dtype=np.float32))
    write_float_model(tmp_path / "ok", p, ranges)
    back, back_ranges = read_float_model(tmp_path / "ok", "gru")
    for k in p.arrays:
        np.testing.assert_array_equal(back.arrays[k], p.arrays[k])
    np.testing.assert_array_equal(back_ranges.hi, np.asarray(ranges.hi))
    # Arrays that differ from the digest written with them, through a real Orbax round trip.
    tree = with_digest({"params": dict(p.arrays), "ranges": {k: np.asarray(getattr(ranges, k))
                                                             for k in ("x_lo", "x_hi", "lo", "hi")}})
    tree["params"]["wd"] = tree["params"]["wd"] + 1
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save((tmp_path / "edited").absolute(), tree)
    checkpointer.wait_until_finished()
    with pytest.raises(DamagedStateError, match=r"float model checkpoint .*edited is damaged.*delete that folder"):
        read_float_model(tmp_path / "edited", "gru")
    # Bytes damaged on disk: refused, whether the container still decodes them or not.
    write_float_model(tmp_path / "disk", p, ranges)
    _damage(tmp_path / "disk")
    with pytest.raises((DamagedStateError, RuntimeError), match=r"float model checkpoint .*disk"):
        read_float_model(tmp_path / "disk", "gru")


def test_beacons_read_back_are_checked(tmp_path):
    p = _params()
    weights = jax.tree.map(lambda a: np.stack([a, a + 1]), p)
    path = tmp_path / "beacons.npz"
    Beacons.empty(17, path).add(np.zeros((2, 17), np.int32), weights, 0, np.ones(2), np.ones(2)).save()
    assert len(Beacons.load(path, p, 17)) == 2
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["ptq_accuracy"] = arrays["ptq_accuracy"] * 0.5  # edited after the digest was written
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    with pytest.raises(DamagedStateError, match=r"beacons file .*beacons.npz is damaged"):
        Beacons.load(path, p, 17)
    del arrays[DIGEST]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    with pytest.raises(DamagedStateError, match="carries no digest"):
        Beacons.load(path, p, 17)


def test_float_training_checkpoint_read_back_is_checked(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 4, 3), dtype=np.float32), rng.integers(0, 2, 64)
    kw = dict(hidden=4, classes=2, epochs=2, batch_size=32)
    train_float(x, y, **kw, checkpoint_dir=tmp_path)  # checkpoints epoch 2, the last
    _damage(tmp_path)
    with pytest.raises((DamagedStateError, RuntimeError), match="float-training checkpoint"):
        train_float(x, y, **kw, checkpoint_dir=tmp_path)


def _toy(genomes, generation):
    g = np.asarray(genomes, np.float32)
    return np.stack([g.sum(1), (3 - g).sum(1)], 1), None


def test_damaged_search_checkpoint_falls_back_to_the_generation_before(tmp_path):
    strategy = NSGA2(4, 3, 2, 0, 3)
    run = lambda g, **kw: run_search(strategy, strategy.default_params, _toy, generations=g,  # noqa: E731
                                     key=jax.random.key(0), progress=False, **kw)
    full = run(4)
    run(2, checkpoint_dir=tmp_path)  # generations 0..2; 1 and 2 kept
    _damage(tmp_path / "2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = run(4, checkpoint_dir=tmp_path, resume=True)
    assert any("Resuming from generation 1" in str(w.message) for w in caught)
    np.testing.assert_array_equal(resumed.genomes, full.genomes)
    assert [h["hypervolume"] for h in resumed.history] == [h["hypervolume"] for h in full.history]
    # With every kept generation damaged there is nothing to fall back to.
    for step in ("3", "4"):
        _damage(tmp_path / step)
    with pytest.raises(CheckpointError, match=r"search checkpoint .*delete that folder"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run(5, checkpoint_dir=tmp_path, resume=True)
