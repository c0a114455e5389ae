"""What the search studies share: the float model and fixed validation subset every genome is
scored on, a per-genome score cache, a resumable loop over (variant, seed) pairs, and one search's
trajectory of evaluated objectives.

Their options come from the one settings declaration (:mod:`jaxgru.runs.config`); only what is
particular to a study (``--float-model``, ``--seeds``) is declared here or in the study.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import jax
import numpy as np

from jaxgru.files import write_json
from jaxgru.model.population import population_accuracy
from jaxgru.runs.config import Config, RunOptions, add_arguments, command_line_message
from jaxgru.runs.prepare import Prepared, prepare
from jaxgru.search.loop import run_search

PAPER_BUDGET = 840  # GRU-GA's evaluations: P=40, 20 generations after the initial one

# The settings of the float model and the data the studies score genomes on.
MODEL_SETTINGS = ("task", "hidden", "epochs", "calib_size", "train_size", "val_size")


def add_model_args(parser: argparse.ArgumentParser, val_size: int | None = 1000) -> None:
    """The float model and validation data options (declared in :class:`Config`); the studies
    calibrate on 5000 train sequences and score on the first ``val_size`` validation ones."""
    add_arguments(parser, Config, only=MODEL_SETTINGS)
    add_arguments(parser, RunOptions, only=("data_dir",))
    parser.set_defaults(calib_size=5000, val_size=val_size)
    parser.add_argument("--float-model", default=None,
                        help="a run folder whose float_model to start from (else one is trained)")


def model_config(args: argparse.Namespace, **settings) -> Config:
    """The :class:`Config` of the :data:`MODEL_SETTINGS` in ``args`` (seed 0, PTQ), with ``settings``."""
    return Config(**{k: getattr(args, k) for k in MODEL_SETTINGS}, **{"seed": 0, "mode": "ptq", **settings})


def fixed_subset(args: argparse.Namespace, **settings) -> Prepared:
    """The float model (copied from ``args.float_model``, else trained) and the fixed validation
    subset (the first ``args.val_size`` sequences) in ``<args.out>/model``: what every genome of
    these studies is scored on. ``settings``: more of the model's :class:`Config` (a stack's)."""
    model_dir = Path(args.out) / "model"
    if args.float_model and not (model_dir / "float_model").exists():
        shutil.copytree(Path(args.float_model) / "float_model", model_dir / "float_model")
    return prepare(model_config(args, **settings), RunOptions(out=str(model_dir), data_dir=args.data_dir, quiet=True))


def fixed_subset_or_report(args: argparse.Namespace, **settings) -> Prepared | None:
    """:func:`fixed_subset`, or ``None`` after printing why it could not be made (one line, in
    the command line's terms): the studies' entry points then return 2."""
    try:
        return fixed_subset(args, **settings)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return None


def cached(score: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``score`` (``int32[P, n_ops]`` genomes -> ``[P]``) that scores each distinct genome once."""
    memo: dict[bytes, float] = {}

    def fn(genomes: np.ndarray) -> np.ndarray:
        genomes = np.ascontiguousarray(genomes, np.int32)
        new = [i for i, g in enumerate(genomes) if g.tobytes() not in memo]
        uniq = {genomes[i].tobytes(): i for i in new}
        if uniq:
            acc = score(genomes[list(uniq.values())])
            memo.update(zip(uniq, acc))
        return np.array([memo[g.tobytes()] for g in genomes])

    return fn


def cached_accuracy(prep: Prepared) -> Callable[[np.ndarray], np.ndarray]:
    """PTQ validation accuracy of genomes (widths) on the fixed subset, each scored once."""
    return cached(lambda g: population_accuracy(prep.params, prep.ranges, g, prep.x_val, prep.y_val,
                                                widths=prep.widths, lengths=prep.lengths_val))


def smallest_within_1pt(f: np.ndarray, acc8: float, size8: float) -> float | None:
    """Of evaluated objectives ``f [E, 2]`` (error, size ratio), the size reduction against the
    8-bit model (``size8``, its ratio) of the smallest genome within 1 point of its accuracy
    ``acc8`` (``None`` when none is); the tolerance absorbs float32 objectives."""
    close = 1.0 - f[:, 0] >= acc8 - 0.01 - 1e-6
    return float(1.0 - f[close, 1].min() / size8) if close.any() else None


def resumable_runs(path: Path, names: Iterable[str], seeds: Iterable[int],
                   run_one: Callable[[str, int], dict]) -> dict:
    """``run_one(name, seed)`` for every pair not yet recorded in ``path`` (JSON keyed
    ``"name|seed"``), saved after each, so a killed comparison goes on where it stopped."""
    runs = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        for seed in seeds:
            key = f"{name}|{seed}"
            if key not in runs:
                runs[key] = run_one(name, seed)
                write_json(path, runs)
                shown = {k: v for k, v in runs[key].items() if not isinstance(v, list)}  # figures, not fronts
                print(f"{name} seed {seed}: {shown}", flush=True)
    return runs


def search_trajectory(strategy, evaluate, generations: int, seed: int, checkpoint_dir: Path | None):
    """One search run; the objectives of every evaluated genome in order (``float64[E, M]``),
    and the genomes (gene indices)."""
    resume = checkpoint_dir is not None and checkpoint_dir.exists()
    r = run_search(strategy, strategy.default_params, lambda g, _generation: (evaluate(g), None),
                   generations=generations, key=jax.random.key(seed), checkpoint_dir=checkpoint_dir, resume=resume,
                   progress=False)
    return r.objectives.astype(np.float64), r.genomes
