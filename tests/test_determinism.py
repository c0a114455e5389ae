"""Float training and QAT give the same bits on one core and on two (jaxgru.runtime): each run in a
subprocess pinned with ``taskset``, so that XLA sizes its thread pool to the cores it holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, data_dir

from jaxgru.runtime import DETERMINISTIC_FLAG, fix_reduction_order

# A GRU(128): at this size XLA's default (YNNPACK) reductions split the batch over the threads, and
# float training and QAT differ between one core and two.
PROGRAM = """
import hashlib, numpy as np, jax
from flax import nnx
from jaxgru.data.tasks import get_task
from jaxgru.model.calibrate import calibrate
from jaxgru.model.qat import qat_population
from jaxgru.model.training import train_float
s = get_task("mnist_row").load({data!r}, quiet=True)
x, y = s.x_train[:512], s.y_train[:512]
model = train_float(x, y, cell="gru", hidden=128, classes=10, epochs=1)
p = model.params()
qat = qat_population(p, calibrate(p, x[:256]), np.array([[8] * 17, [4] * 17]), x[:256], y[:256], learning_rate=1e-3)
digest = hashlib.sha256()
for leaf in jax.tree.leaves(nnx.to_pure_dict(nnx.state(model))) + jax.tree.leaves(qat):
    digest.update(np.asarray(leaf).tobytes())
print("DIGEST", digest.hexdigest())
"""


def _digest(cores: str, env: dict) -> str:
    out = subprocess.run(["taskset", "-c", cores, sys.executable, "-c", PROGRAM.format(data=str(data_dir()))],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("DIGEST"))


@pytest.mark.skipif(shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2,
                    reason="needs taskset and two cores")
def test_float_training_and_qat_are_identical_on_one_and_two_cores():
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAXGRU_FAST_REDUCTIONS")}
    cores = sorted(os.sched_getaffinity(0))[:2]
    assert _digest(str(cores[0]), env) == _digest(f"{cores[0]},{cores[1]}", env)


def test_the_flag_is_added_once_and_yields_to_the_user():
    env: dict = {}
    if not fix_reduction_order(env):
        pytest.skip("this jaxlib is not one the flag was verified on")
    assert env["XLA_FLAGS"] == DETERMINISTIC_FLAG
    assert fix_reduction_order(env) and env["XLA_FLAGS"] == DETERMINISTIC_FLAG  # not twice
    mine = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot,reduce"}
    assert not fix_reduction_order(mine) and mine["XLA_FLAGS"].endswith("dot,reduce")
    fast = {"JAXGRU_FAST_REDUCTIONS": "1"}
    assert not fix_reduction_order(fast) and "XLA_FLAGS" not in fast
