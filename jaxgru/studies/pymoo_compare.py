"""jaxgru's NSGA-II against pymoo's at equal evaluations, on the same evaluator.

    python experiments/pymoo_compare.py --out results/pymoo_compare --data-dir ../shared/data

The population evaluator (PTQ, ``--task`` with its GRU, the fixed validation subset) is wrapped
as a vectorized pymoo ``Problem`` (17 integer genes, indices into widths 2..8; objectives error
and size relative to 16 bits). pymoo's NSGA-II runs with integer random sampling, SBX and
polynomial mutation with rounding, and duplicate elimination, in two configurations
(:data:`PYMOO`): pymoo's defaults (SBX eta 15, PM eta 20, P offspring per generation) and
MOHAQ's (``optimize_silago.py`` of its code: SBX and PM eta 3, each applied to every specimen,
10 offspring per generation); jaxgru's NSGA-II runs with each variant of ``VARIANTS`` (operators,
mutation rate, islands).
Every search gets ``--evaluations`` (840, the paper's budget) with P = 40, over ``--seeds``.
Scores: the hypervolume (reference (1, 1)) of everything a search evaluated, after exactly
``--evaluations``; the same within 10 points (:data:`USEFUL`) of the 8-bit model's error (reference
(error of 8-bit + 0.1, 1)), the part of the front a deployment would choose from; the smallest
genome within 1 point of the 8-bit model, and how many of the homogeneous 3..8-bit genomes the
evaluated genomes Pareto-dominate; mean and spread over the seeds. Each run also keeps its
front (the non-dominated objectives it evaluated).

Scores are cached per genome across all searches (same data, same numbers). Finished searches
are kept in ``runs.json``, so the script resumes. Writes ``summary.json`` and ``compare.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import numpy as np

from jaxgru.files import atomic_write_bytes, write_json
from jaxgru.runs.config import TEXTBOOK_SEARCH, Config, add_arguments
from jaxgru.runs.prepare import sizes
from jaxgru.runs.searching import make_strategy
from jaxgru.search.islands import Islands
from jaxgru.search.loop import run_search
from jaxgru.search.pareto import archive_hypervolume, dominated_by, pareto_front
from jaxgru.studies.common import (
    PAPER_BUDGET,
    add_model_args,
    cached_accuracy,
    fixed_subset_or_report,
    resumable_runs,
    smallest_within_1pt,
)

# jaxgru variants: the run settings (:class:`~jaxgru.runs.config.Config` fields) of each, every
# operator named (so that a variant means the same search whatever the run defaults are): the textbook
# NSGA-II (uniform crossover at 0.9, reset mutation at 1 / D per gene, P offspring per generation,
# Deb's tournament on rank and crowding, one population) and what differs from it; "rate" is the
# mutation rate per gene in units of 1 / D.
# MOHAQ's operators and generation size, as pymoo-mohaq below
MOHAQ_OPERATORS = {**TEXTBOOK_SEARCH, "crossover": "sbx", "mutation": "polynomial", "crossover_eta": 3.0,
                   "mutation_eta": 3.0, "crossover_rate": 1.0, "offspring": 10}
MOHAQ_DOMINANCE = {**MOHAQ_OPERATORS, "selection": "dominance"}
DEFAULTS = "sbx+polynomial eta 3, dominance"  # the variant that is jaxgru's run defaults (Config)
VARIANTS: dict[str, dict] = {
    "uniform+reset": TEXTBOOK_SEARCH,
    "uniform+reset 2/D": {**TEXTBOOK_SEARCH, "rate": 2.0},
    "two_point+reset": {**TEXTBOOK_SEARCH, "crossover": "two_point"},
    "uniform+step": {**TEXTBOOK_SEARCH, "mutation": "step"},
    "uniform+step, 10 offspring": {**TEXTBOOK_SEARCH, "mutation": "step", "offspring": 10},
    "sbx+polynomial": {**TEXTBOOK_SEARCH, "crossover": "sbx", "mutation": "polynomial"},
    "sbx+polynomial eta 3, 10 offspring": MOHAQ_OPERATORS,
    "sbx+polynomial eta 3, 10 offspring, remate": {**MOHAQ_OPERATORS, "duplicates": "remate"},
    "sbx+polynomial eta 3, 10 offspring, dominance": MOHAQ_DOMINANCE,
    "sbx+polynomial eta 3, 10 offspring, dominance, remate": {**MOHAQ_DOMINANCE, "duplicates": "remate"},
    DEFAULTS: {**MOHAQ_DOMINANCE, "offspring": None},
    "uniform+step, dominance": {**TEXTBOOK_SEARCH, "mutation": "step", "selection": "dominance"},
    "uniform+reset, dominance": {**TEXTBOOK_SEARCH, "selection": "dominance"},
    "uniform+reset, seeded": {**TEXTBOOK_SEARCH, "seed_homogeneous": True},
    "sbx+polynomial eta 3, 10 offspring, dominance, seeded": {**MOHAQ_DOMINANCE, "seed_homogeneous": True},
    "uniform+reset, 10 offspring": {**TEXTBOOK_SEARCH, "offspring": 10},
    f"{DEFAULTS}, permutation": {**MOHAQ_DOMINANCE, "offspring": None, "pairing": "permutation"},
    f"{DEFAULTS}, random ties": {**MOHAQ_DOMINANCE, "offspring": None, "ties": "random"},
    f"{DEFAULTS}, permutation, random ties": {**MOHAQ_DOMINANCE, "offspring": None, "pairing": "permutation",
                                              "ties": "random"},
    "sbx+polynomial eta 3, 10 offspring, dominance, permutation, random ties": {
        **MOHAQ_DOMINANCE, "pairing": "permutation", "ties": "random"},
    "islands 2, every 5": {**TEXTBOOK_SEARCH, "islands": 2},
    "islands 4, every 5": {**TEXTBOOK_SEARCH, "islands": 4},
}


USEFUL = 0.10  # the error above the 8-bit model's that bounds the "useful" hypervolume

# pymoo configurations: SBX (eta, probability), PM (eta, probability per specimen), offspring per
# generation (None: the population size)
PYMOO = {"pymoo": ((15, 0.9), (20, 0.9), None), "pymoo-mohaq": ((3, 1.0), (3, 1.0), 10)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/pymoo_compare")
    add_model_args(p)
    add_arguments(p, Config, only=("population",))
    p.add_argument("--evaluations", type=int, default=PAPER_BUDGET)
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--peers", nargs="+", default=list(PYMOO), choices=list(PYMOO))
    return p.parse_args(argv)


def run_pymoo(objectives, n_var: int, upper: int, population: int, evaluations: int, seed: int,
              config: tuple = PYMOO["pymoo"]) -> np.ndarray:
    """pymoo's NSGA-II with ``config`` (:data:`PYMOO`); the objectives of every genome it
    evaluated, in order (first ``evaluations``)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2 as PymooNSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    seen: list[np.ndarray] = []

    class Widths(Problem):
        def __init__(self):
            super().__init__(n_var=n_var, n_obj=2, xl=0, xu=upper, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            f = objectives(np.asarray(np.round(x), np.int32))
            seen.append(f)
            out["F"] = f

    (sbx_eta, sbx_prob), (pm_eta, pm_prob), offspring = config
    algorithm = PymooNSGA2(pop_size=population, n_offsprings=offspring, sampling=IntegerRandomSampling(),
                           crossover=SBX(eta=sbx_eta, prob=sbx_prob, vtype=float, repair=RoundingRepair()),
                           mutation=PM(eta=pm_eta, prob=pm_prob, vtype=float, repair=RoundingRepair()),
                           eliminate_duplicates=True)
    minimize(Widths(), algorithm, ("n_eval", evaluations), seed=seed, verbose=False)
    return np.concatenate(seen)[:evaluations]


def run_jaxgru(objectives, n_var: int, upper: int, population: int, evaluations: int, seed: int,
               variant: dict) -> np.ndarray:
    """jaxgru's NSGA-II as a run with ``variant``'s settings builds it (``seed_homogeneous``: every
    homogeneous genome in the first population); the objectives of every genome it evaluated, in
    order (first ``evaluations``)."""
    settings = {k: v for k, v in variant.items() if k != "rate"}
    if "rate" in variant:
        settings["mutation_rate"] = variant["rate"] / n_var
    strategy, params = make_strategy(Config(population=population, **settings), n_var, 2, upper)
    per_generation = population if isinstance(strategy, Islands) else strategy.offspring
    generations = -(-(evaluations - population) // per_generation)
    seeds = np.repeat(np.arange(upper + 1)[:, None], n_var, 1) if variant.get("seed_homogeneous") else None
    r = run_search(strategy, params, lambda g, _: (objectives(g), None), generations=generations,
                   key=jax.random.key(seed), progress=False, seeds=seeds)
    return r.objectives.astype(np.float64)[:evaluations]


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    prep = fixed_subset_or_report(args)
    if prep is None:
        return 2
    widths, n_var = prep.widths, prep.params.stack.n_ops
    score = cached_accuracy(prep)

    def objectives(genes: np.ndarray) -> np.ndarray:
        genomes = widths.decode(genes)
        return np.stack([1.0 - score(genomes), sizes(prep, genomes)[1]], 1)

    names = args.peers + args.variants
    eight = np.full((1, n_var), 8, np.int32)
    acc8, size8 = float(score(eight)[0]), float(sizes(prep, eight)[1][0])
    homogeneous = objectives(np.array([[i] * n_var for i, b in enumerate(widths.values) if 3 <= b <= 8], np.int32))

    def run_one(name: str, seed: int) -> dict:
        if name in PYMOO:
            f = run_pymoo(objectives, n_var, len(widths) - 1, args.population, args.evaluations, seed, PYMOO[name])
        else:
            f = run_jaxgru(objectives, n_var, len(widths) - 1, args.population, args.evaluations, seed,
                           VARIANTS[name])
        return {"hypervolume": archive_hypervolume(f, [len(f)])[0], "evaluations": len(f),
                "smallest_within_1pt": smallest_within_1pt(f, acc8, size8),
                "dominated": int(dominated_by(homogeneous, f).sum()), "front": f[pareto_front(f)].tolist()}

    runs = resumable_runs(out / "runs.json", names, args.seeds, run_one)
    summary = {"task": args.task, "hidden": args.hidden, "val_size": args.val_size, "population": args.population,
               "evaluations": args.evaluations, "seeds": args.seeds, "results": {}}
    useful_ref = [1.0 - acc8 + USEFUL, 1.0]
    summary["useful_reference"] = useful_ref
    for name in names:
        hv = np.array([runs[f"{name}|{s}"]["hypervolume"] for s in args.seeds])
        fronts = [np.asarray(runs[f"{name}|{s}"]["front"]) for s in args.seeds]
        useful = np.array([archive_hypervolume(f, [len(f)], useful_ref)[0] for f in fronts])
        small = [runs[f"{name}|{s}"].get("smallest_within_1pt") for s in args.seeds]
        dominated = [runs[f"{name}|{s}"].get("dominated") for s in args.seeds]
        summary["results"][name] = {"mean": float(hv.mean()), "sd": float(hv.std(ddof=1)), "min": float(hv.min()),
                                    "max": float(hv.max()), "per_seed": hv.tolist(),
                                    "useful_mean": float(useful.mean()), "useful_sd": float(useful.std(ddof=1)),
                                    "useful_per_seed": useful.tolist(), "smallest_within_1pt": small,
                                    "dominated": dominated}
    summary["homogeneous"] = len(homogeneous)
    write_json(out / "summary.json", summary)
    text = table(summary)
    atomic_write_bytes(out / "compare.md", (text + "\n").encode())
    print(text)
    return 0


def table(s: dict) -> str:
    lines = [f"{s['task']} GRU({s['hidden']}) PTQ, {s['val_size']} validation sequences, P={s['population']}, "
             f"{s['evaluations']} evaluations, {len(s['seeds'])} seeds: hypervolume of everything evaluated "
             "(error, size / 16-bit; reference (1, 1)), the same within 10 points of 8-bit's error (reference "
             f"({s['useful_reference'][0]:.4f}, 1)), the smallest genome within 1 point of 8-bit (its "
             f"size reduction against 8-bit), and how many of the {s.get('homogeneous', 6)} homogeneous 3..8-bit "
             "genomes the evaluated ones dominate.", "",
             "| search | hypervolume mean | sd | min | max | within 10 pts: mean | sd | smaller than 8-bit: mean "
             "| sd | runs with none | 3..8-bit dominated: mean (min-max) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    labels = {"pymoo": "pymoo NSGA-II, its defaults (SBX eta 15, PM eta 20; int sampling, rounding, no duplicates)",
              "pymoo-mohaq": "pymoo NSGA-II as MOHAQ configures it (SBX and PM eta 3, probability 1, 10 offspring)"}
    for name, r in s["results"].items():
        small = np.array([v for v in r.get("smallest_within_1pt", []) if v is not None], np.float64)
        none = sum(v is None for v in r.get("smallest_within_1pt", []))
        sm = (f"{100 * small.mean():.1f}% | {100 * small.std(ddof=1):.1f}" if len(small) > 1 else "- | -")
        counts = [d for d in r.get("dominated", []) if d is not None]
        dom = f"{np.mean(counts):.1f} ({min(counts)}-{max(counts)})" if counts else "-"
        lines.append(f"| {labels.get(name, f'jaxgru NSGA-II, {name}')} | {r['mean']:.4f} | {r['sd']:.4f} | "
                     f"{r['min']:.4f} | {r['max']:.4f} | {r['useful_mean']:.5f} | {r['useful_sd']:.5f} | {sm} | "
                     f"{none} | {dom} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
