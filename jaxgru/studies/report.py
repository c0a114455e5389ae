"""Gathers the committed runs into the documentation's tables.

    python experiments/report.py   # from the repository root

writes ``results/reproduction.{md,csv}``, ``results/cells.{md,csv}`` and ``results/seeds.{md,csv}``,
and puts each table between its markers (``<!-- reproduction:start -->`` ... ``<!-- reproduction:end -->``,
likewise ``cells`` and ``seeds``) in the pages ``--pages`` names (default ``docs/gru_ga.md``,
which holds the reproduction and seeds tables, and ``docs/cells.md``, which holds the four-cell
table). Every table that has rows must land in at least one of those pages; ``--pages`` with no
file writes only ``results/``.

The reproduction table (GRU-GA) reads ``results/<run>/``; the four-cell table
(Shrink-and-Eliminate's comparison) reads every run of the sweeps ``results/cells_*/``; the seeds
table reads every sweep ``results/seeds_*/``; the Shrink-and-Eliminate table (``docs/delta.md``)
reads every run ``results/shrink_eliminate/<task>_seed<N>/cell<cell>/`` and gathers the seeds of
each task and cell.

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

from jaxgru.files import atomic_write_bytes, write_csv
from jaxgru.runs.reporting import objectives_of
from jaxgru.search.pareto import dominated_by

RUNS = ("mnist_row", "mnist_pixel", "speech4", "speech10", "mnist_row_surrogate", "mnist_row_ptq", "speech10_h256",
        "mnist_row_ptq_h256", "speech10_seeded", "digits")
MARKERS = ("<!-- reproduction:start -->", "<!-- reproduction:end -->")
CELL_MARKERS = ("<!-- cells:start -->", "<!-- cells:end -->")
CELL_ORDER = ("lstm", "gru", "ligru", "sru")
CELL_NAMES = {"gru": "GRU", "lstm": "LSTM", "ligru": "LiGRU", "sru": "SRU"}
CELL_PAPER = ("Shrink and Eliminate (Rezk et al. 2022, TIMIT, PTQ with a few 16-bit paths): every cell compressed "
              "by more than 85% against 32-bit float with an error increase of at most about 2 points "
              "(+0.6 / 0 / +2.1 / +0.2 points for LSTM / GRU / LiGRU / SRU); LSTM the most accurate, SRU the smallest")
PAPER = "25-55% smaller than 8-bit at comparable accuracy; mixed fronts dominate homogeneous"
# The documentation pages that hold the tables' markers (relative to the repository root).
PAGES = ("docs/gru_ga.md", "docs/cells.md", "docs/delta.md")


def dominated(front: list[dict], point: dict) -> bool:
    """Whether some front genome is at least as accurate and as small as ``point``, and better in one."""
    return bool(dominated_by(objectives_of([point]), objectives_of(front))[0])


def dominated_count(run_dir: Path) -> tuple[int, int]:
    """``(how many, of how many)`` homogeneous 3..8-bit genomes the run's front dominates (validation)."""
    front = json.loads((run_dir / "front.json").read_text())
    baseline = [b for b in json.loads((run_dir / "baseline.json").read_text()) if b["bits"][0] >= 3]
    return sum(dominated(front, b) for b in baseline), len(baseline)


