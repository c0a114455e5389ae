"""A grid of search runs, gathered into one table and one figure.

    python experiments/sweep.py --seeds 0 1 2 --cell gru lstm --generations 10 --out runs/sweep

Every setting of ``experiments/run.py`` (declared once, in ``jaxgru.runs.config``) takes one or more
values here; every combination is one run in ``<out>/<name>/``, named after what varies. A
finished run (its ``summary.json`` exists) is skipped and an interrupted one resumed, so the
sweep itself can be killed and restarted. ``--jobs N`` runs N at once, each process on its own
share of the CPU cores; ``--engine ray`` runs each as a Ray task instead (on this machine or a
cluster, :mod:`jaxgru.runs.ray_engine`), a failed run reported without stopping the others.
Writes ``<out>/sweep.csv``,
``sweep.md`` (one row per run) and ``sweep.png`` (every front, and hypervolume per generation).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from jaxgru.files import atomic_write_bytes, save_figure, write_csv
from jaxgru.runs.config import (
    PRESETS,
    Config,
    RunOptions,
    add_arguments,
    apply_preset,
    command_line_message,
    grid_from_args,
)
from jaxgru.runs.experiment import train_and_evaluate
from jaxgru.runs.processes import core_shares, run_pinned


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named set of settings (as run.py's); flags override it")
    add_arguments(p.add_argument_group("settings: each takes one or more values, every combination runs"), Config,
                  many=True)
    p.add_argument("--seeds", type=int, nargs="+", dest="seed", help="alias of --seed")
    p.add_argument("--data-dir", default=None, help="folder with the data files (else $JAXGRU_DATA_DIR)")
    p.add_argument("--out", default="runs/sweep")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, each in its own process on its share of the "
                   "CPU cores (on 2 cores: 1.06x sooner for PTQ runs, 1.30x for QAT runs, "
                   "benchmarks/parallel_sweep.py; the same results as --jobs 1)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this machine's processes (--jobs); ray: one Ray task per run")
    p.add_argument("--address", default=None, help="with --engine ray: a running Ray cluster's address "
                   "(HEAD:6379); default: join RAY_ADDRESS's cluster or start Ray here")
    p.add_argument("--run-cpus", type=float, default=1.0, help="with --engine ray: CPUs each run holds")
    p.add_argument("--run-gpus", type=float, default=0.0, help="with --engine ray: GPUs each run holds")
    p.add_argument("--run-tpus", type=float, default=0.0, help="with --engine ray: TPU chips each run holds "
                   "(Ray's TPU resource)")
    apply_preset(p, argv, many=True)
    return p.parse_args(argv)


def configs(args) -> list[tuple[str, dict, Config, RunOptions]]:
    """One ``(name, varied settings, config, options)`` per run; the name lists what varies."""
    out = []
    for varied, cfg in grid_from_args(args):
        name = "_".join(f"{k}{v}" for k, v in varied.items()) or "run"
        run_dir = Path(args.out) / name
        resume = (run_dir / "checkpoints").exists()
        out.append((name, varied, cfg, RunOptions(out=str(run_dir), resume=resume, quiet=True, data_dir=args.data_dir)))
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    failed: list[str] = []
    try:
        if args.engine == "ray":
            from jaxgru.runs.ray_engine import import_ray

            import_ray()  # refuse before anything runs
        else:
            core_shares(args.jobs)  # refuse a --jobs the machine cannot give before anything runs
        grid = configs(args)
        todo = []
        for name, _, cfg, opts in grid:
            if (Path(opts.out) / "summary.json").exists():
                print(f"{name}: done before, skipped")
            else:
                todo.append((cfg, opts))
        if args.engine == "ray":
            from jaxgru.runs.ray_engine import run_on_ray

            print(f"{len(todo)} of {len(grid)} runs to do, as Ray tasks", flush=True)
            # absolute folders: a Ray worker need not start where this process runs
            todo = [(cfg, replace(opts, out=str(Path(opts.out).absolute()),
                                  data_dir=opts.data_dir and str(Path(opts.data_dir).absolute())))
                    for cfg, opts in todo]
            finished = run_on_ray(train_and_evaluate, todo, address=args.address, cpus=args.run_cpus,
                                  gpus=args.run_gpus, tpus=args.run_tpus)
        else:
            print(f"{len(todo)} of {len(grid)} runs to do, {min(args.jobs, max(len(todo), 1))} at a time", flush=True)
            finished = ((i, None) for i, _ in run_pinned(train_and_evaluate, todo, args.jobs))
        for k, (i, error) in enumerate(finished):
            name = Path(todo[i][1].out).name
            print(f"[{k + 1}/{len(todo)}] {name}: " + ("finished" if error is None else f"failed: {error}"), flush=True)
            if error is not None:
                failed.append(name)
        rows = [(name, varied, opts, json.loads((Path(opts.out) / "summary.json").read_text()))
                for name, varied, _, opts in grid if (Path(opts.out) / "summary.json").exists()]
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    gather(Path(args.out), rows)
    if failed:
        print(f"error: {len(failed)} run(s) failed: {', '.join(failed)}; the others are gathered. Fix the cause and "
              "run the sweep again: it skips finished runs and resumes interrupted ones.", file=sys.stderr)
        return 2
    return 0


def gather(out: Path, rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    varied_cols = list(rows[0][1]) if rows else []
    stats = ["cell", "float_val_accuracy", "int8_val_accuracy", "size_reduction_vs_int8", "final_hypervolume",
             "evaluations", "search_seconds"]
    cols = ["name", *varied_cols, *(c for c in stats if c not in varied_cols)]
    table = []
    for name, varied, _, s in rows:
        table.append([name, *(varied[c] for c in varied_cols), *(s.get(c) for c in cols[1 + len(varied_cols):])])
    write_csv(out / "sweep.csv", cols, table)
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else ("–" if v is None else str(v))  # noqa: E731
    md = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    md += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table]
    atomic_write_bytes(out / "sweep.md", ("\n".join(md) + "\n").encode())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, _, opts, _ in rows:
        front = json.loads((Path(opts.out) / "front.json").read_text())
        ax1.step([f["size_ratio"] for f in front], [f["accuracy"] for f in front], where="post", label=name)
        hist = np.genfromtxt(Path(opts.out) / "history.csv", delimiter=",", names=True)
        ax2.plot(np.atleast_1d(hist["generation"]), np.atleast_1d(hist["hypervolume"]), "o-", ms=3, label=name)
    ax1.set_xlabel("model size / 16-bit model size")
    ax1.set_ylabel("validation accuracy")
    ax2.set_xlabel("generation")
    ax2.set_ylabel("hypervolume")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    ax2.legend(fontsize=7)
    save_figure(fig, out / "sweep.png")
    plt.close(fig)
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
