"""Fits ``mcu_instructions``, the search objective that predicts the C export's instructions per
time step on a Cortex-M4, to instruction counts measured under QEMU, and states its error.

Models: the four committed ``mnist_row`` float models (GRU, LSTM, LiGRU, SRU; 28 inputs, 128
units) and two random models of odd shapes (GRU and SRU, 27 inputs, 37 units: packed rows that do
not start on a byte). Genomes: all at 8, 4 and 2 bits, and random ones (narrow 2..8 and wide
2..16). Each export (dense, weights packed) runs two sequences, of T steps and of 1, on QEMU's
Cortex-M4 (``-icount shift=0``); their difference over T - 1 is the instructions per step. The
coefficients (instructions per feature unit, non-negative least squares) are fitted on three in
four genomes and tested on the fourth, then fitted on all and written to the package
(``jaxgru/model/cortex_m4_instructions.json``) and ``results/benchmarks/mcu_instructions.{json,md}``.

    python benchmarks/mcu_instructions.py
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from scipy.optimize import nnls

from jaxgru.cells import Stack
from jaxgru.data.tasks import get_task
from jaxgru.deploy import toolchain as tc
from jaxgru.deploy.from_run import read_run
from jaxgru.files import write_json
from jaxgru.model.calibrate import calibrate
from jaxgru.model.costs import MCU_FEATURES, MCU_FIT, cost_model, mcu_features
from jaxgru.model.export import export_arrays
from jaxgru.model.floating import Classifier
from jaxgru.model.reference import Reference

RUNS = "results/shrink_eliminate/mnist_row_seed0/cell{}"


def _models(data_dir):
    """``(label, stack, params, ranges, x)``: committed float models and random odd-shaped ones."""
    splits = get_task("mnist_row").load(data_dir, quiet=True)
    for cell in ("gru", "lstm", "ligru", "sru"):
        run = Path(RUNS.format(cell))
        cfg, params, ranges = read_run(run)
        stack = cfg.resolved_stack()
        yield f"{cell} 28x128", stack, params, ranges, splits.x_test[:1]
    for cell in ("gru", "sru"):
        stack = Stack.of(cell)
        params = Classifier(stack, 27, 37, 10, rngs=nnx.Rngs(0)).params()
        ranges = calibrate(params, splits.x_train[:300, :, :27])
        yield f"{cell} 27x37 (random)", stack, params, ranges, splits.x_test[:1, :, :27]


def _genomes(n_ops: int, rng) -> list[np.ndarray]:
    fixed = [np.full(n_ops, b, np.int32) for b in (8, 4, 2)]
    narrow = [rng.integers(2, 9, n_ops).astype(np.int32) for _ in range(9)]
    wide = [rng.integers(2, 17, n_ops).astype(np.int32) for _ in range(3)]
    return fixed + narrow + [np.where(np.arange(n_ops) == 0, 12, g) if g.max() <= 8 else g for g in wide]


def _per_step(arrays, x) -> float:
    ref = Reference(arrays)
    seq = np.concatenate([x, x])
    lengths = np.array([x.shape[1], 1])
    with tempfile.TemporaryDirectory() as tmp:
        out = tc.run_on_qemu(tc.build_cortex_m(tc.write_harness(tmp, arrays, ref.quantize_input(seq), lengths)))
    want, _ = ref.run(seq, lengths)
    if not np.array_equal(out.logits, want):
        raise SystemExit("error: the Cortex-M4 logits differ from the reference")
    return tc.INSTRUCTIONS_PER_TICK * float(out.ticks[0] - out.ticks[1]) / (x.shape[1] - 1)


def _errors(f: np.ndarray, y: np.ndarray, coef: np.ndarray) -> dict:
    rel = np.abs(f @ coef - y) / y
    return {"mean_relative_error": round(float(rel.mean()), 4), "max_relative_error": round(float(rel.max()), 4),
            "genomes": int(len(y))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="results/benchmarks/mcu_instructions")
    p.add_argument("--package", default=str(Path(__file__).resolve().parents[1] / "jaxgru" / "model" / MCU_FIT))
    args = p.parse_args(argv)
    problem = tc.cortex_m_toolchain()
    if problem:
        raise SystemExit(f"error: {problem}")
    rng = np.random.default_rng(0)
    rows = []
    for label, stack, params, ranges, x in _models(args.data_dir):
        model = cost_model(stack, x.shape[2], params.hidden, 10, x.shape[1])
        for genome in _genomes(stack.n_ops, rng):
            measured = _per_step(export_arrays(params, ranges, genome), x)
            with jax.enable_x64(True):
                feats = np.asarray(mcu_features(model, jnp.asarray(genome)), np.float64)
            rows.append({"model": label, "bits": genome.tolist(), "instructions_per_step": round(measured, 1),
                         "features": feats.tolist()})
            print(label, genome.tolist(), round(measured))
    f = np.array([r["features"] for r in rows])
    y = np.array([r["instructions_per_step"] for r in rows])
    test = np.arange(len(y)) % 4 == 3
    held_out = _errors(f[test], y[test], nnls(f[~test], y[~test])[0])
    coef = nnls(f, y)[0]
    in_sample = _errors(f, y, coef)
    for r, pred in zip(rows, f @ coef):
        r["predicted"] = round(float(pred), 1)
    fit = {"features": list(MCU_FEATURES), "coefficients": [round(float(c), 4) for c in coef],
           "held_out": held_out, "in_sample": in_sample, "core": "cortex-m4 (QEMU mps2-an386, -icount)",
           "flags": " ".join(tc.ARM_FLAGS)}
    write_json(args.package, fit)
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {**fit, "rows": rows})
    lines = [f"`mcu_instructions` fitted to {len(y)} measured exports (Cortex-M4 under QEMU, `-icount`): "
             f"held out (one genome in four, fitted on the rest) mean error "
             f"{100 * held_out['mean_relative_error']:.1f}%, max {100 * held_out['max_relative_error']:.1f}%; "
             f"in sample mean {100 * in_sample['mean_relative_error']:.1f}%, "
             f"max {100 * in_sample['max_relative_error']:.1f}%.", "",
             "| feature | instructions per unit |", "| --- | ---: |"]
    lines += [f"| {name} | {c:.3f} |" for name, c in zip(MCU_FEATURES, coef)]
    lines += ["", "| model | genome | measured instr./step | predicted |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {r['model']} | {r['bits']} | {r['instructions_per_step']:,.0f} | {r['predicted']:,.0f} |"
              for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:3]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
