"""Instructions per multiply-accumulate of the exported C's matmuls on an emulated Cortex-M4, by
weight width and storage, through the DSP path (SMLAD) and the portable C99 loops, side by side.

Each genome puts every operator at one width; the model is exported from a run's float model and a
harness calls each of its dense linear operators (``jx_linear``: the dot products, the bias and
the requantization of every row) 50 times on fixed codes, between two reads of QEMU's instruction
counter (``-icount shift=0``; SysTick, 40 instructions a tick: a figure of instructions, not
cycles). The DSP and portable builds must print the same output codes. Writes
``results/benchmarks/mcu_matmul.{json,md}``.

    python benchmarks/mcu_matmul.py --run results/shrink_eliminate/mnist_row_seed0/cellgru
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import numpy as np

from jaxgru.deploy import toolchain as tc
from jaxgru.deploy.c_source import c_sources
from jaxgru.deploy.from_run import read_run
from jaxgru.files import write_json
from jaxgru.model.export import export_arrays

REPEATS = 50
_LINEAR = re.compile(r"jx_linear\(l->v_(\w+), ([^,]+), (\d+), (\d+), (.*)\);")


def _harness(model_c: str, codes: np.ndarray) -> tuple[str, list[tuple[str, int, int]]]:
    """A program including the model's source that times each ``jx_linear`` call of its step."""
    calls = _LINEAR.findall(model_c)
    body, ops = [], []
    for op, _, n_in, n_out, rest in calls:
        ops.append((op, int(n_in), int(n_out)))
        body.append(f"""    start = jx_ticks();
    for (r = 0; r < {REPEATS}; ++r)
        jx_linear(out, codes, {n_in}, {n_out}, {rest});
    stop = jx_ticks();
    jx_puts("T"); jx_print((int64_t)(stop - start)); jx_puts("\\n");
    jx_puts("O"); for (r = 0; r < {n_out}; ++r) jx_print(out[r]); jx_puts("\\n");""")
    flat = ", ".join(str(int(v)) for v in codes)
    program = f"""#include "model.c"
void jx_puts(const char *s);
uint64_t jx_ticks(void);
static const int8_t codes[{codes.size}] = {{{flat}}};
static int8_t out[1024];
{tc.PRINT_C}int main(void)
{{
    uint64_t start, stop;
    int32_t r;
{chr(10).join(body)}
    return 0;
}}
"""
    return program, ops


def _measure(arrays: dict, packed: bool, portable: bool, codes: np.ndarray):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for fname, text in c_sources(arrays, "model", packed=packed).items():
            (d / fname).write_text(text)
        program, ops = _harness((d / "model.c").read_text(), codes)
        (d / "bench.c").write_text(program)
        flags = ("-DJAXGRU_PORTABLE",) if portable else ()
        text = tc.qemu_text(tc.build_cortex_m([d / "bench.c"], flags=("-Wno-unused-function", *flags)))
    ticks = [int(line[1:]) for line in text.splitlines() if line.startswith("T")]
    outs = [line for line in text.splitlines() if line.startswith("O")]
    return ops, ticks, outs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default="results/shrink_eliminate/mnist_row_seed0/cellgru")
    p.add_argument("--out", default="results/benchmarks/mcu_matmul")
    args = p.parse_args(argv)
    problem = tc.cortex_m_toolchain()
    if problem:
        raise SystemExit(f"error: {problem}")
    run = Path(args.run)
    cfg, params, ranges = read_run(run)
    stack = cfg.resolved_stack()
    codes = np.random.default_rng(0).integers(-128, 128, 1024).astype(np.int8)
    rows = []
    for bits, packed in ((8, False), (4, True), (2, True), (4, False), (3, True), (5, True), (6, True), (7, True)):
        genome = np.full(len(stack.ops), bits, np.int32)
        arrays = export_arrays(params, ranges, genome)
        measured = {}
        for portable in (False, True):
            ops, ticks, outs = _measure(arrays, packed, portable, codes)
            measured[portable] = (ticks, outs)
        if measured[False][1] != measured[True][1]:
            raise SystemExit(f"error: {bits}-bit: the DSP and portable builds' outputs differ")
        macs = sum(n_in * n_out for _, n_in, n_out in ops)
        row = {"bits": bits, "storage": "packed" if packed and bits < 8 else "one code per byte",
               "operators": [f"{op} {n_out}x{n_in}" for op, n_in, n_out in ops], "macs_per_call": macs}
        for portable, name in ((False, "dsp"), (True, "portable")):
            ticks = measured[portable][0]
            row[f"{name}_per_mac"] = round(tc.INSTRUCTIONS_PER_TICK * sum(ticks) / (REPEATS * macs), 3)
            row[f"{name}_per_mac_by_operator"] = [
                round(tc.INSTRUCTIONS_PER_TICK * t / (REPEATS * n_in * n_out), 3) for t, (_, n_in, n_out) in
                zip(ticks, ops)]
        rows.append(row)
        print(row)
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"run": str(run), "repeats": REPEATS, "rows": rows})
    base = rows[0]["dsp_per_mac"]
    lines = [f"Dense linear operators of `{run}` ({', '.join(rows[0]['operators'])}) on a Cortex-M4 "
             f"(QEMU mps2-an386, `-icount`); instructions per multiply-accumulate, the bias and "
             "requantization of every row included; DSP and portable builds give the same codes.", "",
             "| weights | storage | DSP instr./MAC | vs 8-bit | portable instr./MAC |",
             "| ---: | --- | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['bits']}-bit | {r['storage']} | {r['dsp_per_mac']} | "
                     f"{r['dsp_per_mac'] / base:.2f}x | {r['portable_per_mac']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
