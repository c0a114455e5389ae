"""The population sharded over 4 (forced host) devices equals the single-device result (with
and without delta thresholds)."""

import os
import subprocess
import sys
import textwrap

from conftest import REPO, data_dir

SCRIPT = textwrap.dedent(
    """
    import numpy as np, jax
    assert len(jax.devices()) == 4, jax.devices()
    from jaxgru.model.calibrate import calibrate
    from jaxgru.model.population import population_accuracy
    from jaxgru.data.tasks import get_task
    from jaxgru.model.training import train_float

    s = get_task("mnist_row").load(DATA)
    params = train_float(s.x_train[:6000], s.y_train[:6000], hidden=32, classes=10, epochs=2).params()
    ranges = calibrate(params, s.x_train[:500])
    genomes = np.random.default_rng(0).integers(2, 9, size=(10, 17)).astype(np.int32)  # 10: padded to 12
    x, y = s.x_val[:200], s.y_val[:200]
    sharded = population_accuracy(params, ranges, genomes, x, y)
    single = population_accuracy(params, ranges, genomes, x, y, devices=jax.devices()[:1])
    np.testing.assert_array_equal(sharded, single)
    # 3 specimens per device in blocks of 2 (a block and a remainder on each device)
    np.testing.assert_array_equal(population_accuracy(params, ranges, genomes, x, y, block=2), single)
    assert sharded.shape == (10,) and sharded.max() > 0.3, sharded
    # delta networks: accuracy and eliminated shares sharded like the population
    from jaxgru.model.population import population_scores
    t = np.random.default_rng(1).integers(0, 8, size=(10, 2)).astype(np.int32)
    a = population_scores(params, ranges, genomes, x, y, thresholds=t)
    b = population_scores(params, ranges, genomes, x, y, thresholds=t, devices=jax.devices()[:1])
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    np.testing.assert_array_equal(a.eliminated_ops, b.eliminated_ops)
    print("SHARDED-OK", sharded.round(3).tolist())
    """
)


def test_sharded_equals_single_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    code = SCRIPT.replace("DATA", repr(str(data_dir())))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SHARDED-OK" in out.stdout
