"""Step 1 of a run, and the objectives every later step computes the same way: :func:`prepare`
(settings checked, data loaded, float model trained or read, calibrated) and the objective
assembly (error, each cost relative to the all-16-bit model, MOHAQ's constraint violation)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxgru.cells.genome import Widths
from jaxgru.data.tasks import Splits, Task
from jaxgru.files import write_json
from jaxgru.model.calibrate import Ranges
from jaxgru.model.costs import CostModel, cost_model, normalized, population_costs
from jaxgru.model.counts import model_size
from jaxgru.model.floating import ModelParams
from jaxgru.model.population import Scores
from jaxgru.model.training import float_accuracy
from jaxgru.runs.config import Config, RunOptions, saved_settings
from jaxgru.runs.environment import FILE as ENVIRONMENT
from jaxgru.runs.environment import environment, environment_differences
from jaxgru.runs.float_model import load_or_train, made_in


class SettingsMismatch(ValueError):
    """A run folder holds a run with other settings than the ones given to resume it."""


def _check_config_file(cfg: Config, opts: RunOptions, path: Path) -> None:
    """Writes ``config.json``; when resuming, first refuses settings that differ from it."""
    mine = dataclasses.asdict(cfg)
    if path.exists() and opts.resume:
        theirs = saved_settings(path)
        if theirs != mine:
            diff = {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}
            raise SettingsMismatch(f"resuming with settings that differ from {path}: {diff} (saved, given).")
    write_json(path, mine)


def _record_environment(path: Path, env: dict, opts: RunOptions, log) -> None:
    """Writes ``environment.json``; a resumed run keeps the one it started with and says in one
    line where today's differs."""
    if path.exists() and opts.resume:
        diffs = environment_differences(json.loads(path.read_text()), env)
        if diffs:
            log(f"note: resuming in another environment than the run started in ({len(diffs)} differences, "
                f"first {diffs[0]}); {path.name} keeps the first")
        return
    write_json(path, env)


def _record_float_model_origin(path: Path, ckpt: Path) -> None:
    """Adds to ``environment.json`` (as ``float_model``) the environment the float model was made
    in, when that is not this run's: a float model copied in from another run or machine."""
    origin = made_in(ckpt)
    if origin is None or not path.is_file():
        return
    env = json.loads(path.read_text())
    if origin != {k: v for k, v in env.items() if k != "float_model"} and env.get("float_model") != origin:
        write_json(path, {**env, "float_model": origin})


@dataclass
class Prepared:
    """What a search starts from: the task, its splits (validation and test cut to ``val_size``
    and ``test_size``), the
    float model and its calibration, the mode, the width set and objectives, and where results go."""

    cfg: Config
    task: Task
    splits: Splits
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    lengths_val: np.ndarray | None
    lengths_test: np.ndarray | None
    params: ModelParams
    ranges: Ranges
    mode: str
    out: Path
    float_val: float
    float_test: float
    log: Callable[[str], None]
    widths: Widths
    objectives: tuple[str, ...]
    costs: CostModel

    @property
    def val(self) -> tuple:
        """``(x, y, lengths)`` of the validation sequences the search scores on."""
        return self.x_val, self.y_val, self.lengths_val

    @property
    def test(self) -> tuple:
        """``(x, y, lengths)`` of the test sequences the final report scores on."""
        return self.x_test, self.y_test, self.lengths_test

    def genomes(self, searched) -> np.ndarray:
        """Full genomes (every operator of every layer) of the widths the search evolves: the
        same, or one layer's widths repeated in every layer when ``tie_layers``."""
        return self.params.stack.untie(searched) if self.cfg.tie_layers else np.asarray(searched, np.int32)

    def decode(self, genes) -> tuple[np.ndarray, np.ndarray | None]:
        """The full genomes (widths) and delta thresholds of the search's genes ``int[P, D]``
        (indices into the width set, then with `delta` search the threshold genes); thresholds are
        ``None`` without deltas, every one ``T`` with `delta` fixed:T."""
        genes = np.asarray(genes, np.int32)
        n_t = self.cfg.threshold_genes()
        widths = genes[:, : genes.shape[1] - n_t]
        genomes = self.genomes(self.widths.decode(widths))
        kind, value = self.cfg.resolved_delta()
        n_delta = len(self.params.stack.delta_sources)
        if kind == "off":
            return genomes, None
        if kind == "fixed":
            return genomes, np.full((len(genes), n_delta), value, np.int32)
        thresholds = genes[:, genes.shape[1] - n_t:]
        return genomes, (np.tile(thresholds, self.params.stack.layers) if self.cfg.tie_layers else thresholds)


