"""Larger populations at equal wall time: what a fast evaluator buys a search.

    python experiments/large_population.py --out results/large_population --data-dir ../shared/data

The paper's search (``mnist_row``, PTQ, GRU(128), P=40, 20 generations, the whole validation
split) against larger populations (``--populations``, e.g. 160 and 640), each given the
generations that fit in the P=40 search's wall time *on this machine*: the time of one
generation at each P is measured (one scoring call of P random genomes after compilation, the
median of ``--timing-repeats``) and the generations are ``round(T_40 / t_P) - 1`` (at least 1),
where ``T_40`` is 21 generations at P=40 measured the same way. Every search starts from one
float model (``--float-model`` or trained once); ``--seeds`` are search seeds.

Each search is a normal run folder (``<out>/P<P>_s<seed>/``), so interrupted ones resume and
finished ones are kept. Compared: the final hypervolume, the homogeneous 3..8-bit models the
front dominates, the size reduction within 1 point of 8 bits, the evaluations and search
seconds. Writes ``<out>/summary.json`` and ``<out>/large_population.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from jaxgru.files import atomic_write_bytes, write_json
from jaxgru.model.population import population_accuracy
from jaxgru.runs.config import Config, RunOptions, command_line_message
from jaxgru.runs.experiment import train_and_evaluate
from jaxgru.runs.prepare import prepare
from jaxgru.studies.common import add_model_args, model_config

BASE_P, BASE_G = 40, 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/large_population")
    add_model_args(p, val_size=None)
    p.add_argument("--populations", type=int, nargs="+", default=[160, 640])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--timing-repeats", type=int, default=3)
    return p.parse_args(argv)


def base_config(args, population: int, generations: int, seed: int) -> Config:
    return model_config(args, population=population, generations=generations, seed=seed)


def seconds_per_generation(prep, population: int, repeats: int) -> float:
    """Median time of scoring ``population`` random genomes (compiled first)."""
    rng = np.random.default_rng(population)
    genomes = rng.integers(2, 9, (population, prep.params.stack.n_ops)).astype(np.int32)
    population_accuracy(prep.params, prep.ranges, genomes, prep.x_val, prep.y_val, lengths=prep.lengths_val)  # compile
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        population_accuracy(prep.params, prep.ranges, genomes, prep.x_val, prep.y_val, lengths=prep.lengths_val)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    model = out / "model"
    if args.float_model and not (model / "float_model").exists():
        shutil.copytree(Path(args.float_model) / "float_model", model / "float_model")
    try:
        prep = prepare(base_config(args, BASE_P, BASE_G, 0), RunOptions(out=str(model), data_dir=args.data_dir,
                                                                       quiet=True))
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    timing_path = out / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    for p in [BASE_P] + args.populations:
        if str(p) not in timing:
            timing[str(p)] = seconds_per_generation(prep, p, args.timing_repeats)
            write_json(timing_path, timing)
    budget = (BASE_G + 1) * timing[str(BASE_P)]
    plan = {BASE_P: BASE_G}
    for p in args.populations:
        plan[p] = max(1, round(budget / timing[str(p)]) - 1)
    print("generations at equal wall time: " + ", ".join(f"P={p}: {g}" for p, g in plan.items()), flush=True)

    rows = []
    for seed in args.seeds:
        for p, g in plan.items():
            run = out / f"P{p}_s{seed}"
            if not (run / "float_model").exists():
                shutil.copytree(model / "float_model", run / "float_model")
            summary_path = run / "summary.json"
            if summary_path.exists():
                s = json.loads(summary_path.read_text())
            else:
                s = train_and_evaluate(base_config(args, p, g, seed), RunOptions(
                    out=str(run), resume=(run / "checkpoints").exists(), data_dir=args.data_dir, quiet=True))
            rows.append({"population": p, "generations": g, "seed": seed, "hypervolume": s["final_hypervolume"],
                         "homogeneous_dominated": s["homogeneous_dominated"],
                         "size_reduction_vs_int8": s["size_reduction_vs_int8"], "evaluations": s["evaluations"],
                         "search_seconds": s["search_seconds"]})
            print(f"P={p} G={g} seed {seed}: HV {s['final_hypervolume']:.4f}, {s['homogeneous_dominated']} "
                  f"dominated, {s['search_seconds']:.0f} s", flush=True)
    summary = {"plan": {str(p): g for p, g in plan.items()}, "seconds_per_generation": timing, "runs": rows}
    write_json(out / "summary.json", summary)
    text = table(summary, args)
    atomic_write_bytes(out / "large_population.md", (text + "\n").encode())
    print(text)
    return 0


def table(summary: dict, args) -> str:
    def stat(xs, fmt):
        xs = [x for x in xs if x is not None]
        if not xs:
            return "-"
        sd = np.std(xs, ddof=1) if len(xs) > 1 else 0.0
        return f"{fmt.format(np.mean(xs))} ± {fmt.format(sd)} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"

    lines = [f"{args.task} GRU({args.hidden}) PTQ at equal wall time, {len(args.seeds)} seeds (mean ± sd, min-max); "
             "size reduction of the smallest genome within 1 point of 8 bits.", "",
             "| P | generations | evaluations | search s | hypervolume | homogeneous dominated (of 6) | "
             "size reduction vs int8 |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p, g in summary["plan"].items():
        rs = [r for r in summary["runs"] if r["population"] == int(p)]
        pct = [None if r["size_reduction_vs_int8"] is None else 100 * r["size_reduction_vs_int8"] for r in rs]
        lines.append(f"| {p} | {g} | {rs[0]['evaluations'] if rs else '-'} | "
                     f"{stat([r['search_seconds'] for r in rs], '{:.0f}')} | "
                     f"{stat([r['hypervolume'] for r in rs], '{:.4f}')} | "
                     f"{stat([r['homogeneous_dominated'] for r in rs], '{:.1f}')} | {stat(pct, '{:.1f}%')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
