"""Keyword clips for the speech tasks: Google Speech Commands, or a synthetic stand-in.

Two sources give the same thing, int16 clips of one second at 16 kHz with keyword labels and a
train/validation/test split:

* ``tfds``: the real Speech Commands through tensorflow-datasets (``speech_commands``), filtered
  to the task's keywords (its ``_silence_`` and ``_unknown_`` classes are not used), clips
  zero-padded at the end to one second. :func:`clips_from_examples` does the conversion and is
  what the tests drive with a fixture in tfds' example format.
* ``synthetic``: words spoken by Debian's ``espeak-ng`` in many English accents and voice
  variants, at random speed and pitch, placed at a random offset in the window, over random
  coloured noise (:func:`synthesize_clip`); splits are by voice, so test voices are unseen.
  Generated once per settings (:func:`synthetic_clips`, cached) and marked *synthetic*
  wherever results from it appear. It is a stand-in for offline machines, not Speech Commands.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import wave
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from jaxgru.data.audio import CLIP_SAMPLES, SAMPLE_RATE
from jaxgru.data.sources import DataNotFoundError, resolve_data_dir, tfds_builder
from jaxgru.files import atomic_write_bytes

KEYWORDS10 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
KEYWORDS4 = ("yes", "no", "left", "right")
SPLITS = ("train", "validation", "test")
CACHE_ENV = "JAXGRU_CACHE_DIR"

# espeak-ng's English accents (its own voices, no mbrola packages needed) and voice variants.
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-gb-x-rp", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
            "croak", "whisper", "")
SPEED_WPM = (110, 230)  # espeak-ng -s
PITCH = (15, 85)  # espeak-ng -p (0..99)
SNR_DB = (5.0, 30.0)  # speech-to-noise ratio of the background
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # of the voices
GENERATOR_VERSION = 1  # bump when the generator changes: it is part of the cache key

ESPEAK_HELP = (
    "espeak-ng is not installed; the synthetic keyword set needs it (Debian/Ubuntu: "
    "apt-get install espeak-ng). Or use the real Speech Commands with `source`=tfds: "
    "pip install 'jaxgru[tfds]' and pass `download` once."
)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def voices() -> list[str]:
    """Every espeak-ng voice the generator uses, ``accent`` or ``accent+variant``."""
    return [a + (f"+{v}" if v else "") for a in ACCENTS for v in VARIANTS]


def voice_splits(seed: int) -> dict[str, int]:
    """Voice -> split index (0 train, 1 validation, 2 test), a fixed permutation per seed."""
    names = voices()
    order = np.random.default_rng([seed, 7]).permutation(len(names))
    n_train = round(SPLIT_FRACTIONS[0] * len(names))
    n_val = round(SPLIT_FRACTIONS[1] * len(names))
    split = np.where(np.arange(len(names)) < n_train, 0, np.where(np.arange(len(names)) < n_train + n_val, 1, 2))
    return {names[i]: int(split[rank]) for rank, i in enumerate(order)}


def _speak(word: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """espeak-ng's waveform (float32 in [-1, 1)) and its sample rate."""
    if not espeak_available():
        raise DataNotFoundError(ESPEAK_HELP)
    proc = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), word],
        capture_output=True, check=False, timeout=60,
    )
    if proc.returncode != 0 or len(proc.stdout) <= 44:
        raise RuntimeError(f"espeak-ng failed for {word!r} with voice {voice!r}: {proc.stderr.decode().strip()}")
    data = proc.stdout
    # Streamed WAV: the header's length fields are bogus, so read the format and take the rest.
    with wave.open(io.BytesIO(data[:44] + b"\0\0")) as w:
        rate, width = w.getframerate(), w.getsampwidth()
    if width != 2:
        raise RuntimeError(f"espeak-ng wrote {8 * width}-bit samples; expected 16-bit.")
    pcm = np.frombuffer(data[44 : 44 + (len(data) - 44) // 2 * 2], "<i2")
    return pcm.astype(np.float32) / 32768.0, rate


def _trim(x: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """The waveform from its first to its last sample louder than ``threshold`` of its peak."""
    loud = np.flatnonzero(np.abs(x) > threshold * max(np.abs(x).max(), 1e-9))
    return x[loud[0] : loud[-1] + 1] if loud.size else x


def _coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ``1 / f^exponent`` (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.arange(n // 2 + 1, dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / f ** (exponent / 2), n)
    return noise / max(np.sqrt(np.mean(noise**2)), 1e-12)


def synthesize_clip(
    word: str, seed: int, index: int, voice_names: Sequence[str] | None = None
) -> tuple[np.ndarray, dict]:
    """Clip ``index`` of the set made with ``seed``: ``int16[16000]`` and what was drawn for it.

    Everything random comes from ``default_rng([seed, index])``, so a clip is reproducible on
    its own and clips can be made in any order or in parallel.
    """
    from scipy.signal import resample_poly

    rng = np.random.default_rng([seed, index])
    names = voices() if voice_names is None else list(voice_names)
    voice = names[rng.integers(len(names))]
    speed, pitch = int(rng.integers(*SPEED_WPM)), int(rng.integers(*PITCH))
    speech, rate = _speak(word, voice, speed, pitch)
    g = np.gcd(rate, SAMPLE_RATE)
    speech = _trim(resample_poly(speech, SAMPLE_RATE // g, rate // g).astype(np.float32))
    if len(speech) > CLIP_SAMPLES:  # a slow voice: keep a random one-second window
        start = int(rng.integers(len(speech) - CLIP_SAMPLES + 1))
        speech = speech[start : start + CLIP_SAMPLES]
    offset = int(rng.integers(CLIP_SAMPLES - len(speech) + 1))
    speech = speech.astype(np.float64) * rng.uniform(0.3, 0.9) / max(float(np.abs(speech).max()), 1e-9)
    clip = np.zeros(CLIP_SAMPLES, np.float64)
    clip[offset : offset + len(speech)] = speech
    snr_db, exponent = float(rng.uniform(*SNR_DB)), float(rng.uniform(0.0, 2.0))
    noise_rms = np.sqrt(np.mean(speech**2)) * 10 ** (-snr_db / 20)  # relative to the speech, not the window
    clip += _coloured_noise(rng, CLIP_SAMPLES, exponent) * noise_rms
    pcm = np.clip(np.round(clip * 32767.0), -32768, 32767).astype(np.int16)
    return pcm, {"voice": voice, "speed": speed, "pitch": pitch, "offset": offset, "snr_db": snr_db,
                 "noise_exponent": exponent}


def cache_dir() -> Path:
    """``$JAXGRU_CACHE_DIR``, else ``~/.cache/jaxgru``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "jaxgru").expanduser()


def generate_synthetic(
    keywords: Sequence[str], per_word: int, seed: int = 0, *, workers: int | None = None, progress: bool = False
) -> dict[str, np.ndarray]:
    """``per_word`` clips of each keyword: ``{"audio": int16[N, 16000], "label": int32[N],
    "split": int32[N] (0 train, 1 validation, 2 test), "voice", "speed", "pitch", "offset",
    "snr_db"}``. Deterministic for ``(keywords, per_word, seed)``."""
    if per_word < 1:
        raise ValueError(f"per_word must be >= 1, got {per_word}.")
    if not espeak_available():
        raise DataNotFoundError(ESPEAK_HELP)
    jobs = [(word, label) for label, word in enumerate(keywords) for _ in range(per_word)]
    workers = workers or max(1, os.cpu_count() or 1)

    def make(i):
        return synthesize_clip(jobs[i][0], seed, i)

    with ThreadPoolExecutor(workers) as pool:  # espeak-ng runs in subprocesses; numpy frees the GIL
        made = pool.map(make, range(len(jobs)))
        if progress:
            from tqdm import tqdm

            made = tqdm(made, total=len(jobs), desc="synthesizing keywords")
        made = list(made)
    splits = voice_splits(seed)
    meta = [m for _, m in made]
    return {
        "audio": np.stack([a for a, _ in made]),
        "label": np.array([label for _, label in jobs], np.int32),
        "split": np.array([splits[m["voice"]] for m in meta], np.int32),
        "voice": np.array([m["voice"] for m in meta]),
        **{k: np.array([m[k] for m in meta]) for k in ("speed", "pitch", "offset", "snr_db")},
    }


def synthetic_clips(
    keywords: Sequence[str] = KEYWORDS10, per_word: int = 1500, seed: int = 0, *,
    folder: str | os.PathLike | None = None, progress: bool = False,
) -> dict[str, np.ndarray]:
    """:func:`generate_synthetic`'s set, read from ``folder`` (default :func:`cache_dir`) when it
    was made before with the same settings, else made and written there (atomically)."""
    settings = {"keywords": list(keywords), "per_word": per_word, "seed": seed, "version": GENERATOR_VERSION}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(folder or cache_dir()) / f"synthetic_keywords_{key}.npz"
    if path.is_file():
        with np.load(path) as f:
            return {k: f[k] for k in f.files if k != "settings"}
    clips = generate_synthetic(keywords, per_word, seed, progress=progress)
    buf = io.BytesIO()
    np.savez(buf, settings=json.dumps(settings), **clips)
    atomic_write_bytes(path, buf.getvalue())
    return clips


def clips_from_examples(
    examples: Iterable[dict], label_names: Sequence[str], keywords: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """tfds ``speech_commands`` examples (``{"audio": int16[L <= 16000], "label": int}``) to
    ``(int16[N, 16000], int32[N])``: only the keywords' examples, labels re-numbered in
    ``keywords`` order, clips zero-padded at the end (or cut) to one second."""
    missing = [k for k in keywords if k not in label_names]
    if missing:
        raise ValueError(f"keywords {missing} are not among the data set's labels {list(label_names)}.")
    remap = {label_names.index(k): i for i, k in enumerate(keywords)}
    audio, labels = [], []
    for ex in examples:
        label = int(ex["label"])
        if label not in remap:
            continue
        clip = np.asarray(ex["audio"], np.int16)[:CLIP_SAMPLES]
        audio.append(np.pad(clip, (0, CLIP_SAMPLES - len(clip))))
        labels.append(remap[label])
    if not audio:
        raise ValueError(f"no example carries any of the keywords {list(keywords)}.")
    return np.stack(audio), np.array(labels, np.int32)


def tfds_clips(
    keywords: Sequence[str], data_dir: str | os.PathLike | None = None, *, download: bool = False
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Speech Commands' train/validation/test splits through tensorflow-datasets, as
    :func:`clips_from_examples` gives them. tfds' folder is ``data_dir`` when given (else its
    default); it downloads only when ``download`` is true."""
    how = ("Install the tfds extra (pip install 'jaxgru[tfds]') and pass `download` once, or use "
           "`source`=synthetic (needs espeak-ng).")
    folder = resolve_data_dir(data_dir)
    tfds, builder = tfds_builder("speech_commands", "Speech Commands", how, data_dir=folder, download=download)
    names = builder.info.features["label"].names
    return {split: clips_from_examples(tfds.as_numpy(builder.as_dataset(split=split)), names, keywords)
            for split in SPLITS}


def tfds_prepared(data_dir: str | os.PathLike | None = None) -> bool:
    """Whether tensorflow-datasets (installed, with TensorFlow) has Speech Commands on disk."""
    try:
        import tensorflow  # noqa: F401
        import tensorflow_datasets as tfds
    except ImportError:
        return False
    return _builder(tfds, data_dir).is_prepared()


def _builder(tfds, data_dir: str | os.PathLike | None):
    """tfds' ``speech_commands`` builder, in ``data_dir`` (else tfds' own folder)."""
    folder = resolve_data_dir(data_dir)
    return tfds.builder("speech_commands", data_dir=None if folder is None else str(folder))
