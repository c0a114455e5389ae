"""The paper's question as one constrained objective, answered by evosax's strategies and by NSGA-II.

    python experiments/evosax_compare.py --out results/evosax_compare --data-dir ../shared/data

"The smallest genome whose validation accuracy is within 1 point of 8 bits": minimize the size
relative to 16 bits subject to ``accuracy >= accuracy(8 bits) - 0.01``, the violation being the
accuracy missing, in points. evosax's genetic algorithm (``SimpleGA``, crossover rate 0.5) and
differential evolution (``DifferentialEvolution``, its defaults) run through
:class:`jaxgru.search.evosax_strategies.IntegerEvosax` (genes rounded to the nearest index of widths 2..8,
Deb's feasibility rule as one scalar). NSGA-II answers with its usual two objectives (error,
size): its answer is the smallest evaluated genome that meets the constraint. Every search has
``--evaluations`` (840, the paper's budget, P = 40) on the fixed validation subset of
``jaxgru.studies.exact_front``, over ``--seeds``.

Finished searches are kept in ``runs.json`` (the script resumes). Writes ``summary.json`` and
``compare.md``.
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
from jaxgru.search.evosax_strategies import evosax_strategy
from jaxgru.search.loop import run_search
from jaxgru.search.nsga2 import NSGA2
from jaxgru.studies.common import PAPER_BUDGET, add_model_args, cached_accuracy, fixed_subset_or_report, resumable_runs

STRATEGIES = ("SimpleGA", "DifferentialEvolution", "NSGA-II")
STRATEGY_NAMES = {"SimpleGA": "simple_ga", "DifferentialEvolution": "differential_evolution"}  # ALGORITHMS' keys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/evosax_compare")
    add_model_args(p)
    add_arguments(p, Config, only=("population",))
    p.add_argument("--evaluations", type=int, default=PAPER_BUDGET)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    return p.parse_args(argv)


def strategy_for(name: str, population: int, n_var: int, upper: int):
    if name == "NSGA-II":
        s = NSGA2(population, n_var, 2, 0, upper)
        return s, s.default_params
    return evosax_strategy(STRATEGY_NAMES[name], population, n_var, 1, 0, upper, objective=0)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    prep = fixed_subset_or_report(args)
    if prep is None:
        return 2
    widths, n_var = prep.widths, prep.params.stack.n_ops
    score = cached_accuracy(prep)
    homo = widths.homogeneous(prep.params.stack)
    acc8 = float(score(homo)[widths.values.index(8)])
    size8 = float(sizes(prep, homo)[1][widths.values.index(8)])
    floor = acc8 - 0.01

    def measure(genes):
        genomes = widths.decode(genes)
        acc, size = score(genomes), sizes(prep, genomes)[1]
        return acc, size, np.maximum(floor - acc, 0.0) * 100  # violation in points

    def two_objectives(genes, _generation):  # NSGA-II's usual (error, size)
        acc, size, _ = measure(genes)
        return np.stack([1.0 - acc, size], 1), None

    def constrained(genes, _generation):  # size, subject to the accuracy floor
        _, size, violation = measure(genes)
        return size[:, None], violation

    generations = -(-args.evaluations // args.population) - 1

    def run_one(name: str, seed: int) -> dict:
        strategy, params = strategy_for(name, args.population, n_var, len(widths) - 1)
        r = run_search(strategy, params, two_objectives if name == "NSGA-II" else constrained,
                       generations=generations, key=jax.random.key(seed), progress=False)
        genes = r.genomes[: args.evaluations]
        acc, size, violation = measure(genes)
        ok = np.flatnonzero(violation <= 0)
        best = None if not len(ok) else int(ok[np.argmin(size[ok])])
        return {"found": best is not None, "evaluations": len(genes), "feasible_evaluations": int(len(ok)),
                "size_ratio": None if best is None else float(size[best]),
                "accuracy": None if best is None else float(acc[best]),
                "bits": None if best is None else [int(b) for b in widths.decode(genes[best])]}

    runs = resumable_runs(out / "runs.json", STRATEGIES, args.seeds, run_one)
    summary = {"task": args.task, "hidden": args.hidden, "val_size": args.val_size, "population": args.population,
               "evaluations": args.evaluations, "seeds": args.seeds, "int8_accuracy": acc8, "int8_size_ratio": size8,
               "results": {}}
    for name in STRATEGIES:
        rs = [runs[f"{name}|{s}"] for s in args.seeds]
        red = [1 - r["size_ratio"] / size8 for r in rs if r["found"]]
        summary["results"][name] = {
            "found": sum(r["found"] for r in rs), "size_reduction_vs_int8": red,
            "mean": float(np.mean(red)) if red else None, "sd": float(np.std(red, ddof=1)) if len(red) > 1 else None,
            "feasible_share": float(np.mean([r["feasible_evaluations"] / r["evaluations"] for r in rs]))}
    write_json(out / "summary.json", summary)
    text = table(summary)
    atomic_write_bytes(out / "compare.md", (text + "\n").encode())
    print(text)
    return 0


def table(s: dict) -> str:
    lines = [f"{s['task']} GRU({s['hidden']}) PTQ, {s['val_size']} validation sequences "
             f"(int8 {s['int8_accuracy']:.2%}), "
             f"P={s['population']}, {s['evaluations']} evaluations, {len(s['seeds'])} seeds: the smallest genome "
             "within 1 point of int8, as a size reduction against int8.", "",
             "| strategy | seeds that found one | size reduction vs int8, mean ± sd | per seed | share of evaluations "
             "feasible |", "| --- | ---: | ---: | --- | ---: |"]
    for name, r in s["results"].items():
        ms = "-" if r["mean"] is None else f"{100 * r['mean']:.1f}%" + (
            "" if r["sd"] is None else f" ± {100 * r['sd']:.1f}")
        per = ", ".join(f"{100 * x:.1f}%" for x in r["size_reduction_vs_int8"]) or "-"
        lines.append(f"| {name} | {r['found']}/{len(s['seeds'])} | {ms} | {per} | {r['feasible_share']:.0%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
