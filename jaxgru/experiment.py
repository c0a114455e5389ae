"""A whole GRU-GA run, in steps a user can call one by one: :func:`prepare` (data, float model,
calibration), :func:`accuracy_fn` (PTQ or QAT scoring of a population), :func:`search`
(NSGA-II, checkpointed) and :func:`report` (front, baselines, summary, plots).

``experiments/run.py`` parses a :class:`jaxgru.config.Config` and calls :func:`train_and_evaluate`.
Objectives (both minimized by NSGA-II): ``1 - validation accuracy`` and the size ratio
``M_Q / M_FP16``. The hypervolume's reference point is (1, 1): zero accuracy, 16-bit size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp

from jaxgru import nsga2
from jaxgru.calibrate import Ranges, calibrate
from jaxgru.cells import get_cell
from jaxgru.config import Config, RunOptions, saved_settings
from jaxgru.evaluate import population_accuracy
from jaxgru.genome import MAX_BITS, MIN_BITS, homogeneous_genomes
from jaxgru.io import write_csv, write_json
from jaxgru.model import CellParams, param_shapes
from jaxgru.plots import plot_history, plot_pareto
from jaxgru.qat import qat_population
from jaxgru.search import SearchResult, run_search
from jaxgru.size import model_size, param_counts
from jaxgru.tasks import Splits, Task
from jaxgru.train import float_accuracy, train_float


def _check_config_file(cfg: Config, opts: RunOptions, path: Path) -> None:
    """Writes ``config.json``; with ``--resume``, first refuses settings that differ from it."""
    mine = dataclasses.asdict(cfg)
    if path.exists() and opts.resume:
        theirs = saved_settings(path)
        if theirs != mine:
            diff = {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}
            raise ValueError(f"--resume with settings that differ from {path}: {diff} (saved, given).")
    write_json(path, mine)


def read_float_model(ckpt: Path, cell) -> tuple[CellParams, Ranges]:
    """The float weights and calibrated ranges a run saved in ``ckpt`` (its ``float_model``)."""
    try:
        tree = ocp.StandardCheckpointer().restore(Path(ckpt).absolute())
        arrays = {k: np.asarray(v) for k, v in tree["params"].items()}
        ranges = Ranges(**{k: np.asarray(tree["ranges"][k]) for k in Ranges.__dataclass_fields__})
    except Exception as err:
        raise RuntimeError(
            f"cannot read the float model checkpoint {ckpt}: {type(err).__name__}: {err}. "
            "Delete that folder to retrain."
        ) from err
    return CellParams(arrays=arrays, cell=get_cell(cell)), ranges


def _float_model(cfg: Config, task: Task, splits, out: Path, log) -> tuple[CellParams, Ranges]:
    """Loads the float model and its calibration from ``out/float_model``, or trains and saves them."""
    ckpt = (out / "float_model").absolute()
    cell = get_cell(cfg.cell)
    if ckpt.exists():
        params, ranges = read_float_model(ckpt, cell)
        want = param_shapes(cell, task.features, cfg.hidden, task.classes)
        got = {k: tuple(v.shape) for k, v in params.arrays.items()}
        if got != want or len(ranges.lo) != cell.n_ops:
            raise ValueError(f"{ckpt} does not hold a {cell.name.upper()}({cfg.hidden}) for {task.name} "
                             f"(weights {got}); this run asks for one. Use another --out.")
        log(f"loaded float model from {ckpt}")
        return params, ranges
    n = len(splits.x_train) if cfg.train_size is None else cfg.train_size
    log(f"training float {cell.name.upper()}({cfg.hidden}) on {n} sequences for {cfg.epochs} epochs")
    model = train_float(
        splits.x_train[:n], splits.y_train[:n], cell=cell, hidden=cfg.hidden, classes=task.classes,
        epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, seed=cfg.seed, log=log,
    )
    params = model.params()
    ranges = calibrate(params, splits.x_train[: cfg.calib_size])  # calib_size None: all of it
    tree = {
        "params": {k: np.asarray(v) for k, v in params.arrays.items()},
        "ranges": {k: np.asarray(getattr(ranges, k)) for k in Ranges.__dataclass_fields__},
    }
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(ckpt, tree, force=True)
    checkpointer.wait_until_finished()
    return params, ranges


def _records(genomes, acc, size_bits, size_ratio, **extra) -> list[dict]:
    rows = []
    for i, g in enumerate(genomes):
        row = {"bits": [int(b) for b in g], "accuracy": float(acc[i]), "size_bits": int(size_bits[i]),
               "size_ratio": float(size_ratio[i])}
        row.update({k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in extra.items()})
        rows.append(row)
    return rows


def _history(result: SearchResult) -> list[dict]:
    """History rows in this experiment's terms (objective 0 is the error, 1 the size ratio)."""
    return [dict(h, best_accuracy=1.0 - h["best_obj0"], smallest_size_ratio=h["best_obj1"]) for h in result.history]


