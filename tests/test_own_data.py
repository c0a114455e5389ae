"""The user's own data (``--task npz:PATH``), variable lengths and stacks through a whole run, and a
model trained in PyTorch searched from the command line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from jaxgru.data.tasks import get_task
from jaxgru.data.user_data import save_task_file, splits_from_arrays, task_from_arrays
from jaxgru.runs.cli import main as run_main


def _arrays(n=300, steps=10, features=4, classes=3, seed=0, lengths=True):
    """A learnable toy task: the class is which feature carries a bump, somewhere in the valid steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    lens = rng.integers(3, steps + 1, n) if lengths else np.full(n, steps)
    x = rng.normal(0, 0.3, (n, steps, features)).astype(np.float32)
    for i in range(n):
        x[i, rng.integers(0, lens[i]), y[i]] += 2.0
        x[i, lens[i]:] = 0.0
    out = {"x_train": x, "y_train": y}
    if lengths:
        out["lengths_train"] = lens
    return out


def test_a_task_file_reads_its_shapes_and_holds_out_what_it_lacks(tmp_path):
    path = save_task_file(tmp_path / "toy.npz", **_arrays())
    task = get_task(f"npz:{path}")
    assert (task.name, task.steps, task.features, task.classes) == ("npz_toy", 10, 4, 3)
    s = task.load()
    assert len(s.x_val) == len(s.x_test) == 30 and len(s.x_train) == 240
    assert "a random 10% of x_train" in s.source
    assert s.lengths("val").shape == (30,) and s.lengths("test").max() <= 10
    together = np.concatenate([s.x_train, s.x_val, s.x_test])
    assert len(np.unique(together.reshape(300, -1), axis=0)) == 300  # a partition: no sequence twice
    given, _ = splits_from_arrays({**_arrays(lengths=False), "x_val": np.zeros((5, 10, 4), np.float32),
                                   "y_val": np.arange(5) % 3})
    assert len(given.x_val) == 5 and len(given.x_test) == 30 and given.lengths("train") is None


@pytest.mark.parametrize("change,match", [
    (lambda a: a.pop("x_train"), "no array 'x_train'"),
    (lambda a: a.update(x_train=(a["x_train"] * 10).astype(np.int32)), "dtype int32; features must be floating"),
    (lambda a: a.update(y_train=a["y_train"][:-1]), "299 labels for the 300 sequences"),
    (lambda a: a.update(y_train=a["y_train"] - 1), "holds label -1"),
    (lambda a: a["x_train"].__setitem__((4, 2, 1), np.inf), "NaN or infinite value.*sequence 4, step 2"),
    (lambda a: a.update(x_val=a["x_train"][:3]), "x_val is given without y_val"),
    (lambda a: a.update(lengths_train=a["lengths_train"] + 10), "lengths_train must lie in 1..10"),
    (lambda a: a.update(x_train=a["x_train"][:, :, 0]), r"must be \[N, T, F\]"),
    (lambda a: a.update(extra=np.zeros(3)), "unexpected array"),
])
def test_each_bad_file_gets_one_line(tmp_path, change, match):
    arrays = _arrays()
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match) as err:
        get_task(f"npz:{tmp_path / 'bad.npz'}")
    assert "\n" not in str(err.value)


