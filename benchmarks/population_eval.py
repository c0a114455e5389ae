"""Population-evaluation throughput: jaxgru's one-call evaluator against the alternatives.

    python benchmarks/population_eval.py            # GRU, H 128 and 256, P in 1 8 40 256 1024
    python benchmarks/population_eval.py --cells gru lstm ligru sru --populations 40 256 --variants ad

Variants, all on mnist_row shapes (28 steps x 28 features, 10 classes) and the same data, for
each declared cell of ``--cells``:
  (a) jaxgru: the whole population in one jitted call (``population_logits``: specimens vmapped
      in blocks, ``--block``, default the library's choice for the backend, ``jaxgru.model.blocks``);
  (b) a Python loop over jaxgru's single-genome jitted call;
  (c) PyTorch, per-operator fake quantization, one specimen at a time (needs the ``bench``
      extra: ``pip install -e '.[bench]'``; skipped with a note if torch is missing);
  (d) the limit: the same GRU in float32, no quantization, the population in one call laid out
      exactly as (a) (the same blocks; each specimen its own weights, as each quantized one has);
  (e) PyTorch, the same fake quantization with the population batched (every tensor with a
      specimen axis, each specimen its own widths; ``einsum``/``bmm``) in blocks of
      ``TORCH_BLOCK`` specimens, and ``torch.compile``'d (compilation excluded, as for JAX): the
      strongest PyTorch peer we could write, equal to (c) specimen by specimen
      (``tests/test_torch_peer.py``).
Throughput is specimen-samples per second. Each (variant, H, P) runs in a fresh process so that
its peak resident memory (ru_maxrss) is its own; loops (b) and (c) time at most ``--loop-cap``
specimens, since their cost per specimen does not depend on P. Prints a table and writes
``results/benchmarks/population_eval.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from timing import seconds_per_call  # noqa: E402

VARIANTS = {"a": "jaxgru one call", "b": "jaxgru loop", "c": "PyTorch fake-quant loop", "d": "float32 limit",
            "e": "PyTorch fake-quant batched"}
STEPS, FEATURES, CLASSES = 28, 28, 10
# Eager throughput of (e) at H 128/256, P=64, over blocks of 4..64 peaked at 16-64; the whole
# population at once fell to a fifth of the loop's at P=256 (its activations leave the cache).
TORCH_BLOCK = 16


def _setup(cell_name: str, hidden: int, population: int, samples: int, seed: int = 0):
    import numpy as np

    from jaxgru.cells import Stack
    from jaxgru.model.calibrate import calibrate
    from jaxgru.model.floating import ModelParams, param_shapes

    rng = np.random.default_rng(seed)
    stack = Stack.of(cell_name)  # a cell, or a stack such as gru+gru
    std = {"x": 0.3, "d": 0.3, "v": 0.3}  # recurrent kernels: 1/sqrt(H); biases 0.1
    arrays = {}
    for key, shape in param_shapes(stack, FEATURES, hidden, CLASSES).items():
        name = key.rsplit(".", 1)[-1]  # without a layer's prefix
        scale = 0.1 if name[0] == "b" else std.get(name[1] if name[0] == "w" else name[0], 1 / np.sqrt(hidden))
        arrays[key] = rng.normal(0, scale, shape).astype(np.float32)
    arrays["bd"] = np.zeros(CLASSES, np.float32)
    params = ModelParams(arrays=arrays, stack=stack)
    x = rng.random((samples, STEPS, FEATURES), dtype=np.float32)
    ranges = calibrate(params, x)
    genomes = rng.integers(2, 9, size=(population, stack.n_ops)).astype(np.int32)
    return params, ranges, genomes, x


def child(variant: str, hidden: int, population: int, samples: int, loop_cap: int, block: str,
          cell: str = "gru") -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxgru.model.blocks import CPU_EVAL_BLOCK, map_blocks, resolve_block

    block = resolve_block("auto" if block == "auto" else None if block == "none" else int(block), CPU_EVAL_BLOCK)
    params, ranges, genomes, x = _setup(cell, hidden, population, samples)
    xj = jnp.asarray(x)
    xla_bytes = None
    if variant == "a":
        from jaxgru.model.population import population_logits

        fn = jax.jit(functools.partial(population_logits, block=block))  # block: static
        args = (params, ranges, jnp.asarray(genomes), xj, jnp.int32(8), jnp.int32(8))
        xla_bytes = _xla_bytes(fn, args)
        seconds = seconds_per_call(lambda: fn(*args).block_until_ready())
        measured = population
    elif variant == "b":
        from jaxgru.model.integer import int_logits, quantize

        one = jax.jit(lambda g, x: int_logits(quantize(params, ranges, g), x))
        measured = min(population, loop_cap)
        sub = [jnp.asarray(g) for g in genomes[:measured]]
        xla_bytes = _xla_bytes(one, (sub[0], xj))
        seconds = seconds_per_call(lambda: [one(g, xj).block_until_ready() for g in sub])
    elif variant == "c":
        import torch
        from torch_fakequant import FakeQuantCell

        measured = min(population, loop_cap)
        xt = torch.from_numpy(x)
        seconds = seconds_per_call(lambda: [FakeQuantCell(params, ranges, g).logits(xt) for g in genomes[:measured]])
    elif variant == "d":
        from jaxgru.model.floating import float_logits

        # Each specimen its own float weights (a perturbed copy), as each quantized one has.
        rng = np.random.default_rng(1)
        stacked = jax.tree.map(
            lambda a: jnp.asarray(a)[None] + rng.normal(0, 1e-3, (population,) + a.shape).astype(np.float32), params)
        fn = jax.jit(lambda s, x: map_blocks(lambda m: float_logits(m, x), s, block))
        xla_bytes = _xla_bytes(fn, (stacked, xj))
        seconds = seconds_per_call(lambda: fn(stacked, xj).block_until_ready())
        measured = population
    elif variant == "e":
        import torch
        from torch_fakequant import FakeQuantPopulation, population_logits

        xt = torch.from_numpy(x)
        compiled = torch.compile(population_logits)
        blocks = [genomes[i : i + TORCH_BLOCK] for i in range(0, population, TORCH_BLOCK)]
        seconds = seconds_per_call(
            lambda: [FakeQuantPopulation(params, ranges, g).logits(xt, compiled) for g in blocks])
        measured = population
    else:
        raise ValueError(variant)
    return {
        "variant": variant, "cell": cell, "hidden": hidden, "population": population, "samples": samples,
        "block": block if variant in "ad" else None,
        "specimens_timed": measured, "seconds": seconds,
        "specimen_samples_per_s": measured * samples / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "xla_memory_mib": None if xla_bytes is None else xla_bytes / 2**20,
    }


def _xla_bytes(fn, args) -> int | None:
    try:
        m = fn.lower(*args).compile().memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # not every backend reports it
        return None


def _device() -> str:
    import jax

    d = jax.devices()[0]
    name = getattr(d, "device_kind", d.platform)
    cpu = platform.processor() or platform.machine()
    return f"{d.platform}: {name} ({os.cpu_count()} cores, {cpu})" if d.platform == "cpu" else f"{d.platform}: {name}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", nargs="+", default=["gru"], help="declared cells (jaxgru.cells)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--populations", type=int, nargs="+", default=[1, 8, 40, 256, 1024])
    ap.add_argument("--samples", type=int, default=128, help="validation sequences per specimen")
    ap.add_argument("--loop-cap", type=int, default=8, help="specimens timed in the loops (b), (c)")
    ap.add_argument("--variants", default="abcde")
    ap.add_argument("--block", default="auto",
                    help='specimens per vmapped block in (a) and (d): "auto", "none" (all at once) or N')
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks"))
    ap.add_argument("--tag", default="", help="suffix of the output files, e.g. the device")
    ap.add_argument("--child", nargs=7, metavar=("VARIANT", "H", "P", "N", "CAP", "BLOCK", "CELL"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        v, h, p, n, cap, block, cell = args.child
        print(json.dumps(child(v, int(h), int(p), int(n), int(cap), block, cell)))
        return 0

    variants = [v for v in args.variants if v in VARIANTS]
    if "c" in variants or "e" in variants:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("note: torch is not installed (pip install -e '.[bench]'); skipping variants (c) and (e)")
            variants = [v for v in variants if v not in "ce"]
    rows = []
    for cell in args.cells:
        for h in args.hidden:
            for p in args.populations:
                for v in variants:
                    cmd = [sys.executable, __file__, "--child", v, str(h), str(p), str(args.samples),
                           str(args.loop_cap), args.block, cell]
                    out = subprocess.run(cmd, capture_output=True, text=True)
                    if out.returncode != 0:
                        print(f"{v} {cell} H={h} P={p} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                        continue
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    rows.append(row)
                    print(f"{cell:5s} H={h:4d} P={p:5d} ({v}) {VARIANTS[v]:24s} {row['specimen_samples_per_s']:12.0f} "
                          f"specimen-samples/s  peak RSS {row['peak_rss_mib']:7.0f} MiB", flush=True)
    report(rows, args, variants)
    return 0


def report(rows: list[dict], args, variants: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxgru.files import save_figure, write_json

    by = {(r["variant"], r.get("cell", "gru"), r["hidden"], r["population"]): r for r in rows}
    lines = ["| cell | H | P | " + " | ".join(f"({v}) {VARIANTS[v]}" for v in variants)
             + " | (a)/(b) | (a)/(c) | (a)/(d) | (a)/(e) |", "|" + " --- |" * (3 + len(variants) + 4)]
    ratios = []
    for cell in args.cells:
        for h in args.hidden:
            for p in args.populations:
                tput = {v: by[(v, cell, h, p)]["specimen_samples_per_s"] for v in variants if (v, cell, h, p) in by}
                cells = [f"{tput[v]:,.0f}" if v in tput else "–" for v in variants]
                rr = {}
                for other in "bcde":
                    rr[other] = tput["a"] / tput[other] if "a" in tput and other in tput else None
                ratios.append({"cell": cell, "hidden": h, "population": p, **{f"a_over_{k}": v for k, v in rr.items()}})
                cells += [f"{rr[o]:.2f}x" if rr[o] else "–" for o in "bcde"]
                lines.append(f"| {cell} | {h} | {p} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    device = _device()
    print(f"\nThroughput in specimen-samples/s, {args.samples} sequences of 28 x 28, device {device}\n")
    print(table)
    out = Path(args.out)
    tag = f"_{args.tag}" if args.tag else ""
    write_json(out / f"population_eval{tag}.json",
               {"device": device, "samples": args.samples, "loop_cap": args.loop_cap, "block": args.block, "rows": rows,
                "ratios": ratios, "table_markdown": table})
    fig, axes = plt.subplots(1, len(args.hidden), figsize=(5.2 * len(args.hidden), 3.8), squeeze=False)
    for ax, h in zip(axes[0], args.hidden):
        for cell in args.cells:
            for v in variants:
                ps = [p for p in args.populations if (v, cell, h, p) in by]
                label = f"{cell} ({v}) {VARIANTS[v]}" if len(args.cells) > 1 else f"({v}) {VARIANTS[v]}"
                ax.plot(ps, [by[(v, cell, h, p)]["specimen_samples_per_s"] for p in ps], "o-", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("population P")
        ax.set_ylabel("specimen-samples / s")
        ax.set_title(f"{'/'.join(c.upper() for c in args.cells)}({h}), mnist_row shapes, {device}", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    save_figure(fig, out / f"population_eval{tag}.png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