def row(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    best = summary["best_within_1pt_of_int8"]
    return {
        "run": run_dir.name,
        "cell": CELL_NAMES[summary.get("cell", "gru")],
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
        "homogeneous_dominated": "{}/{}".format(*dominated_count(run_dir)),
        "minutes": f"{summary['search_seconds'] / 60:.1f}",
    }


HEADER = {
    "run": "run", "cell": "cell", "data": "data", "mode": "mode", "hidden": "H", "search": "search",
    "float": "float acc. val / test", "int8": "8-bit acc. val / test",
    "mixed": "smallest mixed within 1 pt: val / test", "reduction_vs_int8": "size vs 8-bit",
    "homogeneous_dominated": "3..8-bit points dominated", "minutes": "search min",
}


def cell_row(run_dir: Path) -> dict:
    """One row of the four-cell table from a run directory."""
    summary = json.loads((run_dir / "summary.json").read_text())
    best = summary["best_within_1pt_of_int8"]
    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    return {
        "sweep": run_dir.parent.name,
        "task": summary["task"] + (" (synthetic)" if summary.get("synthetic") else ""),
        "epochs": json.loads((run_dir / "config.json").read_text())["epochs"],
        "cell": CELL_NAMES[summary["cell"]],
        "parameters": f"{summary['parameters']:,}",
        "float": f"{pct(summary['float_val_accuracy'])} / {pct(summary['float_test_accuracy'])}",
        "int8": f"{pct(summary['int8_val_accuracy'])} / {pct(summary['int8_test_accuracy'])}",
        "mixed": "none" if best is None else f"{pct(best['accuracy'])} / {pct(best['test_accuracy'])}",
        "genome": "-" if best is None else " ".join(map(str, best["bits"])),
        "kbit": "-" if best is None else f"{best['size_bits'] / 1000:.0f}",
        "vs_fp32": "-" if best is None else f"{100 * summary['size_reduction_vs_float32']:.1f}%",
        "vs_int8": "-" if best is None else f"{100 * summary['size_reduction_vs_int8']:.1f}%",
        "error_increase": "-" if best is None else
        f"{100 * (summary['float_test_accuracy'] - best['test_accuracy']):+.2f}",
        "dominated": "{}/{}".format(*dominated_count(run_dir)),
        "minutes": f"{summary['search_seconds'] / 60:.1f}",
    }


CELL_HEADER = {
    "sweep": "sweep", "task": "task", "epochs": "float epochs", "cell": "cell", "parameters": "parameters",
    "float": "float acc. val / test",
    "int8": "8-bit acc. val / test", "mixed": "smallest mixed within 1 pt: val / test", "genome": "its genome",
    "kbit": "its size (kbit)", "vs_fp32": "smaller than fp32", "vs_int8": "smaller than 8-bit",
    "error_increase": "test error vs float (points)", "dominated": "3..8-bit points dominated",
    "minutes": "search min",
}


def _table(header: dict, rows: list[dict]) -> list[str]:
    cols = list(header)
    lines = ["| " + " | ".join(header[c] for c in cols) + " |", "|" + "---|" * len(cols)]
    return lines + ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]


def _put_between(path: Path, markers: tuple[str, str], lines: list[str]) -> bool:
    """Replaces what lies between ``markers`` in ``path`` with ``lines``; False (and a message)
    if ``path`` lacks them."""
    text = path.read_text()
    start, end = (text.find(m) for m in markers)
    if start < 0 or end < start:
        print(f"error: {path} lacks the markers {markers}", file=sys.stderr)
        return False
    text = text[: start + len(markers[0])] + "\n" + "\n".join(lines) + "\n" + text[end:]
    atomic_write_bytes(path, text.encode())
    return True


def _has_markers(path: Path, markers: tuple[str, str]) -> bool:
    text = path.read_text()
    start, end = (text.find(m) for m in markers)
    return 0 <= start < end


def put_tables(pages: list[Path], tables: list[tuple[tuple[str, str], list[str]]]) -> bool:
    """Puts each ``(markers, lines)`` table into every page that holds its markers; False (and a
    message) when a page is missing or a table's markers are in none of the pages."""
    missing = [p for p in pages if not p.is_file()]
    if missing:
        print(f"error: no such page: {', '.join(map(str, missing))}", file=sys.stderr)
        return False
    for markers, lines in tables:
        holders = [p for p in pages if _has_markers(p, markers)]
        if not holders:
            print(f"error: none of {', '.join(map(str, pages))} holds the markers {markers}", file=sys.stderr)
            return False
        for page in holders:
            if not _put_between(page, markers, lines):
                return False
    return True


def cells_report(root: Path) -> list[str] | None:
    """The four-cell table from every run of the sweeps ``root/cells_*/``, or None if none finished."""
    rows = []
    for sweep in sorted(root.glob("cells_*")):
        runs = [d for d in sweep.iterdir() if (d / "summary.json").is_file()]
        cell_of = {d: json.loads((d / "summary.json").read_text()).get("cell", "gru") for d in runs}
        rows += [cell_row(d) for d in sorted(runs, key=lambda d: CELL_ORDER.index(cell_of[d]))]
    if not rows:
        return None
    lines = _table(CELL_HEADER, rows) + [f"\nPaper: {CELL_PAPER}."]
    atomic_write_bytes(root / "cells.md", ("\n".join(lines) + "\n").encode())
    write_csv(root / "cells.csv", list(CELL_HEADER), ([r[c] for c in CELL_HEADER] for r in rows))
    return lines