def dominated_by(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``bool[N]``: whether some row of ``others [K, M]`` dominates each row of ``points [N, M]``
    (all objectives minimized; float64 on the host, unlike ``nsga2.dominance_matrix``)."""
    le = np.all(others[None] <= points[:, None], axis=-1)
    lt = np.any(others[None] < points[:, None], axis=-1)
    return np.any(le & lt, axis=1)


def objectives_of(rows: list[dict]) -> np.ndarray:
    """(error, size) of result rows, both minimized, float64."""
    return np.array([[1.0 - r["accuracy"], r["size_bits"]] for r in rows], np.float64).reshape(-1, 2)


def pareto_mask(error: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Non-dominated points of (error, size), both minimized; the first of equal points is kept."""
    f = np.stack([error, size], 1)
    dominated = dominated_by(f, f)
    _, first = np.unique(f, axis=0, return_index=True)
    keep = np.zeros(len(f), bool)
    keep[first] = True
    return ~dominated & keep


@dataclass
class Prepared:
    """What a search starts from: the task, its splits (validation cut to ``val_size``), the
    float model and its calibration, the mode, and where results go."""

    cfg: Config
    task: Task
    splits: Splits
    x_val: np.ndarray
    y_val: np.ndarray
    params: CellParams
    ranges: Ranges
    mode: str
    out: Path
    float_val: float
    float_test: float
    log: Callable[[str], None]


def prepare(cfg: Config, opts: RunOptions | None = None) -> Prepared:
    """Step 1: checks the settings, loads the data, trains (or loads) and calibrates the float
    model; writes ``config.json`` and the ``float_model`` checkpoint into the run directory."""
    opts = opts or RunOptions()
    task = cfg.check()
    out = opts.out_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda *_: None) if opts.quiet else print
    _check_config_file(cfg, opts, out / "config.json")
    splits = task.load(opts.data_dir, download=opts.download or None, source=cfg.source, quiet=opts.quiet)
    mode = cfg.resolved_mode()
    log(f"{task.name}: {splits.source}{' (SYNTHETIC)' if splits.synthetic else ''}, {len(splits.x_train)} train / "
        f"{len(splits.x_val)} validation / {len(splits.x_test)} test sequences; {cfg.cell.upper()}, {mode.upper()}")
    x_val, y_val = splits.x_val[: cfg.val_size], splits.y_val[: cfg.val_size]  # val_size None: all of it
    params, ranges = _float_model(cfg, task, splits, out, log)
    float_val = float_accuracy(params, x_val, y_val)
    float_test = float_accuracy(params, splits.x_test, splits.y_test)
    log(f"float accuracy: validation {float_val:.4f}, test {float_test:.4f}")
    return Prepared(cfg, task, splits, x_val, y_val, params, ranges, mode, out, float_val, float_test, log)


def sizes(prep: Prepared, genomes) -> tuple[np.ndarray, np.ndarray]:
    """``(size_bits, size ratio to the 16-bit model)`` of ``genomes``."""
    bits, fitness = model_size(genomes, prep.params.cell, prep.task.features, prep.cfg.hidden, prep.task.classes)
    return bits, 1.0 - fitness


