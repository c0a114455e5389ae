"""Float training of a cell classifier with Optax (Adam, cross-entropy)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxgru.cell import Cell
from jaxgru.model import CellClassifier, CellParams, float_logits


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@nnx.jit
def _train_step(model: CellClassifier, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array):
    loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x), y))(model)
    optimizer.update(model, grads)
    return loss


_float_logits = jax.jit(float_logits)


def float_accuracy(params: CellParams, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Float accuracy of the classifier with weights ``params`` on ``x: [N, T, F]``, ``y: [N]``."""
    correct = 0
    for i in range(0, len(x), batch_size):
        pred = np.asarray(jnp.argmax(_float_logits(params, jnp.asarray(x[i : i + batch_size])), axis=-1))
        correct += int((pred == y[i : i + batch_size]).sum())
    return correct / len(x)


def train_float(
    x: np.ndarray,
    y: np.ndarray,
    *,
    cell: Cell | str = "gru",
    hidden: int,
    classes: int,
    epochs: int = 5,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> CellClassifier:
    """Trains a fresh ``CellClassifier`` of ``cell`` on ``x: float32[N, T, F]``, ``y: int[N]``.

    Adam with a cosine decay and global-norm clipping; the last partial batch of an epoch is
    dropped so that the step compiles once.
    """
    n, _, features = x.shape
    model = CellClassifier(cell, features, hidden, classes, rngs=nnx.Rngs(seed))
    steps_per_epoch = max(n // batch_size, 1)
    schedule = optax.cosine_decay_schedule(learning_rate, epochs * steps_per_epoch)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses = []
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            losses.append(_train_step(model, optimizer, jnp.asarray(x[idx]), jnp.asarray(y[idx])))
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}: loss {float(jnp.mean(jnp.stack(losses))):.4f}")
    return model
