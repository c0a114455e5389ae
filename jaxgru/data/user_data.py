"""The user's own data: a task from NumPy arrays, or from a ``.npz`` file (``--task npz:PATH``).

A task file holds ``x_train float[N, T, F]`` and ``y_train int[N]`` (class labels ``0..C-1``),
and optionally ``x_val``/``y_val``, ``x_test``/``y_test`` and ``lengths_<split> int[N]`` (each
sequence's valid steps, the rest padding). The features' shape and the number of classes
(``C = the largest label + 1``) are read from the data. A missing validation split is held out
from train (a random 10%, seed 0), as is a missing test split; the splits' ``source`` says so.
Every problem with the arrays is refused in one line that names the array and what to change.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from jaxgru.data.tasks import Splits, Task

NPZ_PREFIX = "npz:"
SPLIT_NAMES = ("train", "val", "test")
HELD_OUT = 0.1  # of x_train, for each split the data does not give
LAYOUT = ("x_train [N, T, F] float and y_train [N] integer labels, optionally x_val/y_val, x_test/y_test and "
          "lengths_<split> [N]")


def _check_split(arrays: dict, split: str, where: str) -> None:
    x, y, lengths = arrays[f"x_{split}"], arrays[f"y_{split}"], arrays.get(f"lengths_{split}")
    name = f"x_{split}"
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{where}{name} has dtype {x.dtype}; features must be floating point (x.astype(np.float32)).")
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"{where}{name} must be [N, T, F] (sequences, steps, features), none of them 0; got shape "
                         f"{x.shape}.")
    bad = ~np.isfinite(x)
    if bad.any():
        n, t, _ = np.argwhere(bad)[0]
        raise ValueError(f"{where}{name} holds {int(bad.sum())} NaN or infinite value(s) (the first at sequence {n}, "
                         f"step {t}); clean or drop those sequences.")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{where}y_{split} must be one integer label per sequence, [N]; got dtype {y.dtype}, shape "
                         f"{y.shape}.")
    if len(y) != len(x):
        raise ValueError(f"{where}y_{split} has {len(y)} labels for the {len(x)} sequences of {name}.")
    if len(y) and y.min() < 0:
        raise ValueError(f"{where}y_{split} holds label {int(y.min())}; labels are the classes 0..C-1.")
    if lengths is not None:
        if lengths.ndim != 1 or len(lengths) != len(x) or not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"{where}lengths_{split} must be one integer per sequence of {name} ({len(x)}); got "
                             f"dtype {lengths.dtype}, shape {lengths.shape}.")
        if len(lengths) and (lengths.min() < 1 or lengths.max() > x.shape[1]):
            raise ValueError(f"{where}lengths_{split} must lie in 1..{x.shape[1]} (the steps of {name}); got "
                             f"{int(lengths.min())}..{int(lengths.max())}.")


def splits_from_arrays(arrays: dict, *, source: str = "arrays", where: str = "") -> tuple[Splits, int]:
    """The :class:`Splits` of the arrays named as in a task file, validated, and the number of
    classes; the splits not given are held out from train (``source`` says how)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    for key in ("x_train", "y_train"):
        if key not in arrays:
            raise ValueError(f"{where}no array {key!r}; a task holds {LAYOUT}.")
    for split in ("val", "test"):
        x, y = f"x_{split}" in arrays, f"y_{split}" in arrays
        if x != y:
            raise ValueError(f"{where}{'x' if x else 'y'}_{split} is given without {'y' if x else 'x'}_{split}; give "
                             "both or neither.")
        if f"lengths_{split}" in arrays and not x:
            raise ValueError(f"{where}lengths_{split} is given without x_{split}.")
    unknown = sorted(set(arrays) - {f"{p}_{s}" for p in ("x", "y", "lengths") for s in SPLIT_NAMES})
    if unknown:
        raise ValueError(f"{where}unexpected array(s) {unknown}; a task holds {LAYOUT}.")
    given = [s for s in SPLIT_NAMES if f"x_{s}" in arrays]
    for split in given:
        _check_split(arrays, split, where)
    features = {arrays[f"x_{s}"].shape[2] for s in given}
    if len(features) > 1:
        raise ValueError(f"{where}the splits have different feature counts {sorted(features)}; every x_<split> "
                         "needs the same F.")
    classes = 1 + max(int(arrays[f"y_{s}"].max()) for s in given if len(arrays[f"y_{s}"]))
    if classes < 2:
        raise ValueError(f"{where}every label is 0: a classifier needs at least two classes.")

    held = [s for s in ("val", "test") if s not in given]
    notes = []
    if held:
        n = len(arrays["x_train"])
        cut = max(1, round(HELD_OUT * n))
        if n <= cut * len(held):
            raise ValueError(f"{where}x_train has {n} sequences: too few to hold out {' and '.join(held)} from it; "
                             "give x_val/y_val (and x_test/y_test).")
        order = np.random.default_rng(0).permutation(n)
        parts = {s: order[i * cut : (i + 1) * cut] for i, s in enumerate(held)}
        parts["train"] = np.sort(order[len(held) * cut :])
        train = {k[: -len("train")]: v for k, v in arrays.items() if k.endswith("_train")}
        for s, idx in parts.items():
            for prefix, v in train.items():
                arrays[f"{prefix}{s}"] = v[np.sort(idx)]
        notes.append(f"{' and '.join(held)}: a random {HELD_OUT:.0%} of x_train each ({cut} sequences, seed 0)")
    f32 = {k: (v.astype(np.float32) if k.startswith("x_") else v.astype(np.int32)) for k, v in arrays.items()}
    splits = Splits(
        x_train=f32["x_train"], y_train=f32["y_train"], x_val=f32["x_val"], y_val=f32["y_val"],
        x_test=f32["x_test"], y_test=f32["y_test"], source=source + (f" ({'; '.join(notes)})" if notes else ""),
        lengths_train=f32.get("lengths_train"), lengths_val=f32.get("lengths_val"),
        lengths_test=f32.get("lengths_test"),
    )
    return splits, classes


