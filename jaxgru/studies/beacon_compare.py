"""Beacon-based search against the PTQ and the full QAT search (MOHAQ's step 2), measured.

    python experiments/beacon_compare.py --out results/beacons_mnist_row --qat-learning-rate 1e-3

Three searches with the same float model, seed and settings (``mnist_row``, GRU(128), P=40,
G=20 unless given): ``ptq``, ``beacon`` and ``qat`` (every specimen fine-tuned), in
``<out>/<mode>/``. The first run trains the float model; the others start from a copy of it.
Then every final front is *re-scored with full QAT of each of its genomes* (the same QAT
settings), so that all three are judged by what their genomes reach after retraining, and the
hypervolume of each re-scored front (error, size ratio; reference (1, 1)) and each search's own
wall time are compared side by side. Before the searches, ``probe.json`` records homogeneous
widths after QAT against PTQ, to show that the QAT settings make retraining matter.

Every step is skipped when its output exists and resumed when interrupted, so the script can be
killed and run again. Writes ``<out>/compare.{json,md}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from jaxgru.files import atomic_write_bytes, write_json
from jaxgru.model.population import population_accuracy
from jaxgru.runs.config import Config, RunOptions, add_arguments, command_line_message, from_args
from jaxgru.runs.experiment import train_and_evaluate
from jaxgru.runs.prepare import prepare
from jaxgru.runs.scoring import Scorer
from jaxgru.search.pareto import hypervolume_2d

MODES = ("ptq", "beacon", "qat")


# Where the comparison's defaults differ from a single run's: retraining that matters (see the
# probe), and calibration on part of the train split, as the PTQ studies use.
DEFAULTS = {"calib_size": 5000, "qat_learning_rate": 1e-3}
# Settings only some searches read; the others keep Config's defaults for them.
QAT_ONLY = ("qat_fraction", "qat_epochs", "qat_learning_rate", "qat_batch_size", "qat_exact")
BEACON_ONLY = ("beacon_distance", "beacons_per_generation")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/beacons_mnist_row")
    add_arguments(p.add_argument_group("settings shared by the three searches (as experiments/run.py; --mode is "
                                       "set per search)"), Config)
    p.set_defaults(**DEFAULTS)
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--beacon-name", default="beacon", help="the beacon run's folder (to compare beacon settings)")
    add_arguments(p, RunOptions, only=("data_dir",))
    args = p.parse_args(argv)
    if args.mode is not None:
        p.error("--mode is set per search here; choose the searches with --modes")
    return args


def configs(args) -> dict[str, Config]:
    base, default = from_args(args, Config), Config()
    unused = lambda names: {k: getattr(default, k) for k in names}  # noqa: E731
    return {
        "ptq": dataclasses.replace(base, mode="ptq", **unused(QAT_ONLY + BEACON_ONLY)),
        "beacon": dataclasses.replace(base, mode="beacon"),
        "qat": dataclasses.replace(base, mode="qat", **unused(BEACON_ONLY)),
    }


def run_one(out: Path, cfg: Config, data_dir) -> dict:
    summary = out / "summary.json"
    if summary.exists():
        return json.loads(summary.read_text())
    first = Path(out).parent / "ptq" / "float_model"
    if not (out / "float_model").exists() and first.exists():
        shutil.copytree(first, out / "float_model")  # the same float model for every search
    opts = RunOptions(out=str(out), resume=(out / "checkpoints").exists(), data_dir=data_dir)
    return train_and_evaluate(cfg, opts)


def probe(out: Path, cfg: Config, data_dir) -> dict:
    """Homogeneous 2..5 bits on validation: PTQ, and after QAT with the comparison's settings."""
    path = out / "probe.json"
    if path.exists():
        return json.loads(path.read_text())
    prep = _scratch(out, cfg, data_dir)
    scorer = Scorer(prep)
    genomes = np.repeat(np.arange(2, 6, dtype=np.int32)[:, None], prep.params.stack.n_ops, 1)
    ptq = population_accuracy(prep.params, prep.ranges, genomes, prep.x_val, prep.y_val,
                              lengths=prep.lengths_val)
    qat = population_accuracy(scorer.qat(genomes), prep.ranges, genomes, prep.x_val, prep.y_val,
                              lengths=prep.lengths_val)
    result = {"bits": [2, 3, 4, 5], "ptq": ptq.tolist(), "qat": qat.tolist(),
              "qat_learning_rate": cfg.qat_learning_rate, "qat_fraction": cfg.qat_fraction,
              "qat_epochs": cfg.qat_epochs}
    write_json(path, result)
    return result


def _scratch(out: Path, cfg: Config, data_dir):
    """Data, float model and QAT subset of the comparison, prepared in ``<out>/qat_settings``
    (a copy of the shared float model, ``cfg``'s QAT settings) for the probe and the re-scoring."""
    scratch = out / "qat_settings"
    if not (scratch / "float_model").exists():
        shutil.copytree(out / "ptq" / "float_model", scratch / "float_model")
    return prepare(cfg, RunOptions(out=str(scratch), resume=True, data_dir=data_dir, quiet=True))


