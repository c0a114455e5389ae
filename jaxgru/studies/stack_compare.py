"""Per-layer widths against one layer's widths tied across layers, at equal evaluations.

    python experiments/stack_compare.py --task digits --layers 2 --hidden 128,64 --epochs 30 \\
        --out results/digits_2xgru --data-dir ../shared/data

One float stack (trained once, or ``--float-model``), PTQ, scored on a fixed validation subset.
For every seed, NSGA-II (P = ``--population``) searches the full genome (every operator of every
layer: 34 genes for two GRU layers) and the tied genome (one layer's 17 genes, each width shared
by every layer), each for ``--evaluations`` genomes. Both fronts live in the same objective space
(error, size relative to 16 bits), so they compare directly: the hypervolume of everything each
evaluated (reference (1, 1)) and the smallest genome within 1 point of the homogeneous 8-bit
model. Scores are cached per genome; finished searches are kept in ``runs.json`` (resumable).
Writes ``summary.json`` and ``compare.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import numpy as np

from jaxgru.files import atomic_write_bytes, write_json
from jaxgru.runs.config import Config, add_arguments
from jaxgru.runs.prepare import sizes
from jaxgru.search import nsga2
from jaxgru.search.loop import run_search
from jaxgru.search.pareto import archive_hypervolume
from jaxgru.studies.common import (
    PAPER_BUDGET,
    add_model_args,
    cached_accuracy,
    fixed_subset_or_report,
    resumable_runs,
    smallest_within_1pt,
)

GENOMES = ("per-layer", "tied")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/stack_compare")
    add_model_args(p, val_size=None)
    add_arguments(p, Config, only=("cell", "layers", "population"))
    p.set_defaults(layers=2)
    p.add_argument("--evaluations", type=int, default=PAPER_BUDGET)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    prep = fixed_subset_or_report(args, cell=args.cell, layers=args.layers)
    if prep is None:
        return 2
    stack, widths = prep.params.stack, prep.widths
    if not stack.tieable:
        print(f"error: tied widths need the same cell in every layer; {stack.name} mixes cells.", file=sys.stderr)
        return 2
    score = cached_accuracy(prep)
    acc8 = float(score(np.full((1, stack.n_ops), 8, np.int32))[0])
    size8 = float(sizes(prep, np.full((1, stack.n_ops), 8, np.int32))[1][0])

    def full(name: str, genes: np.ndarray) -> np.ndarray:
        genomes = widths.decode(genes)
        return stack.untie(genomes) if name == "tied" else genomes

    def run_one(name: str, seed: int) -> dict:
        n_var = stack.cells[0].n_ops if name == "tied" else stack.n_ops
        strategy = nsga2.NSGA2(args.population, n_var, 2, 0, len(widths) - 1)
        evaluated = []

        def evaluate(genes, _generation):
            genomes = full(name, np.asarray(genes))
            evaluated.append(genomes)
            return np.stack([1.0 - score(genomes), sizes(prep, genomes)[1]], 1), None

        generations = -(-args.evaluations // args.population) - 1
        r = run_search(strategy, strategy.default_params, evaluate, generations=generations,
                       key=jax.random.key(seed), progress=False)
        f = r.objectives.astype(np.float64)[: args.evaluations]
        genomes = np.concatenate(evaluated)[: args.evaluations]
        reduction = smallest_within_1pt(f, acc8, size8)
        best = None if reduction is None else int(np.argmin(np.where(1.0 - f[:, 0] >= acc8 - 0.01 - 1e-6, f[:, 1],
                                                                     np.inf)))
        return {"hypervolume": archive_hypervolume(f, [len(f)])[0], "evaluations": len(f),
                "best_within_1pt": None if best is None else {
                    "bits": genomes[best].tolist(), "accuracy": 1.0 - f[best, 0],
                    "size_reduction_vs_int8": reduction}}

    runs = resumable_runs(out / "runs.json", GENOMES, args.seeds, run_one)
    summary = {"task": args.task, "stack": stack.name, "hidden": list(prep.params.hidden), "val_size": len(prep.x_val),
               "float_val_accuracy": prep.float_val, "int8_val_accuracy": acc8, "population": args.population,
               "evaluations": args.evaluations, "seeds": args.seeds,
               "runs": {k: runs[k] for k in (f"{n}|{s}" for n in GENOMES for s in args.seeds)}}
    write_json(out / "summary.json", summary)
    text = table(summary)
    atomic_write_bytes(out / "compare.md", (text + "\n").encode())
    print(text)
    return 0


def table(s: dict) -> str:
    hidden = ",".join(map(str, s["hidden"]))
    lines = [f"{s['task']} {s['stack'].upper()}({hidden}) PTQ, float {s['float_val_accuracy']:.4f}, int8 "
             f"{s['int8_val_accuracy']:.4f} on {s['val_size']} validation sequences; NSGA-II, P={s['population']}, "
             f"{s['evaluations']} evaluations per search. Hypervolume of everything evaluated (error, size / 16-bit; "
             "reference (1, 1)) and the smallest genome within 1 point of int8.", "",
             "| seed | per-layer: hypervolume | per-layer: smaller than int8 | tied: hypervolume | tied: smaller than "
             "int8 |", "| ---: | ---: | ---: | ---: | ---: |"]

    def cell(run: dict) -> tuple[str, str]:
        best = run["best_within_1pt"]
        return f"{run['hypervolume']:.4f}", "none" if best is None else f"{100 * best['size_reduction_vs_int8']:.1f}%"

    for seed in s["seeds"]:
        a, b = cell(s["runs"][f"per-layer|{seed}"]), cell(s["runs"][f"tied|{seed}"])
        lines.append(f"| {seed} | {a[0]} | {a[1]} | {b[0]} | {b[1]} |")
    for name in GENOMES:
        hv = np.array([s["runs"][f"{name}|{seed}"]["hypervolume"] for seed in s["seeds"]])
        lines.append(f"\n{name}: hypervolume {hv.mean():.4f} ± {hv.std(ddof=1) if len(hv) > 1 else 0.0:.4f} "
                     f"(mean ± sd over {len(hv)} seeds)")
    return "\n".join(lines)