def prepare(cfg: Config, opts: RunOptions | None = None) -> Prepared:
    """Checks the settings, loads the data, trains (or loads) and calibrates the float model;
    writes ``config.json`` and the ``float_model`` checkpoint into the run directory."""
    opts = opts or RunOptions()
    task = cfg.check()
    out = opts.out_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda *_: None) if opts.quiet else print
    _check_config_file(cfg, opts, out / "config.json")
    splits = task.load(opts.data_dir, download=opts.download or None, source=cfg.source, quiet=opts.quiet)
    env = environment(splits)
    _record_environment(out / ENVIRONMENT, env, opts, log)
    mode, widths, objectives = cfg.resolved_mode(), cfg.resolved_widths(), cfg.resolved_objectives()
    log(f"{task.name}: {splits.source}{' (SYNTHETIC)' if splits.synthetic else ''}, {len(splits.x_train)} train / "
        f"{len(splits.x_val)} validation / {len(splits.x_test)} test sequences; {cfg.resolved_stack().name.upper()}, "
        f"{mode.upper()}, "
        f"widths {widths}, objectives {','.join(objectives)}, strategy {cfg.strategy}")
    x_val, y_val = splits.x_val[: cfg.val_size], splits.y_val[: cfg.val_size]  # None: all of it
    x_test, y_test = splits.x_test[: cfg.test_size], splits.y_test[: cfg.test_size]
    l_val, l_test = (None if (v := splits.lengths(s)) is None else v[:n] for s, n in
                     (("val", cfg.val_size), ("test", cfg.test_size)))
    params, ranges = load_or_train(cfg, task, splits, out, log, env)
    _record_float_model_origin(out / ENVIRONMENT, out / "float_model")
    float_val = float_accuracy(params, x_val, y_val, lengths=l_val)
    float_test = float_accuracy(params, x_test, y_test, lengths=l_test)
    log(f"float accuracy: validation {float_val:.4f}, test {float_test:.4f}")
    costs = cost_model(params.stack, task.features, params.hidden, task.classes, splits.x_val.shape[1])
    return Prepared(cfg, task, splits, x_val, y_val, x_test, y_test, l_val, l_test, params, ranges, mode, out,
                    float_val, float_test, log, widths, objectives, costs)


def sizes(prep: Prepared, genomes) -> tuple[np.ndarray, np.ndarray]:
    """``(size_bits, size ratio to the 16-bit model)`` of ``genomes``."""
    bits, fitness = model_size(genomes, prep.params.stack, prep.task.features, prep.params.hidden, prep.task.classes)
    return bits, 1.0 - fitness


def genome_costs(prep: Prepared, genomes, scores: Scores | None = None) -> dict[str, np.ndarray]:
    """Every cost of ``genomes`` in its natural units (``jaxgru.model.costs``), ``float64[P]``
    each; with a delta network's ``scores``, of the operations it executes, and its
    ``eliminated_ops`` share."""
    eliminated = None if scores is None else scores.eliminated_ops
    costs = population_costs(prep.costs, genomes, prep.params.stack, eliminated_ops=eliminated)
    if eliminated is not None:
        costs["eliminated_ops"] = scores.eliminated
    return costs


def objective_values(prep: Prepared, acc: np.ndarray, costs: dict[str, np.ndarray]) -> np.ndarray:
    """The search's objectives ``[P, M]``, all minimized: the error, then each cost relative to
    the all-16-bit model (``jaxgru.model.costs.normalized``), or for ``eliminated_ops`` the share
    of operations executed."""
    names = [n for n in prep.objectives[1:] if n != "eliminated_ops"]
    norm = normalized(prep.costs, {n: costs[n] for n in names}, prep.params.stack)
    norm["eliminated_ops"] = 1.0 - costs.get("eliminated_ops", np.zeros(len(acc)))
    return np.stack([1.0 - acc] + [norm[n] for n in prep.objectives[1:]], 1)


def constraint_violation(cfg: Config, acc: np.ndarray, costs: dict[str, np.ndarray]) -> np.ndarray | None:
    """MOHAQ's constraints as a violation ``>= 0`` per specimen: each excess relative to its bound,
    summed (``None`` without constraints)."""
    parts = []
    if cfg.max_error is not None:
        parts.append(np.maximum((1.0 - acc) - cfg.max_error, 0.0) / cfg.max_error)
    if cfg.max_memory is not None:
        parts.append(np.maximum(costs["memory"] / 1000.0 - cfg.max_memory, 0.0) / cfg.max_memory)
    return np.sum(parts, axis=0) if parts else None