def task_from_arrays(name: str, arrays: dict, *, source: str | None = None) -> Task:
    """A :class:`Task` of the user's arrays (named as in a task file: ``x_train``, ``y_train``,
    ...), validated once; its loader returns them whatever the data directory."""
    splits, classes = splits_from_arrays(arrays, source=source or name, where=f"{name}: ")

    def load(data_dir=None, download=None, source: str = "auto", quiet: bool = False) -> Splits:
        return splits

    return Task(name, steps=splits.x_train.shape[1], features=splits.x_train.shape[2], classes=classes, load=load,
                labels=tuple(str(c) for c in range(classes)))


def npz_task(path: str | os.PathLike) -> Task:
    """The task a ``.npz`` file holds (read once per version of the file)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"task file {path} does not exist; `task` npz:PATH names a .npz holding {LAYOUT}.")
    stat = path.stat()
    return _read_npz(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_npz(path: str, mtime_ns: int, size: int) -> Task:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as err:  # numpy raises many types for a bad file; say which file
        raise ValueError(f"cannot read the task file {path} as .npz: {type(err).__name__}: {err}") from None
    return task_from_arrays(f"npz_{Path(path).stem}", arrays, source=f"{Path(path).name} (the user's data)")


def save_task_file(path: str | os.PathLike, **arrays) -> Path:
    """Validates ``arrays`` (named as in a task file) and writes them to ``path`` atomically, for
    a run with ``task="npz:PATH"`` (its ``config.json`` then names the data, so it resumes)."""
    from jaxgru.model.export import save_npz  # writes atomically

    splits_from_arrays(arrays, where=f"{path}: ")
    return save_npz(path, {k: np.asarray(v) for k, v in arrays.items() if v is not None})
