"""A whole GRU-GA run: train or load the float model, calibrate, search, report.

``experiments/run.py`` parses a :class:`Config` and calls :func:`train_and_evaluate`.
Objectives (both minimized by NSGA-II): ``1 - validation accuracy`` and the size ratio
``M_Q / M_FP16``. The hypervolume's reference point is (1, 1): zero accuracy, 16-bit size.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp

from jaxgru import nsga2
from jaxgru.calibrate import Ranges, calibrate
from jaxgru.evaluate import population_accuracy
from jaxgru.io import write_csv, write_json
from jaxgru.model import GRUParams
from jaxgru.ops import MAX_BITS, MIN_BITS, N_OPS, OPS, homogeneous_genomes
from jaxgru.plots import plot_history, plot_pareto
from jaxgru.qat import qat_population
from jaxgru.search import SearchResult, run_search
from jaxgru.size import model_size
from jaxgru.tasks import Task, get_task
from jaxgru.train import float_accuracy, train_float

CROSSOVERS = {"uniform": nsga2.uniform_crossover, "two_point": nsga2.two_point_crossover}
MUTATIONS = {"reset": nsga2.reset_mutation, "step": nsga2.step_mutation}


@dataclass(frozen=True)
class Config:
    """Everything a run depends on; ``config.json`` holds it and ``--resume`` checks it."""

    task: str = "mnist_row"
    hidden: int = 128
    population: int = 40
    generations: int = 20
    seed: int = 0
    data_dir: str | None = None
    out: str | None = None  # default results/<task>
    resume: bool = False
    download: bool = False
    # float training
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 2e-3
    train_size: int | None = None  # None: the whole train split
    # post-training quantization
    calib_size: int | None = None  # training sequences the observers see; None: the whole train split
    val_size: int | None = None  # None: the whole validation split
    source: str = "auto"  # speech: tfds | synthetic | auto (tfds when prepared, else synthetic)
    # quantization-aware training of every specimen before it is scored
    mode: str | None = None  # "ptq" | "qat"; None: the task's default (the paper's choice)
    qat_fraction: float = 0.1  # of the train split, a random subset drawn once from the seed
    qat_epochs: int = 1
    qat_learning_rate: float = 1e-5
    qat_batch_size: int = 128
    qat_exact: bool = True  # forward pass = the integer model; False: float surrogate (faster, ~1-4% codes differ)
    # search
    crossover: str = "uniform"
    mutation: str = "reset"
    mutation_rate: float | None = None  # None: 1/17
    accuracy_floor: float | None = None  # constrained dominance: accuracy below it is infeasible
    seed_homogeneous: bool = False  # start the search from the homogeneous genomes 2..8 plus random ones
    progress: bool = True

    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("results") / self.task

    def check(self) -> Task:
        """Validates the settings; returns the task. Raises ``ValueError`` with what to change."""
        task = get_task(self.task)
        for name in ("hidden", "population", "generations", "epochs", "batch_size", "qat_epochs", "qat_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"--{name.replace('_', '-')} must be an integer, got {value!r}.")
        for name in ("calib_size", "val_size", "train_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}.")
        if self.population < 4 or self.population % 2:
            raise ValueError(f"--population must be an even number >= 4, got {self.population}.")
        if self.generations < 1:
            raise ValueError(f"--generations must be >= 1, got {self.generations}.")
        if self.hidden < 1 or self.epochs < 0 or self.batch_size < 1:
            raise ValueError("--hidden and --batch-size must be >= 1 and --epochs >= 0.")
        if self.mode not in (None, "ptq", "qat"):
            raise ValueError(f"--mode must be ptq or qat, got {self.mode!r}.")
        if not 0.0 < self.qat_fraction <= 1.0 or self.qat_learning_rate <= 0:
            raise ValueError(f"--qat-fraction must lie in (0, 1] and --qat-learning-rate be > 0; got "
                             f"{self.qat_fraction}, {self.qat_learning_rate}.")
        if self.qat_epochs < 1 or self.qat_batch_size < 1:
            raise ValueError("--qat-epochs and --qat-batch-size must be >= 1.")
        if self.crossover not in CROSSOVERS:
            raise ValueError(f"--crossover must be one of {sorted(CROSSOVERS)}, got {self.crossover!r}.")
        if self.mutation not in MUTATIONS:
            raise ValueError(f"--mutation must be one of {sorted(MUTATIONS)}, got {self.mutation!r}.")
        if self.accuracy_floor is not None and not 0.0 <= self.accuracy_floor <= 1.0:
            raise ValueError(f"--accuracy-floor must lie in [0, 1], got {self.accuracy_floor}.")
        return task

    def resolved_mode(self) -> str:
        return self.mode or get_task(self.task).default_mode


_RUN_ONLY = ("resume", "progress", "out", "data_dir", "download")  # may differ on --resume


def _check_config_file(cfg: Config, path: Path) -> None:
    mine = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RUN_ONLY}
    if path.exists():
        theirs = {k: v for k, v in json.loads(path.read_text()).items() if k not in _RUN_ONLY}
        if cfg.resume and theirs != mine:
            diff = {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}
            raise ValueError(f"--resume with settings that differ from {path}: {diff} (saved, given).")
    write_json(path, dataclasses.asdict(cfg))


def _float_model(cfg: Config, task: Task, splits, out: Path, log) -> tuple[GRUParams, Ranges]:
    """Loads the float model and its calibration from ``out/float_model``, or trains and saves them."""
    ckpt = (out / "float_model").absolute()
    fields = GRUParams.__dataclass_fields__
    if ckpt.exists():
        try:
            tree = ocp.StandardCheckpointer().restore(ckpt)
            params = GRUParams(**{k: np.asarray(tree["params"][k]) for k in fields})
            ranges = Ranges(**{k: np.asarray(tree["ranges"][k]) for k in Ranges.__dataclass_fields__})
        except Exception as err:
            raise RuntimeError(
                f"cannot read the float model checkpoint {ckpt}: {type(err).__name__}: {err}. "
                "Delete that folder to retrain."
            ) from err
        if params.hidden != cfg.hidden or params.wx.shape[0] != task.features:
            raise ValueError(f"{ckpt} holds a GRU({params.hidden}) for {params.wx.shape[0]} features; "
                             f"this run asks for GRU({cfg.hidden}) on {task.name}. Use another --out.")
        log(f"loaded float model from {ckpt}")
        return params, ranges
    n = len(splits.x_train) if cfg.train_size is None else cfg.train_size
    log(f"training float GRU({cfg.hidden}) on {n} sequences for {cfg.epochs} epochs")
    model = train_float(
        splits.x_train[:n], splits.y_train[:n], hidden=cfg.hidden, classes=task.classes, epochs=cfg.epochs,
        batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, seed=cfg.seed, log=log,
    )
    params = model.params()
    ranges = calibrate(params, splits.x_train[: cfg.calib_size])  # calib_size None: all of it
    tree = {
        "params": {k: np.asarray(getattr(params, k)) for k in fields},
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


def pareto_mask(error: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Non-dominated points of (error, size), both minimized; the first of equal points is kept."""
    f = np.stack([error, size], 1)
    dominated = dominated_by(f, f)
    _, first = np.unique(f, axis=0, return_index=True)
    keep = np.zeros(len(f), bool)
    keep[first] = True
    return ~dominated & keep


