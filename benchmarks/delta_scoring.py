"""What delta networks cost the population scorer, side by side in one process.

    python benchmarks/delta_scoring.py

``population_scores`` of one population (GRU, random weights, 128 sequences of 28 x 28, widths
2..8) three ways, alternating for ``--rounds`` rounds at every (H, P):

- ``off``: no thresholds (the dense model; the first layer's input projections shared per width);
- ``zero``: every threshold 0 (the delta datapath: each specimen filters its own input codes and
  counts what it propagates; the same logits as ``off``);
- ``search``: random thresholds 0..7, as a delta search scores them.

Reports the median throughput (specimen-sequences per second) and the ratio to ``off``; writes
``results/benchmarks/delta_scoring.json``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from population_eval import _setup  # noqa: E402
from timing import seconds_per_call  # noqa: E402

WAYS = ("off", "zero", "search")


def main(argv=None) -> int:
    import numpy as np

    from jaxgru.cells.genome import MAX_THRESHOLD
    from jaxgru.files import write_json
    from jaxgru.model.population import population_scores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128])
    ap.add_argument("--populations", type=int, nargs="+", default=[40, 256])
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "delta_scoring.json"))
    args = ap.parse_args(argv)
    rows = []
    for h in args.hidden:
        for p in args.populations:
            params, ranges, genomes, x = _setup("gru", h, p, args.samples)
            y = np.zeros(len(x), np.int32)
            n_delta = len(params.stack.delta_sources)
            thresholds = {"off": None, "zero": np.zeros((p, n_delta), np.int32),
                          "search": np.random.default_rng(1).integers(0, MAX_THRESHOLD + 1, (p, n_delta))}
            runs = {w: [] for w in WAYS}
            for _ in range(args.rounds):
                for w in WAYS:
                    score = functools.partial(population_scores, params, ranges, genomes, x, y,
                                              thresholds=thresholds[w])
                    runs[w].append(p * len(x) / seconds_per_call(score))
            med = {w: statistics.median(v) for w, v in runs.items()}
            for w in WAYS:
                rows.append({"hidden": h, "population": p, "way": w, "runs": runs[w],
                             "specimen_samples_per_s": med[w], "ratio_to_off": med[w] / med["off"]})
                print(f"H={h} P={p} {w}: {med[w]:,.0f} specimen-samples/s ({med[w] / med['off']:.2f}x of off)",
                      flush=True)
    write_json(args.out, {"samples": args.samples, "rounds": args.rounds, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
