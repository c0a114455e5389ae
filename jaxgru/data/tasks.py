"""Tasks: a name, the shapes of its sequences, and a loader of its splits.

Adding a task is one function that returns a :class:`Splits` and one entry in ``TASKS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jaxgru.data import digits, speech
from jaxgru.data.audio import HOP, log_mel
from jaxgru.data.sources import download_allowed, load_mnist
from jaxgru.data.speech import KEYWORDS4, KEYWORDS10, SPLITS


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
    source: str = ""  # where the data came from, said in every output
    synthetic: bool = False  # generated stand-in data: outputs say so
    # Each sequence's valid steps ``int32[N]`` per split, the rest padding (None: all are full).
    lengths_train: np.ndarray | None = None
    lengths_val: np.ndarray | None = None
    lengths_test: np.ndarray | None = None

    def lengths(self, split: str) -> np.ndarray | None:
        """The lengths of ``split`` (train, val or test), ``None`` when every sequence is full."""
        return getattr(self, f"lengths_{split}")


@dataclass(frozen=True)
class Task:
    name: str
    steps: int
    features: int
    classes: int
    load: Callable[..., Splits]  # load(data_dir=None, download=None, source="auto", quiet=False) -> Splits
    labels: tuple[str, ...] = ()
    default_mode: str = "ptq"  # the paper's choice: QAT on the MNIST tasks, PTQ on speech


MNIST_VAL = 5000  # the last 5000 training images are the validation split


def _mnist_splits(images_to_seq: Callable[[np.ndarray], np.ndarray]):
    def load(data_dir: str | os.PathLike | None = None, download: bool | None = None, source: str = "auto",
             quiet: bool = False) -> Splits:
        if source not in ("auto", "tfds"):
            raise ValueError(f"MNIST has no {source!r} source; use `source`=auto (data dir, else tfds).")
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
            source="MNIST",
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


SPEECH_SOURCES = ("auto", "tfds", "synthetic")
SYNTHETIC_PER_WORD = 1500  # synthetic clips per keyword (80/10/10 split by voice)


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Each feature (last axis) to zero mean and unit variance, with the train split's statistics."""
    axes = tuple(range(train.ndim - 1))
    mean, std = train.mean(axes), train.std(axes) + 1e-6
    return [((a - mean) / std).astype(np.float32) for a in (train, *others)]


def _speech_splits(keywords: tuple[str, ...]):
    def load(data_dir: str | os.PathLike | None = None, download: bool | None = None, source: str = "auto",
             quiet: bool = False) -> Splits:
        if source not in SPEECH_SOURCES:
            raise ValueError(f"`source` must be one of {SPEECH_SOURCES}, got {source!r}.")
        download = download_allowed(download)
        if source == "auto":
            source = "tfds" if download or speech.tfds_prepared(data_dir) else "synthetic"
        if source == "tfds":
            parts = speech.tfds_clips(keywords, data_dir, download=download)
            described, synthetic = "Google Speech Commands v0.02 (tensorflow-datasets)", False
        else:
            clips = speech.synthetic_clips(speech.KEYWORDS10, SYNTHETIC_PER_WORD, seed=0, progress=not quiet)
            keep = np.isin(clips["label"], [speech.KEYWORDS10.index(k) for k in keywords])
            remap = np.array([keywords.index(k) if k in keywords else -1 for k in speech.KEYWORDS10], np.int32)
            parts = {}
            for i, name in enumerate(SPLITS):
                mine = keep & (clips["split"] == i)
                parts[name] = (clips["audio"][mine], remap[clips["label"][mine]])
            described, synthetic = "synthetic keywords (espeak-ng)", True
        return _audio_splits(parts, described, synthetic, shuffle_seed=0)

    return load


