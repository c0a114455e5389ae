"""Mixed-precision GRU search, end to end: ``python experiments/run.py --task mnist_row``.

Trains (or loads) the float model, calibrates it, searches per-operator bit widths with
NSGA-II and writes the run directory (``--out``, default ``results/<task>``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from jaxgru.experiment import CROSSOVERS, MUTATIONS, Config, train_and_evaluate
from jaxgru.tasks import SPEECH_SOURCES, TASKS


def parse_args(argv: list[str] | None = None) -> Config:
    d = Config()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", default=d.task, help=f"one of {sorted(TASKS)}")
    p.add_argument("--hidden", type=int, default=d.hidden, help="GRU hidden units")
    p.add_argument("--population", type=int, default=d.population, help="NSGA-II population (even, >= 4)")
    p.add_argument("--generations", type=int, default=d.generations, help="generations after the initial one")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--data-dir", default=d.data_dir, help="folder with the data files (else $JAXGRU_DATA_DIR)")
    p.add_argument("--download", action="store_true", help="let tensorflow-datasets download missing data")
    p.add_argument("--out", default=d.out, help="run directory (default results/<task>)")
    p.add_argument("--resume", action="store_true", help="continue the checkpointed run in --out")
    p.add_argument("--epochs", type=int, default=d.epochs, help="float training epochs")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument("--train-size", type=int, default=d.train_size, help="train on the first N sequences")
    p.add_argument("--calib-size", type=int, default=d.calib_size,
                   help="calibration sequences (from train; default: the whole train split)")
    p.add_argument("--val-size", type=int, default=d.val_size, help="score on the first N validation sequences")
    p.add_argument("--source", default=d.source, choices=SPEECH_SOURCES,
                   help="speech data: tfds (Speech Commands), synthetic (espeak-ng), auto (tfds when prepared)")
    p.add_argument("--mode", default=d.mode, choices=["ptq", "qat"],
                   help="ptq, or qat: fine-tune every specimen before scoring (default: the paper's choice per task, "
                        "qat on MNIST, ptq on speech)")
    p.add_argument("--qat-fraction", type=float, default=d.qat_fraction, help="QAT subset of the train split")
    p.add_argument("--qat-epochs", type=int, default=d.qat_epochs)
    p.add_argument("--qat-learning-rate", type=float, default=d.qat_learning_rate, help="Adam's step size in QAT")
    p.add_argument("--qat-batch-size", type=int, default=d.qat_batch_size)
    p.add_argument("--qat-float-surrogate", action="store_true",
                   help="QAT forward in float rounding instead of the integer model itself (about 1.3x faster)")
    p.add_argument("--crossover", default=d.crossover, choices=sorted(CROSSOVERS))
    p.add_argument("--mutation", default=d.mutation, choices=sorted(MUTATIONS))
    p.add_argument("--mutation-rate", type=float, default=d.mutation_rate, help="per gene (default 1/17)")
    p.add_argument("--accuracy-floor", type=float, default=d.accuracy_floor,
                   help="specimens below this validation accuracy are infeasible (constrained dominance)")
    p.add_argument("--seed-homogeneous", action="store_true",
                   help="put the homogeneous genomes 2..8 bits into the initial population")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = vars(p.parse_args(argv))
    args["progress"] = not args.pop("quiet")
    args["qat_exact"] = not args.pop("qat_float_surrogate")
    return Config(**{f.name: args[f.name] for f in dataclasses.fields(Config)})


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
        train_and_evaluate(cfg)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
