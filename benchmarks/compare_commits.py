"""Population-scoring speed of two checkouts side by side, in one run (a refactor's check).

    git worktree add /tmp/before <commit>
    python benchmarks/compare_commits.py --before /tmp/before    # this checkout is "after"

Runs variant (a) of ``benchmarks/population_eval.py`` (the whole population in one jitted call,
GRU, random weights, 128 sequences of 28 x 28) from each checkout in its own process,
alternating before/after for ``--rounds`` rounds at every (H, P), each process importing its
own checkout's ``jaxgru`` (``PYTHONPATH``). Reports the median throughput of each and their
ratio; writes ``results/benchmarks/compare_commits.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _child(tree: Path, hidden: int, population: int, samples: int, new_api: bool) -> float:
    cmd = [sys.executable, str(tree / "benchmarks" / "population_eval.py"), "--child", "a", str(hidden),
           str(population), str(samples), "8", "auto"] + (["gru"] if new_api else [])
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
    if out.returncode != 0:
        raise RuntimeError(f"{tree}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["specimen_samples_per_s"]


def _takes_cell(tree: Path) -> bool:
    return "CELL" in (tree / "benchmarks" / "population_eval.py").read_text()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="checkout of the earlier commit")
    ap.add_argument("--after", default=str(REPO), help="checkout of the later commit (default: this one)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--populations", type=int, nargs="+", default=[40, 256])
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "compare_commits.json"))
    args = ap.parse_args(argv)
    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    commits = {k: subprocess.run(["git", "-C", str(t), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip() for k, t in trees.items()}
    rows = []
    for h in args.hidden:
        for p in args.populations:
            runs = {k: [] for k in trees}
            for _ in range(args.rounds):
                for k, tree in trees.items():
                    runs[k].append(_child(tree, h, p, args.samples, _takes_cell(tree)))
            med = {k: statistics.median(v) for k, v in runs.items()}
            rows.append({"hidden": h, "population": p, **{f"{k}_runs": v for k, v in runs.items()},
                         **{f"{k}_median": v for k, v in med.items()},
                         "after_over_before": med["after"] / med["before"]})
            print(f"H={h} P={p}: before {med['before']:,.0f}, after {med['after']:,.0f} specimen-samples/s, "
                  f"after/before {med['after'] / med['before']:.3f}", flush=True)
    lines = [f"| H | P | before ({commits['before']}) | after ({commits['after']}) | after / before |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['hidden']} | {r['population']} | {r['before_median']:,.0f} | {r['after_median']:,.0f} | "
              f"{r['after_over_before']:.3f} |" for r in rows]
    sys.path.insert(0, str(REPO))
    from jaxgru.files import write_json

    write_json(args.out, {"commits": commits, "samples": args.samples, "rounds": args.rounds, "rows": rows,
                          "table_markdown": "\n".join(lines)})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
