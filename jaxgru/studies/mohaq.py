"""MOHAQ's headline results, on the tasks and cells available here (TIMIT is not).

    python experiments/mohaq.py --tasks mnist_row digits --cells gru sru --out results/mohaq

Per (task, cell), five searches from one float model (the first trains it, the rest copy it),
P=40, G=20, in ``<out>/<task>_<cell>/<run>/``:

  silago     PTQ, widths {4, 8, 16}; error, SiLago speed-up, SiLago energy. MOHAQ: 97% of the
             maximum speed-up and 86% of the maximum energy saving within 1 point of the 16-bit
             model's error.
  bitfusion  PTQ (inference-only), widths {2, 4, 8, 16}; error, Bitfusion speed-up.
  beacon     the same with beacon-based search. MOHAQ: beacons cut inference-only search's error
             gain by up to 4.9 points.
  compress   PTQ, widths {2, 4, 8, 16}; error, size. MOHAQ: 8x smaller than 32-bit float by PTQ
             alone without a significant error increase (here: within 1 point of 16 bits).
  constrained  compress under an error ceiling, as MOHAQ searched: validation error at most the
             compress run's 16-bit error plus 1 point (``max_error``; constrained domination), so
             the search spends its budget where the question is.

Finished runs are skipped and interrupted ones resumed. Writes ``<out>/mohaq.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from jaxgru.files import atomic_write_bytes, write_json
from jaxgru.runs.config import TEXTBOOK_SEARCH, Config, RunOptions, add_arguments, command_line_message
from jaxgru.runs.experiment import train_and_evaluate

# Float training per (task, cell): what trains each to a useful accuracy on 2 cores.
TRAINING = {("mnist_row", "gru"): dict(epochs=5, calib_size=5000),
            ("mnist_row", "sru"): dict(epochs=20, calib_size=5000),
            ("digits", "gru"): dict(epochs=30), ("digits", "sru"): dict(epochs=60, learning_rate=1e-2),
            ("speech10", "gru"): dict(epochs=30), ("speech10", "sru"): dict(epochs=30)}
RUNS = {
    "silago": dict(platform="silago", mode="ptq"),
    "bitfusion": dict(platform="bitfusion", mode="ptq"),
    "beacon": dict(platform="bitfusion", mode="beacon"),
    "compress": dict(widths="2,4,8,16", objectives="error,size", mode="ptq"),
    "constrained": dict(widths="2,4,8,16", objectives="error,size", mode="ptq"),  # + max_error, from compress
}
CEILING_OVER_WIDEST = 0.01  # the constrained run's error ceiling: the 16-bit model's error plus 1 point


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["mnist_row", "digits"])
    p.add_argument("--cells", nargs="+", default=["gru", "sru"])
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    add_arguments(p, Config, only=("hidden", "population", "generations", "seed", "epochs", "qat_learning_rate",
                                   "train_size", "val_size"))
    add_arguments(p, RunOptions, only=("data_dir",))
    # Float training epochs default to each (task, cell)'s own (TRAINING); MOHAQ retrains at 1e-3.
    p.set_defaults(epochs=None, qat_learning_rate=1e-3)
    p.add_argument("--out", default="results/mohaq")
    return p.parse_args(argv)


def run_config(args, task: str, cell: str, run: str) -> Config:
    training = dict(TRAINING.get((task, cell), dict(epochs=5)))
    if args.epochs is not None:
        training["epochs"] = args.epochs
    settings = dict(RUNS[run])
    if run == "constrained":
        baseline = Path(args.out) / f"{task}_{cell}" / "compress" / "baseline.json"
        if not baseline.exists():
            raise FileNotFoundError(f"{baseline} is missing: the constrained run takes its error ceiling from the "
                                    "compress run's 16-bit model; run compress first (--runs compress constrained).")
        widest = json.loads(baseline.read_text())[-1]
        settings["max_error"] = round(1 - widest["accuracy"] + CEILING_OVER_WIDEST, 6)
    # the textbook search, which made the committed rows (results/mohaq)
    return Config(task=task, cell=cell, hidden=args.hidden, population=args.population,
                  generations=args.generations, seed=args.seed, train_size=args.train_size, val_size=args.val_size,
                  qat_learning_rate=args.qat_learning_rate, **TEXTBOOK_SEARCH, **training, **settings)


def run_one(args, task: str, cell: str, run: str) -> dict:
    base = Path(args.out) / f"{task}_{cell}"
    out = base / run
    if (out / "summary.json").exists():
        return json.loads((out / "summary.json").read_text())
    if not (out / "float_model").exists():
        trained = [d / "float_model" for d in sorted(base.glob("*")) if (d / "float_model").exists()]
        if trained:
            shutil.copytree(trained[0], out / "float_model")  # one float model per (task, cell)
    cfg = run_config(args, task, cell, run)
    return train_and_evaluate(cfg, RunOptions(out=str(out), resume=(out / "checkpoints").exists(),
                                              data_dir=args.data_dir, quiet=True))


# MOHAQ's Bitfusion search ran under an error constraint, so its cuts are where models stay usable:
# the second figure counts only speed-ups at which inference-only search loses at most this much.
USABLE_GAIN = 10.0  # points


def error_gain_reduction(ptq_front: list[dict], beacon_front: list[dict], widest_error: float,
                         usable_gain: float = USABLE_GAIN) -> dict:
    """At each speed-up of the inference-only front: its error gain over the widest homogeneous
    model, and how much less the beacon front's is at that speed-up or more (a step function
    of both fronts). Returns the largest and the mean reduction, in points, over every speed-up
    and over those where the inference-only gain is at most ``usable_gain`` points."""
    def best_error(front, s):
        errs = [1 - f["accuracy"] for f in front if f["bitfusion_speedup"] >= s - 1e-9]
        return min(errs) if errs else None

    cuts = []
    for f in ptq_front:
        s = f["bitfusion_speedup"]
        e_b = best_error(beacon_front, s)
        if e_b is not None:
            cuts.append({"speedup": s, "ptq_gain": 100 * (1 - f["accuracy"] - widest_error),
                         "beacon_gain": 100 * (e_b - widest_error)})
    red = [c["ptq_gain"] - c["beacon_gain"] for c in cuts]
    usable = [r for r, c in zip(red, cuts) if c["ptq_gain"] <= usable_gain + 1e-9]
    return {"points": cuts, "max_reduction": max(red) if red else None,
            "mean_reduction": float(np.mean(red)) if red else None, "usable_gain": usable_gain,
            "usable_max_reduction": max(usable) if usable else None,
            "usable_mean_reduction": float(np.mean(usable)) if usable else None}


def gather(args) -> dict:
    rows = []
    for task in args.tasks:
        for cell in args.cells:
            base = Path(args.out) / f"{task}_{cell}"
            done = [r for r in RUNS if (base / r / "summary.json").exists()]
            s = {r: json.loads((base / r / "summary.json").read_text()) for r in done}
            row = {"task": task, "cell": cell}
            if "silago" in s:
                w = s["silago"]["within_1pt_of_widest"]
                row["silago_speedup_share"] = (w.get("silago_speedup") or {}).get("share_of_max")
                row["silago_energy_share"] = (w.get("silago_energy") or {}).get("share_of_max")
                row["silago_speedup"] = (w.get("silago_speedup") or {}).get("value")
            if "bitfusion" in s and "beacon" in s:
                fronts = {r: json.loads((base / r / "front.json").read_text()) for r in ("bitfusion", "beacon")}
                widest = json.loads((base / "bitfusion" / "baseline.json").read_text())[-1]
                row["bitfusion"] = error_gain_reduction(fronts["bitfusion"], fronts["beacon"], 1 - widest["accuracy"])
            for run, key in (("compress", "compression_vs_float32"), ("constrained", "constrained_vs_float32")):
                if run in s:
                    w = s[run]["within_1pt_of_widest"].get("size")
                    row[key] = None if not w else 32 * s[run]["parameters"] / w["value"]
            row["float_val_accuracy"] = next(iter(s.values()))["float_val_accuracy"] if s else None
            rows.append(row)
    return {"rows": rows}


def table(result: dict) -> str:
    f = lambda v, fmt: "-" if v is None else fmt.format(v)  # noqa: E731
    lines = ["| task | cell | float val | SiLago: share of max speed-up within 1 pt of 16-bit | share of max energy "
             "saving | Bitfusion: beacons' largest cut of PTQ's error gain (points) | mean cut | largest cut where PTQ "
             f"loses at most {USABLE_GAIN:g} pts | PTQ compression vs fp32 within 1 pt of 16-bit | the same, "
             "searched under an error ceiling |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        bf = r.get("bitfusion") or {}
        lines.append(f"| {r['task']} | {r['cell'].upper()} | {f(r['float_val_accuracy'], '{:.2%}')} | "
                     f"{f(r.get('silago_speedup_share'), '{:.0%}')} | {f(r.get('silago_energy_share'), '{:.0%}')} | "
                     f"{f(bf.get('max_reduction'), '{:+.1f}')} | {f(bf.get('mean_reduction'), '{:+.1f}')} | "
                     f"{f(bf.get('usable_max_reduction'), '{:+.1f}')} | "
                     f"{f(r.get('compression_vs_float32'), '{:.1f}x')} | "
                     f"{f(r.get('constrained_vs_float32'), '{:.1f}x')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        for task in args.tasks:
            for cell in args.cells:
                for run in args.runs:
                    print(f"== {task} {cell} {run}", flush=True)
                    run_one(args, task, cell, run)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    result = gather(args)
    write_json(Path(args.out) / "mohaq.json", result)
    text = table(result)
    atomic_write_bytes(Path(args.out) / "mohaq.md", (text + "\n").encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