SEED_MARKERS = ("<!-- seeds:start -->", "<!-- seeds:end -->")


def _mean_spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """``mean ± sample standard deviation (min-max)`` of the values."""
    v = np.asarray(values, np.float64)
    if len(v) == 0:
        return "-"
    spread = f" ± {fmt.format(v.std(ddof=1))}" if len(v) > 1 else ""
    return f"{fmt.format(v.mean())}{spread} ({fmt.format(v.min())}-{fmt.format(v.max())})"


def seeds_report(root: Path) -> list[str] | None:
    """Mean and spread over the seeds of every sweep ``root/seeds_*/`` (one row per sweep)."""
    rows = []
    for sweep in sorted(root.glob("seeds_*")):
        runs = sorted(d for d in sweep.iterdir() if (d / "summary.json").is_file())
        if not runs:
            continue
        summaries = [json.loads((d / "summary.json").read_text()) for d in runs]
        found = [s["size_reduction_vs_int8"] for s in summaries if s["size_reduction_vs_int8"] is not None]
        dominated_counts = [dominated_count(d)[0] for d in runs]
        s0 = summaries[0]
        rows.append({
            "sweep": sweep.name, "task": s0["task"] + (" (synthetic)" if s0.get("synthetic") else ""),
            "cell": CELL_NAMES[s0.get("cell", "gru")], "mode": s0["mode"].upper(), "seeds": str(len(runs)),
            "float": _mean_spread([100 * s["float_val_accuracy"] for s in summaries], "{:.2f}"),
            "int8": _mean_spread([100 * s["int8_val_accuracy"] for s in summaries], "{:.2f}"),
            "reduction": _mean_spread([100 * v for v in found]) + ("" if len(found) == len(runs) else
                                                                   f"; none in {len(runs) - len(found)}"),
            "hypervolume": _mean_spread([s["final_hypervolume"] for s in summaries], "{:.4f}"),
            "dominated": f"{np.mean(dominated_counts):.1f} of 6 ({', '.join(map(str, dominated_counts))})",
        })
    if not rows:
        return None
    header = {"sweep": "sweep", "task": "task", "cell": "cell", "mode": "mode", "seeds": "seeds",
              "float": "float val. acc. %", "int8": "8-bit val. acc. %",
              "reduction": "smallest mixed within 1 pt: % smaller than 8-bit", "hypervolume": "final hypervolume",
              "dominated": "3..8-bit points dominated (per seed)"}
    lines = _table(header, rows) + ["\nMean ± standard deviation over the seeds (min-max); the seed drives the float "
                                    "model's initialization and batches, the search and the QAT subset."]
    atomic_write_bytes(root / "seeds.md", ("\n".join(lines) + "\n").encode())
    write_csv(root / "seeds.csv", list(header), ([r[c] for c in header] for r in rows))
    return lines


SE_MARKERS = ("<!-- shrink_eliminate:start -->", "<!-- shrink_eliminate:end -->")
# summary.json key -> column: Shrink and Eliminate's two figures (compression at <= 2 points over
# float, operations eliminated at <= 1 point over the same widths) and jaxgru's own (within 1
# point of 8-bit)
SE_COLUMNS = {
    "size_reduction_vs_float32_within_2pt_of_float": "smaller than fp32, within 2 pt of float (%)",
    "size_reduction_vs_float32": "smaller than fp32, within 1 pt of int8 (%)",
    "most_eliminated_within_1pt_of_same_widths": "MACs eliminated, within 1 pt of the same widths (%)",
    "most_eliminated_within_1pt_of_int8": "MACs eliminated, within 1 pt of int8 (%)",
}
SE_PAPER = ("Shrink and Eliminate (Rezk et al. 2022, TIMIT): more than 85% smaller than fp32 at +0.6 / 0 / +2.1 / "
            "+0.2 points of error (LSTM / GRU / LiGRU / SRU); more than 50% of operations eliminated in most "
            "cases at a minor error increase, the LiGRU eliminating the most")


