"""The GRU through the cell declaration is the GRU of before it, bit for bit.

``data/gru_golden.npz`` was written by the code of commit 4e52b62 (before cells were declared
as data; script in ``docs/design.md``, "Checking a refactor"): a GRU(16) trained briefly on
MNIST rows, its calibration, 40 random genomes and their integer logits (input 5 bits, head 7),
and the float-surrogate QAT logits of four of them.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgru.cells import Stack
from jaxgru.model.calibrate import Ranges
from jaxgru.model.floating import ModelParams
from jaxgru.model.population import population_logits
from jaxgru.model.qat import fake_quant_logits

GOLDEN = Path(__file__).parent / "data" / "gru_golden.npz"


def _load():
    d = dict(np.load(GOLDEN))
    p = ModelParams(arrays={k[6:]: d[k] for k in d if k.startswith("param_")}, stack=Stack.of("gru"))
    r = Ranges(**{k: d[f"range_{k}"] for k in ("x_lo", "x_hi", "lo", "hi")})
    return d, p, r


def test_integer_logits_equal_the_code_before_cells():
    d, p, r = _load()
    fn = jax.jit(population_logits, static_argnames="block")
    got = fn(p, r, jnp.asarray(d["genomes"]), jnp.asarray(d["x"]), int(d["input_bits"]), int(d["head_bits"]))
    np.testing.assert_array_equal(np.asarray(got), d["logits"])


def test_float_surrogate_qat_equals_the_code_before_cells():
    d, p, r = _load()
    for g, want in zip(d["genomes"], d["surrogate_logits"]):
        got = fake_quant_logits(p, r, jnp.asarray(g), jnp.asarray(d["x"]), int(d["input_bits"]), int(d["head_bits"]),
                                exact=False)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)
