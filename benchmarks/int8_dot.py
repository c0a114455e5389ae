"""Integer against float32 dots on this machine, at the integer GRU's shapes.

    python benchmarks/int8_dot.py

How fast ``int8 x int8 -> int32`` is next to float32 decides how far an integer model can beat
a float one (4-7x is often quoted for XLA CPUs with VNNI-class int8 instructions). For the
recurrent matmul ``[B, H] x [H, 3H]`` (B = 128) this times, in one process, side by side:
plain (one specimen), plain with every specimen's rows stacked (``[P*B, H]``, the upper bound of
batching) and batched over ``P`` specimens' own weights (``[P, B, H] x [P, H, 3H]``, what
vmapping a population gives), for int8, uint8 x int8, int32 and float32 operands (int8 and
float32 values are exactly representable in all). Prints a table, writes
``results/benchmarks/int8_dot.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from population_eval import _device  # noqa: E402
from timing import seconds_per_call  # noqa: E402

BATCH = 128  # sequences per specimen, the rows of one specimen's recurrent matmul
OPERANDS = {  # name: (lhs dtype, rhs dtype, accumulator)
    "int8": (jnp.int8, jnp.int8, jnp.int32),
    "uint8 x int8": (jnp.uint8, jnp.int8, jnp.int32),
    "int32": (jnp.int32, jnp.int32, jnp.int32),
    "float32": (jnp.float32, jnp.float32, jnp.float32),
}


def _dot(batched: bool, acc):
    dims = (((2,), (1,)), ((0,), (0,))) if batched else (((1,), (0,)), ((), ()))
    return jax.jit(lambda a, b: jax.lax.dot_general(a, b, dims, preferred_element_type=acc))


def measure(hidden: int, population: int, batch: int = BATCH) -> list[dict]:
    rng = np.random.default_rng(0)
    layouts = {  # name: (lhs shape, rhs shape, batched)
        "plain": ((batch, hidden), (hidden, 3 * hidden), False),
        "stacked rows": ((population * batch, hidden), (hidden, 3 * hidden), False),
        "batched": ((population, batch, hidden), (population, hidden, 3 * hidden), True),
    }
    rows = []
    for layout, (sa, sb, batched) in layouts.items():
        ops = 2 * int(np.prod(sa)) * sb[-1]
        for name, (ta, tb, acc) in OPERANDS.items():
            a = jnp.asarray(rng.integers(0 if ta == jnp.uint8 else -127, 128, sa), ta)
            b = jnp.asarray(rng.integers(-127, 128, sb), tb)
            fn = _dot(batched, acc)
            s = seconds_per_call(lambda fn=fn, a=a, b=b: fn(a, b).block_until_ready(), min_seconds=0.5)
            rows.append({"hidden": hidden, "population": population, "layout": layout, "operands": name,
                         "seconds": s, "gops": ops / s / 1e9})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--population", type=int, default=64)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks"))
    ap.add_argument("--tag", default="", help="suffix of the output file, e.g. the device")
    args = ap.parse_args(argv)

    from jaxgru.files import write_json

    rows = [r for h in args.hidden for r in measure(h, args.population)]
    lines = ["| H | layout | " + " | ".join(f"{o} Gop/s" for o in OPERANDS) + " | int8 / float32 |",
             "|" + " --- |" * (3 + len(OPERANDS))]
    for h in args.hidden:
        for layout in ("plain", "stacked rows", "batched"):
            g = {r["operands"]: r["gops"] for r in rows if r["hidden"] == h and r["layout"] == layout}
            lines.append(f"| {h} | {layout} | " + " | ".join(f"{g[o]:.1f}" for o in OPERANDS)
                         + f" | {g['int8'] / g['float32']:.2f}x |")
    table = "\n".join(lines)
    device = _device()
    print(f"[B={BATCH}, H] x [H, 3H] dots, P={args.population}, device {device}\n\n{table}")
    tag = f"_{args.tag}" if args.tag else ""
    write_json(Path(args.out) / f"int8_dot{tag}.json",
               {"device": device, "population": args.population, "rows": rows, "table_markdown": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
