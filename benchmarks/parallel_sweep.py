"""A sweep of independent runs: one process on every core, or one single-core process per run.

    python benchmarks/parallel_sweep.py

Runs the same two-seed sweep (``experiments/sweep.py``) twice in fresh folders, with
``--jobs 1`` (runs one after another, each process free to use every core) and ``--jobs N`` (N
spawned processes, each pinned to its own share of the cores), for two workloads:

  ptq   the ``quick`` preset's run (GRU(64), 20,000 MNIST rows, PTQ search P=40, G=15);
  qat   GRU(128) on mnist_row, every specimen fine-tuned (P=16, G=2, QAT on 2,000 sequences).

Every run trains its own float model, so the float training is timed too. Checks that both
ways give the same fronts and writes the wall times and their ratio to
``results/benchmarks/parallel_sweep.json``. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from jaxgru.files import write_json  # noqa: E402
from jaxgru.runs.processes import available_cores  # noqa: E402

WORKLOADS = {
    "ptq": ["--preset", "quick"],
    "qat": ["--task", "mnist_row", "--mode", "qat", "--population", "16", "--generations", "2",
            "--train-size", "20000", "--calib-size", "5000", "--qat-fraction", "0.1"],
}


def sweep(args: list[str], out: Path, jobs: int, data_dir: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "experiments" / "sweep.py"), *args, "--seeds", "0", "1",
                    "--jobs", str(jobs), "--out", str(out), "--data-dir", data_dir],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def fronts(out: Path) -> list:
    return [json.loads((out / f"seed{s}" / "front.json").read_text()) for s in (0, 1)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "parallel_sweep.json"))
    args = p.parse_args(argv)
    jobs = min(2, len(available_cores()))
    result = {"cores": len(available_cores()), "jobs": jobs, "machine": platform.processor() or platform.machine(),
              "workloads": {}}
    for name in args.workloads:
        tmp = Path(tempfile.mkdtemp(prefix=f"parallel_sweep_{name}_"))
        try:
            serial = sweep(WORKLOADS[name], tmp / "serial", 1, args.data_dir)
            pinned = sweep(WORKLOADS[name], tmp / "pinned", jobs, args.data_dir)
            same = fronts(tmp / "serial") == fronts(tmp / "pinned")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        result["workloads"][name] = {"args": WORKLOADS[name], "seconds_jobs_1": serial, f"seconds_jobs_{jobs}": pinned,
                                     "speedup": serial / pinned, "same_fronts": same}
        print(f"{name}: --jobs 1 {serial:.1f} s, --jobs {jobs} {pinned:.1f} s: {serial / pinned:.2f}x; "
              f"same fronts: {same}", flush=True)
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