def rescore(out: Path, mode: str, cfg: Config, data_dir) -> dict:
    """Every front genome of run ``mode`` fine-tuned by QAT (the beacon run's QAT settings) and
    scored on validation; the re-scored front's hypervolume."""
    path = out / mode / "rescored.json"
    if path.exists():
        return json.loads(path.read_text())
    front = json.loads((out / mode / "front.json").read_text())
    prep = _scratch(out, cfg, data_dir)
    genomes = np.array([f["bits"] for f in front], np.int32)
    acc = population_accuracy(Scorer(prep).qat(genomes), prep.ranges, genomes, prep.x_val, prep.y_val,
                              lengths=prep.lengths_val)
    f = np.array([[1 - a, r["size_ratio"]] for a, r in zip(acc, front)], np.float32)
    f_search = np.array([[1 - r["accuracy"], r["size_ratio"]] for r in front], np.float32)
    result = {"accuracy_after_qat": acc.tolist(), "bits": genomes.tolist(),
              "hypervolume_after_qat": float(hypervolume_2d(f, np.ones(2, np.float32))),
              "hypervolume_as_searched": float(hypervolume_2d(f_search, np.ones(2, np.float32)))}
    write_json(path, result)
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    cfgs = configs(args)
    try:
        summaries = {}
        for mode in [m for m in MODES if m in args.modes]:
            name = args.beacon_name if mode == "beacon" else mode
            print(f"== {name} search", flush=True)
            summaries[name] = run_one(out / name, cfgs[mode], args.data_dir)
            if mode == "ptq":
                print(f"== probe: homogeneous widths after QAT (lr {args.qat_learning_rate:g})", flush=True)
                probe(out, cfgs["beacon"], args.data_dir)
        # every run in <out> so far, so that several beacon settings share one table
        for d in sorted(out.iterdir()):
            if d.is_dir() and (d / "summary.json").exists() and d.name not in summaries:
                summaries[d.name] = json.loads((d / "summary.json").read_text())
        rescored = {m: rescore(out, m, cfgs["beacon"], args.data_dir) for m in summaries}
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    table(out, summaries, rescored)
    return 0


def table(out: Path, summaries: dict, rescored: dict) -> None:
    qat_hv = rescored.get("qat", {}).get("hypervolume_after_qat")
    qat_s = summaries.get("qat", {}).get("search_seconds")
    rows = []
    for mode, s in summaries.items():
        r = rescored[mode]
        cfg = json.loads((out / mode / "config.json").read_text())
        rows.append({
            "mode": mode, "search_minutes": s["search_seconds"] / 60, "evaluations": s["evaluations"],
            "beacon_distance": cfg.get("beacon_distance"), "beacons_per_generation": cfg.get("beacons_per_generation"),
            "beacons": s.get("beacons"), "front_size": len(r["bits"]),
            "hypervolume_as_searched": r["hypervolume_as_searched"],
            "hypervolume_after_qat": r["hypervolume_after_qat"],
            "hv_share_of_qat": None if qat_hv is None else r["hypervolume_after_qat"] / qat_hv,
            "time_share_of_qat": None if qat_s is None else s["search_seconds"] / qat_s,
        })
    probe_path = out / "probe.json"
    result = {"runs": rows, "probe": json.loads(probe_path.read_text()) if probe_path.exists() else None}
    write_json(out / "compare.json", result)
    fmt = lambda v, f: "-" if v is None else f.format(v)  # noqa: E731
    lines = ["| search | minutes | evaluations | QAT runs | front | HV as searched | HV after QAT of the front | "
             "HV / QAT search's | time / QAT search's |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        qat_runs = {"ptq": 0, "qat": r["evaluations"]}.get(r["mode"], r["beacons"])
        label = r["mode"]
        if r["beacons"] is not None:
            label += f" (distance {r['beacon_distance'] or 'genes'}, {r['beacons_per_generation']} per generation)"
        lines.append(f"| {label} | {r['search_minutes']:.1f} | {r['evaluations']} | {qat_runs} | "
                     f"{r['front_size']} | "
                     f"{r['hypervolume_as_searched']:.4f} | {r['hypervolume_after_qat']:.4f} | "
                     f"{fmt(r['hv_share_of_qat'], '{:.3f}')} | {fmt(r['time_share_of_qat'], '{:.3f}')} |")
    if result["probe"]:
        p = result["probe"]
        epochs = f"{p['qat_epochs']} epoch{'s' if p['qat_epochs'] > 1 else ''}"
        lines += ["", f"Homogeneous models on validation, PTQ -> after QAT (lr {p['qat_learning_rate']:g}, "
                  f"{epochs} on {100 * p['qat_fraction']:.0f}% of train): " + ", ".join(
                      f"{b} bits {100 * a:.1f}% -> {100 * q:.1f}%" for b, a, q in zip(p["bits"], p["ptq"], p["qat"]))]
    atomic_write_bytes(out / "compare.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
