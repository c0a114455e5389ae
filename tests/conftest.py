"""Shared fixtures: MNIST from the local data directory and one small trained model; and a bound
on the memory maps that compiled code holds.

XLA's CPU backend maps every compiled executable's code and data into the process (about 900
regions for one population scoring call); a process that compiles for hundreds of tests reaches
Linux's ``vm.max_map_count`` (65,530 by default) and the next compilation segfaults inside XLA.
Clearing JAX's caches releases them, so every test ends with
:func:`jaxgru.runs.processes.bound_compiled_code`. Compiled programs are also kept on disk
(JAX's persistent compilation cache, under ``.pytest_cache``) and read back instead of compiled
again.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# JAX's persistent compilation cache, shared by the pytest-xdist workers and the processes tests
# spawn: many tests compile the same programs (cold, it takes a third off test_experiment.py and
# test_own_data.py on 2 cores). Set before JAX is imported, which reads these at import.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(REPO / ".pytest_cache" / "jax_compilation"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
# Compiling, not running, is most of the suite's time on 2 cores (test_cells.py and test_stacks.py:
# 245 s with an empty compilation cache, 104 s with a full one), so tests compile with XLA's
# optimizations off, as JAX's own test suite does (245 -> 199 s). Integer programs give the same
# bits either way; float sums may be ordered differently, which no test depends on (float results
# are compared within tolerances, or between two runs made under the same flags).
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jaxgru.runs.processes import bound_compiled_code  # noqa: E402

SHARED_DATA = REPO.parent / "shared" / "data"

# A run small enough for a test: GRU(16), 1 epoch on 3000 rows, P=6, 2 generations, 300
# validation and 300 test sequences.
TINY = ["--task", "mnist_row", "--hidden", "16", "--population", "6", "--generations", "2", "--epochs", "1",
        "--train-size", "3000", "--calib-size", "500", "--val-size", "300", "--test-size", "300", "--mode", "ptq",
        "--quiet"]


def data_dir() -> Path:
    chosen = os.environ.get("JAXGRU_DATA_DIR") or str(SHARED_DATA)
    path = Path(chosen)
    if not (path / "mnist.npz").is_file():
        pytest.fail(f"tests need mnist.npz: set JAXGRU_DATA_DIR to a folder holding it (looked in {path}).")
    return path


@pytest.fixture(scope="session")
def mnist_splits():
    from jaxgru.data.tasks import get_task

    return get_task("mnist_row").load(data_dir())


@pytest.fixture(scope="session")
def small_model(mnist_splits):
    """A GRU(64) trained briefly on mnist_row, its params, calibration and a validation subset."""
    from jaxgru.model.calibrate import calibrate
    from jaxgru.model.training import float_accuracy, train_float

    s = mnist_splits
    model = train_float(s.x_train[:20000], s.y_train[:20000], hidden=64, classes=10, epochs=3, seed=0)
    params = model.params()
    ranges = calibrate(params, s.x_train[:2000])
    x_val, y_val = s.x_val[:2000], s.y_val[:2000]
    return {
        "model": model,
        "params": params,
        "ranges": ranges,
        "x_val": x_val,
        "y_val": y_val,
        "float_acc": float_accuracy(params, x_val, y_val),
    }


@pytest.fixture(scope="session")
def tiny_float_model(tmp_path_factory) -> Path:
    """The ``float_model`` folder of a :data:`TINY` run, trained once per test process, for the
    run tests that are not about training (:func:`run_dir_with`)."""
    from jaxgru.runs.cli import parse_args
    from jaxgru.runs.prepare import prepare

    out = tmp_path_factory.mktemp("tiny_float_model")
    prepare(*parse_args(TINY + ["--data-dir", str(data_dir()), "--out", str(out)]))
    return out / "float_model"


def run_dir_with(float_model: Path, out: Path) -> Path:
    """``out``, a new run folder that starts from ``float_model`` (a copy) instead of training."""
    import shutil

    shutil.copytree(float_model, out / "float_model")
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _bounded_compiled_code():
    yield
    bound_compiled_code()
