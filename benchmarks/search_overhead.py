"""Cost of one NSGA-II generation's selection, variation and survival, without evaluation.

    python benchmarks/search_overhead.py

jaxgru's ``NSGA2.ask`` + ``tell`` (jitted) against pymoo's NSGA-II mating (tournament, integer
SBX + polynomial mutation with rounding, duplicate elimination) and survival
(``RankAndCrowding``) on the same random objective values, 17 integer genes in 2..8. Writes
``results/benchmarks/search_overhead.json``.
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
from timing import seconds_per_call  # noqa: E402


def jaxgru_generation(p: int) -> float:
    from jaxgru.search.nsga2 import NSGA2

    strategy = NSGA2(p, 17)
    params = strategy.default_params
    state = strategy.init(jax.random.key(0), params)
    pop, state = strategy.ask(jax.random.key(1), state, params)
    rng = np.random.default_rng(0)
    state, _ = strategy.tell(jax.random.key(2), pop, jnp.asarray(rng.random((p, 2)), jnp.float32), state, params)
    fit = jnp.asarray(rng.random((p, 2)), jnp.float32)

    def generation():
        children, s = strategy.ask(jax.random.key(3), state, params)
        s, m = strategy.tell(jax.random.key(4), children, fit, s, params)
        jax.block_until_ready(s.population)

    return seconds_per_call(generation, min_seconds=0.5, min_reps=3)


def pymoo_generation(p: int) -> float:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.population import Population
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    problem = Problem(n_var=17, n_obj=2, xl=2, xu=8, vtype=int)
    algorithm = NSGA2(
        pop_size=p, sampling=IntegerRandomSampling(),
        crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
        mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True,
    )
    algorithm.setup(problem, seed=0)
    rng = np.random.default_rng(0)
    pop = Population.new(X=rng.integers(2, 9, (p, 17)), F=rng.random((p, 2)))
    pop = algorithm.survival.do(problem, pop, n_survive=p, algorithm=algorithm)  # sets rank, crowding
    off_f = rng.random((p, 2))

    def generation():
        off = algorithm.mating.do(problem, pop, p, algorithm=algorithm)
        off.set("F", off_f[: len(off)])
        algorithm.survival.do(problem, Population.merge(pop, off), n_survive=p, algorithm=algorithm)

    return seconds_per_call(generation, min_seconds=0.5, min_reps=3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--populations", type=int, nargs="+", default=[40, 256, 1024, 4096])
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks"))
    args = ap.parse_args(argv)
    from jaxgru.files import write_json

    rows = []
    print("| P | jaxgru NSGA2 ask+tell (ms) | pymoo NSGA-II mating+survival (ms) | pymoo / jaxgru |")
    print("| --- | --- | --- | --- |")
    for p in args.populations:
        ours, theirs = jaxgru_generation(p), pymoo_generation(p)
        rows.append({"population": p, "jaxgru_seconds": ours, "pymoo_seconds": theirs})
        print(f"| {p} | {ours * 1e3:.1f} | {theirs * 1e3:.1f} | {theirs / ours:.1f}x |", flush=True)
    write_json(Path(args.out) / "search_overhead.json", {"device": str(jax.devices()[0]), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
