"""Float training of a classifier (a stack of recurrent layers and a dense head) with Optax (Adam, cross-entropy)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

from jaxgru.cells import Stack
from jaxgru.cells.declaration import Cell
from jaxgru.files import check_digest, with_digest
from jaxgru.model.floating import Classifier, ModelParams, float_logits
from jaxgru.model.lengths import check_lengths


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@nnx.jit
def _train_step(model: Classifier, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array, lengths: jax.Array | None):
    loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x, lengths), y))(model)
    optimizer.update(model, grads)
    return loss


_float_logits = jax.jit(float_logits)


def float_accuracy(params: ModelParams, x: np.ndarray, y: np.ndarray, batch_size: int = 1000, lengths=None) -> float:
    """Float accuracy of the classifier with weights ``params`` on ``x: [N, T, F]``, ``y: [N]``
    (``lengths: int[N]``, optional: each sequence's valid steps)."""
    correct = 0
    for i in range(0, len(x), batch_size):
        lb = None if lengths is None else jnp.asarray(lengths[i : i + batch_size])
        pred = np.asarray(jnp.argmax(_float_logits(params, jnp.asarray(x[i : i + batch_size]), lb), axis=-1))
        correct += int((pred == y[i : i + batch_size]).sum())
    return correct / len(x)


def default_optimizer(learning_rate: float, total_steps: int) -> optax.GradientTransformation:
    """Float training's default: global-norm clipping at 1, then Adam with a cosine decay from
    ``learning_rate`` to 0 over ``total_steps``."""
    schedule = optax.cosine_decay_schedule(learning_rate, total_steps)
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


def train_float(
    x: np.ndarray,
    y: np.ndarray,
    *,
    cell: Stack | Cell | str = "gru",
    hidden: int | Sequence[int],
    classes: int,
    epochs: int = 5,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    seed: int = 0,
    optimizer: optax.GradientTransformation | None = None,
    log: Callable[[str], None] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    lengths: np.ndarray | None = None,
) -> Classifier:
    """Trains a fresh :class:`Classifier` of ``cell`` (a cell, or a :class:`Stack` of layers) with
    ``hidden`` units (one width for all layers or one per layer) on ``x: float32[N, T, F]``,
    ``y: int[N]`` (``lengths: int[N]``, optional: each sequence's valid steps).

    ``optimizer`` (an Optax transformation) defaults to :func:`default_optimizer`: Adam at
    ``learning_rate`` with a cosine decay and global-norm clipping. ``seed`` initializes the
    weights and draws the epochs' data order (host NumPy). The last partial batch of an epoch is
    dropped so that the step compiles once. With ``checkpoint_dir``, the model and optimizer are
    saved after every epoch and a later call with the same arguments resumes from the last
    saved epoch, ending where an uninterrupted run would (long trainings, e.g. ``mnist_pixel``).
    """
    n, steps, features = x.shape
    lengths = check_lengths(lengths, n, steps)
    model = Classifier(cell, features, hidden, classes, rngs=nnx.Rngs(seed))
    steps_per_epoch = max(n // batch_size, 1)
    tx = default_optimizer(learning_rate, epochs * steps_per_epoch) if optimizer is None else optimizer
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    rng = np.random.default_rng(seed)
    mngr, start = None, 0
    if checkpoint_dir is not None:
        options = ocp.CheckpointManagerOptions(max_to_keep=1)
        mngr = ocp.CheckpointManager(Path(checkpoint_dir).absolute(), options=options)
        if mngr.latest_step() is not None:
            start = _restore_training(mngr, model, optimizer)
            for _ in range(start):  # the epochs' shuffles, so that the next one is the uninterrupted run's
                rng.permutation(n)
            if log is not None:
                log(f"resumed float training after epoch {start}/{epochs} from {checkpoint_dir}")
    for epoch in range(start, epochs):
        order = rng.permutation(n)
        losses = []
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            lb = None if lengths is None else jnp.asarray(lengths[idx])
            losses.append(_train_step(model, optimizer, jnp.asarray(x[idx]), jnp.asarray(y[idx]), lb))
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}: loss {float(jnp.mean(jnp.stack(losses))):.4f}")
        if mngr is not None:
            tree = {"model": nnx.to_pure_dict(nnx.state(model)), "optimizer": nnx.to_pure_dict(nnx.state(optimizer))}
            tree = with_digest(jax.tree.map(np.asarray, tree))
            mngr.save(epoch + 1, args=ocp.args.StandardSave(tree), force=True)
            mngr.wait_until_finished()
    if mngr is not None:
        mngr.close()
    return model


def _restore_training(mngr: ocp.CheckpointManager, model: Classifier, optimizer: nnx.Optimizer) -> int:
    """Loads the last saved epoch into ``model`` and ``optimizer``; returns the epochs done."""
    step = mngr.latest_step()
    where = f"the float-training checkpoint {mngr.directory}/{step}"
    try:
        tree = mngr.restore(step, args=ocp.args.StandardRestore())
    except Exception as err:  # orbax raises many types; say plainly what failed
        raise RuntimeError(f"cannot read {where}: {type(err).__name__}: {err}. Delete that folder to train from "
                           "scratch.") from err
    tree = check_digest(tree, where, "delete that folder to train from scratch")
    try:
        for obj, key in ((model, "model"), (optimizer, "optimizer")):
            state = nnx.state(obj)
            nnx.replace_by_pure_dict(state, tree[key])
            nnx.update(obj, state)
    except Exception as err:  # orbax raises many types; say plainly what failed
        raise RuntimeError(f"cannot load {where}: {type(err).__name__}: {err}. Delete that folder to train from "
                           "scratch.") from err
    return int(step)


def remove_checkpoints(checkpoint_dir: str | os.PathLike) -> None:
    """Deletes a finished training's per-epoch checkpoints."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
