"""Population-scoring speed of stacks of L = 1, 2, 3 GRU layers at the same width, side by side.

    python benchmarks/stack_scoring.py

Variant (a) of ``benchmarks/population_eval.py`` (the whole population in one jitted call,
random weights, 128 sequences of 28 x 28, widths 2..8), one process per measurement, the
stacks alternating for ``--rounds`` rounds at every (H, P). Reports the median throughput
(specimen-sequences per second) of each stack and its ratio to one layer; writes
``results/benchmarks/stack_scoring.json``. Only the first layer's input projections are shared
across a population (per width); a deeper layer computes its own from its specimen's codes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def _child(stack: str, hidden: int, population: int, samples: int) -> float:
    cmd = [sys.executable, str(REPO / "benchmarks" / "population_eval.py"), "--child", "a", str(hidden),
           str(population), str(samples), "8", "auto", stack]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["specimen_samples_per_s"]


def main(argv=None) -> int:
    from jaxgru.files import write_json

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128])
    ap.add_argument("--populations", type=int, nargs="+", default=[40, 256])
    ap.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "stack_scoring.json"))
    args = ap.parse_args(argv)
    rows = []
    for h in args.hidden:
        for p in args.populations:
            runs = {n: [] for n in args.layers}
            for _ in range(args.rounds):
                for n in args.layers:
                    runs[n].append(_child("+".join(["gru"] * n), h, p, args.samples))
            med = {n: statistics.median(v) for n, v in runs.items()}
            for n in args.layers:
                rows.append({"hidden": h, "population": p, "layers": n, "runs": runs[n],
                             "specimen_samples_per_s": med[n], "ratio_to_one_layer": med[n] / med[args.layers[0]]})
                print(f"H={h} P={p} L={n}: {med[n]:,.0f} specimen-samples/s "
                      f"({med[n] / med[args.layers[0]]:.2f}x of L={args.layers[0]})", flush=True)
    write_json(args.out, {"samples": args.samples, "rounds": args.rounds, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
