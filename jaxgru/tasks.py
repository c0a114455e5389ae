"""Tasks: a name, the shapes of its sequences, and a loader of its splits.

Adding a task is one function that returns a :class:`Splits` and one entry in ``TASKS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jaxgru.data import load_mnist


@dataclass(frozen=True)
class Splits:
    """Sequences ``x: float32[N, T, F]`` and labels ``y: int32[N]`` of each split.

    ``val`` is what the search scores specimens on; ``test`` is kept for the final report.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Task:
    name: str
    steps: int
    features: int
    classes: int
    load: Callable[..., Splits]  # load(data_dir=None, download=None) -> Splits
    synthetic: bool = False


MNIST_VAL = 5000  # the last 5000 training images are the validation split


def _mnist_splits(images_to_seq: Callable[[np.ndarray], np.ndarray]):
    def load(data_dir: str | os.PathLike | None = None, download: bool | None = None) -> Splits:
        raw = load_mnist(data_dir, download=download)
        x_train = images_to_seq(raw["x_train"])
        y_train = raw["y_train"].astype(np.int32)
        return Splits(
            x_train=x_train[:-MNIST_VAL],
            y_train=y_train[:-MNIST_VAL],
            x_val=x_train[-MNIST_VAL:],
            y_val=y_train[-MNIST_VAL:],
            x_test=images_to_seq(raw["x_test"]),
            y_test=raw["y_test"].astype(np.int32),
        )

    return load


def mnist_rows(images: np.ndarray) -> np.ndarray:
    """``uint8[N, 28, 28]`` -> ``float32[N, 28, 28]``: one row per step, pixels in [0, 1]."""
    return images.astype(np.float32) / 255.0


PIXEL_SIDE = 19


def mnist_pixels(images: np.ndarray, batch: int = 10000) -> np.ndarray:
    """``uint8[N, 28, 28]`` -> ``float32[N, 361, 1]``: the image resized to 19 x 19 (bilinear with
    antialiasing, ``jax.image.resize``), pixels in [0, 1], read row by row, one pixel per step."""
    import jax
    import jax.numpy as jnp

    resize = jax.jit(lambda im: jax.image.resize(im, (im.shape[0], PIXEL_SIDE, PIXEL_SIDE), "linear", antialias=True))
    chunks = (jnp.asarray(images[i : i + batch], jnp.float32) / 255.0 for i in range(0, len(images), batch))
    out = [np.asarray(resize(chunk)) for chunk in chunks]
    return np.clip(np.concatenate(out), 0.0, 1.0).reshape(len(images), PIXEL_SIDE * PIXEL_SIDE, 1)


TASKS: dict[str, Task] = {
    "mnist_row": Task("mnist_row", steps=28, features=28, classes=10, load=_mnist_splits(mnist_rows)),
    "mnist_pixel": Task("mnist_pixel", steps=PIXEL_SIDE**2, features=1, classes=10, load=_mnist_splits(mnist_pixels)),
}


def get_task(name: str) -> Task:
    """The task called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}.") from None