def accuracy_fn(prep: Prepared) -> Callable:
    """Step 2: ``accuracy(genomes, (x, y), ...)``, the accuracy of ``genomes`` on each data set
    (after QAT of every specimen in QAT mode), scored as one population."""
    cfg = prep.cfg
    if prep.mode == "qat":
        x_train, y_train = prep.splits.x_train, prep.splits.y_train
        n_qat = max(cfg.qat_batch_size, round(cfg.qat_fraction * len(x_train)))
        pick = np.random.default_rng([cfg.seed, 1]).permutation(len(x_train))[:n_qat]
        x_qat, y_qat = x_train[pick], y_train[pick]
        prep.log(f"QAT: every specimen fine-tunes on {len(pick)} train sequences, {cfg.qat_epochs} epoch(s), "
                 f"Adam lr {cfg.qat_learning_rate:g}")

    def accuracy(genomes, *data):
        weights = prep.params
        if prep.mode == "qat":
            weights = qat_population(
                prep.params, prep.ranges, genomes, x_qat, y_qat, epochs=cfg.qat_epochs,
                batch_size=cfg.qat_batch_size, learning_rate=cfg.qat_learning_rate, seed=cfg.seed,
                exact=cfg.qat_exact)
        return [population_accuracy(weights, prep.ranges, genomes, x, y) for x, y in data]

    return accuracy


def _title(prep: Prepared) -> str:
    synthetic = " (SYNTHETIC data)" if prep.splits.synthetic else ""
    return (f"{prep.task.name}{synthetic}, {prep.params.cell.name.upper()}({prep.cfg.hidden}), {prep.mode.upper()}, "
            f"P={prep.cfg.population}")


def search(prep: Prepared, accuracy: Callable, opts: RunOptions | None = None) -> SearchResult:
    """Step 3: NSGA-II over the cell's genomes, minimizing (validation error, size ratio);
    writes ``evaluated.csv`` and ``history.csv`` after every generation and checkpoints, so that
    ``opts.resume`` continues it. Its history's ``wall_seconds`` is the search's own time (asking,
    scoring and telling, summed over every generation, an interrupted run's earlier part too)."""
    cfg, cell, out = prep.cfg, prep.params.cell, prep.out
    opts = opts or RunOptions()

    def evaluate(genomes):
        (acc,) = accuracy(genomes, (prep.x_val, prep.y_val))
        violation = None if cfg.accuracy_floor is None else np.maximum(cfg.accuracy_floor - acc, 0.0)
        return np.stack([1.0 - acc, sizes(prep, genomes)[1]], 1), violation

    def write_progress(result: SearchResult):
        acc = 1.0 - result.objectives[:, 0]
        bits, ratio = sizes(prep, result.genomes)
        header = ["generation"] + [f"b{k}_{op.name}" for k, op in enumerate(cell.ops)] + [
            "accuracy", "size_bits", "size_ratio"]
        write_csv(out / "evaluated.csv", header, (
            [int(g), *map(int, genome), f"{a:.6f}", int(b), f"{r:.6f}"]
            for g, genome, a, b, r in zip(result.generation, result.genomes, acc, bits, ratio)))
        cols = ["generation", "hypervolume", "best_accuracy", "smallest_size_ratio", "front_size",
                "evaluations", "wall_seconds"]
        write_csv(out / "history.csv", cols, ([h[c] for c in cols] for h in _history(result)))

    strategy = nsga2.NSGA2(
        cfg.population, cell.n_ops, 2, MIN_BITS, MAX_BITS, crossover=nsga2.CROSSOVERS[cfg.crossover],
        mutation=nsga2.MUTATIONS[cfg.mutation],
    )
    sp = strategy.default_params
    if cfg.mutation_rate is not None:
        sp = sp.replace(mutation_rate=np.float32(cfg.mutation_rate))
    result = run_search(
        strategy, sp, evaluate, generations=cfg.generations, seed=cfg.seed,
        checkpoint_dir=out / "checkpoints", resume=opts.resume, on_generation=write_progress,
        progress=not opts.quiet, seeds=homogeneous_genomes(cell) if cfg.seed_homogeneous else None,
    )
    return result


