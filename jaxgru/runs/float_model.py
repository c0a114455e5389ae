"""A run's float model on disk: trained once, saved with its calibrated ranges and their digest
(Orbax), read back and checked by every later step and by ``resume``. The folder also holds the
environment the model was made in (``environment.json``), so a copy of it says where it came from."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp

from jaxgru.cells import Cell, Stack
from jaxgru.data.tasks import Splits, Task
from jaxgru.distributed import is_main
from jaxgru.files import check_digest, with_digest, write_json
from jaxgru.model.calibrate import Ranges, calibrate
from jaxgru.model.floating import ModelParams, param_shapes
from jaxgru.model.from_torch import import_torch
from jaxgru.model.training import remove_checkpoints, train_float
from jaxgru.runs.config import Config

MADE_IN = "environment.json"  # inside the float model's folder: travels with every copy of it


def read_float_model(ckpt: Path, cell: Stack | Cell | str) -> tuple[ModelParams, Ranges]:
    """The float weights and calibrated ranges a run saved in ``ckpt`` (its ``float_model``),
    checked against the digest saved with them (:class:`jaxgru.files.DamagedStateError` if not)."""
    try:
        tree = ocp.StandardCheckpointer().restore(Path(ckpt).absolute())
    except Exception as err:
        raise RuntimeError(
            f"cannot read the float model checkpoint {ckpt}: {type(err).__name__}: {err}. "
            "Delete that folder to retrain."
        ) from err
    tree = check_digest(tree, f"the float model checkpoint {ckpt}",
                        "delete that folder to train and calibrate again, or restore it from a copy")
    arrays = {k: np.asarray(v) for k, v in tree["params"].items()}
    ranges = Ranges(**{k: np.asarray(tree["ranges"][k]) for k in Ranges.__dataclass_fields__})
    return ModelParams(arrays=arrays, stack=Stack.of(cell)), ranges


def write_float_model(ckpt: Path, params: ModelParams, ranges: Ranges, env: dict | None = None) -> None:
    """Saves ``params``, ``ranges`` and their digest in ``ckpt`` (read back by :func:`read_float_model`),
    and ``env``, the environment that trained or imported them (read back by :func:`made_in`)."""
    tree = {
        "params": {k: np.asarray(v) for k, v in params.arrays.items()},
        "ranges": {k: np.asarray(getattr(ranges, k)) for k in Ranges.__dataclass_fields__},
    }
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(Path(ckpt).absolute(), with_digest(tree), force=True)
    checkpointer.wait_until_finished()
    if env is not None and is_main():
        write_json(Path(ckpt) / MADE_IN, env)


def made_in(ckpt: Path) -> dict | None:
    """The environment the float model in ``ckpt`` was made in (``None`` for one saved without it)."""
    path = Path(ckpt) / MADE_IN
    return json.loads(path.read_text()) if path.is_file() else None


def imported(cfg: Config, task: Task) -> ModelParams:
    """The PyTorch model ``cfg.torch_model`` as jaxgru's weights, refused in one line when it is
    not the model the run describes (cell, layers, widths) or does not fit the task."""
    params = import_torch(cfg.torch_model)
    stack, hidden = cfg.resolved_stack(), cfg.resolved_hidden()
    got = f"{params.stack.layers}-layer {params.stack.name.upper()}({','.join(map(str, params.hidden))})"
    if params.stack != stack or params.hidden != hidden:
        raise ValueError(f"{cfg.torch_model} holds a {got} but the run describes a {cfg.model_name()}; give "
                         f"`cell` {params.stack.cells[0].name} `layers` {params.stack.layers} `hidden` "
                         f"{','.join(map(str, params.hidden))}.")
    if params.n_in != task.features or params.n_classes != task.classes:
        raise ValueError(f"{cfg.torch_model} takes {params.n_in} features and gives {params.n_classes} classes but "
                         f"{task.name} has {task.features} features and {task.classes} classes.")
    return params


def load_or_train(cfg: Config, task: Task, splits: Splits, out: Path, log: Callable[[str], None],
                  env: dict | None = None) -> tuple[ModelParams, Ranges]:
    """The float model and its calibration from ``out/float_model``, or brought in from PyTorch
    (``torch_model``) or trained, then calibrated and saved there with ``env``, the environment
    that made it (training checkpoints every epoch in ``out/float_training``, so it resumes)."""
    ckpt = (out / "float_model").absolute()
    stack, hidden = cfg.resolved_stack(), cfg.resolved_hidden()
    if ckpt.exists():
        params, ranges = read_float_model(ckpt, stack)
        want = param_shapes(stack, task.features, hidden, task.classes)
        got = {k: tuple(v.shape) for k, v in params.arrays.items()}
        if got != want or len(ranges.lo) != stack.n_ops:
            raise ValueError(f"{ckpt} does not hold a {cfg.model_name()} for {task.name} "
                             f"(weights {got}); this run asks for one. Write the run to another folder.")
        log(f"loaded float model from {ckpt}")
        return params, ranges
    n = len(splits.x_train) if cfg.train_size is None else cfg.train_size
    lengths = splits.lengths("train")
    if cfg.torch_model is not None:
        params = imported(cfg, task)
        log(f"imported the float {cfg.model_name()} from {cfg.torch_model}")
    else:
        log(f"training float {cfg.model_name()} on {n} sequences for {cfg.epochs} epochs")
        model = train_float(
            splits.x_train[:n], splits.y_train[:n], cell=stack, hidden=hidden, classes=task.classes,
            epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, seed=cfg.seed, log=log,
            checkpoint_dir=out / "float_training", lengths=None if lengths is None else lengths[:n],
        )
        params = model.params()
    calib = slice(None, cfg.calib_size)  # calib_size None: all of it
    ranges = calibrate(params, splits.x_train[calib], lengths=None if lengths is None else lengths[calib])
    write_float_model(ckpt, params, ranges, env)  # by every process together (Orbax)
    if is_main():
        remove_checkpoints(out / "float_training")
    return params, ranges