def test_a_missing_or_unreadable_file_says_so(tmp_path, capsys):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read the task file"):
        get_task(f"npz:{tmp_path / 'junk.npz'}")
    assert run_main(["--task", f"npz:{tmp_path / 'none.npz'}", "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_stacked_tied_run_on_own_data_with_lengths(tmp_path):
    """A 2-layer GRU with tied widths on a file task with lengths: every output written, the
    front's genomes full (34 genes) and equal in both layers. (QAT of a stack with lengths:
    ``tests/test_stacks.py``.)"""
    path = save_task_file(tmp_path / "toy.npz", **_arrays())
    out = tmp_path / "run"
    rc = run_main(["--task", f"npz:{path}", "--layers", "2", "--hidden", "8,6", "--tie-layers", "--mode", "ptq",
                   "--population", "6", "--generations", "2",
                   "--epochs", "2", "--batch-size", "32", "--learning-rate", "0.01", "--out", str(out), "--quiet"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cell"] == "gru+gru" and summary["layers"] == 2 and summary["tie_layers"]
    front = json.loads((out / "front.json").read_text())
    assert all(len(f["bits"]) == 34 and f["bits"][:17] == f["bits"][17:] for f in front)
    header = (out / "evaluated.csv").read_text().splitlines()[0].split(",")
    assert "b17_l1.xr" in header and summary["float_val_accuracy"] > 0.5  # the toy task is learnable


def test_a_pytorch_model_searched_from_the_command_line(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from torch import nn

    from jaxgru.model.floating import float_logits
    from jaxgru.model.from_torch import import_torch

    path = save_task_file(tmp_path / "toy.npz", **_arrays(lengths=False))
    torch.manual_seed(0)
    rnn, fc = nn.GRU(4, 7, num_layers=2, batch_first=True), nn.Linear(7, 3)
    model = nn.ModuleDict({"rnn": rnn, "fc": fc})
    torch.save(model.state_dict(), tmp_path / "model.pt")
    common = ["--task", f"npz:{path}", "--torch-model", str(tmp_path / "model.pt"), "--population", "4",
              "--generations", "1", "--mode", "ptq", "--quiet"]
    assert run_main(common + ["--layers", "2", "--hidden", "7", "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    val = get_task(f"npz:{path}").load()
    with torch.no_grad():
        out, _ = rnn(torch.from_numpy(val.x_val))
        want = float(np.mean(fc(out[:, -1]).argmax(1).numpy() == val.y_val))
    assert summary["float_val_accuracy"] == pytest.approx(want)  # the imported model is PyTorch's
    assert np.asarray(float_logits(import_torch(tmp_path / "model.pt"), val.x_val[:2])).shape == (2, 3)
    # rerun from its config.json without its saved float model (as committed, where it is not in
    # git): the float model is imported again from the same file, and the run is identical
    capsys.readouterr()
    shutil.rmtree(tmp_path / "run" / "float_model")
    assert run_main(["--reproduce", str(tmp_path / "run"), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "identical" in said and "imported again from the PyTorch model" in said
    # a run that describes another model is refused in one line
    assert run_main(common + ["--layers", "2", "--hidden", "8", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds a 2-layer GRU+GRU(7,7) but the run describes a GRU+GRU(8,8)" in err and "\n" not in err


def test_arrays_in_python_make_the_same_task():
    task = task_from_arrays("toy", _arrays())
    assert task.classes == 3 and task.load().x_train.dtype == np.float32


def test_reproduce_says_identical_or_names_the_first_difference(tiny_float_model, tmp_path, capsys):
    """``run.py --reproduce DIR`` on a tiny run: identical; after a setting was changed behind the
    run's back (its config.json edited), the first difference is named."""
    from conftest import TINY, data_dir, run_dir_with

    run = run_dir_with(tiny_float_model, tmp_path / "run")
    assert run_main(TINY + ["--data-dir", str(data_dir()), "--out", str(run)]) == 0
    again = run_dir_with(tiny_float_model, tmp_path / "again")  # the float model is not what is checked here
    assert run_main(["--reproduce", str(run), "--out", str(again), "--data-dir", str(data_dir()), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "identical" in out and "environment: the same" in out
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "seed": 1}))
    env = json.loads((run / "environment.json").read_text())  # as if the data had been made otherwise
    (run / "environment.json").write_text(json.dumps({**env, "data": {**env["data"], "x_train": "0" * 16}}))
    other = run_dir_with(tiny_float_model, tmp_path / "other")
    assert run_main(["--reproduce", str(run), "--out", str(other), "--data-dir", str(data_dir()), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "differs, first at summary.json:" in out
    assert f"environment differs: data.x_train: {'0' * 16} -> {env['data']['x_train']}" in out


def test_reproduce_starts_from_the_saved_float_model(tiny_float_model, tmp_path, capsys):
    """A run folder that holds its float model is rerun from it (so a search reproduces whatever
    trained the model); ``--retrain-float`` trains it again from the settings. The run here
    searched seed 0's float model with seed 1, which retraining cannot give back."""
    from conftest import TINY, data_dir, run_dir_with

    data = ["--data-dir", str(data_dir())]
    run = run_dir_with(tiny_float_model, tmp_path / "run")
    assert run_main(TINY + data + ["--seed", "1", "--out", str(run)]) == 0
    assert run_main(["--reproduce", str(run), "--out", str(tmp_path / "saved"), "--quiet"] + data) == 0
    out = capsys.readouterr().out
    assert "identical" in out and "float model: the run's own" in out
    again = ["--reproduce", str(run), "--retrain-float", "--out", str(tmp_path / "again"), "--quiet"]
    assert run_main(again + data) == 1
    out = capsys.readouterr().out
    assert "differs, first at summary.json" in out and "float model: trained again" in out


def test_environment_records_versions_cpus_and_data_digests():
    """What environment.json holds, and that a changed array, package or flag is named."""
    from jaxgru.data.tasks import Splits
    from jaxgru.runs.environment import array_digest, environment, environment_differences

    x = np.zeros((4, 3, 2), np.float32)
    splits = Splits(x, np.zeros(4, np.int32), x, np.zeros(4, np.int32), x, np.zeros(4, np.int32))
    env = environment(splits)
    assert env["packages"]["jax"] and env["cpus"] >= 1 and set(env["data"]) == {
        "x_train", "y_train", "x_val", "y_val", "x_test", "y_test"}
    assert array_digest(x) != array_digest(x.reshape(4, 6)) != array_digest(x.astype(np.float64))
    assert set(env["cpu"]) == {"model", "vector"}
    changed = {**env, "packages": {**env["packages"], "jax": "0.0.1"}, "cpus": env["cpus"] + 1,
               "cpu": {**env["cpu"], "vector": "avx avx2"}}
    assert environment_differences(env, changed) == [f"cpu.vector: {env['cpu']['vector']} -> avx avx2",
                                                     f"cpus: {env['cpus']} -> {env['cpus'] + 1}",
                                                     f"packages.jax: {env['packages']['jax']} -> 0.0.1"]
    assert environment_differences(env, env) == []


def test_a_float_model_made_elsewhere_is_recorded_in_the_run(tiny_float_model, tmp_path):
    """The float model's folder holds the environment that made it; a run that starts from a copy
    made elsewhere records that environment as ``float_model`` in its own environment.json."""
    from conftest import TINY, data_dir, run_dir_with

    from jaxgru.files import write_json
    from jaxgru.runs.float_model import made_in

    here = run_dir_with(tiny_float_model, tmp_path / "here")
    assert run_main(TINY + ["--data-dir", str(data_dir()), "--out", str(here)]) == 0
    origin = made_in(here / "float_model")
    assert origin["cpu"] and origin["packages"]["jax"]
    assert "float_model" not in json.loads((here / "environment.json").read_text())  # made in this environment
    there = run_dir_with(tiny_float_model, tmp_path / "there")
    elsewhere = {**origin, "cpu": {"model": "another CPU", "vector": "avx avx2"}}
    write_json(there / "float_model" / "environment.json", elsewhere)
    assert run_main(TINY + ["--data-dir", str(data_dir()), "--out", str(there)]) == 0
    env = json.loads((there / "environment.json").read_text())
    assert env["float_model"] == elsewhere and env["cpu"] == origin["cpu"]


def test_reproduce_compares_floats_to_their_rounding_and_integers_exactly():
    """A derived float computed in another order (a few ulps) is no difference; one sequence's
    share of an accuracy, an integer or a key missing from the rerun is."""
    from jaxgru.runs.reproduce import first_difference

    assert first_difference({"speedup": 1.9999999999999998}, {"speedup": 2.0}) is None
    assert first_difference({"accuracy": 0.9792}, {"accuracy": 0.9792 + 1 / 10_000}).startswith("accuracy: 0.9792")
    assert first_difference({"bits": [3, 4]}, {"bits": [3, 5]}) == "bits.1: 4 (saved) != 5 (rerun)"
    assert first_difference({"a": 1, "search_seconds": 3.0}, {"search_seconds": 4.0}) == "a: only in the saved run"
