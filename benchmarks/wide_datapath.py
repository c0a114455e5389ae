"""What widths above 8 bits cost: the wide datapath against the int8 one, side by side.

    python benchmarks/wide_datapath.py            # GRU, H 128, P 40 and 256, 3 rounds

Variant (a) of ``benchmarks/population_eval.py`` (the whole population in one jitted call;
mnist_row shapes, random weights, 128 sequences) for:
  narrow    genomes over 2..8 on the int8 datapath (the default search);
  wide-2..8 the same genomes on the wide datapath (int64 accumulators, int8 limb dots): the
            price of the datapath alone;
  bitfusion genomes over {2, 4, 8, 16} (wide);
  silago    genomes over {4, 8, 16} (wide).
The variants alternate for ``--rounds`` rounds in one process; the table gives each one's median
throughput and its ratio to ``narrow``. Writes ``results/benchmarks/wide_datapath.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from population_eval import _setup  # noqa: E402
from timing import seconds_per_call  # noqa: E402

from jaxgru.cells.genome import DEFAULT_WIDTHS, PLATFORM_WIDTHS, Widths  # noqa: E402
from jaxgru.model.blocks import CPU_EVAL_BLOCK, resolve_block  # noqa: E402
from jaxgru.model.population import population_logits  # noqa: E402

VARIANTS = {  # name: (width set the genes come from, width set scored with)
    "narrow": (DEFAULT_WIDTHS, DEFAULT_WIDTHS),
    "wide-2..8": (DEFAULT_WIDTHS, Widths(tuple(range(2, 9)) + (16,))),
    "bitfusion": (PLATFORM_WIDTHS["bitfusion"], PLATFORM_WIDTHS["bitfusion"]),
    "silago": (PLATFORM_WIDTHS["silago"], PLATFORM_WIDTHS["silago"]),
}


def throughput(hidden: int, population: int, samples: int, variant: str) -> float:
    genes_from, scored = VARIANTS[variant]
    params, ranges, _, x = _setup("gru", hidden, population, samples)
    rng = np.random.default_rng(1)
    genomes = genes_from.decode(rng.integers(0, len(genes_from), (population, params.stack.n_ops)))
    block = resolve_block("auto", CPU_EVAL_BLOCK)
    with jax.enable_x64(scored.wide):
        fn = jax.jit(population_logits, static_argnames=("block", "widths"))
        args = (params, ranges, jnp.asarray(genomes), jnp.asarray(x), jnp.int32(8), jnp.int32(8))
        seconds = seconds_per_call(lambda: fn(*args, block=block, widths=scored.values).block_until_ready())
    return population * samples / seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128])
    ap.add_argument("--populations", type=int, nargs="+", default=[40, 256])
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "wide_datapath.json"))
    args = ap.parse_args(argv)
    rows = []
    for h in args.hidden:
        for p in args.populations:
            runs = {v: [] for v in VARIANTS}
            for _ in range(args.rounds):
                for v in VARIANTS:
                    runs[v].append(throughput(h, p, args.samples, v))
            base = statistics.median(runs["narrow"])
            for v, values in runs.items():
                med = statistics.median(values)
                rows.append({"hidden": h, "population": p, "variant": v, "median_specimen_samples_per_s": med,
                             "rounds": values, "ratio_to_narrow": med / base})
                print(f"H={h} P={p} {v:10s} {statistics.median(values):10.0f} specimen-samples/s "
                      f"({rows[-1]['ratio_to_narrow']:.2f}x narrow)", flush=True)
    meta = {"device": jax.devices()[0].device_kind, "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": __import__("os").cpu_count(), "jax": jax.__version__, "samples": args.samples}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
