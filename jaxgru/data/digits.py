"""Real spoken digits: the Free Spoken Digit Dataset (FSDD), 8 kHz recordings of 0-9.

Sources: a local folder in the layout of the dataset's repository,
``<data_dir>/fsdd/recordings/{digit}_{speaker}_{index}.wav`` (or ``<data_dir>/recordings/``),
else tensorflow-datasets' ``spoken_digit`` (downloaded only when allowed, like every source).

Splits follow the dataset's own rule: recordings 0-4 of every speaker and digit are the test
set. Of the rest, recordings 5-9 are held out as the validation split (what the search scores),
so validation has every speaker and digit, as test has; 10-49 are for training.

Front end: the speech tasks' log-mel (``jaxgru.data.audio``) with its window and hop scaled to
8 kHz, so that they keep their durations (a 256-sample = 32 ms Hann window, a 128-sample = 16 ms
hop, 40 mel bands from 20 Hz to the 4 kHz Nyquist frequency). Every clip (0.14-2.28 s) is
centred in a one-second window (8,000 samples): shorter clips are zero-padded on both sides,
the few longer ones keep their central second. That gives ``1 + 8000 // 128 = 63`` frames,
the speech tasks' shape. The ``digits_lengths`` task instead starts every clip at the window's
start, pads it at its end, and gives each clip's true length in frames (``1 + (n - 1) // 128``
for its ``n <= 8000`` samples, the frames centred within it), so that the model stops at the
clip's end instead of reading silence.
"""

from __future__ import annotations

import os
import re
import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from jaxgru.data.sources import DataNotFoundError, resolve_data_dir, tfds_builder
from jaxgru.data.speech import SPLITS

SAMPLE_RATE = 8000
CLIP_SAMPLES = SAMPLE_RATE  # one second
N_FFT, HOP = 256, 128
TEST_INDICES = range(0, 5)
VAL_INDICES = range(5, 10)
NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def split_of(index: int) -> str:
    """The split of recording ``index`` of a speaker and digit."""
    if index in TEST_INDICES:
        return "test"
    return "validation" if index in VAL_INDICES else "train"


ALIGNS = ("centre", "start")


def fit_window(audio: np.ndarray, samples: int = CLIP_SAMPLES, align: str = "centre") -> np.ndarray:
    """``audio`` in a window of ``samples``: centred (zero-padded on both sides, or its central
    part) or from the window's start (zero-padded at its end, or its first part)."""
    audio = np.asarray(audio)
    if len(audio) >= samples:
        start = (len(audio) - samples) // 2 if align == "centre" else 0
        return audio[start : start + samples]
    left = (samples - len(audio)) // 2 if align == "centre" else 0
    return np.pad(audio, (left, samples - len(audio) - left))


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit mono 8 kHz WAV file as int16 samples."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: expected 16-bit mono {SAMPLE_RATE} Hz, got {8 * w.getsampwidth()}-bit, "
                             f"{w.getnchannels()} channel(s), {w.getframerate()} Hz.")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def _gather(items: Iterable[tuple[str, np.ndarray, int]], align: str = "centre") -> dict[str, tuple]:
    """``(file name, audio, label)`` items to ``{split: (int16[N, 8000], int32[N], samples int32[N])}``
    in file-name order, ``samples`` being each clip's samples inside the window."""
    parts: dict[str, list] = {s: [] for s in SPLITS}
    for name, audio, label in sorted(items, key=lambda item: item[0]):
        match = NAME.match(name)
        if match is None:
            raise ValueError(f"{name!r} is not named {{digit}}_{{speaker}}_{{index}}.wav")
        parts[split_of(int(match.group(3)))].append(
            (fit_window(audio, align=align).astype(np.int16), label, min(len(audio), CLIP_SAMPLES)))
    return {s: (np.stack([a for a, _, _ in v]), np.array([y for _, y, _ in v], np.int32),
                np.array([n for _, _, n in v], np.int32)) for s, v in parts.items()}


def local_folder(data_dir: str | os.PathLike | None) -> Path | None:
    """The ``recordings`` folder under the data directory, if there is one."""
    folder = resolve_data_dir(data_dir)
    if folder is None:
        return None
    for candidate in (folder / "fsdd" / "recordings", folder / "recordings"):
        if candidate.is_dir() and any(candidate.glob("*.wav")):
            return candidate
    return None


def local_clips(folder: Path, align: str = "centre") -> dict[str, tuple]:
    """Every ``{digit}_{speaker}_{index}.wav`` of ``folder``, split by index (:func:`_gather`)."""
    names = [p.name for p in folder.glob("*.wav")]
    return _gather(((n, read_wav(folder / n), int(n[0])) for n in names), align)


def tfds_clips(data_dir: str | os.PathLike | None = None, *, download: bool = False, align: str = "centre"):
    """tensorflow-datasets' ``spoken_digit`` (one ``train`` split), split by each example's file
    name as :func:`local_clips` splits the folder."""
    how = ("Put the dataset's recordings/ folder in the data directory (`data_dir`, as fsdd/recordings/), or "
           "install the tfds extra (pip install 'jaxgru[tfds]') and pass `download` once.")
    tfds, builder = tfds_builder("spoken_digit", "the Free Spoken Digit Dataset", how,
                                 data_dir=resolve_data_dir(data_dir), download=download)
    examples = tfds.as_numpy(builder.as_dataset(split="train"))
    return _gather(((Path(_text(e["audio/filename"])).name, np.asarray(e["audio"]), int(e["label"])) for e in examples),
                   align)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def clips(data_dir: str | os.PathLike | None = None, *, download: bool = False, source: str = "auto",
          align: str = "centre"):
    """``({split: (int16[N, 8000], int32[N], samples int32[N])}, description)`` from the local
    folder (``auto``, when there is one) or tensorflow-datasets (``tfds``, or ``auto`` without a
    folder); ``align``: each clip centred in its window or from its start."""
    folder = local_folder(data_dir) if source == "auto" else None
    if folder is not None:
        return local_clips(folder, align), "Free Spoken Digit Dataset (real speech, local folder)"
    if source not in ("auto", "tfds"):
        raise ValueError(f"the digits task has no {source!r} source; use `source`=auto (data dir, else tfds) or tfds.")
    try:
        clips_ = tfds_clips(data_dir, download=download, align=align)
        return clips_, "Free Spoken Digit Dataset (real speech, tensorflow-datasets)"
    except DataNotFoundError as err:
        if source == "auto":
            raise DataNotFoundError(f"no fsdd/recordings/ folder in the data directory, and {err}") from err
        raise