def _audio_splits(parts: dict, described: str, synthetic: bool, *, shuffle_seed: int, lengths: bool = False,
                  **mel) -> Splits:
    """``{split: (int16 clips, labels[, samples])}`` to standardized log-mel :class:`Splits`
    (``mel``: the front end's settings, :func:`jaxgru.data.audio.log_mel`). Each split gets a
    fixed shuffle, so that any prefix (`train_size`, `val_size`) mixes every class. With
    ``lengths`` (clips from the window's start, ``samples`` each), each sequence's length is
    its frames centred within the clip, and the standardization sees only those."""
    orders = [np.random.default_rng([shuffle_seed, i]).permutation(len(parts[n][1])) for i, n in enumerate(SPLITS)]
    mels = [log_mel(parts[name][0][o], **mel) for name, o in zip(SPLITS, orders)]
    labels = [parts[name][1][o] for name, o in zip(SPLITS, orders)]
    if not lengths:
        feats, steps = standardize(*mels), [None] * 3
    else:
        hop = mel.get("hop", HOP)
        steps = [np.minimum(1 + (parts[name][2][o] - 1) // hop, m.shape[1]).astype(np.int32)
                 for name, o, m in zip(SPLITS, orders, mels)]
        valid = np.arange(mels[0].shape[1])[None, :] < steps[0][:, None]
        mean, std = mels[0][valid].mean(0), mels[0][valid].std(0) + 1e-6
        feats = [np.where((np.arange(m.shape[1])[None, :] < s[:, None])[..., None], (m - mean) / std, 0.0)
                 .astype(np.float32) for m, s in zip(mels, steps)]
    return Splits(x_train=feats[0], y_train=labels[0], x_val=feats[1], y_val=labels[1], x_test=feats[2],
                  y_test=labels[2], source=described, synthetic=synthetic, lengths_train=steps[0],
                  lengths_val=steps[1], lengths_test=steps[2])


def _digits_splits(lengths: bool):
    def load(data_dir: str | os.PathLike | None = None, download: bool | None = None, source: str = "auto",
             quiet: bool = False) -> Splits:
        """The Free Spoken Digit Dataset (``jaxgru.data.digits``: splits, 8 kHz front end)."""
        parts, described = digits.clips(data_dir, download=download_allowed(download), source=source,
                                        align="start" if lengths else "centre")
        return _audio_splits(parts, described + (", true lengths" if lengths else ""), False, shuffle_seed=1,
                             lengths=lengths, n_fft=digits.N_FFT, hop=digits.HOP, sample_rate=digits.SAMPLE_RATE)

    return load


DIGITS = tuple("0123456789")
TASKS: dict[str, Task] = {
    "mnist_row": Task("mnist_row", steps=28, features=28, classes=10, load=_mnist_splits(mnist_rows), labels=DIGITS,
                      default_mode="qat"),
    "mnist_pixel": Task("mnist_pixel", steps=PIXEL_SIDE**2, features=1, classes=10, load=_mnist_splits(mnist_pixels),
                        labels=DIGITS, default_mode="qat"),
    "speech4": Task("speech4", steps=63, features=40, classes=4, load=_speech_splits(KEYWORDS4), labels=KEYWORDS4),
    "speech10": Task("speech10", steps=63, features=40, classes=10, load=_speech_splits(KEYWORDS10),
                     labels=KEYWORDS10),
    "digits": Task("digits", steps=63, features=40, classes=10, load=_digits_splits(False), labels=DIGITS),
    # the same clips from the window's start, each with its true length (the rest is padding)
    "digits_lengths": Task("digits_lengths", steps=63, features=40, classes=10, load=_digits_splits(True),
                           labels=DIGITS),
}


def get_task(name: str) -> Task:
    """The task called ``name``, or the user's data in a file, ``npz:PATH``
    (:mod:`jaxgru.data.user_data`); ``ValueError`` listing the known ones otherwise."""
    if isinstance(name, str) and name.startswith("npz:"):
        from jaxgru.data.user_data import npz_task  # it builds on this module's Task

        return npz_task(name[len("npz:"):])
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}, or npz:PATH for your own "
                         "data.") from None
