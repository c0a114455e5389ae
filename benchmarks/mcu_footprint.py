"""Flash, RAM and instructions of a run's C export on an emulated Cortex-M4, for three genomes of
its front: 8-bit everywhere, the smallest within 1 point of 8-bit, and the smallest overall.

Each genome is exported densely and, for a delta run, with its front thresholds; weights packed and
one code per byte. Flash is the model's object file (``arm-none-eabi-size``: code, weights, tables,
constants); its packed weight bytes are set beside the size objective (which counts biases at the
operator's width, where the C stores them as 32-bit accumulators). Instructions are QEMU's
(``-icount shift=0``, SysTick: 40 instructions a tick), per step over the test sequences, and per
multiply-accumulate of the dense matmuls. Every run is checked bit for bit against the NumPy
reference first. Writes ``results/benchmarks/mcu_footprint.{json,md}``.

    python benchmarks/mcu_footprint.py --run results/shrink_eliminate/mnist_row_seed0/cellgru
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from jaxgru.deploy import toolchain as tc
from jaxgru.deploy.from_run import read_run
from jaxgru.deploy.packing import stored_bytes
from jaxgru.files import write_json
from jaxgru.model.counts import op_counts
from jaxgru.model.export import export_arrays
from jaxgru.model.reference import Reference


def _weight_bytes(arrays: dict, stack, packed: bool) -> int:
    """Bytes of every weight array (linear matrices, scale vectors, the head) in the C storage."""
    total = 0
    genome = arrays["genome"]
    for k, op in enumerate(stack.ops):
        layer = stack.layer_of(k)
        name = stack.prefix(layer) + ("w_" if op.kind == "linear" else "v_") + op.name.split(".")[-1]
        if op.kind in ("linear", "scale"):
            total += stored_bytes(np.asarray(arrays[name]).size, int(genome[k]), packed)
    return total + stored_bytes(np.asarray(arrays["wd"]).size, int(arrays["head_bits"]), packed)


def _choices(run: Path) -> list[tuple[str, np.ndarray, np.ndarray | None, dict]]:
    """``(label, widths, thresholds, {"dense": accuracy, "delta": accuracy})`` of the three genomes."""
    front = json.loads((run / "front.json").read_text())
    baseline = json.loads((run / "baseline.json").read_text())
    int8 = next(b for b in baseline if set(b["bits"]) == {8})
    close = [f for f in front if f["accuracy"] >= int8["accuracy"] - 0.01 - 1e-6]
    picks = [("8-bit", int8)]
    if close:
        picks.append(("smallest within 1 pt of 8-bit", min(close, key=lambda f: f["size_bits"])))
    picks.append(("smallest", min(front, key=lambda f: f["size_bits"])))
    return [(label, np.array(e["bits"], np.int32),
             None if e.get("thresholds") is None else np.array(e["thresholds"], np.int32),
             {"delta": e["accuracy"], "dense": e.get("accuracy_without_deltas", e["accuracy"])})
            for label, e in picks]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default="results/shrink_eliminate/mnist_row_seed0/cellgru")
    p.add_argument("--sequences", type=int, default=10)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="results/benchmarks/mcu_footprint")
    args = p.parse_args(argv)
    problem = tc.cortex_m_toolchain()
    if problem:
        raise SystemExit(f"error: {problem}")
    run = Path(args.run)
    cfg, params, ranges = read_run(run)
    stack = cfg.resolved_stack()
    task = cfg.check()
    splits = task.load(args.data_dir, source=cfg.source, quiet=True)
    x = splits.x_test[: args.sequences]
    lengths = np.full(len(x), x.shape[1])
    counts = op_counts(stack, task.features, params.hidden, task.classes)
    matmul_macs = int(sum(m for m, op in zip(counts.macs, stack.ops) if op.kind == "linear"))
    rows = []
    for label, genome, thresholds, accuracy in _choices(run):
        size_objective = int(genome.astype(np.int64) @ counts.params + 8 * counts.head_params)
        for t in ([None] if thresholds is None else [None, thresholds]):
            arrays = export_arrays(params, ranges, genome, thresholds=t)
            ref = Reference(arrays)
            want, _ = ref.run(x, lengths)
            for packed in (True, False):
                with tempfile.TemporaryDirectory() as tmp:
                    sources = tc.write_harness(tmp, arrays, ref.quantize_input(x), lengths, packed=packed)
                    out = tc.run_on_qemu(tc.build_cortex_m(sources))
                    if not np.array_equal(out.logits, want):
                        raise SystemExit(f"error: {label}: the Cortex-M4 logits differ from the reference")
                    size = tc.footprint(sources[0])
                per_step = tc.INSTRUCTIONS_PER_TICK * out.ticks.sum() / lengths.sum()
                rows.append({
                    "genome": label, "bits": genome.tolist(), "thresholds": None if t is None else t.tolist(),
                    "accuracy": accuracy["dense" if t is None else "delta"],
                    "storage": "packed" if packed else "one code per byte",
                    "flash_bytes": size["flash"], "weight_bytes": _weight_bytes(arrays, stack, packed),
                    "size_objective_bytes": size_objective / 8, "state_bytes": out.state_bytes,
                    "instructions_per_step": round(float(per_step)),
                    "instructions_per_matmul_mac": round(float(per_step) / matmul_macs, 2),
                })
                print(rows[-1])
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"run": str(run), "sequences": len(x), "matmul_macs_per_step": matmul_macs,
                                          "rows": rows})
    lines = [f"C export of `{run}` on a Cortex-M4 (QEMU mps2-an386), {len(x)} test sequences; "
             f"{matmul_macs:,} matmul MACs per dense step.", "",
             "| genome | deltas | accuracy | storage | flash B | weights B | size objective B | state B | "
             "instr./step | instr./MAC |", "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        deltas = "off" if r["thresholds"] is None else f"thresholds {r['thresholds']}"
        lines.append(f"| {r['genome']} | {deltas} | {100 * r['accuracy']:.2f}% | {r['storage']} | "
                     f"{r['flash_bytes']:,} | {r['weight_bytes']:,} | "
                     f"{r['size_objective_bytes']:,.0f} | {r['state_bytes']:,} | {r['instructions_per_step']:,} | "
                     f"{r['instructions_per_matmul_mac']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
