"""A grid of search runs, gathered into one table and one figure.

    python experiments/sweep.py --seeds 0 1 2 --hidden 64 128 --generations 10 --out runs/sweep

Every combination of the list-valued options is one ``experiments/run.py`` run in
``<out>/<name>/``. A finished run (its ``summary.json`` exists) is skipped and an interrupted one
resumed, so the sweep itself can be killed and restarted. Writes ``<out>/sweep.csv``,
``sweep.md`` (one row per run) and ``sweep.png`` (every front, and hypervolume per generation).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from jaxgru.experiment import Config, train_and_evaluate
from jaxgru.io import atomic_write_bytes, save_figure, write_csv

GRID = {  # option -> Config field; each takes several values
    "seeds": "seed", "hidden": "hidden", "population": "population", "mutation_rate": "mutation_rate",
    "crossover": "crossover", "mutation": "mutation", "accuracy_floor": "accuracy_floor",
}


def parse_args(argv=None):
    d = Config()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default=d.task)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[d.hidden])
    p.add_argument("--population", type=int, nargs="+", default=[d.population])
    p.add_argument("--mutation-rate", type=float, nargs="+", default=[None])
    p.add_argument("--crossover", nargs="+", default=[d.crossover])
    p.add_argument("--mutation", nargs="+", default=[d.mutation])
    p.add_argument("--accuracy-floor", type=float, nargs="+", default=[None])
    p.add_argument("--generations", type=int, default=d.generations)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--train-size", type=int, default=d.train_size)
    p.add_argument("--calib-size", type=int, default=d.calib_size)
    p.add_argument("--val-size", type=int, default=d.val_size)
    p.add_argument("--mode", default=d.mode, choices=["ptq", "qat"], help="default: the task's (qat on MNIST)")
    p.add_argument("--source", default=d.source, help="speech data: tfds, synthetic or auto")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/sweep")
    return p.parse_args(argv)


def configs(args) -> list[tuple[str, Config]]:
    fixed = {k: getattr(args, k) for k in ("task", "generations", "epochs", "train_size", "calib_size",
                                           "val_size", "data_dir", "mode", "source")}
    out = []
    for values in itertools.product(*(getattr(args, opt) for opt in GRID)):
        fields = dict(zip(GRID.values(), values))
        name = "_".join(f"{k}{v}" for k, v in fields.items() if v is not None)
        run_dir = Path(args.out) / name
        resume = (run_dir / "checkpoints").exists()
        out.append((name, Config(**fixed, **fields, out=str(run_dir), resume=resume, progress=False)))
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    rows = []
    try:
        grid = configs(args)
        for i, (name, cfg) in enumerate(grid):
            summary_path = Path(cfg.out) / "summary.json"
            if summary_path.exists():
                print(f"[{i + 1}/{len(grid)}] {name}: done before, skipped")
            else:
                print(f"[{i + 1}/{len(grid)}] {name}: running", flush=True)
                train_and_evaluate(cfg)
            summary = json.loads(summary_path.read_text())
            rows.append((name, cfg, summary))
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    gather(Path(args.out), rows)
    return 0


def gather(out: Path, rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = ["name", *GRID.values(), "float_val_accuracy", "int8_val_accuracy", "size_reduction_vs_int8",
            "final_hypervolume", "evaluations", "search_seconds"]
    table = []
    for name, cfg, s in rows:
        table.append([name, *(getattr(cfg, f) for f in GRID.values()),
                      *(s.get(c) for c in cols[1 + len(GRID):])])
    write_csv(out / "sweep.csv", cols, table)
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else ("–" if v is None else str(v))  # noqa: E731
    md = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    md += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table]
    atomic_write_bytes(out / "sweep.md", ("\n".join(md) + "\n").encode())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, cfg, _ in rows:
        front = json.loads((Path(cfg.out) / "front.json").read_text())
        ax1.step([f["size_ratio"] for f in front], [f["accuracy"] for f in front], where="post", label=name)
        hist = np.genfromtxt(Path(cfg.out) / "history.csv", delimiter=",", names=True)
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
