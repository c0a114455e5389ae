"""Data sources: a local data directory first, tensorflow-datasets second, never a silent hang.

The data directory comes from the ``data_dir`` argument or the ``JAXGRU_DATA_DIR`` environment
variable and holds files in the layout their loaders document (MNIST: Keras' ``mnist.npz``).
When no local file exists, tensorflow-datasets is used, but it downloads only when asked to
(``download=True`` or ``JAXGRU_DOWNLOAD=1``): offline, tfds retries for minutes before it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DATA_DIR_ENV = "JAXGRU_DATA_DIR"
DOWNLOAD_ENV = "JAXGRU_DOWNLOAD"


class DataNotFoundError(FileNotFoundError):
    """A data set is neither in the data directory nor obtainable from tensorflow-datasets."""


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The data directory from the argument, else from ``$JAXGRU_DATA_DIR``, else ``None``."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if chosen is None or str(chosen) == "":
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(
            f"data directory {str(path)!r} does not exist; pass an existing folder with "
            f"`data_dir` or ${DATA_DIR_ENV}."
        )
    return path


def download_allowed(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get(DOWNLOAD_ENV, "") not in ("", "0", "false", "False")


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, download: bool | None = None
) -> dict[str, np.ndarray]:
    """MNIST as ``{"x_train": uint8[60000, 28, 28], "y_train", "x_test", "y_test"}``.

    Reads ``<data_dir>/mnist.npz`` (Keras layout) when present, otherwise tensorflow-datasets'
    ``mnist`` (prepared in its own data directory, or downloaded when ``download`` is allowed).
    """
    folder = resolve_data_dir(data_dir)
    if folder is not None and (folder / "mnist.npz").is_file():
        with np.load(folder / "mnist.npz") as f:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
            if missing:
                raise ValueError(
                    f"{folder / 'mnist.npz'} lacks arrays {sorted(missing)}; expected the Keras "
                    "layout x_train, y_train, x_test, y_test."
                )
            return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    return _mnist_from_tfds(folder, download_allowed(download))


def tfds_builder(name: str, what: str, how: str, *, data_dir: str | os.PathLike | None = None,
                 download: bool = False):
    """tensorflow-datasets' prepared builder of data set ``name``, or one clear
    :class:`DataNotFoundError` that says what is missing (``what``: the data set's name in
    messages; ``how``: what to do). TensorFlow is checked first: without it tfds fails deep
    inside its own code. Downloads only when ``download`` is true."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise DataNotFoundError(f"{what} needs tensorflow-datasets, which is not installed. {how}") from err
    try:
        import tensorflow  # noqa: F401  (tfds reads its tfrecord files with TensorFlow)
    except ImportError as err:
        raise DataNotFoundError(
            f"reading {what} with tensorflow-datasets needs TensorFlow, which is not installed: "
            f"pip install 'jaxgru[tfds]'. {how}") from err
    builder = tfds.builder(name, data_dir=None if data_dir is None else str(data_dir))
    if not builder.is_prepared():
        if not download:
            raise DataNotFoundError(
                f"{what} is not prepared in tensorflow-datasets' folder {builder.data_dir} and downloads are off. "
                f"{how}")
        builder.download_and_prepare()
    return tfds, builder


def _mnist_from_tfds(folder: Path | None, download: bool) -> dict[str, np.ndarray]:
    where = f"{folder / 'mnist.npz'}" if folder is not None else f"no data directory (${DATA_DIR_ENV})"
    how = (
        "Put Keras' mnist.npz in a folder and pass `data_dir` FOLDER (or set "
        f"${DATA_DIR_ENV}=FOLDER), or install the tfds extra (pip install 'jaxgru[tfds]') and "
        f"allow a download with `download` or ${DOWNLOAD_ENV}=1."
    )
    try:
        tfds, builder = tfds_builder("mnist", "MNIST", how, download=download)
    except DataNotFoundError as err:
        raise DataNotFoundError(f"MNIST not found ({where}), and {err}") from err
    out = {}
    for split in ("train", "test"):
        arrays = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        out[f"x_{split}"] = arrays["image"][..., 0].astype(np.uint8)
        out[f"y_{split}"] = arrays["label"].astype(np.uint8)
    return out