def train_and_evaluate(cfg: Config) -> dict:
    """Runs the whole pipeline and writes the run directory; returns the summary."""
    task = cfg.check()
    out = cfg.out_dir()
    out.mkdir(parents=True, exist_ok=True)
    log = print if cfg.progress else (lambda *_: None)
    _check_config_file(cfg, out / "config.json")
    splits = task.load(cfg.data_dir, download=cfg.download or None, source=cfg.source)
    mode = cfg.resolved_mode()
    log(f"{task.name}: {splits.source}{' (SYNTHETIC)' if splits.synthetic else ''}, {len(splits.x_train)} train / "
        f"{len(splits.x_val)} validation / {len(splits.x_test)} test sequences; {mode.upper()}")
    x_val, y_val = splits.x_val, splits.y_val
    if cfg.val_size is not None:
        x_val, y_val = x_val[: cfg.val_size], y_val[: cfg.val_size]
    params, ranges = _float_model(cfg, task, splits, out, log)
    float_val = float_accuracy(params, x_val, y_val)
    float_test = float_accuracy(params, splits.x_test, splits.y_test)
    log(f"float accuracy: validation {float_val:.4f}, test {float_test:.4f}")

    def sizes(genomes):
        bits, fitness = model_size(genomes, task.features, cfg.hidden, task.classes)
        return bits, 1.0 - fitness

    if mode == "qat":
        n_qat = max(cfg.qat_batch_size, round(cfg.qat_fraction * len(splits.x_train)))
        pick = np.random.default_rng([cfg.seed, 1]).permutation(len(splits.x_train))[:n_qat]
        x_qat, y_qat = splits.x_train[pick], splits.y_train[pick]
        log(f"QAT: every specimen fine-tunes on {len(pick)} train sequences, {cfg.qat_epochs} epoch(s), "
            f"Adam lr {cfg.qat_learning_rate:g}")

    def accuracy(genomes, *data):
        """Accuracy of ``genomes`` on each ``(x, y)`` of ``data`` (after QAT in QAT mode)."""
        weights = params
        if mode == "qat":
            weights = qat_population(
                params, ranges, genomes, x_qat, y_qat, epochs=cfg.qat_epochs, batch_size=cfg.qat_batch_size,
                learning_rate=cfg.qat_learning_rate, seed=cfg.seed, exact=cfg.qat_exact)
        return [population_accuracy(weights, ranges, genomes, x, y) for x, y in data]

    def evaluate(genomes):
        (acc,) = accuracy(genomes, (x_val, y_val))
        violation = None if cfg.accuracy_floor is None else np.maximum(cfg.accuracy_floor - acc, 0.0)
        return np.stack([1.0 - acc, sizes(genomes)[1]], 1), violation

    title = (f"{task.name}{' (SYNTHETIC data)' if splits.synthetic else ''}, GRU({cfg.hidden}), {mode.upper()}, "
             f"P={cfg.population}")

    def write_progress(result: SearchResult):
        acc = 1.0 - result.objectives[:, 0]
        bits, ratio = sizes(result.genomes)
        header = ["generation"] + [f"b{k}_{op.name}" for k, op in enumerate(OPS)] + [
            "accuracy", "size_bits", "size_ratio"]
        write_csv(out / "evaluated.csv", header, (
            [int(g), *map(int, genome), f"{a:.6f}", int(b), f"{r:.6f}"]
            for g, genome, a, b, r in zip(result.generation, result.genomes, acc, bits, ratio)))
        cols = ["generation", "hypervolume", "best_accuracy", "smallest_size_ratio", "front_size",
                "evaluations", "wall_seconds"]
        write_csv(out / "history.csv", cols, ([h[c] for c in cols] for h in _history(result)))

    strategy = nsga2.NSGA2(
        cfg.population, N_OPS, 2, MIN_BITS, MAX_BITS, crossover=CROSSOVERS[cfg.crossover],
        mutation=MUTATIONS[cfg.mutation],
    )
    sp = strategy.default_params
    if cfg.mutation_rate is not None:
        sp = sp.replace(mutation_rate=np.float32(cfg.mutation_rate))
    t0 = time.perf_counter()
    result = run_search(
        strategy, sp, evaluate, generations=cfg.generations, seed=cfg.seed,
        checkpoint_dir=out / "checkpoints", resume=cfg.resume, on_generation=write_progress,
        progress=cfg.progress, seeds=homogeneous_genomes() if cfg.seed_homogeneous else None,
    )
    search_seconds = time.perf_counter() - t0

    # Homogeneous baseline and the final front, both also scored on the test split.
    homo = homogeneous_genomes()
    acc = 1.0 - result.objectives[:, 0]
    feasible = result.violation <= 0
    mask = pareto_mask(np.where(feasible, 1.0 - acc, np.inf), result.objectives[:, 1]) & feasible
    front_g = result.genomes[mask]
    order = np.argsort(result.objectives[mask, 1])
    front_g, front_acc = front_g[order], acc[mask][order]
    # One (QAT and) scoring call for front and baseline; the front keeps the accuracy it was selected on.
    both_val, test_acc = accuracy(np.concatenate([front_g, homo]), (x_val, y_val), (splits.x_test, splits.y_test))
    homo_acc = both_val[len(front_g):]
    fb, fr = sizes(front_g)
    hb, hr = sizes(homo)
    front = _records(front_g, front_acc, fb, fr, test_accuracy=test_acc[: len(front_g)])
    baseline = _records(homo, homo_acc, hb, hr, test_accuracy=test_acc[len(front_g):])
    write_json(out / "front.json", front)
    write_json(out / "baseline.json", baseline)

    acc8, size8 = float(homo_acc[-1]), int(hb[-1])
    close = [f for f in front if f["accuracy"] >= acc8 - 0.01]
    best = min(close, key=lambda f: f["size_bits"]) if close else None
    summary = {
        "task": task.name, "source": splits.source, "synthetic": splits.synthetic, "mode": mode, "hidden": cfg.hidden,
        "float_val_accuracy": float_val, "float_test_accuracy": float_test,
        "int8_val_accuracy": acc8, "int8_test_accuracy": baseline[-1]["test_accuracy"],
        "best_within_1pt_of_int8": best,
        "size_reduction_vs_int8": None if best is None else 1.0 - best["size_bits"] / size8,
        "final_hypervolume": result.history[-1]["hypervolume"],
        "evaluations": int(len(result.genomes)), "search_seconds": search_seconds,
    }
    write_json(out / "summary.json", summary)
    evaluated = {"size_ratio": sizes(result.genomes)[1], "accuracy": acc, "generation": result.generation}
    plot_pareto(out / "pareto.png", evaluated=evaluated, front=front, baseline=baseline, title=title)
    plot_history(out / "history.png", _history(result), title=title)
    line = f"{task.name}{' (synthetic)' if splits.synthetic else ''} [{mode}]: float {float_val:.4f}, int8 {acc8:.4f}; "
    if best is None:
        line += "no mixed genome within 1 point of int8"
    else:
        line += (f"smallest genome within 1 point of int8: {best['bits']} at {best['accuracy']:.4f}, "
                 f"{100 * summary['size_reduction_vs_int8']:.1f}% smaller than int8")
    print(line)
    return summary
