"""Which operators of a run's cell need their bits: one-operator sensitivity and wider paths.

    python experiments/sensitivity.py results/cells_mnist_row_e20/run --wide c fc fx --wide-bits 12

Reads the run's float model and calibration (``float_model/``, made again by the run's own
command if missing) and scores, on ``--val-size`` validation sequences: the float model; the
integer model at homogeneous 8 bits; every genome with one operator at ``--low`` bits and the
rest at 8 (integer model); and the float-surrogate twin (``jaxgru.model.qat``) at 8 bits, and
with the ``--wide`` operators at
``--wide-bits``, to see what keeping a path wider than 8 bits would recover. Writes
``<run>/sensitivity.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgru.data.tasks import get_task
from jaxgru.files import write_json
from jaxgru.model.population import population_accuracy
from jaxgru.model.qat import fake_quant_logits
from jaxgru.model.training import float_accuracy
from jaxgru.runs.config import Config, RunOptions, add_arguments, command_line_message, saved_settings
from jaxgru.runs.float_model import read_float_model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a run directory (with config.json and float_model/)")
    ap.add_argument("--low", type=int, default=6, help="width of the one lowered operator")
    ap.add_argument("--wide", nargs="*", default=[], help="operators to widen in the surrogate")
    ap.add_argument("--wide-bits", type=int, default=12)
    ap.add_argument("--val-size", type=int, default=2000)
    add_arguments(ap, RunOptions, only=("data_dir",))
    args = ap.parse_args(argv)
    run = Path(args.run)
    try:
        cfg = saved_settings(run / "config.json")
        params, ranges = read_float_model(run / "float_model", Config(**cfg).resolved_stack())
        cell = params.stack
        unknown = [n for n in args.wide if n not in cell.op_names]
        if unknown:
            raise ValueError(f"{unknown} are not operators of {cell.name}: {', '.join(cell.op_names)}.")
        splits = get_task(cfg["task"]).load(args.data_dir, source=cfg.get("source", "auto"))
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    x, y = splits.x_val[: args.val_size], splits.y_val[: args.val_size]
    n = cell.n_ops
    genomes = np.full((n + 1, n), 8, np.int32)
    genomes[np.arange(n), np.arange(n)] = args.low
    acc = population_accuracy(params, ranges, genomes, x, y)
    surrogate = jax.jit(fake_quant_logits, static_argnames="exact")

    def surrogate_acc(g) -> float:
        logits = surrogate(params, ranges, jnp.asarray(g, jnp.int32), jnp.asarray(x), exact=False)
        return float(np.mean(np.argmax(np.asarray(logits), -1) == y))

    wide = np.full(n, 8)
    wide[[cell.index(w) for w in args.wide]] = args.wide_bits
    out = {
        "cell": cell.name, "task": cfg["task"], "val_size": len(x), "float": float_accuracy(params, x, y),
        "int8": float(acc[-1]), "surrogate_8bit": surrogate_acc(np.full(n, 8)),
        f"drop_with_one_operator_at_{args.low}_bits": {name: float(a - acc[-1]) for name, a in zip(cell.op_names, acc)},
        "surrogate_wide": {"operators": args.wide, "bits": args.wide_bits, "accuracy": surrogate_acc(wide)},
    }
    write_json(run / "sensitivity.json", out)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
