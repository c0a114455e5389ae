"""Scoring with one set of weights per specimen (QAT, beacons): where the input-side codes are made.

    python benchmarks/per_specimen_weights.py

GRU(128), P=40, 256 random mnist_row-shaped sequences, blocks of 8, one process, 3 alternating
rounds. Three ways to run the population's integer models:
  shared      the input-side codes made once per width and shared (what one set of float
              weights allows; the PTQ path);
  precompute  each specimen's input-side codes made for every step before the scan (the scan
              then carries them with the block axis on: the old unshared path);
  per-step    each specimen's codes made inside the step (``jaxgru.model.integer.int_logits`` now).
Writes ``results/benchmarks/per_specimen_weights.json``.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from population_eval import _setup  # noqa: E402
from timing import seconds_per_call  # noqa: E402

from jaxgru.model.blocks import map_blocks  # noqa: E402
from jaxgru.model.integer import int_scan, x_gate_codes  # noqa: E402
from jaxgru.model.population import quantize_population, quantized_population_logits  # noqa: E402


def variant(p, ranges, genomes, x, name: str):
    models, per_width = quantize_population(p, ranges, genomes, 8, 8)
    if name == "shared":
        return quantized_population_logits(models, per_width, x, block=8)
    xs = jnp.swapaxes(x, 0, 1)
    if name == "precompute":
        return map_blocks(lambda q: int_scan(q, x_gate_codes(q, xs)), models, 8)
    return map_blocks(lambda q: int_scan(q, xs, x_gate_codes), models, 8)


def main() -> int:
    params, ranges, genomes, x = _setup("gru", 128, 40, 256)
    fn = jax.jit(variant, static_argnums=4)
    args = (params, ranges, jnp.asarray(genomes), jnp.asarray(x))
    names = ("shared", "precompute", "per-step")
    runs = {n: [] for n in names}
    for _ in range(3):
        for n in names:
            runs[n].append(40 * 256 / seconds_per_call(lambda n=n: fn(*args, n).block_until_ready()))
    rows = {n: {"median_specimen_samples_per_s": statistics.median(v), "rounds": v} for n, v in runs.items()}
    for n, r in rows.items():
        print(f"{n:10s} {r['median_specimen_samples_per_s']:10.0f} specimen-samples/s")
    out = REPO / "results" / "benchmarks" / "per_specimen_weights.json"
    out.write_text(json.dumps({"hidden": 128, "population": 40, "samples": 256, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
