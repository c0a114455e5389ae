"""The exact Pareto front of a reduced genome space, and how close NSGA-II gets to it.

    python experiments/exact_front.py --out results/exact_front --data-dir ../shared/data

1. Ties the cell's genes into groups by operator role (``jaxgru.search.gene_groups``: 5 for the GRU),
   scores *every* genome of that space (7^5 = 16,807 with widths 2..8) with the population
   evaluator on a fixed validation subset (the first ``--val-size`` validation sequences), and
   writes the exact front of (error, size relative to 16 bits) (``space.npz``, ``exact_front.json``).
2. Runs NSGA-II (P=40) in the reduced space, over ``--seeds``, and records the hypervolume of
   everything it has evaluated against the number of evaluations: its share of the exact
   front's at 840 (the paper's budget), 4x and 16x as many.
3. Runs NSGA-II in the full space (17 genes) with 16x the paper's budget on the same data; a
   run's first 840 evaluations are the paper-budget search of that seed (each generation's key
   depends only on the seed and the generation), so one run gives both.

Scores are cached per genome (a genome met again is not re-scored; evaluations still count it).
Every step is resumable: the enumeration saves after every chunk, the searches checkpoint.
Writes ``summary.json``, ``exact_front.md`` and ``hv_vs_evaluations.png`` in ``--out``.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from jaxgru.files import atomic_write_bytes, write_json
from jaxgru.runs.config import Config, add_arguments
from jaxgru.runs.prepare import sizes
from jaxgru.search.gene_groups import enumerate_space, expand, op_groups
from jaxgru.search.nsga2 import NSGA2
from jaxgru.search.pareto import archive_hypervolume, pareto_front
from jaxgru.studies.common import (
    PAPER_BUDGET,
    add_model_args,
    cached_accuracy,
    fixed_subset_or_report,
    search_trajectory,
)

MULTIPLES = (1, 4, 16)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/exact_front")
    add_model_args(p)
    add_arguments(p, Config, only=("population",))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--chunk", type=int, default=280, help="genomes per scoring call while enumerating")
    p.add_argument("--full-space", choices=("yes", "no"), default="yes")
    return p.parse_args(argv)


class SpaceScores:
    """The accuracy of every reduced genome, filled chunk by chunk and saved after each chunk
    (``path``, atomically) so an interrupted enumeration resumes."""

    def __init__(self, path: Path, values: tuple[int, ...], n_groups: int):
        self.path, self.values = path, values
        self.groups = enumerate_space(values, n_groups)
        self.accuracy = np.full(len(self.groups), np.nan)
        if path.exists():
            with np.load(path) as f:
                if f["groups"].shape == self.groups.shape and (f["groups"] == self.groups).all():
                    self.accuracy = f["accuracy"]

    def fill(self, score, cell, chunk: int, progress: bool = True) -> None:
        todo = np.flatnonzero(np.isnan(self.accuracy))
        from tqdm.auto import tqdm

        for start in tqdm(range(0, len(todo), chunk), desc="enumerate", unit="chunk", disable=not progress):
            ix = todo[start : start + chunk]
            self.accuracy[ix] = score(expand(self.groups[ix], cell))
            buf = io.BytesIO()
            np.savez(buf, groups=self.groups, accuracy=self.accuracy)
            atomic_write_bytes(self.path, buf.getvalue())

    def index(self, group_genes: np.ndarray) -> np.ndarray:
        """Row of each reduced genome given as gene indices into ``values`` (mixed radix)."""
        radix = len(self.values) ** np.arange(group_genes.shape[1] - 1, -1, -1)
        return (np.asarray(group_genes) * radix).sum(1)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    prep = fixed_subset_or_report(args)
    if prep is None:
        return 2
    cell, widths = prep.params.stack, prep.widths
    groups = op_groups(cell)
    score = cached_accuracy(prep)

    def objectives(genomes: np.ndarray) -> np.ndarray:
        return np.stack([1.0 - score(genomes), sizes(prep, genomes)[1]], 1)

    # 1. every genome of the reduced space
    space = SpaceScores(out / "space.npz", widths.values, len(groups))
    print(f"{len(space.groups)} reduced genomes ({len(groups)} groups: {', '.join(groups)}), "
          f"{int(np.isnan(space.accuracy).sum())} to score on {len(prep.x_val)} validation sequences", flush=True)
    space.fill(score, cell, args.chunk)
    full = expand(space.groups, cell)
    f_space = np.stack([1.0 - space.accuracy, sizes(prep, full)[1]], 1)
    front = pareto_front(f_space)
    ref = (1.0, 1.0)
    exact_hv = archive_hypervolume(f_space[front], [len(front)], ref)[0]
    write_json(out / "exact_front.json", [
        {"groups": dict(zip(groups, map(int, space.groups[i]))), "bits": [int(b) for b in full[i]],
         "accuracy": float(space.accuracy[i]), "size_ratio": float(f_space[i, 1])} for i in front])

    # 2. and 3. NSGA-II against it, reduced and full space
    ends = [m * PAPER_BUDGET for m in MULTIPLES]
    generations = ends[-1] // args.population - 1
    checkpoints = list(range(args.population, ends[-1] + 1, args.population))
    runs = {"reduced": [], "full": []}
    for seed in args.seeds:
        strategy = NSGA2(args.population, len(groups), 2, 0, len(widths) - 1)
        f, genes = search_trajectory(strategy, lambda g: f_space[space.index(g)], generations, seed, None)
        off_front = [int(i) for i in space.index(genes) if not (f_space[front] <= f_space[i]).all(1).any()]
        hv = archive_hypervolume(f, checkpoints, ref)
        runs["reduced"].append({"seed": seed, "hypervolume": hv, "not_covered_by_exact_front": len(off_front),
                                "exact_front_points_found": int(np.isin(front, space.index(genes)).sum())})
        print(f"reduced seed {seed}: HV share at {ends}: "
              f"{[round(hv[e // args.population - 1] / exact_hv, 4) for e in ends]}", flush=True)
    if args.full_space == "yes":
        for seed in args.seeds:
            strategy = NSGA2(args.population, cell.n_ops, 2, 0, len(widths) - 1)
            f, _ = search_trajectory(strategy, lambda g: objectives(widths.decode(g)), generations, seed,
                                     out / f"full_s{seed}" / "checkpoints")
            hv = archive_hypervolume(f, checkpoints, ref)
            runs["full"].append({"seed": seed, "hypervolume": hv})
            print(f"full seed {seed}: HV at {ends}: {[round(hv[e // args.population - 1], 4) for e in ends]}",
                  flush=True)

    summary = summarize(runs, exact_hv, len(front), checkpoints, ends, args, groups, len(space.groups))
    write_json(out / "summary.json", summary)
    atomic_write_bytes(out / "exact_front.md", (table(summary) + "\n").encode())
    plot(out / "hv_vs_evaluations.png", summary)
    print(table(summary))
    return 0


def summarize(runs, exact_hv, front_size, evaluations, ends, args, groups, space_size) -> dict:
    at = lambda hv, e: hv[evaluations.index(e)]  # noqa: E731
    stats = lambda xs: {"mean": float(np.mean(xs)), "sd": float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0,  # noqa: E731
                        "min": float(np.min(xs)), "max": float(np.max(xs))}
    out = {"task": args.task, "hidden": args.hidden, "val_size": args.val_size, "population": args.population,
           "groups": {g: list(ix) for g, ix in groups.items()}, "space_size": space_size,
           "exact_hypervolume": exact_hv, "exact_front_size": front_size, "evaluations": evaluations,
           "seeds": args.seeds, "runs": runs, "reduced": {}, "full": {}}
    for e in ends:
        out["reduced"][str(e)] = stats([at(r["hypervolume"], e) / exact_hv for r in runs["reduced"]])
        if runs["full"]:
            out["full"][str(e)] = stats([at(r["hypervolume"], e) for r in runs["full"]])
            out["full"][str(e)]["share_of_reduced_exact"] = stats(
                [at(r["hypervolume"], e) / exact_hv for r in runs["full"]])
    return out


def table(s: dict) -> str:
    lines = [f"Reduced space: {s['space_size']} genomes ({len(s['groups'])} groups), exact front "
             f"{s['exact_front_size']} points, hypervolume {s['exact_hypervolume']:.4f} (reference (1, 1)); "
             f"{s['task']} GRU({s['hidden']}), {s['val_size']} validation sequences, P={s['population']}, "
             f"{len(s['seeds'])} seeds (mean ± sd, min-max).", "",
             "| evaluations | reduced space: share of the exact front's HV | full space: HV | full space HV / "
             "reduced exact HV |", "| ---: | ---: | ---: | ---: |"]
    for e, r in s["reduced"].items():
        fl = s["full"].get(e)
        fmt = lambda d, p: f"{d['mean']:.{p}f} ± {d['sd']:.{p}f} ({d['min']:.{p}f}-{d['max']:.{p}f})"  # noqa: E731
        lines.append(f"| {e} | {fmt(r, 4)} | {fmt(fl, 4) if fl else '-'} | "
                     f"{fmt(fl['share_of_reduced_exact'], 4) if fl else '-'} |")
    return "\n".join(lines)


def plot(path: Path, s: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxgru.files import save_figure

    ev = np.array(s["evaluations"])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, color in (("reduced", "C0"), ("full", "C1")):
        if not s["runs"][name]:
            continue
        hv = np.array([r["hypervolume"] for r in s["runs"][name]])
        ax.plot(ev, hv.mean(0), color=color, label=f"NSGA-II, {name} space (mean of {len(hv)} seeds)")
        ax.fill_between(ev, hv.min(0), hv.max(0), color=color, alpha=0.2)
    ax.axhline(s["exact_hypervolume"], color="k", ls="--", label="exact front of the reduced space")
    for m in MULTIPLES:
        ax.axvline(m * PAPER_BUDGET, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume (error, size / 16-bit; ref (1, 1))")
    ax.set_title(f"{s['task']} GRU({s['hidden']}), {s['val_size']} validation sequences")
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