def _per_seed(values: list[float | None]) -> str:
    """``mean ± spread (min-max)`` of the seeds that found a genome, then the value of each seed
    in seed order, ``none`` where a seed found none."""
    found = [100 * v for v in values if v is not None]
    each = " / ".join("none" if v is None else f"{100 * v:.1f}" for v in values)
    return "none" if not found else f"{_mean_spread(found)}; {each}"


def shrink_eliminate_report(root: Path) -> list[str] | None:
    """One row per task and cell over the seeds of ``root/shrink_eliminate/<task>_seed<N>/``, or
    None if no run finished."""
    groups: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    for sweep in sorted((root / "shrink_eliminate").glob("*_seed*")):
        task, _, seed = sweep.name.rpartition("_seed")
        for run in sweep.glob("cell*/summary.json"):
            summary = json.loads(run.read_text())
            groups.setdefault((task, summary.get("cell", "gru")), []).append((int(seed), summary))
    if not groups:
        return None
    rows = []
    for (task, cell), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], CELL_ORDER.index(kv[0][1]))):
        seeds, summaries = zip(*sorted(runs, key=lambda r: r[0]))
        s0 = summaries[0]
        rows.append({
            "task": task + (" (synthetic)" if s0.get("synthetic") else ""), "cell": CELL_NAMES[cell],
            "seeds": ", ".join(map(str, seeds)),
            "float": _mean_spread([100 * s["float_val_accuracy"] for s in summaries], "{:.2f}"),
            "int8": _mean_spread([100 * s["int8_val_accuracy"] for s in summaries], "{:.2f}"),
            **{key: _per_seed([s.get(key) for s in summaries]) for key in SE_COLUMNS},
        })
    header = {"task": "task", "cell": "cell", "seeds": "seeds", "float": "float val. acc. %",
              "int8": "int8 val. acc. %", **SE_COLUMNS}
    lines = _table(header, rows) + [
        "\nEach figure: mean ± standard deviation (min-max) over the seeds that found a genome, then each seed's "
        "value; validation accuracy.", f"\nPaper: {SE_PAPER}."]
    atomic_write_bytes(root / "shrink_eliminate.md", ("\n".join(lines) + "\n").encode())
    write_csv(root / "shrink_eliminate.csv", list(header), ([r[c] for c in header] for r in rows))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="the folder of the committed runs")
    p.add_argument("--runs", nargs="+", default=list(RUNS), help="the runs of the reproduction table")
    p.add_argument("--pages", nargs="*", default=list(PAGES),
                   help="put each table between its markers in these files (default: %(default)s)")
    # One file to put the tables in, as --pages FILE (kept for scripts that name a single file).
    p.add_argument("--readme", dest="pages", type=lambda f: [f], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    root = Path(args.results)
    rows = [row(root / r) for r in args.runs if (root / r / "summary.json").is_file()]
    if not rows:
        print(f"error: no finished run (summary.json) under {root} among {args.runs}", file=sys.stderr)
        return 2
    cols = list(HEADER)
    lines = _table(HEADER, rows)
    lines.append(f"\nPaper (GRU-GA, Miccini et al. 2024): {PAPER}.")
    atomic_write_bytes(root / "reproduction.md", ("\n".join(lines) + "\n").encode())
    write_csv(root / "reproduction.csv", cols, ([r[c] for c in cols] for r in rows))
    print("\n".join(lines))
    tables = [(MARKERS, lines)]
    cell_lines = cells_report(root)
    if cell_lines:
        print("\n".join(cell_lines))
        tables.append((CELL_MARKERS, cell_lines))
    seed_lines = seeds_report(root)
    if seed_lines:
        print("\n".join(seed_lines))
        tables.append((SEED_MARKERS, seed_lines))
    se_lines = shrink_eliminate_report(root)
    if se_lines:
        print("\n".join(se_lines))
        tables.append((SE_MARKERS, se_lines))
    if args.pages and not put_tables([Path(f) for f in args.pages], tables):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
