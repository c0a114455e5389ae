"""What summing in a fixed order costs (jaxgru.runtime): float training, QAT and population
scoring timed with XLA's default reductions (``JAXGRU_FAST_REDUCTIONS=1``) and with jaxgru's
flag, side by side, each in a fresh process on every core this one may use, best of ``--repeats``.

Float training: a GRU(128), 2 epochs on 4,096 ``mnist_row`` rows, after a first training that
compiles the step. QAT: 8 genomes, 1 epoch on 2,048 rows. Scoring: 64 genomes on 2,000
validation sequences, after one warm-up call. Writes ``results/benchmarks/deterministic_reductions.{json,md}``.

    python benchmarks/deterministic_reductions.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from jaxgru.files import write_json

PROGRAM = """
import json, time, numpy as np, jax
from jaxgru.data.tasks import get_task
from jaxgru.model.calibrate import calibrate
from jaxgru.model.population import population_accuracy
from jaxgru.model.qat import qat_population
from jaxgru.model.training import train_float
s = get_task("mnist_row").load({data!r}, quiet=True)
x, y = s.x_train[:4096], s.y_train[:4096]
train_float(x, y, cell="gru", hidden=128, classes=10, epochs=1)  # compiles the step
t = time.perf_counter()
model = train_float(x, y, cell="gru", hidden=128, classes=10, epochs=2)
train = (time.perf_counter() - t) / 2
p = model.params()
r = calibrate(p, x[:512])
g = np.random.default_rng(0).integers(2, 9, (8, 17))
qat_population(p, r, g, x[:256], y[:256])
t = time.perf_counter()
jax.block_until_ready(jax.tree.leaves(qat_population(p, r, g, x[:2048], y[:2048])))
qat = time.perf_counter() - t
g = np.random.default_rng(1).integers(2, 9, (64, 17))
population_accuracy(p, r, g, s.x_val[:2000], s.y_val[:2000])
t = time.perf_counter()
population_accuracy(p, r, g, s.x_val[:2000], s.y_val[:2000])
score = time.perf_counter() - t
print("RESULT", json.dumps({{"train_epoch_s": train, "qat_s": qat, "scoring_s": score}}))
"""


def _run(fast: bool, data: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAXGRU_FAST_REDUCTIONS")}
    if fast:
        env["JAXGRU_FAST_REDUCTIONS"] = "1"
    out = subprocess.run([sys.executable, "-c", PROGRAM.format(data=data)], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(next(line[7:] for line in out.stdout.splitlines() if line.startswith("RESULT")))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("JAXGRU_DATA_DIR", "../shared/data"))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default="results/benchmarks/deterministic_reductions")
    args = p.parse_args(argv)
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, fast in (("default", True), ("fixed order", False)):  # alternated, so drift hits both
            got = _run(fast, args.data_dir)
            best[name] = {k: min(v, best.get(name, {}).get(k, v)) for k, v in got.items()}
            print(name, got)
    cores = len(os.sched_getaffinity(0))
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"cores": cores, "repeats": args.repeats, "seconds": best})
    lines = [f"Fixed-order reductions against XLA's default, {cores} cores, best of {args.repeats} (seconds).", "",
             "| work | XLA default | fixed order | ratio |", "| --- | ---: | ---: | ---: |"]
    for key, label in (("train_epoch_s", "float training, one epoch (GRU(128), 4,096 rows)"),
                       ("qat_s", "QAT, 8 genomes, one epoch on 2,048 rows"),
                       ("scoring_s", "population scoring, 64 genomes x 2,000 sequences")):
        a, b = best["default"][key], best["fixed order"][key]
        lines.append(f"| {label} | {a:.2f} | {b:.2f} | {b / a:.2f}x |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
