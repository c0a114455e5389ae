"""Gathers the committed runs into the reproduction table of the README.

    python experiments/report.py            # reads results/<task>/, writes results/reproduction.{md,csv}

Per run: float and homogeneous 8-bit accuracy, the smallest mixed genome within 1 point of 8-bit
(on validation, the search's fitness) with its test accuracy and its size reduction vs 8-bit, and
how many homogeneous baselines (3..8 bits) the mixed front Pareto-dominates on validation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from jaxgru.experiment import dominated_by
from jaxgru.io import atomic_write_bytes, write_csv

RUNS = ("mnist_row", "mnist_pixel", "speech4", "speech10", "mnist_row_surrogate", "mnist_row_ptq", "speech10_h256",
        "mnist_row_ptq_h256", "speech10_seeded")
MARKERS = ("<!-- reproduction:start -->", "<!-- reproduction:end -->")
PAPER = "25-55% smaller than 8-bit at comparable accuracy; mixed fronts dominate homogeneous"


def dominated(front: list[dict], point: dict) -> bool:
    """Whether some front genome is at least as accurate and as small as ``point``, and better in one."""
    objectives = lambda rows: np.array([[-r["accuracy"], r["size_bits"]] for r in rows], np.float64)  # noqa: E731
    return bool(dominated_by(objectives([point]), objectives(front))[0])


def row(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    front = json.loads((run_dir / "front.json").read_text())
    baseline = [b for b in json.loads((run_dir / "baseline.json").read_text()) if b["bits"][0] >= 3]
    best = summary["best_within_1pt_of_int8"]
    return {
        "run": run_dir.name,
        "data": summary.get("source", "MNIST") + (" — SYNTHETIC" if summary.get("synthetic") else ""),
        # Runs from before exact QAT existed have no "qat_exact": they used the float surrogate.
        "mode": summary.get("mode", "ptq").upper()
                + (" (float surrogate)" if summary.get("mode") == "qat" and not config.get("qat_exact") else ""),
        "hidden": summary["hidden"],
        "search": f"P={config['population']}, G={config['generations']}"
                  + (f", val {config['val_size']}" if config.get("val_size") else ", full val"),
        "float": f"{100 * summary['float_val_accuracy']:.2f} / {100 * summary['float_test_accuracy']:.2f}",
        "int8": f"{100 * summary['int8_val_accuracy']:.2f} / {100 * summary['int8_test_accuracy']:.2f}",
        "mixed": "none" if best is None else f"{100 * best['accuracy']:.2f} / {100 * best['test_accuracy']:.2f}",
        "reduction_vs_int8": "-" if best is None else f"{100 * summary['size_reduction_vs_int8']:.1f}%",
        "homogeneous_dominated": f"{sum(dominated(front, b) for b in baseline)}/{len(baseline)}",
        "minutes": f"{summary['search_seconds'] / 60:.1f}",
    }


HEADER = {
    "run": "run", "data": "data", "mode": "mode", "hidden": "H", "search": "search",
    "float": "float acc. val / test", "int8": "8-bit acc. val / test",
    "mixed": "smallest mixed within 1 pt: val / test", "reduction_vs_int8": "size vs 8-bit",
    "homogeneous_dominated": "3..8-bit points dominated", "minutes": "search min",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results")
    p.add_argument("--runs", nargs="+", default=list(RUNS))
    p.add_argument("--readme", default=None, help=f"also put the table between the markers {MARKERS} of this file")
    args = p.parse_args(argv)
    root = Path(args.results)
    rows = [row(root / r) for r in args.runs if (root / r / "summary.json").is_file()]
    if not rows:
        print(f"error: no finished run (summary.json) under {root} among {args.runs}", file=sys.stderr)
        return 2
    cols = list(HEADER)
    lines = ["| " + " | ".join(HEADER[c] for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    lines.append(f"\nPaper (GRU-GA, Miccini et al. 2024): {PAPER}.")
    atomic_write_bytes(root / "reproduction.md", ("\n".join(lines) + "\n").encode())
    write_csv(root / "reproduction.csv", cols, ([r[c] for c in cols] for r in rows))
    print("\n".join(lines))
    if args.readme:
        path = Path(args.readme)
        text = path.read_text()
        start, end = (text.find(m) for m in MARKERS)
        if start < 0 or end < start:
            print(f"error: {path} lacks the markers {MARKERS}", file=sys.stderr)
            return 2
        text = text[: start + len(MARKERS[0])] + "\n" + "\n".join(lines) + "\n" + text[end:]
        atomic_write_bytes(path, text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
