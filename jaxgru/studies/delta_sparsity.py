"""How delta thresholds and widths interact: operations eliminated and accuracy of homogeneous
models at several widths, for every threshold, per cell.

    python experiments/delta_sparsity.py --task mnist_row --cells gru lstm ligru sru

For each cell, a float model (trained into ``<out>/<cell>/model``, or copied from the run
folder ``--float-model`` names, ``{cell}`` replaced by the cell: ``results/runs/cell{cell}``) is
scored on the first ``--val-size`` validation sequences at every width of ``--bits`` (every
operator; the input at 8 bits) and every threshold 0..7, the same for every delta source:
accuracy, the share of all multiply-accumulates eliminated, and each source's share of units not
propagated. Threshold 0 shows the *free* sparsity of a coarse code (a unit whose code did not
move is skipped at any threshold).
Writes ``<out>/sparsity.json`` and ``<out>/sparsity.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from jaxgru.cells.genome import MAX_THRESHOLD
from jaxgru.files import atomic_write_bytes, write_json
from jaxgru.model.population import population_scores
from jaxgru.studies.common import add_model_args, fixed_subset_or_report

CELL_NAMES = ("gru", "lstm", "ligru", "sru")


def measure(prep, bits: list[int]) -> dict:
    """Scores of every (width, threshold) pair of one prepared cell."""
    stack = prep.params.stack
    grid = [(b, t) for b in bits for t in range(MAX_THRESHOLD + 1)]
    genomes = np.array([[b] * stack.n_ops for b, _ in grid], np.int32)
    thresholds = np.array([[t] * len(stack.delta_sources) for _, t in grid], np.int32)
    scores = population_scores(prep.params, prep.ranges, genomes, prep.x_val, prep.y_val, lengths=prep.lengths_val,
                               thresholds=thresholds)
    sources = {}
    for i, (layer, src) in enumerate(stack.delta_sources):
        k = stack.offsets[layer] + stack.cells[layer].linear_groups[src][0]
        sources[stack.threshold_names[i]] = scores.eliminated_ops[:, k].tolist()
    return {"bits": [b for b, _ in grid], "threshold": [t for _, t in grid], "accuracy": scores.accuracy.tolist(),
            "eliminated": scores.eliminated.tolist(), "sources": sources, "float_accuracy": prep.float_val}


def table(results: dict) -> str:
    """One row per (cell, width): accuracy and operations eliminated at each threshold."""
    ts = range(MAX_THRESHOLD + 1)
    lines = ["| cell | bits | " + " | ".join(f"t={t}" for t in ts) + " |", "|---|---|" + "---|" * len(ts)]
    for cell, r in results.items():
        for b in dict.fromkeys(r["bits"]):
            cells = []
            for t in ts:
                i = next(i for i, (bb, tt) in enumerate(zip(r["bits"], r["threshold"])) if bb == b and tt == t)
                cells.append(f"{100 * r['accuracy'][i]:.1f} / {100 * r['eliminated'][i]:.0f}%")
            lines.append(f"| {cell} | {b} | " + " | ".join(cells) + " |")
    return ("Accuracy (%) / share of all multiply-accumulates eliminated, homogeneous widths, the same threshold "
            "on every source (t in 1/32 of the source's code range).\n\n" + "\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(ap, val_size=2000)
    ap.add_argument("--cells", nargs="+", default=list(CELL_NAMES), choices=CELL_NAMES)
    ap.add_argument("--bits", type=int, nargs="+", default=[3, 4, 6, 8])
    ap.add_argument("--out", default="results/delta_sparsity")
    args = ap.parse_args(argv)
    out = Path(args.out)
    path = out / "sparsity.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    float_model = args.float_model
    for cell in args.cells:
        if cell in results:
            continue
        args.out = str(out / cell)
        args.float_model = None if float_model is None else float_model.replace("{cell}", cell)
        prep = fixed_subset_or_report(args, cell=cell)
        if prep is None:
            return 2
        results[cell] = measure(prep, args.bits)
        write_json(path, results)
        print(f"{cell}: done", flush=True)
    atomic_write_bytes(out / "sparsity.md", table(results).encode())
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