def report(prep: Prepared, accuracy: Callable, result: SearchResult) -> dict:
    """Step 4: the final front and the homogeneous baselines, both also scored on the test
    split; writes ``front.json``, ``baseline.json``, ``summary.json`` and the plots; returns the
    summary."""
    cell, out = prep.params.cell, prep.out
    homo = homogeneous_genomes(cell)
    acc = 1.0 - result.objectives[:, 0]
    feasible = result.violation <= 0
    mask = pareto_mask(np.where(feasible, 1.0 - acc, np.inf), result.objectives[:, 1]) & feasible
    front_g = result.genomes[mask]
    order = np.argsort(result.objectives[mask, 1])
    front_g, front_acc = front_g[order], acc[mask][order]
    # One (QAT and) scoring call for front and baseline; the front keeps the accuracy it was selected on.
    both_val, test_acc = accuracy(np.concatenate([front_g, homo]), (prep.x_val, prep.y_val),
                                  (prep.splits.x_test, prep.splits.y_test))
    homo_acc = both_val[len(front_g):]
    fb, fr = sizes(prep, front_g)
    hb, hr = sizes(prep, homo)
    front = _records(front_g, front_acc, fb, fr, test_accuracy=test_acc[: len(front_g)])
    baseline = _records(homo, homo_acc, hb, hr, test_accuracy=test_acc[len(front_g):])
    write_json(out / "front.json", front)
    write_json(out / "baseline.json", baseline)

    acc8, size8 = float(homo_acc[-1]), int(hb[-1])
    # "Within 1 point" includes exactly 1 point below. The front's accuracies went through the
    # search's float32 objectives, so without a tolerance rounding decides that boundary
    # (290/300 = 0.96666664 in float32, against 293/300 - 0.01).
    close = [f for f in front if f["accuracy"] >= acc8 - 0.01 - 1e-6]
    best = min(close, key=lambda f: f["size_bits"]) if close else None
    op_params, head_params = param_counts(cell, prep.task.features, prep.cfg.hidden, prep.task.classes)
    n_params = int(op_params.sum()) + head_params
    summary = {
        "task": prep.task.name, "cell": cell.name, "source": prep.splits.source, "synthetic": prep.splits.synthetic,
        "mode": prep.mode, "hidden": prep.cfg.hidden, "parameters": n_params,
        "float_val_accuracy": prep.float_val, "float_test_accuracy": prep.float_test,
        "int8_val_accuracy": acc8, "int8_test_accuracy": baseline[-1]["test_accuracy"],
        "best_within_1pt_of_int8": best,
        "size_reduction_vs_int8": None if best is None else 1.0 - best["size_bits"] / size8,
        "size_reduction_vs_float32": None if best is None else 1.0 - best["size_bits"] / (32 * n_params),
        "final_hypervolume": result.history[-1]["hypervolume"],
        "evaluations": int(len(result.genomes)),
        "search_seconds": result.history[-1]["wall_seconds"],
    }
    write_json(out / "summary.json", summary)
    evaluated = {"size_ratio": sizes(prep, result.genomes)[1], "accuracy": acc, "generation": result.generation}
    plot_pareto(out / "pareto.png", evaluated=evaluated, front=front, baseline=baseline, title=_title(prep))
    plot_history(out / "history.png", _history(result), title=_title(prep))
    synthetic = " (synthetic)" if prep.splits.synthetic else ""
    line = (f"{prep.task.name}{synthetic} {cell.name.upper()}({prep.cfg.hidden}) [{prep.mode}]: "
            f"float {prep.float_val:.4f}, int8 {acc8:.4f}; ")
    if best is None:
        line += "no mixed genome within 1 point of int8"
    else:
        line += (f"smallest genome within 1 point of int8: {best['bits']} at {best['accuracy']:.4f}, "
                 f"{100 * summary['size_reduction_vs_int8']:.1f}% smaller than int8")
    n_dominated = int(dominated_by(objectives_of(baseline[1:]), objectives_of(front)).sum())
    line += f"; the mixed front dominates {n_dominated} of the 6 homogeneous 3..8-bit models"
    prep.log(line)
    prep.log(f"front and plots: {out / 'pareto.png'}, {out / 'front.json'}, {out / 'summary.json'}")
    return summary


def train_and_evaluate(cfg: Config, opts: RunOptions | None = None) -> dict:
    """The whole pipeline: :func:`prepare`, :func:`accuracy_fn`, :func:`search`, :func:`report`.
    Writes the run directory; returns the summary."""
    prep = prepare(cfg, opts)
    accuracy = accuracy_fn(prep)
    return report(prep, accuracy, search(prep, accuracy, opts))
